/**
 * A stateful loopback Stripe: the Checkout Session, refund, subscription and billing-portal endpoints
 * `@mika/stripe` calls, in Stripe's wire format (form-encoded requests, JSON objects, `{ error }`
 * bodies, `Idempotency-Key`), plus a fake hosted checkout page that delivers a signed
 * `checkout.session.completed` event.
 */
import { stripeSigner } from "../sign.js";
import {
  isObj,
  loadSdk,
  type Obj,
  parseForm,
  requireSdk,
  type Sandbox,
  SandboxError,
  type SandboxOptions,
  type SandboxRequest,
  type SandboxRoute,
  type SdkConstructor,
  sandboxBase,
  sandboxId,
  sandboxPage,
  startSandboxServer,
  text,
  unixNow,
} from "./core.js";

/** A Stripe API object as the sandbox stores and answers it (snake_case JSON). */
export type StripeSandboxObject = { id: string } & Obj;

/** A catalog price the sandbox knows (checkout lines with `price: "price_…"` must name one). */
export interface StripeSandboxPrice {
  /** Minor units. */
  unit_amount: number;
  /** ISO 4217, any case. */
  currency: string;
  /** Present for subscription prices. */
  recurring?: { interval: Interval };
  /** Product name shown on the hosted page. */
  product_name?: string;
}

/** The part of a `stripe` SDK instance the sandbox promises: what `@mika/stripe` calls. */
export interface StripeSandboxClient {
  checkout: { sessions: object };
  refunds: object;
  subscriptions: object;
  billingPortal: { sessions: object };
}

/** Options of {@link startStripeSandbox}. */
export interface StripeSandboxOptions<Client = StripeSandboxClient> extends SandboxOptions {
  /** Catalog prices by id, for checkout lines that use `price` instead of `price_data`. */
  prices?: Record<string, StripeSandboxPrice>;
  /** The `stripe` SDK constructor; defaults to the `stripe` package resolved from `@mika/testing`. */
  sdk?: SdkConstructor<Client>;
}

/** A running Stripe sandbox. */
export interface StripeSandbox<Client = StripeSandboxClient> extends Sandbox {
  /** A real `stripe` SDK instance pointed at the sandbox (http, no network retries). */
  client(apiKey?: string): Client;
  /** Checkout Sessions by id, exactly as `GET /v1/checkout/sessions/:id` answers them. */
  sessions: ReadonlyMap<string, StripeSandboxObject>;
  /** Line items (`object: "item"`) by session id. */
  lineItems: ReadonlyMap<string, StripeSandboxObject[]>;
  /** Subscriptions created by completed subscription-mode sessions. */
  subscriptions: ReadonlyMap<string, StripeSandboxObject>;
  /** Payment intents created by completed sessions. */
  paymentIntents: ReadonlyMap<string, StripeSandboxObject>;
  /** Refunds created through `POST /v1/refunds`. */
  refunds: ReadonlyMap<string, StripeSandboxObject>;
  /**
   * Completes an open session as the hosted page's Pay button does (paid unless `paid: false`, which
   * leaves it `unpaid` like a delayed payment method) and delivers `checkout.session.completed`.
   * Returns the webhook receiver's status (`undefined` without a `webhookUrl` or when unreachable).
   */
  complete(sessionId: string, options?: { paid?: boolean }): Promise<number | undefined>;
  /** Expires an open session and delivers `checkout.session.expired`. */
  expire(sessionId: string): Promise<number | undefined>;
  /** Builds a signed Event envelope around `object` and delivers it. */
  sendEvent(type: string, object: Obj): Promise<number | undefined>;
}

/** A recurring price's billing interval. */
type Interval = "day" | "week" | "month" | "year";

const DEFAULT_API_VERSION = "2025-10-29.clover";
const INTERVAL_SECONDS = { day: 86_400, week: 604_800, month: 2_592_000, year: 31_536_000 } as const;

function invalid(message: string, code = "parameter_invalid"): SandboxError {
  return new SandboxError(400, code, message);
}
function missing(kind: string, id: string): SandboxError {
  return new SandboxError(404, "resource_missing", `No such ${kind}: '${id}'`);
}
function integer(value: unknown, param: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw invalid(`Invalid integer for ${param}: ${String(value)}`, "parameter_invalid_integer");
  return n;
}

/** Starts a Stripe sandbox on 127.0.0.1 (ephemeral port). */
export async function startStripeSandbox<Client = StripeSandboxClient>(
  options: StripeSandboxOptions<Client>,
): Promise<StripeSandbox<Client>> {
  const sdk =
    options.sdk ??
    ((await loadSdk("stripe").then((m) => m?.default ?? m?.Stripe)) as SdkConstructor<Client> | undefined);
  const sessions = new Map<string, StripeSandboxObject>();
  const lineItems = new Map<string, StripeSandboxObject[]>();
  const childMetadata = new Map<string, { payment: Obj; subscription: Obj }>();
  const subscriptions = new Map<string, StripeSandboxObject>();
  const paymentIntents = new Map<string, StripeSandboxObject>();
  const refunds = new Map<string, StripeSandboxObject>();
  const customers = new Map<string, StripeSandboxObject>();
  const portals = new Map<string, StripeSandboxObject>();
  const prices = new Map<string, StripeSandboxObject>();
  let apiVersion = DEFAULT_API_VERSION;

  function addPrice(id: string, p: StripeSandboxPrice): StripeSandboxObject {
    const price: StripeSandboxObject = {
      id,
      object: "price",
      active: true,
      currency: p.currency.toLowerCase(),
      unit_amount: p.unit_amount,
      product: sandboxId("prod_", 14),
      nickname: p.product_name ?? null,
      recurring: p.recurring
        ? { interval: p.recurring.interval, interval_count: 1, usage_type: "licensed" }
        : null,
      type: p.recurring ? "recurring" : "one_time",
      livemode: false,
    };
    prices.set(id, price);
    return price;
  }
  for (const [id, p] of Object.entries(options.prices ?? {})) addPrice(id, p);

  /** Reads a session, expiring it first when its `expires_at` has passed. */
  function session(id: string): StripeSandboxObject {
    const found = sessions.get(id);
    if (!found) throw missing("checkout.session", id);
    if (found.status === "open" && (found.expires_at as number) <= unixNow()) {
      found.status = "expired";
      server.deliverLater("checkout.session.expired", envelope("checkout.session.expired", found));
    }
    return found;
  }

  function lineItem(raw: unknown, index: number, mode: string): StripeSandboxObject {
    const param = `line_items[${index}]`;
    if (!isObj(raw)) throw invalid(`Invalid ${param}: expected an object.`);
    const quantity = integer(raw.quantity, `${param}[quantity]`);
    let price: StripeSandboxObject;
    let name: string;
    if (text(raw.price)) {
      const known = prices.get(raw.price as string);
      if (!known) throw missing("price", raw.price as string);
      price = known;
      name = text(known.nickname) ?? known.id;
    } else if (isObj(raw.price_data)) {
      const data = raw.price_data;
      const productData = isObj(data.product_data) ? data.product_data : {};
      if (!text(data.currency)) throw invalid(`Missing required param: ${param}[price_data][currency].`);
      if (!text(productData.name)) {
        throw invalid(`Missing required param: ${param}[price_data][product_data][name].`);
      }
      const recurring = isObj(data.recurring) ? data.recurring : undefined;
      const interval = recurring?.interval;
      if (recurring && !(typeof interval === "string" && interval in INTERVAL_SECONDS)) {
        throw invalid(`Invalid ${param}[price_data][recurring][interval].`);
      }
      name = productData.name as string;
      price = addPrice(sandboxId("price_"), {
        unit_amount: integer(data.unit_amount, `${param}[price_data][unit_amount]`),
        currency: data.currency as string,
        product_name: name,
        ...(recurring ? { recurring: { interval: interval as Interval } } : {}),
      });
    } else {
      throw invalid(`You must specify either \`price\` or \`price_data\` in ${param}.`);
    }
    if (mode === "payment" && price.recurring) {
      throw invalid(
        "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
      );
    }
    const amount = (price.unit_amount as number) * quantity;
    return {
      id: sandboxId("li_"),
      object: "item",
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: price.currency,
      description: name,
      price,
      quantity,
    };
  }

  function createSession(request: SandboxRequest): StripeSandboxObject {
    const p = (request.body ?? {}) as Obj;
    const mode = text(p.mode);
    if (!mode) throw invalid("Missing required param: mode.", "parameter_missing");
    if (mode !== "payment" && mode !== "subscription") {
      throw invalid(`Invalid mode: the sandbox supports payment and subscription, not ${mode}.`);
    }
    if (!text(p.success_url)) throw invalid("Missing required param: success_url.", "parameter_missing");
    if (!Array.isArray(p.line_items) || p.line_items.length === 0) {
      throw invalid("Missing required param: line_items.", "parameter_missing");
    }
    if (text(p.customer) && text(p.customer_email)) {
      throw invalid("You may only specify one of these parameters: customer, customer_email.");
    }
    if (text(p.customer) && !customers.has(p.customer as string))
      throw missing("customer", p.customer as string);
    const items = p.line_items.map((raw, i) => lineItem(raw, i, mode));
    const currency = items[0]!.currency as string;
    if (items.some((item) => item.currency !== currency)) {
      throw invalid("All line items must use the same currency.");
    }
    if (mode === "subscription" && !items.some((item) => isObj(item.price) && item.price.recurring)) {
      throw invalid(
        "You must provide at least one recurring price in `subscription` mode when using prices.",
      );
    }
    const now = unixNow();
    const expiresAt = p.expires_at === undefined ? now + 86_400 : integer(p.expires_at, "expires_at");
    if (expiresAt < now + 1800 || expiresAt > now + 86_400) {
      throw invalid(
        "The `expires_at` timestamp must be at least 30 minutes and at most 24 hours after the session is created.",
      );
    }
    const total = items.reduce((sum, item) => sum + (item.amount_total as number), 0);
    const id = sandboxId("cs_test_", 58);
    const created: StripeSandboxObject = {
      id,
      object: "checkout.session",
      after_expiration: null,
      allow_promotion_codes: null,
      amount_subtotal: total,
      amount_total: total,
      automatic_tax: { enabled: false, liability: null, status: null },
      billing_address_collection: null,
      cancel_url: text(p.cancel_url) ?? null,
      client_reference_id: text(p.client_reference_id) ?? null,
      created: now,
      currency,
      customer: text(p.customer) ?? null,
      customer_creation: mode === "payment" && !text(p.customer) ? "if_required" : null,
      customer_details: null,
      customer_email: text(p.customer_email) ?? null,
      expires_at: expiresAt,
      invoice: null,
      livemode: false,
      locale: null,
      metadata: isObj(p.metadata) ? p.metadata : {},
      mode,
      payment_intent: null,
      payment_method_types: ["card"],
      payment_status: "unpaid",
      status: "open",
      subscription: null,
      success_url: p.success_url,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: "hosted",
      url: `${publicUrl}/pay/${id}`,
    };
    sessions.set(id, created);
    lineItems.set(id, items);
    const pd =
      isObj(p.payment_intent_data) && isObj(p.payment_intent_data.metadata) ? p.payment_intent_data : {};
    const sd = isObj(p.subscription_data) && isObj(p.subscription_data.metadata) ? p.subscription_data : {};
    childMetadata.set(id, { payment: (pd.metadata as Obj) ?? {}, subscription: (sd.metadata as Obj) ?? {} });
    return created;
  }

  function withLineItems(s: StripeSandboxObject, request: SandboxRequest): StripeSandboxObject {
    const expand = parseForm(request.query.toString()).expand;
    if (!Array.isArray(expand) || !expand.includes("line_items")) return s;
    return { ...s, line_items: list(lineItems.get(s.id) ?? [], `/v1/checkout/sessions/${s.id}/line_items`) };
  }

  function envelope(type: string, object: Obj): string {
    return JSON.stringify({
      id: sandboxId("evt_test_"),
      object: "event",
      api_version: apiVersion,
      created: unixNow(),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    });
  }

  function customerFor(s: StripeSandboxObject): string {
    if (text(s.customer)) return s.customer as string;
    const id = sandboxId("cus_", 14);
    customers.set(id, {
      id,
      object: "customer",
      email: s.customer_email,
      created: unixNow(),
      livemode: false,
    });
    return id;
  }

  function paymentIntent(amount: number, currency: string, customer: string, paid: boolean, metadata: Obj) {
    const id = sandboxId("pi_");
    const intent: StripeSandboxObject = {
      id,
      object: "payment_intent",
      amount,
      amount_received: paid ? amount : 0,
      currency,
      customer,
      latest_charge: paid ? sandboxId("ch_") : null,
      metadata,
      status: paid ? "succeeded" : "processing",
      created: unixNow(),
      livemode: false,
    };
    paymentIntents.set(id, intent);
    return intent;
  }

  function subscription(s: StripeSandboxObject, customer: string, paid: boolean, metadata: Obj) {
    const now = unixNow();
    const items = (lineItems.get(s.id) ?? []).filter((item) => isObj(item.price) && item.price.recurring);
    const interval = ((items[0]!.price as Obj).recurring as Obj).interval as Interval;
    const end = now + INTERVAL_SECONDS[interval];
    const id = sandboxId("sub_");
    const sub: StripeSandboxObject = {
      id,
      object: "subscription",
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      created: now,
      currency: s.currency,
      current_period_end: end,
      current_period_start: now,
      customer,
      ended_at: null,
      items: list(
        items.map((item) => ({
          id: sandboxId("si_", 14),
          object: "subscription_item",
          current_period_end: end,
          current_period_start: now,
          price: item.price,
          quantity: item.quantity,
          subscription: id,
        })),
        `/v1/subscription_items?subscription=${id}`,
      ),
      latest_invoice: null,
      livemode: false,
      metadata,
      pause_collection: null,
      start_date: now,
      status: paid ? "active" : "incomplete",
    };
    subscriptions.set(id, sub);
    return sub;
  }

  async function complete(sessionId: string, { paid = true } = {}): Promise<number | undefined> {
    const s = session(sessionId);
    if (s.status !== "open") throw invalid(`Checkout Session ${sessionId} is ${String(s.status)}, not open.`);
    const total = s.amount_total as number;
    const currency = s.currency as string;
    const customer = customerFor(s);
    const meta = childMetadata.get(sessionId) ?? { payment: {}, subscription: {} };
    s.customer = customer;
    s.customer_details = {
      email: s.customer_email,
      name: null,
      phone: null,
      tax_exempt: "none",
      tax_ids: [],
    };
    s.status = "complete";
    s.payment_status = total === 0 ? "no_payment_required" : paid ? "paid" : "unpaid";
    if (s.mode === "subscription") {
      const sub = subscription(s, customer, paid, meta.subscription);
      const invoice = sandboxId("in_");
      // The invoice's payment is refundable like any other; the session itself names no payment intent.
      paymentIntent(total, currency, customer, paid, meta.subscription).invoice = invoice;
      sub.latest_invoice = invoice;
      s.subscription = sub.id;
      s.invoice = invoice;
    } else {
      s.payment_intent = paymentIntent(total, currency, customer, paid, meta.payment).id;
    }
    return server.deliver("checkout.session.completed", envelope("checkout.session.completed", s));
  }

  function expireOpen(sessionId: string): StripeSandboxObject {
    const s = session(sessionId);
    if (s.status !== "open") {
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired (${sessionId} is ${String(s.status)}).`,
      );
    }
    s.status = "expired";
    return s;
  }

  function subscriptionOf(id: string): StripeSandboxObject {
    const sub = subscriptions.get(id);
    if (!sub) throw missing("subscription", id);
    return sub;
  }

  function updateSubscription(id: string, p: Obj): StripeSandboxObject {
    const sub = subscriptionOf(id);
    if (sub.status === "canceled") {
      throw invalid("A canceled subscription can only update its cancellation_details and metadata.");
    }
    if (p.cancel_at_period_end !== undefined) sub.cancel_at_period_end = p.cancel_at_period_end === "true";
    if (p.cancel_at !== undefined)
      sub.cancel_at = p.cancel_at === "" ? null : integer(p.cancel_at, "cancel_at");
    if (p.pause_collection !== undefined) {
      sub.pause_collection = isObj(p.pause_collection) ? { behavior: p.pause_collection.behavior } : null;
    }
    if (isObj(p.metadata)) sub.metadata = { ...(sub.metadata as Obj), ...p.metadata };
    if (Array.isArray(p.items)) {
      const current = (sub.items as Obj).data as Obj[];
      for (const change of p.items as Obj[]) {
        const item = current.find((i) => i.id === change.id);
        if (!item) throw missing("subscription_item", String(change.id));
        if (text(change.price)) {
          const price = prices.get(change.price as string);
          if (!price) throw missing("price", change.price as string);
          if (!price.recurring) throw invalid("The price specified is not recurring.");
          item.price = price;
        }
        if (change.quantity !== undefined) item.quantity = integer(change.quantity, "items[][quantity]");
      }
    }
    return sub;
  }

  function refund(p: Obj): StripeSandboxObject {
    const intentId = text(p.payment_intent);
    if (!intentId) throw invalid("Missing required param: payment_intent.", "parameter_missing");
    const intent = paymentIntents.get(intentId);
    if (!intent) throw missing("payment_intent", intentId);
    if (intent.status !== "succeeded") {
      throw invalid(`This PaymentIntent (${intentId}) does not have a successful charge to refund.`);
    }
    const refunded = (intent.amount_refunded as number | undefined) ?? 0;
    const left = (intent.amount as number) - refunded;
    if (left <= 0)
      throw invalid(`Charge for ${intentId} has already been refunded.`, "charge_already_refunded");
    const amount = p.amount === undefined ? left : integer(p.amount, "amount");
    if (amount <= 0 || amount > left) {
      throw invalid(
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${left}).`,
        "amount_too_large",
      );
    }
    intent.amount_refunded = refunded + amount;
    const id = sandboxId("re_");
    const created: StripeSandboxObject = {
      id,
      object: "refund",
      amount,
      charge: intent.latest_charge,
      created: unixNow(),
      currency: intent.currency,
      metadata: isObj(p.metadata) ? p.metadata : {},
      payment_intent: intentId,
      reason: text(p.reason) ?? null,
      status: "succeeded",
    };
    refunds.set(id, created);
    return created;
  }

  const json = (value: unknown) => ({ json: value });
  const routes: SandboxRoute[] = [
    { method: "POST", path: /^\/v1\/checkout\/sessions$/, handle: (r) => json(createSession(r)) },
    {
      method: "GET",
      path: /^\/v1\/checkout\/sessions\/([^/]+)$/,
      handle: (r, [id]) => json(withLineItems(session(id!), r)),
    },
    {
      method: "GET",
      path: /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/,
      handle: (_r, [id]) =>
        json(list(lineItems.get(session(id!).id) ?? [], `/v1/checkout/sessions/${id}/line_items`)),
    },
    {
      method: "POST",
      path: /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/,
      handle(_r, [id]) {
        const s = expireOpen(id!);
        server.deliverLater("checkout.session.expired", envelope("checkout.session.expired", s));
        return json(s);
      },
    },
    { method: "POST", path: /^\/v1\/refunds$/, handle: (r) => json(refund((r.body ?? {}) as Obj)) },
    {
      method: "GET",
      path: /^\/v1\/subscriptions\/([^/]+)$/,
      handle: (_r, [id]) => json(subscriptionOf(id!)),
    },
    {
      method: "POST",
      path: /^\/v1\/subscriptions\/([^/]+)$/,
      handle: (r, [id]) => json(updateSubscription(id!, (r.body ?? {}) as Obj)),
    },
    {
      method: "DELETE",
      path: /^\/v1\/subscriptions\/([^/]+)$/,
      handle(_r, [id]) {
        const sub = subscriptionOf(id!);
        if (sub.status === "canceled") throw invalid(`Subscription ${id} is already canceled.`);
        Object.assign(sub, { status: "canceled", canceled_at: unixNow(), ended_at: unixNow() });
        return json(sub);
      },
    },
    {
      method: "POST",
      path: /^\/v1\/subscriptions\/([^/]+)\/resume$/,
      handle(_r, [id]) {
        const sub = subscriptionOf(id!);
        if (sub.status !== "paused")
          throw invalid(`Subscription ${id} is not paused, so it cannot be resumed.`);
        sub.status = "active";
        return json(sub);
      },
    },
    {
      method: "POST",
      path: /^\/v1\/billing_portal\/sessions$/,
      handle(r) {
        const p = (r.body ?? {}) as Obj;
        const customer = text(p.customer);
        if (!customer) throw invalid("Missing required param: customer.", "parameter_missing");
        if (!customers.has(customer)) throw missing("customer", customer);
        const id = sandboxId("bps_");
        const portal: StripeSandboxObject = {
          id,
          object: "billing_portal.session",
          created: unixNow(),
          customer,
          livemode: false,
          return_url: text(p.return_url) ?? null,
          url: `${publicUrl}/portal/${id}`,
        };
        portals.set(id, portal);
        return json(portal);
      },
    },
  ];

  const server = await startSandboxServer({
    name: "Stripe",
    routes: routes.map((route) => ({
      ...route,
      handle(request: SandboxRequest, params: string[]) {
        apiVersion = request.headers["stripe-version"] ?? apiVersion;
        return route.handle(request, params);
      },
    })),
    pages: [
      {
        method: "GET",
        path: /^\/portal\/([^/]+)$/,
        handle(_r, [id]) {
          const portal = portals.get(id!);
          if (!portal)
            return { status: 404, html: sandboxPage("Not found", "<p>No such portal session.</p>") };
          const back = text(portal.return_url);
          return {
            html: sandboxPage(
              "Stripe sandbox billing portal",
              `<h1>Billing portal</h1><p>Customer ${String(portal.customer)}</p>${back ? `<a id="return" href="${encodeURI(back)}">Return</a>` : ""}`,
            ),
          };
        },
      },
    ],
    parseBody: (raw) => parseForm(raw),
    errorBody: (e) => ({
      error: {
        type:
          e.status === 401
            ? "authentication_error"
            : e.code === "idempotency_error"
              ? "idempotency_error"
              : e.status >= 500
                ? "api_error"
                : "invalid_request_error",
        ...(e.status === 401 ? {} : { code: e.code }),
        message: e.message,
      },
    }),
    requireBearer: true,
    idempotencyHeader: "idempotency-key",
    hosted: {
      view(id) {
        const s = sessions.has(id) ? session(id) : undefined;
        if (!s) return undefined;
        const names = (lineItems.get(id) ?? []).map((item) => String(item.description));
        return {
          title: names.join(", "),
          amount: s.amount_total as number,
          currency: s.currency as string,
          status: s.status as string,
          ...(text(s.cancel_url) ? { cancelUrl: s.cancel_url as string } : {}),
        };
      },
      async complete(id) {
        await complete(id);
        return String(sessions.get(id)!.success_url).replaceAll("{CHECKOUT_SESSION_ID}", id);
      },
    },
    webhookUrl: options.webhookUrl,
    webhookSecret: options.webhookSecret,
    signer: stripeSigner,
  });
  const publicUrl = (options.publicUrl ?? server.url).replace(/\/+$/, "");

  return {
    ...sandboxBase(server),
    client: (apiKey = "sk_test_sandbox") =>
      new (requireSdk(sdk, "startStripeSandbox", "stripe", "Stripe"))(apiKey, {
        host: server.host,
        port: server.port,
        protocol: "http",
        maxNetworkRetries: 0,
      }),
    sessions,
    lineItems,
    subscriptions,
    paymentIntents,
    refunds,
    complete,
    async expire(sessionId) {
      const s = expireOpen(sessionId);
      return server.deliver("checkout.session.expired", envelope("checkout.session.expired", s));
    },
    sendEvent: (type, object) => server.deliver(type, envelope(type, object)),
  };
}

function list(data: Obj[], url: string): Obj {
  return { object: "list", data, has_more: false, url };
}
