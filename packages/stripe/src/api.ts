/**
 * The API half of the adapter: hosted checkout, refunds, subscriptions and the billing portal through
 * the official `stripe` SDK. Every SDK failure is rethrown as a {@link ProviderError}.
 */
import {
  type ProviderActionResult,
  type ProviderCheckout,
  type ProviderCheckoutInput,
  ProviderError,
  type ProviderSubscriptions,
  type RefundInput,
} from "@mika/types";
import type { StripeClient } from "./client.js";
import { CHECKOUT_METADATA_KEY } from "./parse.js";

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  value !== null && typeof value === "object" && !Array.isArray(value);
const str = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined;
const ref = (value: unknown): string | undefined => str(value) ?? (isObj(value) ? str(value.id) : undefined);

/** Stripe accepts `expires_at` from 30 minutes to 24 hours after creation; we keep a minute's margin. */
export const CHECKOUT_MIN_TTL_SECONDS = 31 * 60;
/** See {@link CHECKOUT_MIN_TTL_SECONDS}. */
export const CHECKOUT_MAX_TTL_SECONDS = 24 * 60 * 60 - 60;

/** API keys as they may appear in a message: never pass one on. */
const API_KEY = /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9]+/g;

function redact(text: string): string {
  return text.replace(API_KEY, "$1_$2_…");
}

function retryAfterOf(headers: unknown): number | undefined {
  if (!isObj(headers)) return undefined;
  const raw = headers["retry-after"] ?? headers["Retry-After"];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (typeof text !== "string" || text.trim() === "") return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * Turns whatever the SDK threw into a {@link ProviderError}: the HTTP status, Stripe's error code (or
 * decline code), `Retry-After` when Stripe sent one. The message is Stripe's, with API keys masked.
 */
export function toProviderError(error: unknown, action: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = isObj(error) ? error : {};
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const type = str(e.type);
  const code =
    str(e.code) ?? str(e.decline_code) ?? (type === "StripeRateLimitError" ? "rate_limit" : undefined);
  const message = redact(str(e.message) ?? (error instanceof Error ? error.message : String(error)));
  const requestId = str(e.requestId);
  const connection = type === "StripeConnectionError" || (status === undefined && type !== undefined);
  const what = connection ? "could not reach Stripe" : `Stripe answered ${status ?? "with an error"}`;
  return new ProviderError(
    `Stripe ${action} failed: ${what}${code ? ` (${code})` : ""}: ${message}${requestId ? ` [request ${requestId}]` : ""}`,
    {
      providerStatus: status,
      providerCode: code,
      retryAfter: retryAfterOf(e.headers),
      // 409 idempotency_key_in_use: a concurrent request with the key is still running; retry later
      retryable:
        status === undefined
          ? true
          : status === 429 || status >= 500 || code === "lock_timeout" || code === "idempotency_key_in_use",
    },
  );
}

async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toProviderError(error, action);
  }
}

function invalid(message: string): ProviderError {
  return new ProviderError(message, { retryable: false, providerCode: "mika_invalid_input" });
}

/** Clamps the wanted expiry into Stripe's 30 min – 24 h window (UNIX seconds). */
export function clampExpiresAt(expiresAt: Date, now: Date = new Date()): number {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const wanted = Math.floor(expiresAt.getTime() / 1000);
  return Math.min(
    Math.max(wanted, nowSeconds + CHECKOUT_MIN_TTL_SECONDS),
    nowSeconds + CHECKOUT_MAX_TTL_SECONDS,
  );
}

/** Builds the Checkout Session params for {@link ProviderCheckoutInput}. */
export function checkoutParams(input: ProviderCheckoutInput, now: Date = new Date()): Obj {
  if (input.lines.length === 0) throw invalid("A Stripe checkout needs at least one line.");
  const lineItems = input.lines.map((line, index) => {
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) {
      throw invalid(`Checkout line ${index + 1}: quantity must be a positive integer.`);
    }
    if (line.priceRef) return { price: line.priceRef, quantity: line.quantity };
    if (!line.name || !Number.isSafeInteger(line.amount) || (line.amount as number) < 0 || !line.currency) {
      throw invalid(
        `Checkout line ${index + 1}: give a Stripe price id (priceRef) or an inline name, amount (minor units) and currency.`,
      );
    }
    const interval = input.mode === "subscription" ? (line.interval ?? "month") : undefined;
    return {
      price_data: {
        currency: line.currency.toLowerCase(),
        unit_amount: line.amount,
        product_data: { name: line.name },
        ...(interval ? { recurring: { interval } } : {}),
      },
      quantity: line.quantity,
    };
  });
  const metadata = { ...input.metadata, [CHECKOUT_METADATA_KEY]: input.checkoutId };
  const params: Obj = {
    mode: input.mode,
    line_items: lineItems,
    success_url: input.successUrl,
    cancel_url: input.cancelUrl,
    client_reference_id: input.checkoutId,
    metadata,
  };
  // Copy the id onto the payment / subscription too, so their own events carry it.
  if (input.mode === "payment") params.payment_intent_data = { metadata };
  else params.subscription_data = { metadata };
  if (input.customer?.customerRef) params.customer = input.customer.customerRef;
  else if (input.customer?.email) params.customer_email = input.customer.email;
  if (input.expiresAt) params.expires_at = clampExpiresAt(input.expiresAt, now);
  return params;
}

/** Maps a Checkout Session to a {@link ProviderCheckout}. */
export function toProviderCheckout(session: Obj): ProviderCheckout {
  const status = session.status === "complete" || session.status === "expired" ? session.status : "open";
  const paymentStatus = session.payment_status;
  const metadata = isObj(session.metadata) ? session.metadata : {};
  const out: ProviderCheckout = {
    providerCheckoutId: String(session.id),
    status,
  };
  const url = str(session.url);
  if (url) out.url = url;
  if (paymentStatus === "paid" || paymentStatus === "unpaid" || paymentStatus === "no_payment_required") {
    out.paymentStatus = paymentStatus;
  }
  const checkoutRef = str(session.client_reference_id) ?? str(metadata[CHECKOUT_METADATA_KEY]);
  if (checkoutRef) out.checkoutRef = checkoutRef;
  if (typeof session.amount_total === "number" && Number.isSafeInteger(session.amount_total)) {
    out.amount = session.amount_total;
  }
  const currency = str(session.currency);
  if (currency) out.currency = currency.toUpperCase();
  if (typeof session.expires_at === "number") out.expiresAt = new Date(session.expires_at * 1000);
  const paymentRef = ref(session.payment_intent);
  if (paymentRef) out.paymentRef = paymentRef;
  const subscriptionRef = ref(session.subscription);
  if (subscriptionRef) out.subscriptionRef = subscriptionRef;
  const customerRef = ref(session.customer);
  if (customerRef) out.customerRef = customerRef;
  if (typeof session.livemode === "boolean") out.livemode = session.livemode;
  return out;
}

function refundStatus(value: unknown): ProviderActionResult["status"] {
  if (value === "succeeded") return "succeeded";
  if (value === "failed" || value === "canceled") return "failed";
  return "pending";
}

/** The API groups of a Stripe provider, bound to one SDK client. */
export function stripeApi(client: StripeClient) {
  const checkout = {
    async create(input: ProviderCheckoutInput): Promise<ProviderCheckout> {
      const params = checkoutParams(input);
      const session = await call("checkout.create", () =>
        client.checkout.sessions.create(params, { idempotencyKey: input.idempotencyKey }),
      );
      return toProviderCheckout(session as Obj);
    },
    async retrieve(providerCheckoutId: string): Promise<ProviderCheckout> {
      const session = await call("checkout.retrieve", () =>
        client.checkout.sessions.retrieve(providerCheckoutId),
      );
      return toProviderCheckout(session as Obj);
    },
    async expire(providerCheckoutId: string): Promise<void> {
      try {
        await client.checkout.sessions.expire(providerCheckoutId);
      } catch (error) {
        // Expiring an already expired session is done, not an error.
        const session = await client.checkout.sessions.retrieve(providerCheckoutId).catch(() => undefined);
        if (isObj(session) && session.status === "expired") return;
        throw toProviderError(error, "checkout.expire");
      }
    },
  };

  const refunds = {
    async create(input: RefundInput): Promise<ProviderActionResult> {
      if (input.amount !== undefined && (!Number.isSafeInteger(input.amount) || input.amount <= 0)) {
        throw invalid(
          "A refund amount must be a positive integer in minor units (or omitted for a full refund).",
        );
      }
      const params: Obj = { payment_intent: input.paymentRef };
      if (input.amount !== undefined) params.amount = input.amount;
      if (input.checkoutRef) params.metadata = { [CHECKOUT_METADATA_KEY]: input.checkoutRef };
      if (
        input.reason === "duplicate" ||
        input.reason === "fraudulent" ||
        input.reason === "requested_by_customer"
      ) {
        params.reason = input.reason;
      } else if (input.reason) {
        params.metadata = {
          ...(params.metadata as Obj | undefined),
          mika_reason: input.reason.slice(0, 500),
        };
      }
      const refund = (await call("refunds.create", () =>
        client.refunds.create(params, { idempotencyKey: input.idempotencyKey }),
      )) as Obj;
      return { ref: String(refund.id), status: refundStatus(refund.status) };
    },
  };

  const done = (sub: object): ProviderActionResult => ({
    ref: String((sub as Obj).id),
    status: "succeeded",
  });

  const subscriptions: Required<Pick<ProviderSubscriptions, "cancel" | "resume" | "change">> = {
    async cancel({ subscriptionRef, atPeriodEnd, idempotencyKey }) {
      const sub = await call("subscriptions.cancel", () =>
        atPeriodEnd
          ? client.subscriptions.update(subscriptionRef, { cancel_at_period_end: true }, { idempotencyKey })
          : client.subscriptions.cancel(subscriptionRef, {}, { idempotencyKey }),
      );
      return done(sub);
    },
    async resume({ subscriptionRef, idempotencyKey }) {
      const current = (await call("subscriptions.resume", () =>
        client.subscriptions.retrieve(subscriptionRef),
      )) as Obj;
      if (current.status === "paused") {
        const sub = await call("subscriptions.resume", () =>
          client.subscriptions.resume(subscriptionRef, {}, { idempotencyKey }),
        );
        return done(sub);
      }
      const params: Obj = {};
      if (current.cancel_at_period_end === true) params.cancel_at_period_end = false;
      else if (current.cancel_at !== null && current.cancel_at !== undefined) params.cancel_at = "";
      if (isObj(current.pause_collection)) params.pause_collection = "";
      if (Object.keys(params).length === 0) return done(current);
      const sub = await call("subscriptions.resume", () =>
        client.subscriptions.update(subscriptionRef, params, { idempotencyKey }),
      );
      return done(sub);
    },
    async change({ subscriptionRef, priceRef, quantity, prorate, idempotencyKey }) {
      const current = (await call("subscriptions.change", () =>
        client.subscriptions.retrieve(subscriptionRef),
      )) as Obj;
      const items = isObj(current.items) && Array.isArray(current.items.data) ? current.items.data : [];
      const item = items[0];
      if (!isObj(item) || !str(item.id)) {
        throw invalid(`Stripe subscription ${subscriptionRef} has no item to change.`);
      }
      const sub = await call("subscriptions.change", () =>
        client.subscriptions.update(
          subscriptionRef,
          {
            items: [{ id: item.id, price: priceRef, ...(quantity !== undefined ? { quantity } : {}) }],
            proration_behavior: prorate === false ? "none" : "create_prorations",
          },
          { idempotencyKey },
        ),
      );
      return done(sub);
    },
  };

  const portal = {
    async create(input: { customerRef: string; returnUrl: string }): Promise<{ url: string }> {
      const session = (await call("portal.create", () =>
        client.billingPortal.sessions.create({ customer: input.customerRef, return_url: input.returnUrl }),
      )) as Obj;
      const url = str(session.url);
      if (!url) throw new ProviderError("Stripe portal.create returned no url.", { retryable: false });
      return { url };
    },
  };

  return { checkout, refunds, subscriptions, portal };
}
