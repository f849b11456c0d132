/**
 * Stripe events → Mika's normalized events (DESIGN §2). Total: whatever the payload holds, the result is
 * a {@link MikaEvent}; anything not mapped, or not readable, becomes `unknown`.
 */
import {
  type EventRefs,
  eventBase,
  type MikaEvent,
  type SubscriptionStatus,
  type VerifiedWebhook,
} from "@mika/types";

/** The metadata key under which Mika's checkout id travels on Stripe objects. */
export const CHECKOUT_METADATA_KEY = "mika_checkout_id";

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  value !== null && typeof value === "object" && !Array.isArray(value);
const str = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined;
const int = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
const currency = (value: unknown): string | undefined => {
  const text = str(value);
  return text && /^[a-z]{3}$/i.test(text) ? text.toUpperCase() : undefined;
};
/** An id, whether the field holds the id or the expanded object. */
const ref = (value: unknown): string | undefined => str(value) ?? (isObj(value) ? str(value.id) : undefined);
const unixDate = (value: unknown): Date | undefined =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? new Date(value * 1000) : undefined;
const firstItem = (list: unknown): Obj | undefined => {
  if (!isObj(list) || !Array.isArray(list.data)) return undefined;
  const item = list.data[0];
  return isObj(item) ? item : undefined;
};

/** Drops `undefined` values so events compare and serialize cleanly. */
function compact<T extends Obj>(value: T): T {
  const out: Obj = {};
  for (const key in value) if (value[key] !== undefined) out[key] = value[key];
  return out as T;
}

/** `metadata.mika_checkout_id` of an object, if it has one. */
function metadataCheckoutRef(holder: unknown): string | undefined {
  return isObj(holder) && isObj(holder.metadata) ? str(holder.metadata[CHECKOUT_METADATA_KEY]) : undefined;
}

/**
 * Mika's checkout id: `client_reference_id` first, then `metadata.mika_checkout_id` of the object, then
 * of `parent` (an invoice's subscription details). No rest parameters or array spread: every event
 * passes through here.
 */
function checkoutRefOf(object: Obj, parent?: unknown): string | undefined {
  return str(object.client_reference_id) ?? metadataCheckoutRef(object) ?? metadataCheckoutRef(parent);
}

const SUBSCRIPTION_STATUS: Record<string, SubscriptionStatus> = {
  incomplete: "incomplete",
  incomplete_expired: "expired",
  trialing: "trialing",
  active: "active",
  past_due: "past_due",
  unpaid: "past_due",
  canceled: "canceled",
  paused: "paused",
};

const PAYMENT_STATUS = new Set(["paid", "unpaid", "no_payment_required"]);

function refundStatus(value: unknown): "pending" | "succeeded" | "failed" {
  if (value === "succeeded") return "succeeded";
  if (value === "failed" || value === "canceled") return "failed";
  return "pending";
}

function disputeStatus(value: unknown): "open" | "won" | "lost" {
  if (value === "lost") return "lost";
  // `warning_closed`: an inquiry closed without becoming a chargeback; `prevented`: no money left.
  if (value === "won" || value === "warning_closed" || value === "prevented") return "won";
  return "open";
}

/** The invoice's subscription: old API versions name it directly, newer ones under `parent`. */
function invoiceSubscription(invoice: Obj): string | undefined {
  const direct = ref(invoice.subscription);
  if (direct) return direct;
  const parent = isObj(invoice.parent) ? invoice.parent : undefined;
  const details = parent && isObj(parent.subscription_details) ? parent.subscription_details : undefined;
  if (details) return ref(details.subscription);
  const line = firstItem(invoice.lines);
  const lineParent = line && isObj(line.parent) ? line.parent : undefined;
  const itemDetails =
    lineParent && isObj(lineParent.subscription_item_details)
      ? lineParent.subscription_item_details
      : undefined;
  return itemDetails ? ref(itemDetails.subscription) : undefined;
}

/** The invoice's payment intent: `payment_intent` on old API versions, `payments` on newer ones. */
function invoicePayment(invoice: Obj): string | undefined {
  const direct = ref(invoice.payment_intent);
  if (direct) return direct;
  const payment = firstItem(invoice.payments);
  const inner = payment && isObj(payment.payment) ? payment.payment : undefined;
  return inner ? (ref(inner.payment_intent) ?? ref(inner.charge)) : undefined;
}

function invoiceRefs(invoice: Obj): EventRefs {
  const parent = isObj(invoice.parent) ? invoice.parent : undefined;
  const subscriptionDetails =
    parent && isObj(parent.subscription_details) ? parent.subscription_details : undefined;
  return {
    checkoutRef: checkoutRefOf(invoice, subscriptionDetails),
    invoiceRef: str(invoice.id),
    subscriptionRef: invoiceSubscription(invoice),
    paymentRef: invoicePayment(invoice),
    customerRef: ref(invoice.customer),
  };
}

function paymentIntentReason(intent: Obj): string | undefined {
  const error = isObj(intent.last_payment_error) ? intent.last_payment_error : undefined;
  if (!error) return undefined;
  const codes = [str(error.code), str(error.decline_code)].filter(Boolean).join("/");
  const message = str(error.message);
  if (codes && message) return `${codes}: ${message}`;
  return codes || message;
}

function subscriptionEvent(webhook: VerifiedWebhook, type: string, sub: Obj): MikaEvent | undefined {
  const status = typeof sub.status === "string" ? SUBSCRIPTION_STATUS[sub.status] : undefined;
  const subscriptionRef = str(sub.id);
  const updatedAt = webhook.occurredAt;
  if (!status || !subscriptionRef || !updatedAt) return undefined;
  const item = firstItem(sub.items);
  const price = item && isObj(item.price) ? item.price : isObj(sub.plan) ? sub.plan : undefined;
  return eventBase(webhook, "subscription.updated", {
    subscriptionRef,
    customerRef: ref(sub.customer),
    checkoutRef: checkoutRefOf(sub),
    status,
    change:
      type === "customer.subscription.created"
        ? ("created" as const)
        : type === "customer.subscription.deleted"
          ? ("canceled" as const)
          : ("updated" as const),
    priceRef: price ? str(price.id) : undefined,
    // Newer API versions moved the period from the subscription onto its items.
    currentPeriodStart: unixDate(sub.current_period_start) ?? unixDate(item?.current_period_start),
    currentPeriodEnd: unixDate(sub.current_period_end) ?? unixDate(item?.current_period_end),
    cancelAtPeriodEnd:
      sub.cancel_at_period_end === true || (sub.cancel_at !== null && sub.cancel_at !== undefined),
    updatedAt,
  });
}

function mapEvent(webhook: VerifiedWebhook): MikaEvent | undefined {
  const payload = webhook.payload;
  if (!isObj(payload) || !isObj(payload.data) || !isObj(payload.data.object)) return undefined;
  const object = payload.data.object;
  const type = webhook.eventType;

  switch (type) {
    case "checkout.session.completed": {
      const details = isObj(object.customer_details) ? object.customer_details : {};
      const customer = compact({
        email: str(details.email) ?? str(object.customer_email),
        name: str(details.name),
      });
      const mode: "payment" | "subscription" | undefined =
        object.mode === "payment" || object.mode === "subscription" ? object.mode : undefined;
      return eventBase(webhook, "checkout.completed", sessionRefs(object), {
        paymentStatus: PAYMENT_STATUS.has(String(object.payment_status))
          ? (object.payment_status as "paid" | "unpaid" | "no_payment_required")
          : "unpaid",
        amount: int(object.amount_total),
        currency: currency(object.currency),
        customer: Object.keys(customer).length > 0 ? customer : undefined,
        mode,
      });
    }
    case "checkout.session.async_payment_succeeded": {
      const amount = int(object.amount_total);
      const cur = currency(object.currency);
      if (amount === undefined || !cur) return undefined;
      return eventBase(webhook, "payment.succeeded", sessionRefs(object), {
        amount,
        currency: cur,
      });
    }
    case "checkout.session.async_payment_failed":
      return eventBase(webhook, "payment.failed", sessionRefs(object), {
        amount: int(object.amount_total),
        currency: currency(object.currency),
        reason: "The delayed payment method (bank debit, voucher…) failed.",
      });
    case "checkout.session.expired":
      return eventBase(webhook, "checkout.expired", sessionRefs(object));
    case "payment_intent.succeeded": {
      const amount = int(object.amount_received) ?? int(object.amount);
      const cur = currency(object.currency);
      if (amount === undefined || !cur) return undefined;
      return eventBase(webhook, "payment.succeeded", paymentIntentRefs(object), {
        amount,
        currency: cur,
      });
    }
    case "payment_intent.payment_failed":
      return eventBase(webhook, "payment.failed", paymentIntentRefs(object), {
        amount: int(object.amount),
        currency: currency(object.currency),
        reason: paymentIntentReason(object),
      });
    case "invoice.paid":
    case "invoice.payment_succeeded": {
      const amount = int(object.amount_paid);
      const cur = currency(object.currency);
      if (amount === undefined || !cur) return undefined;
      return eventBase(webhook, "payment.succeeded", invoiceRefs(object), {
        amount,
        currency: cur,
      });
    }
    case "invoice.payment_failed": {
      const attempts = int(object.attempt_count);
      return eventBase(webhook, "payment.failed", invoiceRefs(object), {
        amount: int(object.amount_due),
        currency: currency(object.currency),
        reason: attempts ? `Invoice payment attempt ${attempts} failed.` : "Invoice payment failed.",
      });
    }
    case "invoice.marked_uncollectible":
      return eventBase(webhook, "invoice.uncollectible", invoiceRefs(object), {
        amount: int(object.amount_remaining) ?? int(object.amount_due),
        currency: currency(object.currency),
      });
    case "charge.refunded":
      return chargeRefund(webhook, object);
    default:
      break;
  }
  if (type.startsWith("refund.") && object.object === "refund") return refundEvent(webhook, object);
  if (type.startsWith("charge.refund.") && object.object === "refund") return refundEvent(webhook, object);
  if (type.startsWith("charge.dispute.")) {
    const amount = int(object.amount);
    const cur = currency(object.currency);
    if (amount === undefined || !cur) return undefined;
    return eventBase(webhook, "dispute.updated", {
      disputeRef: str(object.id),
      paymentRef: ref(object.payment_intent) ?? ref(object.charge),
      checkoutRef: checkoutRefOf(object),
      amount,
      currency: cur,
      status: disputeStatus(object.status),
    });
  }
  if (type.startsWith("customer.subscription.")) return subscriptionEvent(webhook, type, object);
  return undefined;
}

function sessionRefs(session: Obj): EventRefs {
  return {
    checkoutRef: checkoutRefOf(session),
    providerCheckoutId: str(session.id),
    paymentRef: ref(session.payment_intent),
    subscriptionRef: ref(session.subscription),
    customerRef: ref(session.customer),
    invoiceRef: ref(session.invoice),
  };
}

function paymentIntentRefs(intent: Obj): EventRefs {
  return {
    checkoutRef: checkoutRefOf(intent),
    paymentRef: str(intent.id),
    customerRef: ref(intent.customer),
    invoiceRef: ref(intent.invoice),
  };
}

/** `charge.refunded`: the charge carries the cumulative `amount_refunded` and the `refunded` flag. */
function chargeRefund(webhook: VerifiedWebhook, charge: Obj): MikaEvent | undefined {
  const amount = int(charge.amount);
  const refundedAmount = int(charge.amount_refunded);
  const cur = currency(charge.currency);
  if (amount === undefined || refundedAmount === undefined || !cur) return undefined;
  const latest = firstItem(charge.refunds);
  return eventBase(webhook, "refund.updated", {
    refundRef: latest ? str(latest.id) : undefined,
    paymentRef: ref(charge.payment_intent) ?? str(charge.id),
    customerRef: ref(charge.customer),
    invoiceRef: ref(charge.invoice),
    checkoutRef: checkoutRefOf(charge),
    refundedAmount,
    amount,
    currency: cur,
    full: charge.refunded === true,
    status: latest ? refundStatus(latest.status) : "succeeded",
  });
}

/**
 * `refund.*` / `charge.refund.updated`: a Refund object. With its `charge` expanded, the cumulative
 * figures come from the charge; otherwise only this refund's amount is known, so `refundedAmount` and
 * `amount` are this refund's amount and `full` is false (a lower bound: `charge.refunded`, which
 * Stripe sends for every successful refund, carries the cumulative total).
 */
function refundEvent(webhook: VerifiedWebhook, refund: Obj): MikaEvent | undefined {
  const ownAmount = int(refund.amount);
  const cur = currency(refund.currency);
  if (ownAmount === undefined || !cur) return undefined;
  const charge = isObj(refund.charge) ? refund.charge : undefined;
  const chargeAmount = charge ? int(charge.amount) : undefined;
  const chargeRefunded = charge ? int(charge.amount_refunded) : undefined;
  const cumulative = chargeAmount !== undefined && chargeRefunded !== undefined;
  return eventBase(webhook, "refund.updated", {
    refundRef: str(refund.id),
    paymentRef: ref(refund.payment_intent) ?? ref(refund.charge),
    checkoutRef: checkoutRefOf(refund),
    refundedAmount: cumulative ? chargeRefunded : ownAmount,
    amount: cumulative ? chargeAmount : ownAmount,
    currency: cur,
    full: cumulative ? charge?.refunded === true : false,
    cumulative,
    status: refundStatus(refund.status),
  });
}

/**
 * Maps a verified Stripe webhook to a Mika event. Never throws: events it does not know, and payloads
 * it cannot read, become `{ kind: "unknown" }`.
 */
export function parseStripeEvent(webhook: VerifiedWebhook): MikaEvent {
  try {
    const mapped = mapEvent(webhook);
    if (mapped) return mapped;
  } catch {
    // A payload shaped unlike any documented Stripe object: keep it, as unknown.
  }
  return eventBase(webhook, "unknown");
}
