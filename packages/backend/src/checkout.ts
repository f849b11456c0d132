/**
 * Hosted checkout: start (validated, capability-checked, stock held, idempotent), status (token-guarded,
 * reconciled with the provider while pending), cancel. Also refunds, subscription actions and the
 * portal, which share the idempotency and capability rules.
 */
import {
  type Capability,
  err,
  type MikaErr,
  type MikaEvent,
  type MikaResult,
  type OrderRow,
  ok,
  type PaymentProvider,
  type ProviderCheckout,
  type ProviderCheckoutLine,
  timingSafeEqual,
  utf8,
} from "@mika/types";
import type { Engine } from "./engine.js";
import { idempotent, providerFailure } from "./idempotency.js";
import { extendReservations, releaseReservations, reserveStock } from "./stock.js";
import { type Order, toOrder } from "./types.js";
import { sha256Hex } from "./util.js";
import { applyMadeEvent } from "./webhooks.js";

/**
 * The idempotency key a provider gets for a host's key: `prefix` + the key, or + its SHA-256 when
 * that would pass 255 characters (Stripe's limit; host keys may be 255 long). The same host key
 * always gives the same provider key, so retries stay idempotent.
 */
async function providerKey(prefix: string, key: string): Promise<string> {
  const plain = `${prefix}${key}`;
  return plain.length <= 255 ? plain : `${prefix}${await sha256Hex(key)}`;
}

/** Something the shop sells. */
export interface Sellable {
  /** Your id for it (used in checkout lines and stock). */
  id: string;
  /** Shown on the provider's checkout page for inline prices. */
  name: string;
  /** Unit price in minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  /** One-off (default) or subscription. */
  mode?: "payment" | "subscription";
  /** Billing interval for subscriptions. */
  interval?: "day" | "week" | "month" | "year";
  /** The provider's price id per provider name (`{ stripe: "price_…", paddle: "pri_…" }`). */
  prices?: Readonly<Record<string, string>>;
  /** Initial stock; tracked only when given. Seeded once; later changes go through `mika.stock.set`. */
  stock?: number;
}

/** The catalog: a list, or a loader called when needed. */
export type Catalog = readonly Sellable[] | (() => Promise<readonly Sellable[]> | readonly Sellable[]);

/** A checkout line: a catalog sellable, or an explicit price. */
export type CheckoutLineInput =
  | { sellableId: string; quantity?: number }
  | { name: string; amount: number; currency: string; quantity?: number; interval?: Sellable["interval"] };

/** Input of `mika.checkout.start`. */
export interface CheckoutStartInput {
  provider: string;
  lines: CheckoutLineInput[];
  customer?: { email?: string; name?: string };
  successUrl: string;
  cancelUrl: string;
  metadata?: Record<string, string>;
}

/** What `mika.checkout.start` returns. */
export interface CheckoutStarted {
  checkoutId: string;
  /** The provider's hosted page: redirect the buyer here. */
  url: string;
  /** Bearer token for `checkout.status` / `cancel` (give it to the buyer's browser only). */
  token: string;
  expiresAt: string;
}

/** What `mika.checkout.status` returns. */
export interface CheckoutStatus {
  checkoutId: string;
  status: OrderRow["status"];
  /** True once money arrived (paid, or refunded after being paid). */
  paid: boolean;
  amount: number | null;
  currency: string | null;
  expiresAt: string | null;
  order: Order;
}

/** Checkout options of `createMika` beyond the engine. */
export interface CheckoutOptions {
  catalog?: Catalog;
  /** Minutes a checkout stays payable. Default 30 (Stripe's minimum). */
  checkoutTtlMinutes?: number;
}

const HTTP_URL = /^https?:\/\/[^\s]+$/i;

/**
 * What is wrong with checkout metadata, or `undefined`: a plain object of at most 20 string values
 * (500 characters each) under keys of at most 40 characters, none starting with `mika_` (Mika's own).
 * Within every provider's limits (Stripe: 50 keys, 40-character keys, 500-character values), so a
 * request the provider would refuse never reaches it.
 */
function checkMetadata(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  const problem =
    "an object of at most 20 string values (500 characters), keys of 1-40 characters, none starting with mika_";
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) return problem;
  const entries = Object.entries(metadata);
  if (entries.length > 20) return problem;
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > 40 || key.startsWith("mika_")) return problem;
    if (typeof value !== "string" || value.length > 500) return problem;
  }
  return undefined;
}
/** How long stock stays held past the moment a checkout stops being payable. */
const HOLD_GRACE_MS = 5 * 60_000;

function requireCapability(
  provider: PaymentProvider,
  capability: Capability,
  what: string,
): MikaErr | undefined {
  if (provider.capabilities.has(capability)) return undefined;
  return err(
    "PROVIDER_UNSUPPORTED",
    `${provider.name} does not support ${what} (capability "${capability}").`,
  );
}

/** The checkout, refund, subscription and portal API over an engine. */
export function createCommerce(engine: Engine, options: CheckoutOptions) {
  let catalogCache: readonly Sellable[] | undefined;
  const seeded = new Set<string>();
  const ttlMs = (options.checkoutTtlMinutes ?? 30) * 60_000;

  async function loadCatalog(): Promise<readonly Sellable[]> {
    if (catalogCache) return catalogCache;
    const c = options.catalog;
    const list = typeof c === "function" ? await c() : (c ?? []);
    if (typeof c !== "function") catalogCache = list;
    return list;
  }

  function providerFor(name: unknown): PaymentProvider | MikaResult<never> {
    const provider = typeof name === "string" ? engine.providers.get(name) : undefined;
    if (!provider) {
      return err(
        "PROVIDER_UNKNOWN",
        `No provider named ${JSON.stringify(name)}: use one of ${[...engine.providers.keys()].join(", ")}.`,
      );
    }
    return provider;
  }

  /** Validates and resolves checkout lines against the catalog. */
  async function resolveLines(provider: PaymentProvider, input: CheckoutStartInput) {
    const fields: Record<string, string> = {};
    if (!Array.isArray(input.lines) || input.lines.length === 0)
      fields.lines = "at least one line is required";
    else if (input.lines.length > 50) fields.lines = "at most 50 lines";
    if (typeof input.successUrl !== "string" || !HTTP_URL.test(input.successUrl))
      fields.successUrl = "an absolute http(s) URL";
    if (typeof input.cancelUrl !== "string" || !HTTP_URL.test(input.cancelUrl))
      fields.cancelUrl = "an absolute http(s) URL";
    const metadataProblem = checkMetadata(input.metadata);
    if (metadataProblem) fields.metadata = metadataProblem;
    if (input.customer?.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(String(input.customer.email))) {
      fields["customer.email"] = "an email address";
    }
    const catalog = await loadCatalog();
    const lines: (ProviderCheckoutLine & { sellableId?: string; mode: "payment" | "subscription" })[] = [];
    for (const [i, line] of (Array.isArray(input.lines) ? input.lines : []).entries()) {
      if (!line || typeof line !== "object") {
        fields[`lines[${i}]`] = "an object: { sellableId, quantity } or { name, amount, currency }";
        continue;
      }
      const quantity = line.quantity ?? 1;
      if (!Number.isInteger(quantity) || quantity < 1 || quantity > 1000)
        fields[`lines[${i}].quantity`] = "a whole number from 1 to 1000";
      if ("sellableId" in line) {
        const sellable = catalog.find((s) => s.id === line.sellableId);
        if (!sellable) {
          fields[`lines[${i}].sellableId`] = `unknown sellable ${JSON.stringify(line.sellableId)}`;
          continue;
        }
        const priceRef = sellable.prices?.[provider.name];
        lines.push({
          sellableId: sellable.id,
          quantity,
          mode: sellable.mode ?? "payment",
          ...(priceRef
            ? { priceRef }
            : {
                name: sellable.name,
                amount: sellable.amount,
                currency: sellable.currency,
                ...(sellable.interval ? { interval: sellable.interval } : {}),
              }),
          amount: sellable.amount,
          currency: sellable.currency,
        });
      } else {
        const l = line as {
          name?: unknown;
          amount?: unknown;
          currency?: unknown;
          interval?: Sellable["interval"];
        };
        if (typeof l.name !== "string" || l.name.trim() === "") fields[`lines[${i}].name`] = "required";
        if (!Number.isSafeInteger(l.amount) || (l.amount as number) <= 0)
          fields[`lines[${i}].amount`] = "a positive integer in minor units";
        if (typeof l.currency !== "string" || !/^[A-Za-z]{3}$/.test(l.currency))
          fields[`lines[${i}].currency`] = "an ISO 4217 code";
        lines.push({
          name: String(l.name),
          amount: l.amount as number,
          currency: String(l.currency).toUpperCase(),
          quantity,
          mode: l.interval ? "subscription" : "payment",
          ...(l.interval ? { interval: l.interval } : {}),
        });
      }
    }
    const currencies = new Set(lines.map((l) => l.currency));
    if (currencies.size > 1) fields.lines = "all lines must share one currency";
    const modes = new Set(lines.map((l) => l.mode));
    if (modes.size > 1) fields.lines = "one-off and subscription lines cannot be mixed in one checkout";
    if (Object.keys(fields).length) {
      return err(
        "VALIDATION_FAILED",
        `The checkout request is invalid: ${Object.entries(fields)
          .map(([k, v]) => `${k} (${v})`)
          .join(", ")}.`,
        { fields },
      );
    }
    if (lines.some((l) => !l.priceRef)) {
      const unsupported = requireCapability(
        provider,
        "checkout.inline-prices",
        "prices without a provider price id",
      );
      if (unsupported) return unsupported;
    }
    return { lines, mode: [...modes][0] ?? "payment", currency: [...currencies][0]!, catalog };
  }

  async function seedStock(catalog: readonly Sellable[]) {
    const todo = catalog.filter((s) => s.stock !== undefined && !seeded.has(s.id));
    if (!todo.length) return;
    await engine.store.transaction(async (tx) => {
      for (const s of todo)
        await tx.insert("stock", { id: s.id, on_hand: s.stock!, updated_at: engine.now() });
    });
    for (const s of todo) seeded.add(s.id);
  }

  async function start(
    input: CheckoutStartInput,
    opts: { idempotencyKey: string },
  ): Promise<MikaResult<CheckoutStarted>> {
    if (!input || typeof input !== "object")
      return err("VALIDATION_FAILED", "checkout.start needs an input object.");
    const provider = providerFor(input.provider);
    if ("ok" in provider) return provider;
    const unsupported = requireCapability(provider, "checkout", "hosted checkout");
    if (unsupported || !provider.checkout)
      return unsupported ?? err("PROVIDER_UNSUPPORTED", `${provider.name} has no checkout API.`);
    const resolved = await resolveLines(provider, input);
    if ("ok" in resolved) return resolved;
    await seedStock(resolved.catalog);
    const checkoutApi = provider.checkout;

    type State = { checkoutId: string; token: string; expiresAt: number };
    const result = await idempotent<State, ProviderCheckout>(
      engine,
      provider.name,
      "checkout",
      opts?.idempotencyKey,
      input,
      {
        begin: async (tx) => {
          const now = engine.now();
          const checkoutId = engine.createId("chk");
          const token = engine.createId("tok") + engine.createId("k").slice(2);
          const expiresAt = now + ttlMs;
          const amount = resolved.lines.reduce((sum, l) => sum + (l.amount ?? 0) * l.quantity, 0);
          await tx.insert("orders", {
            id: checkoutId,
            provider: provider.name,
            status: "pending",
            mode: resolved.mode,
            livemode: engine.livemode ?? true,
            amount,
            currency: resolved.currency,
            refunded_amount: 0,
            dispute_status: null,
            provider_checkout_id: null,
            payment_ref: null,
            provider_order_ref: null,
            subscription_ref: null,
            customer_ref: null,
            customer_email: input.customer?.email ?? null,
            customer_name: input.customer?.name ?? null,
            token_hash: await sha256Hex(token),
            url: null,
            expires_at: expiresAt,
            lines: resolved.lines,
            metadata: input.metadata ?? null,
            failure_reason: null,
            paid_at: null,
            checked_at: null,
            lease_until: null,
            created_at: now,
            updated_at: now,
          });
          const held = await reserveStock(
            tx,
            checkoutId,
            resolved.lines
              .filter((l) => l.sellableId)
              .map((l) => ({ sellableId: l.sellableId!, quantity: l.quantity })),
            expiresAt + HOLD_GRACE_MS,
            now,
            engine.createId,
          );
          if (!held.ok) {
            throw new OutOfStock(held.sellableId, held.available);
          }
          return { ok: true, state: { checkoutId, token, expiresAt } };
        },
        call: (state) =>
          checkoutApi.create({
            checkoutId: state.checkoutId,
            idempotencyKey: `mika_${state.checkoutId}`,
            mode: resolved.mode,
            lines: resolved.lines.map(({ sellableId: _s, mode: _m, ...line }) =>
              line.priceRef ? { priceRef: line.priceRef, quantity: line.quantity } : line,
            ),
            ...(input.customer ? { customer: input.customer } : {}),
            successUrl: input.successUrl,
            cancelUrl: input.cancelUrl,
            expiresAt: new Date(state.expiresAt),
            metadata: { ...(input.metadata ?? {}), mika_checkout_id: state.checkoutId },
          }),
        commit: async (tx, state, checkout) => {
          const providerExpiry = checkout.expiresAt?.getTime();
          // Stripe, for one, keeps a checkout open for at least 30 minutes: hold the stock as long.
          if (providerExpiry !== undefined && providerExpiry > state.expiresAt)
            await extendReservations(tx, state.checkoutId, providerExpiry + HOLD_GRACE_MS, engine.now());
          await tx.update("orders", state.checkoutId, {
            provider_checkout_id: checkout.providerCheckoutId,
            url: checkout.url ?? null,
            ...(checkout.livemode !== undefined ? { livemode: checkout.livemode } : {}),
            ...(checkout.expiresAt ? { expires_at: checkout.expiresAt.getTime() } : {}),
            updated_at: engine.now(),
          });
          return {
            checkoutId: state.checkoutId,
            url: checkout.url ?? "",
            token: state.token,
            expiresAt: new Date(checkout.expiresAt?.getTime() ?? state.expiresAt).toISOString(),
          } satisfies CheckoutStarted;
        },
        fail: async (tx, state, error) => {
          await releaseReservations(tx, state.checkoutId, engine.now());
          await tx.update("orders", state.checkoutId, {
            status: "failed",
            failure_reason:
              `provider refused the checkout: ${error instanceof Error ? error.message : String(error)}`.slice(
                0,
                500,
              ),
            updated_at: engine.now(),
          });
        },
      },
    ).catch((error: unknown) => {
      if (error instanceof OutOfStock) {
        return err(
          "OUT_OF_STOCK",
          `Only ${error.available} of ${error.sellableId} left: lower the quantity.`,
        );
      }
      throw error;
    });
    return result as MikaResult<CheckoutStarted>;
  }

  async function authorizeCheckout(checkoutId: string, token: string): Promise<OrderRow | MikaResult<never>> {
    const order = await engine.store.transaction((tx) => tx.get("orders", String(checkoutId)));
    if (!order || order.token_hash === null) return err("NOT_FOUND", `No checkout ${checkoutId}.`);
    const given = utf8(await sha256Hex(String(token ?? "")));
    if (!timingSafeEqual(given, utf8(order.token_hash))) {
      return err(
        "TOKEN_INVALID",
        "The checkout token does not match: use the token checkout.start returned.",
      );
    }
    return order;
  }

  /** Asks the provider about a pending checkout and applies the answer through the ledger. */
  async function reconcile(order: OrderRow): Promise<OrderRow> {
    const provider = engine.providers.get(order.provider);
    if (!provider?.checkout?.retrieve || !order.provider_checkout_id) return order;
    const now = engine.now();
    if (order.checked_at !== null && now - order.checked_at < engine.statusCheckIntervalMs) return order;
    await engine.store.transaction((tx) => tx.update("orders", order.id, { checked_at: now }));
    let remote: ProviderCheckout;
    try {
      remote = await provider.checkout.retrieve(order.provider_checkout_id);
    } catch (error) {
      providerFailure(engine, provider.name, error);
      return order;
    }
    const base = {
      provider: provider.name,
      eventId: `reconcile:${order.id}:${now}`,
      occurredAt: new Date(now),
      livemode: remote.livemode ?? order.livemode,
      checkoutRef: order.id,
      providerCheckoutId: remote.providerCheckoutId,
      ...(remote.paymentRef ? { paymentRef: remote.paymentRef } : {}),
      ...(remote.subscriptionRef ? { subscriptionRef: remote.subscriptionRef } : {}),
      ...(remote.customerRef ? { customerRef: remote.customerRef } : {}),
      ...(remote.orderRef ? { orderRef: remote.orderRef } : {}),
    } as const;
    let event: MikaEvent | undefined;
    if (remote.status === "complete") {
      event = {
        ...base,
        kind: "checkout.completed",
        eventType: "mika.reconcile.checkout",
        paymentStatus: remote.paymentStatus ?? "unpaid",
        ...(remote.amount !== undefined ? { amount: remote.amount } : {}),
        ...(remote.currency ? { currency: remote.currency } : {}),
      };
    } else if (remote.status === "expired") {
      event = { ...base, kind: "checkout.expired", eventType: "mika.reconcile.checkout" };
    }
    if (!event) return order;
    // Through the inbox, as a webhook's event: its order.paid notification and host handlers run.
    await applyMadeEvent(engine, event);
    return (await engine.store.transaction((tx) => tx.get("orders", order.id))) ?? order;
  }

  async function status(input: { checkoutId: string; token: string }): Promise<MikaResult<CheckoutStatus>> {
    const found = await authorizeCheckout(input?.checkoutId, input?.token);
    if ("ok" in found) return found;
    let order = found;
    if (order.status === "pending" || order.status === "awaiting_payment") order = await reconcile(order);
    return ok({
      checkoutId: order.id,
      status: order.status,
      paid: ["paid", "partially_refunded", "refunded"].includes(order.status),
      amount: order.amount,
      currency: order.currency,
      expiresAt: order.expires_at === null ? null : new Date(order.expires_at).toISOString(),
      order: toOrder(order),
    });
  }

  async function cancel(input: { checkoutId: string; token: string }): Promise<MikaResult<CheckoutStatus>> {
    const found = await authorizeCheckout(input?.checkoutId, input?.token);
    if ("ok" in found) return found;
    if (["paid", "partially_refunded", "refunded"].includes(found.status)) {
      return err("CONFLICT", "This checkout is already paid: refund the order instead of canceling it.");
    }
    if (found.status === "pending" || found.status === "awaiting_payment") {
      const provider = engine.providers.get(found.provider);
      // The stock is freed only when the provider's page can no longer be paid: a provider that cannot
      // expire a checkout keeps it payable until its own expiry, and the holds last that long anyway.
      let unpayable = !found.provider_checkout_id;
      if (
        provider?.checkout?.expire &&
        provider.capabilities.has("checkout.expire") &&
        found.provider_checkout_id
      ) {
        try {
          await provider.checkout.expire(found.provider_checkout_id);
          unpayable = true;
        } catch (error) {
          return providerFailure(engine, provider.name, error);
        }
      }
      await engine.store.transaction(async (tx) => {
        const order = await tx.get("orders", found.id, { lock: true });
        if (order && (order.status === "pending" || order.status === "awaiting_payment")) {
          await tx.update("orders", found.id, { status: "canceled", updated_at: engine.now() });
          if (unpayable) await releaseReservations(tx, found.id, engine.now());
        }
      });
    }
    return status(input);
  }

  async function refund(
    input: { orderId: string; amount?: number; reason?: string },
    opts: { idempotencyKey: string },
  ): Promise<MikaResult<{ refundRef: string; status: string; orderId: string }>> {
    const order = await engine.store.transaction((tx) => tx.get("orders", String(input?.orderId)));
    if (!order) return err("NOT_FOUND", `No order ${input?.orderId}.`);
    const provider = providerFor(order.provider);
    if ("ok" in provider) return provider;
    const unsupported = requireCapability(provider, "refunds", "refunds");
    if (unsupported || !provider.refunds)
      return unsupported ?? err("PROVIDER_UNSUPPORTED", `${provider.name} has no refund API.`);
    if (input.amount !== undefined && (!Number.isSafeInteger(input.amount) || input.amount <= 0)) {
      return err("VALIDATION_FAILED", "amount must be a positive integer in minor units.", {
        fields: { amount: "positive integer" },
      });
    }
    const refunds = provider.refunds;
    // The order's state is checked once the key is claimed: a retry of a refund that already went
    // through gets its stored result, even though the order is refunded by now.
    return (await idempotent<
      { paymentRef: string; currency: string | null },
      { ref: string; status: string }
    >(
      engine,
      provider.name,
      "refund",
      opts?.idempotencyKey,
      { ...input, orderId: order.id },
      {
        begin: async (tx) => {
          const current = (await tx.get("orders", order.id, { lock: true })) ?? order;
          if (!["paid", "partially_refunded"].includes(current.status)) {
            return err(
              "CONFLICT",
              `Order ${current.id} is ${current.status}: only paid orders can be refunded.`,
            );
          }
          if (!current.payment_ref) {
            return err(
              "CONFLICT",
              `Order ${current.id} has no payment reference yet: wait for the payment webhook.`,
            );
          }
          const remaining = (current.amount ?? 0) - current.refunded_amount;
          if (input.amount !== undefined && input.amount > remaining) {
            return err(
              "VALIDATION_FAILED",
              `amount ${input.amount} is more than the ${remaining} left to refund on order ${current.id}.`,
              { fields: { amount: `at most ${remaining}` } },
            );
          }
          if (input.amount !== undefined && input.amount < remaining) {
            const partial = requireCapability(provider, "refunds.partial", "partial refunds");
            if (partial) return partial;
          }
          return { ok: true, state: { paymentRef: current.payment_ref, currency: current.currency } };
        },
        call: async (state) =>
          refunds.create({
            paymentRef: state.paymentRef,
            ...(input.amount !== undefined ? { amount: input.amount } : {}),
            ...(state.currency ? { currency: state.currency } : {}),
            ...(input.reason ? { reason: input.reason } : {}),
            idempotencyKey: await providerKey("mika_refund_", opts.idempotencyKey),
            checkoutRef: order.id,
          }),
        commit: async (_tx, _state, result) => ({
          refundRef: result.ref,
          status: result.status,
          orderId: order.id,
        }),
      },
    )) as MikaResult<{ refundRef: string; status: string; orderId: string }>;
  }

  async function subscriptionAction(
    action: "cancel" | "resume" | "change" | "pause",
    input: { subscriptionId: string; atPeriodEnd?: boolean; priceRef?: string; quantity?: number },
    opts: { idempotencyKey: string },
  ): Promise<MikaResult<{ subscriptionRef: string; status: string }>> {
    const sub = await engine.store.transaction((tx) =>
      tx.get("subscriptions", String(input?.subscriptionId)),
    );
    if (!sub) return err("NOT_FOUND", `No subscription ${input?.subscriptionId}.`);
    const provider = providerFor(sub.provider);
    if ("ok" in provider) return provider;
    const capability: Capability =
      action === "change"
        ? "subscriptions.change"
        : action === "pause"
          ? "subscriptions.pause"
          : "subscriptions";
    const unsupported = requireCapability(provider, capability, `subscription ${action}`);
    const api = provider.subscriptions;
    const fn = api?.[action];
    if (unsupported || !api || !fn)
      return unsupported ?? err("PROVIDER_UNSUPPORTED", `${provider.name} cannot ${action} subscriptions.`);
    if (action === "change" && (typeof input.priceRef !== "string" || !input.priceRef)) {
      return err("VALIDATION_FAILED", "change needs the new priceRef.", { fields: { priceRef: "required" } });
    }
    const idempotencyKey = await providerKey("mika_sub_", String(opts?.idempotencyKey));
    // One scope for every action, with the action in the request: a key reused for another action is
    // IDEMPOTENCY_MISMATCH, so the provider never sees one key on two different requests.
    return (await idempotent(
      engine,
      provider.name,
      "subscription",
      opts?.idempotencyKey,
      { action, ...input },
      {
        begin: async () => ({ ok: true, state: null }),
        call: () =>
          action === "cancel"
            ? api.cancel({
                subscriptionRef: sub.subscription_ref,
                atPeriodEnd: input.atPeriodEnd ?? true,
                idempotencyKey,
              })
            : action === "change"
              ? api.change!({
                  subscriptionRef: sub.subscription_ref,
                  priceRef: input.priceRef!,
                  ...(input.quantity ? { quantity: input.quantity } : {}),
                  idempotencyKey,
                })
              : api[action]!({ subscriptionRef: sub.subscription_ref, idempotencyKey }),
        commit: async (_tx, _s, result) => ({ subscriptionRef: result.ref, status: result.status }),
      },
    )) as MikaResult<{ subscriptionRef: string; status: string }>;
  }

  async function portal(input: {
    provider: string;
    customerRef: string;
    returnUrl: string;
  }): Promise<MikaResult<{ url: string }>> {
    const provider = providerFor(input?.provider);
    if ("ok" in provider) return provider;
    const unsupported = requireCapability(provider, "portal", "a customer portal");
    if (unsupported || !provider.portal)
      return unsupported ?? err("PROVIDER_UNSUPPORTED", `${provider.name} has no portal.`);
    if (typeof input.returnUrl !== "string" || !HTTP_URL.test(input.returnUrl)) {
      return err("VALIDATION_FAILED", "returnUrl must be an absolute http(s) URL.", {
        fields: { returnUrl: "absolute URL" },
      });
    }
    try {
      return ok(await provider.portal.create({ customerRef: input.customerRef, returnUrl: input.returnUrl }));
    } catch (error) {
      return providerFailure(engine, provider.name, error);
    }
  }

  return { start, status, cancel, refund, subscriptionAction, portal, reconcile, loadCatalog };
}

class OutOfStock extends Error {
  constructor(
    readonly sellableId: string,
    readonly available: number,
  ) {
    super(`out of stock: ${sellableId}`);
  }
}
