/**
 * A stateful loopback Lemon Squeezy: the checkout, order, refund, subscription and customer endpoints
 * `@mika/lemonsqueezy` calls, in Lemon Squeezy's JSON:API format, plus a fake hosted checkout that
 * delivers a signed `order_created` webhook with the checkout's `custom` data in `meta.custom_data`.
 *
 * The seam: `@lemonsqueezy/lemonsqueezy.js` has no base-URL option; it calls the global `fetch` with
 * `https://api.lemonsqueezy.com/…` at call time. {@link routeLemonSqueezyFetch} wraps `globalThis.fetch`
 * so those URLs (and only those) go to the sandbox; the sandbox installs it on start and removes it on
 * `close()` unless `routeFetch: false`. It works in the process that makes the SDK calls.
 */
import { lemonSqueezySigner } from "../sign.js";
import {
  isObj,
  type Obj,
  parseJson,
  type Sandbox,
  SandboxError,
  type SandboxOptions,
  type SandboxRequest,
  type SandboxRoute,
  sandboxBase,
  sandboxPage,
  startSandboxServer,
  text,
} from "./core.js";

/** Lemon Squeezy's API origin, as the SDK hard-codes it. */
export const LEMON_SQUEEZY_API_ORIGIN = "https://api.lemonsqueezy.com";

/** A JSON:API resource as the sandbox stores and answers it. */
export interface LemonSqueezySandboxResource {
  type: string;
  id: string;
  attributes: Obj;
}

/** A variant the sandbox sells (checkout lines name it by id). */
export interface LemonSqueezySandboxVariant {
  /** Minor units. */
  price: number;
  /** Product name. */
  name?: string;
  /** Present for subscription variants. */
  interval?: "day" | "week" | "month" | "year";
}

/** Options of {@link startLemonSqueezySandbox}. */
export interface LemonSqueezySandboxOptions extends SandboxOptions {
  /** Variants by numeric id. */
  variants?: Record<string, LemonSqueezySandboxVariant>;
  /** The store id checkouts must name (default `"1"`). */
  storeId?: string;
  /** The store currency (default `"USD"`). */
  currency?: string;
  /** Route the SDK's `fetch` calls to the sandbox while it runs (default `true`). */
  routeFetch?: boolean;
}

/** A running Lemon Squeezy sandbox. */
export interface LemonSqueezySandbox extends Sandbox {
  /** The store id to give `lemonSqueezyProvider({ storeId })`. */
  storeId: string;
  /** Checkouts by id (UUID). */
  checkouts: ReadonlyMap<string, LemonSqueezySandboxResource>;
  /** Orders by numeric id. */
  orders: ReadonlyMap<string, LemonSqueezySandboxResource>;
  /** Subscriptions by numeric id. */
  subscriptions: ReadonlyMap<string, LemonSqueezySandboxResource>;
  /**
   * Pays an open checkout as the hosted page's Pay button does: creates the order (and a subscription
   * for a subscription variant) and delivers `order_created`. Returns the receiver's status.
   */
  complete(checkoutId: string): Promise<number | undefined>;
  /** Delivers a signed webhook `{ meta: { event_name, custom_data? }, data }`. */
  sendEvent(
    eventName: string,
    data: LemonSqueezySandboxResource,
    customData?: Obj,
  ): Promise<number | undefined>;
}

/**
 * Wraps `globalThis.fetch` so requests to {@link LEMON_SQUEEZY_API_ORIGIN} go to `sandboxUrl` instead;
 * every other URL passes through. Returns the function that restores the previous `fetch`.
 */
export function routeLemonSqueezyFetch(sandboxUrl: string): () => void {
  const original = globalThis.fetch;
  const routed: typeof fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${LEMON_SQUEEZY_API_ORIGIN}/`)) return original(input, init);
    const target = `${sandboxUrl}${url.slice(LEMON_SQUEEZY_API_ORIGIN.length)}`;
    return original(input instanceof Request ? new Request(target, input) : target, init);
  };
  globalThis.fetch = routed;
  return () => {
    if (globalThis.fetch === routed) globalThis.fetch = original;
  };
}

const PERIOD_DAYS = { day: 1, week: 7, month: 30, year: 365 } as const;
const iso = (date = new Date()) => date.toISOString();

function notFound(what: string): SandboxError {
  return new SandboxError(404, "404", `${what} not found.`);
}
function invalid(detail: string): SandboxError {
  return new SandboxError(422, "422", detail);
}

/** Starts a Lemon Squeezy sandbox on 127.0.0.1 (ephemeral port). */
export async function startLemonSqueezySandbox(
  options: LemonSqueezySandboxOptions,
): Promise<LemonSqueezySandbox> {
  const storeId = options.storeId ?? "1";
  const currency = (options.currency ?? "USD").toUpperCase();
  const variants = new Map(Object.entries(options.variants ?? {}));
  const checkouts = new Map<string, LemonSqueezySandboxResource>();
  const orders = new Map<string, LemonSqueezySandboxResource>();
  const subscriptions = new Map<string, LemonSqueezySandboxResource>();
  const invoices = new Map<string, LemonSqueezySandboxResource>();
  const customers = new Map<string, LemonSqueezySandboxResource>();
  const items = new Map<string, LemonSqueezySandboxResource>();
  let nextId = 1000;
  const newId = () => String(++nextId);

  const resource = (type: string, id: string, attributes: Obj) => ({ type, id, attributes });
  const find = (map: Map<string, LemonSqueezySandboxResource>, id: string, what: string) => {
    const found = map.get(id);
    if (!found) throw notFound(`${what} ${id}`);
    return found;
  };
  const variantOf = (id: unknown) => {
    const variant = variants.get(String(id));
    if (!variant) throw notFound(`Variant ${String(id)}`);
    return variant;
  };
  const checkoutStatus = (c: LemonSqueezySandboxResource) => {
    const expires = text(c.attributes.expires_at);
    if (c.attributes.paid_order_id) return "paid";
    return expires && Date.parse(expires) <= Date.now() ? "expired" : "open";
  };

  function createCheckout(body: Obj): LemonSqueezySandboxResource {
    const data = isObj(body.data) ? body.data : {};
    const attributes = isObj(data.attributes) ? data.attributes : {};
    const relationships = isObj(data.relationships) ? data.relationships : {};
    const related = (name: string) => {
      const r = relationships[name];
      return isObj(r) && isObj(r.data) ? text(r.data.id) : undefined;
    };
    if (related("store") !== storeId) throw notFound(`Store ${String(related("store"))}`);
    const variantId = related("variant");
    variantOf(variantId); // an unknown variant is a 404, as on Lemon Squeezy
    const checkoutData = isObj(attributes.checkout_data) ? attributes.checkout_data : {};
    const quantities = Array.isArray(checkoutData.variant_quantities) ? checkoutData.variant_quantities : [];
    const quantity = Number(
      (quantities.find((q: unknown) => isObj(q) && String(q.variant_id) === variantId) as Obj | undefined)
        ?.quantity ?? 1,
    );
    if (!Number.isSafeInteger(quantity) || quantity < 1)
      throw invalid("variant_quantities: quantity must be ≥ 1.");
    const id = globalThis.crypto.randomUUID();
    const created = resource("checkouts", id, {
      store_id: Number(storeId),
      variant_id: Number(variantId),
      custom_price: attributes.custom_price ?? null,
      product_options: isObj(attributes.product_options) ? attributes.product_options : {},
      checkout_options: isObj(attributes.checkout_options) ? attributes.checkout_options : {},
      checkout_data: {
        email: checkoutData.email ?? "",
        name: checkoutData.name ?? "",
        billing_address: [],
        tax_number: "",
        discount_code: "",
        custom: isObj(checkoutData.custom) ? checkoutData.custom : [],
        variant_quantities: quantities,
      },
      preview: false,
      expires_at: text(attributes.expires_at) ?? null,
      created_at: iso(),
      updated_at: iso(),
      test_mode: true,
      url: `${publicUrl}/pay/${id}`,
      // Sandbox bookkeeping (not a Lemon Squeezy field): the quantity and the order it became.
      quantity,
      paid_order_id: null,
    });
    checkouts.set(id, created);
    return created;
  }

  function customerFor(email: string, name: string): LemonSqueezySandboxResource {
    for (const c of customers.values()) if (c.attributes.email === email && email) return c;
    const id = newId();
    const created = resource("customers", id, {
      store_id: Number(storeId),
      name,
      email,
      status: "subscribed",
      urls: { customer_portal: null },
      created_at: iso(),
      updated_at: iso(),
      test_mode: true,
    });
    customers.set(id, created);
    return created;
  }

  function subscribe(
    order: LemonSqueezySandboxResource,
    variantId: number,
    variant: LemonSqueezySandboxVariant,
    quantity: number,
    customer: LemonSqueezySandboxResource,
  ) {
    const now = new Date();
    const renews = iso(new Date(now.getTime() + PERIOD_DAYS[variant.interval!] * 86_400_000));
    const id = newId();
    const itemId = newId();
    items.set(
      itemId,
      resource("subscription-items", itemId, {
        subscription_id: Number(id),
        price_id: variantId,
        quantity,
        is_usage_based: false,
        created_at: iso(now),
        updated_at: iso(now),
      }),
    );
    const portal = `${publicUrl}/portal/${customer.id}`;
    customer.attributes.urls = { customer_portal: portal };
    const sub = resource("subscriptions", id, {
      store_id: Number(storeId),
      customer_id: Number(customer.id),
      order_id: Number(order.id),
      order_item_id: Number(order.id),
      product_id: variantId,
      variant_id: variantId,
      product_name: variant.name ?? `Variant ${variantId}`,
      variant_name: "Default",
      user_name: order.attributes.user_name,
      user_email: order.attributes.user_email,
      status: "active",
      status_formatted: "Active",
      card_brand: "visa",
      card_last_four: "4242",
      pause: null,
      cancelled: false,
      trial_ends_at: null,
      billing_anchor: now.getUTCDate(),
      first_subscription_item: {
        id: Number(itemId),
        subscription_id: Number(id),
        price_id: variantId,
        quantity,
        created_at: iso(now),
        updated_at: iso(now),
      },
      urls: { update_payment_method: portal, customer_portal: portal },
      renews_at: renews,
      ends_at: null,
      created_at: iso(now),
      updated_at: iso(now),
      test_mode: true,
    });
    subscriptions.set(id, sub);
    const invoiceId = newId();
    invoices.set(
      invoiceId,
      resource("subscription-invoices", invoiceId, {
        store_id: Number(storeId),
        subscription_id: Number(id),
        customer_id: Number(customer.id),
        user_name: order.attributes.user_name,
        user_email: order.attributes.user_email,
        billing_reason: "initial",
        currency,
        status: "paid",
        status_formatted: "Paid",
        refunded: false,
        refunded_at: null,
        refunded_amount: 0,
        subtotal: order.attributes.total,
        discount_total: 0,
        tax: 0,
        total: order.attributes.total,
        created_at: iso(now),
        updated_at: iso(now),
        test_mode: true,
      }),
    );
  }

  async function complete(checkoutId: string): Promise<number | undefined> {
    const checkout = find(checkouts, checkoutId, "Checkout");
    const status = checkoutStatus(checkout);
    if (status !== "open")
      throw new SandboxError(409, "409", `Checkout ${checkoutId} is ${status}, so it cannot be paid.`);
    const a = checkout.attributes;
    const data = a.checkout_data as Obj;
    const variantId = a.variant_id as number;
    const variant = variantOf(variantId);
    const quantity = a.quantity as number;
    const email = text(data.email) ?? "buyer@example.com";
    const name = text(data.name) ?? "Sandbox Buyer";
    const customer = customerFor(email, name);
    const total = variant.price * quantity;
    const id = newId();
    const identifier = globalThis.crypto.randomUUID();
    const order = resource("orders", id, {
      store_id: Number(storeId),
      customer_id: Number(customer.id),
      identifier,
      order_number: Number(id),
      user_name: name,
      user_email: email,
      currency,
      currency_rate: "1.00000000",
      subtotal: total,
      discount_total: 0,
      tax: 0,
      total,
      subtotal_usd: total,
      discount_total_usd: 0,
      tax_usd: 0,
      total_usd: total,
      tax_name: null,
      tax_rate: "0.00",
      status: "paid",
      status_formatted: "Paid",
      refunded: false,
      refunded_at: null,
      refunded_amount: 0,
      first_order_item: {
        id: Number(id),
        order_id: Number(id),
        product_id: variantId,
        variant_id: variantId,
        product_name: variant.name ?? `Variant ${variantId}`,
        variant_name: "Default",
        price: variant.price,
        quantity,
        created_at: iso(),
        updated_at: iso(),
        test_mode: true,
      },
      urls: { receipt: `${publicUrl}/pay/${checkoutId}` },
      created_at: iso(),
      updated_at: iso(),
      test_mode: true,
    });
    orders.set(id, order);
    a.paid_order_id = Number(id);
    if (variant.interval) subscribe(order, variantId, variant, quantity, customer);
    const custom = isObj(data.custom) ? data.custom : undefined;
    return server.deliver("order_created", envelope("order_created", order, custom));
  }

  function envelope(eventName: string, data: LemonSqueezySandboxResource, customData?: Obj): string {
    return JSON.stringify({
      meta: {
        test_mode: true,
        event_name: eventName,
        ...(customData ? { custom_data: customData } : {}),
        webhook_id: globalThis.crypto.randomUUID(),
      },
      data,
    });
  }

  function refund(target: LemonSqueezySandboxResource, body: Obj): LemonSqueezySandboxResource {
    const a = target.attributes;
    const attributes = isObj(body.data) && isObj(body.data.attributes) ? body.data.attributes : {};
    const amount = Number(attributes.amount);
    const left = (a.total as number) - ((a.refunded_amount as number) ?? 0);
    if (a.status !== "paid" && a.status !== "partial_refund")
      throw invalid(`${target.type} ${target.id} is ${String(a.status)}: nothing to refund.`);
    if (!Number.isSafeInteger(amount) || amount <= 0 || amount > left) {
      throw invalid(`amount must be between 1 and ${left} (what is left to refund).`);
    }
    const refunded = (a.refunded_amount as number) + amount;
    const full = refunded === a.total;
    Object.assign(a, {
      refunded_amount: refunded,
      refunded: full,
      refunded_at: full ? iso() : a.refunded_at,
      status: full ? "refunded" : "partial_refund",
      status_formatted: full ? "Refunded" : "Partial refund",
      updated_at: iso(),
    });
    return target;
  }

  function updateSubscription(sub: LemonSqueezySandboxResource, body: Obj): LemonSqueezySandboxResource {
    const a = sub.attributes;
    const changes = isObj(body.data) && isObj(body.data.attributes) ? body.data.attributes : {};
    if (a.status === "expired") throw invalid(`Subscription ${sub.id} has expired.`);
    if (changes.variant_id !== undefined) {
      const variant = variantOf(changes.variant_id);
      if (!variant.interval)
        throw invalid(`Variant ${String(changes.variant_id)} is not a subscription variant.`);
      Object.assign(a, {
        variant_id: Number(changes.variant_id),
        product_name: variant.name ?? a.product_name,
      });
    }
    if (changes.cancelled === false)
      Object.assign(a, { cancelled: false, status: "active", status_formatted: "Active", ends_at: null });
    if ("pause" in changes) {
      const pause = isObj(changes.pause)
        ? { mode: changes.pause.mode, resumes_at: changes.pause.resumes_at ?? null }
        : null;
      Object.assign(a, {
        pause,
        status: pause ? "paused" : "active",
        status_formatted: pause ? "Paused" : "Active",
      });
    }
    a.updated_at = iso();
    return sub;
  }

  const doc = (data: LemonSqueezySandboxResource, status = 200) => ({
    status,
    json: {
      jsonapi: { version: "1.0" },
      links: { self: `${LEMON_SQUEEZY_API_ORIGIN}/v1/${data.type}/${data.id}` },
      data,
    },
  });
  const body = (r: SandboxRequest) => (isObj(r.body) ? r.body : {});
  const routes: SandboxRoute[] = [
    { method: "POST", path: /^\/v1\/checkouts$/, handle: (r) => doc(createCheckout(body(r)), 201) },
    {
      method: "GET",
      path: /^\/v1\/checkouts\/([^/]+)$/,
      handle: (_r, [id]) => doc(find(checkouts, id!, "Checkout")),
    },
    { method: "GET", path: /^\/v1\/orders\/(\d+)$/, handle: (_r, [id]) => doc(find(orders, id!, "Order")) },
    {
      method: "POST",
      path: /^\/v1\/orders\/(\d+)\/refund$/,
      handle: (r, [id]) => doc(refund(find(orders, id!, "Order"), body(r))),
    },
    {
      method: "GET",
      path: /^\/v1\/subscription-invoices\/(\d+)$/,
      handle: (_r, [id]) => doc(find(invoices, id!, "Subscription invoice")),
    },
    {
      method: "POST",
      path: /^\/v1\/subscription-invoices\/(\d+)\/refund$/,
      handle: (r, [id]) => doc(refund(find(invoices, id!, "Subscription invoice"), body(r))),
    },
    {
      method: "GET",
      path: /^\/v1\/subscriptions\/(\d+)$/,
      handle: (_r, [id]) => doc(find(subscriptions, id!, "Subscription")),
    },
    {
      method: "PATCH",
      path: /^\/v1\/subscriptions\/(\d+)$/,
      handle: (r, [id]) => doc(updateSubscription(find(subscriptions, id!, "Subscription"), body(r))),
    },
    {
      method: "DELETE",
      path: /^\/v1\/subscriptions\/(\d+)$/,
      handle(_r, [id]) {
        const sub = find(subscriptions, id!, "Subscription");
        Object.assign(sub.attributes, {
          status: "cancelled",
          status_formatted: "Cancelled",
          cancelled: true,
          ends_at: sub.attributes.renews_at,
          updated_at: iso(),
        });
        return doc(sub);
      },
    },
    {
      method: "PATCH",
      path: /^\/v1\/subscription-items\/(\d+)$/,
      handle(r, [id]) {
        const item = find(items, id!, "Subscription item");
        const changes = isObj(body(r).data) ? ((body(r).data as Obj).attributes as Obj) : {};
        const quantity = Number(changes?.quantity);
        if (!Number.isSafeInteger(quantity) || quantity < 1) throw invalid("quantity must be ≥ 1.");
        Object.assign(item.attributes, { quantity, updated_at: iso() });
        const sub = subscriptions.get(String(item.attributes.subscription_id));
        if (sub) (sub.attributes.first_subscription_item as Obj).quantity = quantity;
        return doc(item);
      },
    },
    {
      method: "GET",
      path: /^\/v1\/customers\/(\d+)$/,
      handle: (_r, [id]) => doc(find(customers, id!, "Customer")),
    },
  ];

  const server = await startSandboxServer({
    name: "Lemon Squeezy",
    routes,
    pages: [
      {
        method: "GET",
        path: /^\/portal\/(\d+)$/,
        handle: (_r, [id]) => ({
          status: customers.has(id!) ? 200 : 404,
          html: sandboxPage("Lemon Squeezy sandbox billing", `<h1>Billing</h1><p>Customer ${id}</p>`),
        }),
      },
    ],
    parseBody: parseJson,
    errorBody: (e) => ({
      jsonapi: { version: "1.0" },
      errors: [
        {
          detail: e.code === "unauthorized" ? "Unauthenticated." : e.message,
          status: e.code === "unauthorized" ? "401" : String(e.status),
          title: e.status === 401 ? "Unauthorized" : e.status === 404 ? "Not Found" : "Error",
        },
      ],
    }),
    requireBearer: true,
    hosted: {
      view(id) {
        const c = checkouts.get(id);
        if (!c) return undefined;
        const variant = variants.get(String(c.attributes.variant_id));
        return {
          title: variant?.name ?? `Variant ${String(c.attributes.variant_id)}`,
          amount: (variant?.price ?? 0) * (c.attributes.quantity as number),
          currency,
          status: checkoutStatus(c),
        };
      },
      async complete(id) {
        await complete(id);
        const redirect = text((checkouts.get(id)!.attributes.product_options as Obj).redirect_url);
        return redirect ?? `/pay/${id}`;
      },
    },
    webhookUrl: options.webhookUrl,
    webhookSecret: options.webhookSecret,
    signer: lemonSqueezySigner,
  });
  const publicUrl = (options.publicUrl ?? server.url).replace(/\/+$/, "");
  const unroute = options.routeFetch === false ? () => {} : routeLemonSqueezyFetch(server.url);

  return {
    ...sandboxBase(server),
    storeId,
    checkouts,
    orders,
    subscriptions,
    complete,
    sendEvent: (eventName, data, customData) =>
      server.deliver(eventName, envelope(eventName, data, customData)),
    async close() {
      unroute();
      await server.close();
    },
  };
}
