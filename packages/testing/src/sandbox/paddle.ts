/**
 * A stateful loopback Paddle Billing: the transaction, adjustment (refund), subscription and customer
 * portal endpoints `@mika/paddle` calls, in Paddle's wire format (snake_case JSON, `{ data, meta }`
 * bodies, `{ error: { type, code, detail } }` refusals), plus a fake hosted checkout that delivers a
 * signed `transaction.completed` notification.
 *
 * The seam: `@paddle/paddle-node-sdk` uses an `environment` that is not `production`/`sandbox` verbatim
 * as its base URL, so `new Paddle(key, { environment: sandbox.url })` sends real HTTP here.
 */
import { paddleSigner } from "../sign.js";
import {
  type HostedCheckoutView,
  isObj,
  loadSdk,
  type Obj,
  parseJson,
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
} from "./core.js";

/** A Paddle entity as the sandbox stores and answers it (snake_case JSON). */
export type PaddleSandboxEntity = { id: string } & Obj;

/** A catalog price the sandbox knows (checkout lines with `price_id` must name one). */
export interface PaddleSandboxPrice {
  /** Minor units. */
  amount: number;
  /** ISO 4217. */
  currency: string;
  /** Present for subscription prices. */
  interval?: "day" | "week" | "month" | "year";
  /** Product name. */
  name?: string;
}

/** Options of {@link startPaddleSandbox}. */
export interface PaddleSandboxOptions<Client = unknown> extends SandboxOptions {
  /** Catalog prices by id (`pri_…`). */
  prices?: Record<string, PaddleSandboxPrice>;
  /**
   * Where the hosted page sends the buyer after paying (Paddle.js's `successUrl`; the API has none).
   * A string may contain `{transaction_id}`; a function gets the transaction. Default: the hosted page.
   */
  successUrl?: string | ((transaction: PaddleSandboxEntity) => string);
  /** The `Paddle` class of `@paddle/paddle-node-sdk`; defaults to the package resolved from `@mika/testing`. */
  sdk?: SdkConstructor<Client>;
}

/** A running Paddle sandbox. */
export interface PaddleSandbox<Client = unknown> extends Sandbox {
  /** A real `Paddle` SDK instance whose `environment` is the sandbox URL. */
  client(apiKey?: string): Client;
  /** Transactions by id, as `GET /transactions/:id` answers them (`include=adjustment` adds theirs). */
  transactions: ReadonlyMap<string, PaddleSandboxEntity>;
  /** Subscriptions created by completed transactions with recurring prices. */
  subscriptions: ReadonlyMap<string, PaddleSandboxEntity>;
  /** Refund adjustments (created `pending_approval`, as Paddle does). */
  adjustments: ReadonlyMap<string, PaddleSandboxEntity>;
  /**
   * Completes an open transaction as the hosted page's Pay button does and delivers
   * `transaction.completed`. Returns the receiver's status (`undefined` without a `webhookUrl`).
   */
  complete(transactionId: string): Promise<number | undefined>;
  /** Builds a signed notification envelope around `data` and delivers it. */
  sendEvent(eventType: string, data: Obj): Promise<number | undefined>;
}

const PERIOD_DAYS = { day: 1, week: 7, month: 30, year: 365 } as const;
const iso = (date = new Date()) => date.toISOString();
const addDays = (date: Date, days: number) => new Date(date.getTime() + days * 86_400_000);

function invalid(detail: string, code = "invalid_field"): SandboxError {
  return new SandboxError(400, code, detail);
}
function notFound(kind: string, id: string): SandboxError {
  return new SandboxError(404, "not_found", `${kind} ${id} not found.`);
}
function quantityOf(value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalid("quantity must be a whole number of at least 1.");
  }
  return value as number;
}

/** Starts a Paddle sandbox on 127.0.0.1 (ephemeral port). */
export async function startPaddleSandbox<Client = unknown>(
  options: PaddleSandboxOptions<Client>,
): Promise<PaddleSandbox<Client>> {
  const sdk =
    options.sdk ?? ((await loadSdk("@paddle/paddle-node-sdk"))?.Paddle as SdkConstructor<Client> | undefined);
  const transactions = new Map<string, PaddleSandboxEntity>();
  const subscriptions = new Map<string, PaddleSandboxEntity>();
  const adjustments = new Map<string, PaddleSandboxEntity>();
  const customers = new Set<string>();
  const portals = new Map<string, string>();
  const prices = new Map<string, Obj>();

  function price(id: string, p: PaddleSandboxPrice, taxCategory = "standard"): Obj {
    const product = {
      id: sandboxId("pro_", 26),
      name: p.name ?? id,
      type: "standard",
      description: null,
      tax_category: taxCategory,
      image_url: null,
      custom_data: null,
      status: "active",
      created_at: iso(),
      updated_at: iso(),
    };
    const created = {
      id,
      product_id: product.id,
      description: p.name ?? id,
      type: "standard",
      name: p.name ?? null,
      billing_cycle: p.interval ? { interval: p.interval, frequency: 1 } : null,
      trial_period: null,
      tax_mode: "account_setting",
      unit_price: { amount: String(p.amount), currency_code: p.currency.toUpperCase() },
      unit_price_overrides: [],
      quantity: { minimum: 1, maximum: 100 },
      status: "active",
      custom_data: null,
      import_meta: null,
      product,
    };
    prices.set(id, created);
    return created;
  }
  for (const [id, p] of Object.entries(options.prices ?? {})) price(id, p);

  function item(raw: unknown, index: number): Obj {
    if (!isObj(raw)) throw invalid(`items[${index}] must be an object.`);
    const quantity = quantityOf(raw.quantity);
    if (text(raw.price_id)) {
      const known = prices.get(raw.price_id as string);
      if (!known) throw notFound("Price", raw.price_id as string);
      return { price: known, quantity };
    }
    const inline = raw.price;
    if (!isObj(inline) || !isObj(inline.unit_price) || !isObj(inline.product)) {
      throw invalid(`items[${index}] needs a price_id or a price with unit_price and product.`);
    }
    const amount = Number(inline.unit_price.amount);
    const currency = text(inline.unit_price.currency_code);
    if (!Number.isSafeInteger(amount) || amount < 0 || !currency) {
      throw invalid(`items[${index}].price.unit_price needs a whole amount string and a currency_code.`);
    }
    const cycle = isObj(inline.billing_cycle) ? inline.billing_cycle : undefined;
    if (cycle && !(String(cycle.interval) in PERIOD_DAYS)) {
      throw invalid(`items[${index}].price.billing_cycle.interval is invalid.`);
    }
    const created = price(
      sandboxId("pri_", 26),
      {
        amount,
        currency,
        name: text(inline.product.name) ?? text(inline.name) ?? "Item",
        ...(cycle ? { interval: cycle.interval as NonNullable<PaddleSandboxPrice["interval"]> } : {}),
      },
      text(inline.product.tax_category),
    );
    return { price: { ...created, type: "custom" }, quantity };
  }

  function createTransaction(body: Obj): PaddleSandboxEntity {
    if (!Array.isArray(body.items) || body.items.length === 0) throw invalid("items must not be empty.");
    const items = body.items.map(item);
    const currencies = new Set(
      items.map((i) => ((i.price as Obj).unit_price as Obj).currency_code as string),
    );
    const currency = text(body.currency_code)?.toUpperCase() ?? [...currencies][0]!;
    if (currencies.size > 1 || !currencies.has(currency)) {
      throw invalid("Every item must be priced in the transaction's currency_code.");
    }
    const customer = text(body.customer_id);
    if (customer && !customers.has(customer)) throw notFound("Customer", customer);
    const lineItems = items.map((i) => {
      const p = i.price as Obj;
      const unit = Number((p.unit_price as Obj).amount);
      const total = String(unit * (i.quantity as number));
      return {
        id: sandboxId("txnitm_", 26),
        price_id: p.id,
        quantity: i.quantity,
        proration: null,
        tax_rate: "0",
        unit_totals: { subtotal: String(unit), discount: "0", tax: "0", total: String(unit) },
        totals: { subtotal: total, discount: "0", tax: "0", total },
        product: p.product,
      };
    });
    const total = String(lineItems.reduce((sum, l) => sum + Number(l.totals.total), 0));
    const id = sandboxId("txn_", 26);
    const link = text(isObj(body.checkout) ? body.checkout.url : undefined) ?? `${publicUrl}/pay`;
    const created: PaddleSandboxEntity = {
      id,
      status: customer ? "ready" : "draft",
      customer_id: customer ?? null,
      address_id: null,
      business_id: null,
      custom_data: isObj(body.custom_data) ? body.custom_data : null,
      currency_code: currency,
      origin: "api",
      subscription_id: null,
      invoice_id: null,
      invoice_number: null,
      collection_mode: "automatic",
      discount_id: null,
      billing_details: null,
      billing_period: null,
      items,
      details: {
        tax_rates_used: [],
        totals: {
          subtotal: total,
          discount: "0",
          tax: "0",
          total,
          credit: "0",
          credit_to_balance: "0",
          balance: total,
          grand_total: total,
          grand_total_tax: "0",
          fee: null,
          earnings: null,
          currency_code: currency,
        },
        adjusted_totals: null,
        payout_totals: null,
        adjusted_payout_totals: null,
        line_items: lineItems,
      },
      payments: [],
      checkout: { url: `${link}${link.includes("?") ? "&" : "?"}_ptxn=${id}` },
      created_at: iso(),
      updated_at: iso(),
      billed_at: null,
      revised_at: null,
    };
    transactions.set(id, created);
    return created;
  }

  const transaction = (id: string) => {
    const found = transactions.get(id);
    if (!found) throw notFound("Transaction", id);
    return found;
  };
  const subscription = (id: string) => {
    const found = subscriptions.get(id);
    if (!found) throw notFound("Subscription", id);
    return found;
  };
  const isOpen = (t: Obj) => t.status === "draft" || t.status === "ready";

  function envelope(eventType: string, data: Obj): string {
    return JSON.stringify({
      event_id: sandboxId("evt_", 26),
      event_type: eventType,
      occurred_at: iso(),
      notification_id: sandboxId("ntf_", 26),
      data,
    });
  }

  function startSubscription(t: PaddleSandboxEntity): string | null {
    const recurring = (t.items as Obj[]).filter((i) => isObj((i.price as Obj).billing_cycle));
    if (recurring.length === 0) return null;
    const cycle = (recurring[0]!.price as Obj).billing_cycle as { interval: keyof typeof PERIOD_DAYS };
    const now = new Date();
    const ends = iso(addDays(now, PERIOD_DAYS[cycle.interval]));
    const id = sandboxId("sub_", 26);
    subscriptions.set(id, {
      id,
      status: "active",
      customer_id: t.customer_id,
      address_id: t.address_id,
      business_id: null,
      currency_code: t.currency_code,
      created_at: iso(now),
      updated_at: iso(now),
      started_at: iso(now),
      first_billed_at: iso(now),
      next_billed_at: ends,
      paused_at: null,
      canceled_at: null,
      discount: null,
      collection_mode: "automatic",
      billing_details: null,
      current_billing_period: { starts_at: iso(now), ends_at: ends },
      billing_cycle: { interval: cycle.interval, frequency: 1 },
      scheduled_change: null,
      management_urls: { update_payment_method: null, cancel: `${publicUrl}/portal/${id}` },
      items: recurring.map((i) => ({
        status: "active",
        quantity: i.quantity,
        recurring: true,
        created_at: iso(now),
        updated_at: iso(now),
        previously_billed_at: iso(now),
        next_billed_at: ends,
        trial_dates: null,
        price: i.price,
        product: (i.price as Obj).product,
      })),
      custom_data: t.custom_data,
      import_meta: null,
    });
    return id;
  }

  async function complete(id: string): Promise<number | undefined> {
    const t = transaction(id);
    if (!isOpen(t)) throw invalid(`Transaction ${id} is ${String(t.status)}, so it cannot be paid.`);
    const now = iso();
    const totals = (t.details as Obj).totals as Obj;
    if (!t.customer_id) {
      t.customer_id = sandboxId("ctm_", 26);
      customers.add(t.customer_id as string);
    }
    t.address_id ??= sandboxId("add_", 26);
    Object.assign(totals, { balance: "0", fee: "0", earnings: totals.grand_total });
    Object.assign(t, {
      status: "completed",
      billed_at: now,
      updated_at: now,
      invoice_id: sandboxId("inv_", 26),
      invoice_number: `SBX-${transactions.size}`,
      subscription_id: startSubscription(t),
      payments: [
        {
          payment_attempt_id: globalThis.crypto.randomUUID(),
          stored_payment_method_id: globalThis.crypto.randomUUID(),
          payment_method_id: sandboxId("paymtd_", 26),
          amount: totals.grand_total,
          status: "captured",
          error_code: null,
          method_details: {
            type: "card",
            card: {
              type: "visa",
              last4: "4242",
              expiry_month: 1,
              expiry_year: 2099,
              cardholder_name: "Sandbox",
            },
          },
          created_at: now,
          captured_at: now,
        },
      ],
    });
    return server.deliver("transaction.completed", envelope("transaction.completed", t));
  }

  function refund(body: Obj): PaddleSandboxEntity {
    if (body.action !== "refund") throw invalid("The sandbox supports adjustments with action refund only.");
    const t = transaction(String(body.transaction_id));
    if (t.status !== "completed" && t.status !== "paid") {
      throw invalid(
        `Transaction ${t.id} is ${String(t.status)}: only billed and completed transactions can be refunded.`,
        "transaction_not_billed_or_completed",
      );
    }
    if (!text(body.reason)) throw invalid("reason is required.");
    const refunded = new Map<string, number>();
    for (const a of adjustments.values()) {
      if (a.transaction_id !== t.id || a.status === "rejected") continue;
      for (const i of a.items as Obj[])
        refunded.set(i.item_id as string, (refunded.get(i.item_id as string) ?? 0) + Number(i.amount));
    }
    const lines = (t.details as Obj).line_items as Obj[];
    const left = (line: Obj) => Number((line.totals as Obj).total) - (refunded.get(line.id as string) ?? 0);
    const wanted =
      body.type === "full"
        ? lines.filter((l) => left(l) > 0).map((l) => ({ item_id: l.id, type: "full", amount: left(l) }))
        : (Array.isArray(body.items) ? body.items : []).map((raw: unknown) => {
            const r = isObj(raw) ? raw : {};
            const line = lines.find((l) => l.id === r.item_id);
            if (!line) throw invalid(`items: ${String(r.item_id)} is not an item of transaction ${t.id}.`);
            const amount = Number(r.amount);
            if (!Number.isSafeInteger(amount) || amount <= 0 || amount > left(line)) {
              throw invalid(
                `items: the amount for ${String(r.item_id)} must be between 1 and ${left(line)}.`,
              );
            }
            return { item_id: line.id, type: "partial", amount };
          });
    if (wanted.length === 0) throw invalid(`Transaction ${t.id} has nothing left to refund.`);
    const total = String(wanted.reduce((sum, w) => sum + w.amount, 0));
    const id = sandboxId("adj_", 26);
    const created: PaddleSandboxEntity = {
      id,
      action: "refund",
      type: body.type === "full" ? "full" : "partial",
      transaction_id: t.id,
      subscription_id: t.subscription_id ?? null,
      customer_id: t.customer_id,
      reason: body.reason,
      credit_applied_to_balance: false,
      currency_code: t.currency_code,
      status: "pending_approval",
      items: wanted.map((w) => ({
        id: sandboxId("adjitm_", 26),
        item_id: w.item_id,
        type: w.type,
        amount: String(w.amount),
        proration: null,
        totals: { subtotal: String(w.amount), tax: "0", total: String(w.amount) },
      })),
      totals: { subtotal: total, tax: "0", total, fee: "0", earnings: total, currency_code: t.currency_code },
      payout_totals: null,
      created_at: iso(),
      updated_at: iso(),
    };
    adjustments.set(id, created);
    return created;
  }

  function schedule(sub: Obj, action: "cancel" | "pause", effectiveFrom: unknown): void {
    if (sub.status === "canceled")
      throw invalid(`Subscription ${String(sub.id)} is canceled.`, "subscription_locked_canceled");
    const now = iso();
    if (effectiveFrom === "immediately") {
      if (action === "cancel")
        Object.assign(sub, { status: "canceled", canceled_at: now, scheduled_change: null });
      else Object.assign(sub, { status: "paused", paused_at: now, scheduled_change: null });
    } else {
      const effectiveAt = (sub.current_billing_period as Obj).ends_at;
      sub.scheduled_change = { action, effective_at: effectiveAt, resume_at: null };
    }
    sub.updated_at = now;
  }

  function updateSubscription(sub: Obj, body: Obj): Obj {
    if (sub.status === "canceled")
      throw invalid(`Subscription ${String(sub.id)} is canceled.`, "subscription_locked_canceled");
    if ("scheduled_change" in body) {
      if (body.scheduled_change !== null) throw invalid("scheduled_change can only be set to null.");
      sub.scheduled_change = null;
    }
    if (Array.isArray(body.items)) {
      sub.items = body.items.map((raw: unknown, index: number) => {
        const r = isObj(raw) ? raw : {};
        const p = prices.get(String(r.price_id));
        if (!p) throw notFound("Price", String(r.price_id));
        if (!p.billing_cycle) throw invalid(`items[${index}]: price ${String(p.id)} is not recurring.`);
        const now = iso();
        return {
          status: "active",
          quantity: quantityOf(r.quantity ?? 1),
          recurring: true,
          created_at: now,
          updated_at: now,
          previously_billed_at: null,
          next_billed_at: sub.next_billed_at,
          trial_dates: null,
          price: p,
          product: p.product,
        };
      });
    }
    if (isObj(body.custom_data)) sub.custom_data = body.custom_data;
    sub.updated_at = iso();
    return sub;
  }

  const data = (value: unknown) => ({
    json: { data: value, meta: { request_id: globalThis.crypto.randomUUID() } },
  });
  const body = (r: SandboxRequest) => (isObj(r.body) ? r.body : {});
  const routes: SandboxRoute[] = [
    { method: "POST", path: /^\/transactions$/, handle: (r) => data(createTransaction(body(r))) },
    {
      method: "GET",
      path: /^\/transactions\/([^/]+)$/,
      handle: (r, [id]) => {
        const t = transaction(id!);
        // `include=adjustment` embeds the transaction's adjustments, as Paddle does
        const include = (r.query.get("include") ?? "").split(",");
        if (!include.includes("adjustment")) return data(t);
        return data({
          ...t,
          adjustments: [...adjustments.values()].filter((a) => a.transaction_id === t.id),
        });
      },
    },
    {
      method: "PATCH",
      path: /^\/transactions\/([^/]+)$/,
      handle(r, [id]) {
        const t = transaction(id!);
        const b = body(r);
        if (b.status !== "canceled")
          throw invalid("The sandbox can only update a transaction's status to canceled.");
        if (!isOpen(t))
          throw invalid(
            `Transaction ${t.id} is ${String(t.status)} and cannot be canceled.`,
            "transaction_immutable",
          );
        Object.assign(t, { status: "canceled", updated_at: iso() });
        server.deliverLater("transaction.canceled", envelope("transaction.canceled", t));
        return data(t);
      },
    },
    { method: "POST", path: /^\/adjustments$/, handle: (r) => data(refund(body(r))) },
    { method: "GET", path: /^\/subscriptions\/([^/]+)$/, handle: (_r, [id]) => data(subscription(id!)) },
    {
      method: "PATCH",
      path: /^\/subscriptions\/([^/]+)$/,
      handle: (r, [id]) => data(updateSubscription(subscription(id!), body(r))),
    },
    {
      method: "POST",
      path: /^\/subscriptions\/([^/]+)\/(cancel|pause)$/,
      handle(r, [id, action]) {
        const sub = subscription(id!);
        schedule(sub, action as "cancel" | "pause", body(r).effective_from);
        return data(sub);
      },
    },
    {
      method: "POST",
      path: /^\/subscriptions\/([^/]+)\/resume$/,
      handle(_r, [id]) {
        const sub = subscription(id!);
        if (sub.status !== "paused")
          throw invalid(`Subscription ${sub.id} is not paused.`, "subscription_is_not_paused");
        Object.assign(sub, { status: "active", paused_at: null, scheduled_change: null, updated_at: iso() });
        return data(sub);
      },
    },
    {
      method: "POST",
      path: /^\/customers\/([^/]+)\/portal-sessions$/,
      handle(_r, [customer]) {
        if (!customers.has(customer!)) throw notFound("Customer", customer!);
        const id = sandboxId("cpls_", 26);
        portals.set(id, customer!);
        return data({
          id,
          customer_id: customer,
          urls: { general: { overview: `${publicUrl}/portal/${id}` }, subscriptions: [] },
          created_at: iso(),
        });
      },
    },
  ];

  function view(id: string): HostedCheckoutView | undefined {
    const t = transactions.get(id);
    if (!t) return undefined;
    const totals = (t.details as Obj).totals as Obj;
    const names = ((t.details as Obj).line_items as Obj[]).map((l) => String((l.product as Obj).name));
    return {
      title: names.join(", "),
      amount: Number(totals.grand_total),
      currency: String(t.currency_code),
      status: isOpen(t) ? "open" : String(t.status),
    };
  }

  const server = await startSandboxServer({
    name: "Paddle",
    routes,
    pages: [
      {
        method: "GET",
        path: /^\/pay$/,
        handle: (r) => ({ redirect: `/pay/${encodeURIComponent(r.query.get("_ptxn") ?? "")}` }),
      },
      {
        method: "GET",
        path: /^\/portal\/([^/]+)$/,
        handle: (_r, [id]) => ({
          status: portals.has(id!) ? 200 : 404,
          html: sandboxPage(
            "Paddle sandbox customer portal",
            `<h1>Customer portal</h1><p>${portals.get(id!) ?? "No such session"}</p>`,
          ),
        }),
      },
    ],
    parseBody: parseJson,
    errorBody: (e) => ({
      error: {
        type: e.status >= 500 ? "api_error" : "request_error",
        code: e.code === "unauthorized" ? "authentication_missing" : e.code,
        detail: e.message,
        documentation_url: `https://developer.paddle.com/errors/shared/${e.code}`,
      },
      meta: { request_id: globalThis.crypto.randomUUID() },
    }),
    requireBearer: true,
    hosted: {
      view,
      async complete(id) {
        await complete(id);
        const t = transactions.get(id)!;
        const target = options.successUrl;
        if (typeof target === "function") return target(t);
        return target ? target.replaceAll("{transaction_id}", id) : `/pay/${id}`;
      },
    },
    webhookUrl: options.webhookUrl,
    webhookSecret: options.webhookSecret,
    signer: paddleSigner,
  });
  const publicUrl = (options.publicUrl ?? server.url).replace(/\/+$/, "");

  return {
    ...sandboxBase(server),
    client: (apiKey = "pdl_sdbx_apikey_sandbox") =>
      new (requireSdk(sdk, "startPaddleSandbox", "@paddle/paddle-node-sdk", "Paddle"))(apiKey, {
        environment: server.url,
      }),
    transactions,
    subscriptions,
    adjustments,
    complete,
    sendEvent: (eventType, payload) => server.deliver(eventType, envelope(eventType, payload)),
  };
}
