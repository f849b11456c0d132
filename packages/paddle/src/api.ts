/**
 * The Paddle API methods, called through the official SDK (`@paddle/paddle-node-sdk`). Every SDK
 * failure is rethrown as a {@link ProviderError} without secrets in its message.
 */

import {
  OUTCOME_UNKNOWN,
  type PaymentProvider,
  type ProviderActionResult,
  type ProviderCheckout,
  type ProviderCheckoutInput,
  type ProviderCheckoutLine,
  ProviderError,
  type ProviderSubscriptions,
  type RefundInput,
} from "@mika/types";
import type { Paddle, Transaction } from "@paddle/paddle-node-sdk";
import { CHECKOUT_ID_KEY } from "./parse.js";
import { currency, minorUnits, str } from "./read.js";

/** The parts of a `Paddle` SDK instance the adapter calls. */
export type PaddleClient = Pick<
  Paddle,
  "transactions" | "adjustments" | "subscriptions" | "customerPortalSessions"
>;

/** Paddle's tax categories, for products created inline with a non-catalog price. */
export type PaddleTaxCategory =
  | "digital-goods"
  | "ebooks"
  | "implementation-services"
  | "professional-services"
  | "saas"
  | "software-programming-services"
  | "standard"
  | "training-services"
  | "website-hosting";

/** Settings the API methods share. */
export interface ApiSettings {
  client: PaddleClient;
  livemode: boolean;
  checkoutUrl: string | undefined;
  taxCategory: PaddleTaxCategory;
  refundReason: string;
}

/**
 * HTTP statuses of Paddle's shared error codes. The SDK's `ApiError` drops the response status, so
 * `providerStatus` is derived from the documented code where Paddle fixes one, and left out otherwise.
 */
const STATUS_BY_CODE: Record<string, number> = {
  bad_request: 400,
  invalid_field: 400,
  invalid_json: 400,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  request_body_too_large: 413,
  too_many_requests: 429,
  internal_error: 500,
  not_implemented: 501,
  service_unavailable: 503,
};

function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Turns anything the SDK throws into a {@link ProviderError}. When Paddle did not answer with an error
 * object (network failure, a non-JSON page, or an answer the SDK's entity classes could not read), the
 * call may still have taken effect: `moneyMoving` calls are then marked not retryable, so a refund is
 * never sent twice blindly.
 */
export function toProviderError(what: string, error: unknown, moneyMoving = false): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = (error ?? {}) as Record<string, unknown>;
  if (typeof e.code === "string" && typeof e.type === "string") {
    // The SDK's ApiError: Paddle answered with { error: { type, code, detail, errors? } }.
    const status = STATUS_BY_CODE[e.code];
    const retryAfter =
      typeof e.retryAfter === "number" && Number.isFinite(e.retryAfter) && e.retryAfter >= 0
        ? e.retryAfter
        : undefined;
    const fields = Array.isArray(e.errors)
      ? e.errors
          .map((f: unknown) => {
            const r = (f ?? {}) as Record<string, unknown>;
            return typeof r.field === "string" ? `${r.field}: ${String(r.message ?? "invalid")}` : undefined;
          })
          .filter((f): f is string => f !== undefined)
      : [];
    const detail = typeof e.detail === "string" && e.detail ? ` (${clip(e.detail)})` : "";
    const fieldText = fields.length ? ` Fields: ${clip(fields.join("; "))}.` : "";
    return new ProviderError(`Paddle refused ${what}: ${e.code}${detail}.${fieldText}`, {
      ...(status !== undefined ? { providerStatus: status } : {}),
      providerCode: e.code,
      ...(retryAfter !== undefined ? { retryAfter } : {}),
      retryable: e.code === "too_many_requests" || e.type === "api_error" || (status ?? 0) >= 500,
      cause: error,
    });
  }
  const advice = moneyMoving
    ? "it may still have been applied: check the transaction's adjustments in Paddle before retrying"
    : "retry later";
  if (error instanceof SyntaxError) {
    return new ProviderError(
      `Paddle answered ${what} with a body that is not JSON (usually an error page in front of the API); ${advice}.`,
      { retryable: !moneyMoving, ...(moneyMoving ? { providerCode: OUTCOME_UNKNOWN } : {}), cause: error },
    );
  }
  return new ProviderError(
    `Paddle ${what} failed without a usable answer (network error, or a response the SDK could not read); ${advice}.`,
    { retryable: !moneyMoving, ...(moneyMoving ? { providerCode: OUTCOME_UNKNOWN } : {}), cause: error },
  );
}

async function call<T>(what: string, fn: () => Promise<T>, moneyMoving = false): Promise<T> {
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    throw toProviderError(what, error, moneyMoving);
  }
  if (result === undefined || result === null) {
    throw new ProviderError(`Paddle answered ${what} without data: retry later.`, { retryable: true });
  }
  return result;
}

function invalid(message: string): ProviderError {
  return new ProviderError(message, { retryable: false });
}

function transactionItem(line: ProviderCheckoutLine, monthly: boolean, settings: ApiSettings) {
  if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) {
    throw invalid("Each checkout line needs a whole quantity of at least 1.");
  }
  if (line.priceRef) return { priceId: line.priceRef, quantity: line.quantity };
  const code = currency(line.currency);
  if (
    !line.name ||
    line.amount === undefined ||
    !Number.isSafeInteger(line.amount) ||
    line.amount < 0 ||
    !code
  ) {
    throw invalid(
      "A checkout line needs a Paddle price id (priceRef, pri_…) or an inline name, amount (minor units) and currency.",
    );
  }
  const interval = line.interval ?? (monthly ? "month" : undefined);
  return {
    price: {
      name: line.name,
      description: line.name,
      unitPrice: { amount: String(line.amount), currencyCode: code },
      ...(interval ? { billingCycle: { interval, frequency: 1 } } : {}),
      product: { name: line.name, taxCategory: settings.taxCategory },
    },
    quantity: line.quantity,
  };
}

const CHECKOUT_STATUS: Record<string, ProviderCheckout["status"]> = {
  draft: "open",
  ready: "open",
  billed: "open",
  past_due: "open",
  paid: "complete",
  completed: "complete",
  canceled: "expired",
};

/** A Paddle transaction as Mika's {@link ProviderCheckout}. */
export function checkoutFromTransaction(t: Transaction, livemode: boolean): ProviderCheckout {
  const totals = t.details?.totals;
  const amount = minorUnits(totals?.grandTotal) ?? minorUnits(totals?.total);
  const settled = t.status === "paid" || t.status === "completed";
  const out: ProviderCheckout = {
    providerCheckoutId: t.id,
    status: CHECKOUT_STATUS[t.status] ?? "open",
    paymentStatus: settled ? (amount === 0 ? "no_payment_required" : "paid") : "unpaid",
    paymentRef: t.id,
    livemode,
  };
  const url = str(t.checkout?.url);
  if (url) out.url = url;
  const checkoutRef = str((t.customData as Record<string, unknown> | null)?.[CHECKOUT_ID_KEY]);
  if (checkoutRef) out.checkoutRef = checkoutRef;
  if (amount !== undefined) out.amount = amount;
  const code = currency(totals?.currencyCode) ?? currency(t.currencyCode);
  if (code) out.currency = code;
  if (t.subscriptionId) out.subscriptionRef = t.subscriptionId;
  if (t.customerId) out.customerRef = t.customerId;
  return out;
}

function adjustmentStatus(status: string): ProviderActionResult["status"] {
  if (status === "approved") return "succeeded";
  if (status === "rejected" || status === "reversed") return "failed";
  return "pending";
}

/** Adjustment actions that take money back from a transaction's items. */
const TAKES_BACK = new Set(["refund", "credit"]);
/** Adjustment statuses that hold (approved) or will probably hold (awaiting approval). */
const HOLDS = new Set(["approved", "pending_approval"]);

/**
 * What earlier refunds and credits (approved or awaiting approval) took from each line item of a
 * transaction fetched with `include: ["adjustment"]`, in minor units.
 */
function adjustedByItem(t: Transaction): Map<string, number> {
  const lineTotal = new Map(
    (t.details?.lineItems ?? []).map((line) => [line.id, minorUnits(line.totals?.total) ?? 0]),
  );
  const used = new Map<string, number>();
  for (const adjustment of t.adjustments ?? []) {
    if (!TAKES_BACK.has(adjustment.action) || !HOLDS.has(adjustment.status)) continue;
    for (const item of adjustment.items ?? []) {
      const taken =
        (item.type === "full" ? undefined : minorUnits(item.amount)) ??
        minorUnits(item.totals?.total) ??
        lineTotal.get(item.itemId) ??
        0;
      used.set(item.itemId, (used.get(item.itemId) ?? 0) + taken);
    }
  }
  return used;
}

/** What the line items still hold after earlier adjustments. */
function remainingOf(t: Transaction, used: Map<string, number>): number {
  let left = 0;
  for (const line of t.details?.lineItems ?? [])
    left += Math.max(0, (minorUnits(line.totals?.total) ?? 0) - (used.get(line.id) ?? 0));
  return left;
}

/** Splits a partial refund over the transaction's line items, each up to what it has left. */
function allocate(
  t: Transaction,
  amount: number,
  used: Map<string, number>,
): { itemId: string; type: "partial"; amount: string }[] | undefined {
  if (amount <= 0) return undefined;
  const items: { itemId: string; type: "partial"; amount: string }[] = [];
  let left = amount;
  for (const line of t.details?.lineItems ?? []) {
    if (left <= 0) break;
    const available = (minorUnits(line.totals?.total) ?? 0) - (used.get(line.id) ?? 0);
    if (available <= 0) continue;
    const take = Math.min(available, left);
    items.push({ itemId: line.id, type: "partial", amount: String(take) });
    left -= take;
  }
  return left === 0 ? items : undefined;
}

/** Builds the API groups of the provider. */
export function paddleApi(settings: ApiSettings): Required<
  Pick<PaymentProvider, "checkout" | "refunds" | "portal">
> & {
  subscriptions: Required<ProviderSubscriptions>;
} {
  const { client, livemode } = settings;
  return {
    checkout: {
      async create(input: ProviderCheckoutInput) {
        if (!input.lines?.length) throw invalid("A checkout needs at least one line.");
        // A subscription needs a recurring item: when no line has a price id or an interval, the
        // inline lines are monthly (as in the Stripe adapter). Otherwise a line without an interval
        // is a one-time charge beside the recurring ones (a setup fee).
        const monthly =
          input.mode === "subscription" && input.lines.every((line) => !line.priceRef && !line.interval);
        const items = input.lines.map((line) => transactionItem(line, monthly, settings));
        const inlineCurrency = input.lines.map((l) => currency(l.currency)).find((c) => c !== undefined);
        const body = {
          items,
          customData: { ...(input.metadata ?? {}), [CHECKOUT_ID_KEY]: input.checkoutId },
          ...(input.customer?.customerRef ? { customerId: input.customer.customerRef } : {}),
          ...(inlineCurrency ? { currencyCode: inlineCurrency } : {}),
          ...(settings.checkoutUrl ? { checkout: { url: settings.checkoutUrl } } : {}),
        };
        const t = await call("creating a transaction", () =>
          client.transactions.create(body as Parameters<PaddleClient["transactions"]["create"]>[0]),
        );
        const checkout = checkoutFromTransaction(t, livemode);
        if (!checkout.url) {
          throw new ProviderError(
            `Paddle created transaction ${t.id} without a checkout URL: set a default payment link in Paddle (Checkout settings) or pass checkoutUrl to paddleProvider().`,
            { retryable: false },
          );
        }
        return checkout;
      },
      async retrieve(providerCheckoutId: string) {
        const t = await call("fetching a transaction", () => client.transactions.get(providerCheckoutId));
        return checkoutFromTransaction(t, livemode);
      },
      async expire(providerCheckoutId: string) {
        // Paddle cancels only draft and ready transactions; a paid one is refused (→ ProviderError).
        await call("canceling a transaction", () =>
          client.transactions.update(providerCheckoutId, { status: "canceled" }),
        );
      },
    },

    refunds: {
      async create(input: RefundInput) {
        const reason = input.reason?.trim() || settings.refundReason;
        if (input.amount !== undefined && (!Number.isSafeInteger(input.amount) || input.amount <= 0)) {
          throw invalid("A refund amount is a positive integer in minor units.");
        }
        // The transaction with its adjustments: earlier refunds take from the items they refunded.
        const t = await call("fetching the transaction to refund", () =>
          client.transactions.get(input.paymentRef, { include: ["adjustment"] }),
        );
        const txCurrency = currency(t.details?.totals?.currencyCode) ?? currency(t.currencyCode);
        if (input.currency && txCurrency && currency(input.currency) !== txCurrency) {
          throw invalid(
            `The refund currency ${input.currency} differs from the transaction's ${txCurrency}: refund in ${txCurrency}.`,
          );
        }
        const used = adjustedByItem(t);
        const total = minorUnits(t.details?.totals?.grandTotal) ?? minorUnits(t.details?.totals?.total);
        const full = used.size === 0 && (input.amount === undefined || input.amount === total);
        // Without an amount, a refund after earlier ones refunds what they left.
        const amount = input.amount ?? remainingOf(t, used);
        const items = full ? undefined : allocate(t, amount, used);
        if (!full && !items) {
          throw invalid(
            amount === 0
              ? `Transaction ${t.id} is refunded in full already (its adjustments leave nothing to refund).`
              : `The refund amount ${amount} is more than transaction ${t.id} has left across its items.`,
          );
        }
        const adjustment = await call(
          "creating a refund",
          () =>
            client.adjustments.create(
              full
                ? { action: "refund", type: "full", reason, transactionId: input.paymentRef }
                : {
                    action: "refund",
                    type: "partial",
                    reason,
                    transactionId: input.paymentRef,
                    items: items!,
                  },
            ),
          true,
        );
        return { ref: adjustment.id, status: adjustmentStatus(adjustment.status) };
      },
    },

    subscriptions: {
      async cancel({ subscriptionRef, atPeriodEnd }) {
        const s = await call("canceling a subscription", () =>
          client.subscriptions.cancel(subscriptionRef, {
            effectiveFrom: atPeriodEnd ? "next_billing_period" : "immediately",
          }),
        );
        return { ref: s.id, status: "succeeded" };
      },
      async pause({ subscriptionRef }) {
        const s = await call("pausing a subscription", () =>
          client.subscriptions.pause(subscriptionRef, { effectiveFrom: "next_billing_period" }),
        );
        return { ref: s.id, status: "succeeded" };
      },
      async resume({ subscriptionRef }) {
        const current = await call("fetching a subscription", () =>
          client.subscriptions.get(subscriptionRef),
        );
        if (current.status === "paused") {
          const s = await call("resuming a subscription", () =>
            client.subscriptions.resume(subscriptionRef, { effectiveFrom: "immediately" }),
          );
          return { ref: s.id, status: "succeeded" };
        }
        if (current.scheduledChange) {
          // A scheduled cancel (or pause) is undone by removing the scheduled change.
          const s = await call("removing a scheduled change", () =>
            client.subscriptions.update(subscriptionRef, { scheduledChange: null }),
          );
          return { ref: s.id, status: "succeeded" };
        }
        return { ref: current.id, status: "succeeded" };
      },
      async change({ subscriptionRef, priceRef, quantity, prorate }) {
        if (quantity !== undefined && (!Number.isSafeInteger(quantity) || quantity < 1))
          throw invalid("The quantity must be a whole number ≥ 1.");
        // Paddle replaces the whole item list: the first item gets the new price, the others (add-ons,
        // seats) are sent back as they are, or Paddle would remove them.
        const current = await call("fetching a subscription", () =>
          client.subscriptions.get(subscriptionRef),
        );
        const [main, ...others] = current.items ?? [];
        const items = [
          { priceId: priceRef, quantity: quantity ?? main?.quantity ?? 1 },
          ...others.map((item) => ({ priceId: item.price.id, quantity: item.quantity })),
        ];
        const s = await call("changing a subscription", () =>
          client.subscriptions.update(subscriptionRef, {
            items,
            prorationBillingMode: prorate === false ? "full_next_billing_period" : "prorated_immediately",
          }),
        );
        return { ref: s.id, status: "succeeded" };
      },
    },

    portal: {
      async create({ customerRef }) {
        const session = await call("creating a customer portal session", () =>
          client.customerPortalSessions.create(customerRef, []),
        );
        const url = str(session.urls?.general?.overview);
        if (!url) {
          throw new ProviderError("Paddle created a portal session without an overview URL: retry later.", {
            retryable: true,
          });
        }
        return { url };
      },
    },
  };
}
