/**
 * Maps verified Lemon Squeezy webhooks (`meta.event_name` + a JSON:API resource) to Mika events.
 */
import {
  type CheckoutCompletedEvent,
  type EventRefs,
  eventBase,
  type MikaEvent,
  type RefundUpdatedEvent,
  type SubscriptionStatus,
  type SubscriptionUpdatedEvent,
  type VerifiedWebhook,
} from "@mika/types";
import { currency, date, idOf, int, obj, str } from "./read.js";

/** The `meta.custom_data` key that carries Mika's checkout id. */
export const CHECKOUT_ID_KEY = "mika_checkout_id";

/** The paymentRef of a subscription invoice (order ids are plain digits; invoice ids are not in the same space). */
export function invoicePaymentRef(invoiceId: string): string {
  return `subscription-invoices/${invoiceId}`;
}

const SUBSCRIPTION_STATUS: Record<string, SubscriptionStatus> = {
  on_trial: "trialing",
  active: "active",
  paused: "paused",
  pause: "paused",
  past_due: "past_due",
  unpaid: "past_due",
  cancelled: "canceled",
  expired: "expired",
};

const SUBSCRIPTION_EVENTS = new Set([
  "subscription_created",
  "subscription_updated",
  "subscription_cancelled",
  "subscription_resumed",
  "subscription_expired",
  "subscription_paused",
  "subscription_unpaused",
]);

/** Maps an order's status to a checkout payment status. */
export function orderPaymentStatus(
  status: unknown,
  total: number | undefined,
): CheckoutCompletedEvent["paymentStatus"] {
  if (status === "paid" || status === "refunded" || status === "partial_refund") {
    return total === 0 ? "no_payment_required" : "paid";
  }
  return "unpaid";
}

interface Parts {
  webhook: VerifiedWebhook;
  eventName: string;
  id: string;
  attributes: Record<string, unknown>;
  refs: EventRefs;
}

/** Refs with some fields replaced (no object spread: it sits on the webhook hot path). */
function refsWith(refs: EventRefs, more: EventRefs): EventRefs {
  return Object.assign({}, refs, more);
}

function checkoutCompleted(p: Parts): CheckoutCompletedEvent | undefined {
  const a = p.attributes;
  const total = int(a.total);
  const email = str(a.user_email);
  const name = str(a.user_name);
  const customer: { email?: string; name?: string } = {};
  if (email) customer.email = email;
  if (name) customer.name = name;
  return eventBase(p.webhook, "checkout.completed", refsWith(p.refs, { orderRef: p.id, paymentRef: p.id }), {
    paymentStatus: orderPaymentStatus(a.status, total),
    amount: total,
    currency: currency(a.currency),
    customer: email || name ? customer : undefined,
  });
}

function refundUpdated(p: Parts, paymentRef: string, extra: EventRefs): RefundUpdatedEvent | undefined {
  const a = p.attributes;
  const total = int(a.total);
  const cur = currency(a.currency);
  if (total === undefined || cur === undefined) return undefined;
  const fullyRefunded = a.status === "refunded";
  let refunded = int(a.refunded_amount);
  // Older payloads lack refunded_amount; a status of "refunded" still says "all of it".
  if (refunded === undefined && fullyRefunded) refunded = total;
  if (refunded === undefined) return undefined;
  return eventBase(p.webhook, "refund.updated", refsWith(p.refs, Object.assign({ paymentRef }, extra)), {
    refundedAmount: refunded,
    amount: total,
    currency: cur,
    full: fullyRefunded || refunded >= total,
    status: "succeeded" as const,
  });
}

function invoicePayment(p: Parts, kind: "payment.succeeded" | "payment.failed"): MikaEvent | undefined {
  const a = p.attributes;
  const total = int(a.total);
  const cur = currency(a.currency);
  const refs = refsWith(p.refs, { paymentRef: invoicePaymentRef(p.id), invoiceRef: p.id });
  if (kind === "payment.succeeded") {
    if (total === undefined || cur === undefined) return undefined;
    return eventBase(p.webhook, "payment.succeeded", refs, { amount: total, currency: cur });
  }
  const reason = str(a.billing_reason);
  return eventBase(p.webhook, "payment.failed", refs, {
    amount: total,
    currency: cur,
    reason: reason ? `${reason} payment failed` : undefined,
  });
}

function subscriptionUpdated(p: Parts): SubscriptionUpdatedEvent | undefined {
  const a = p.attributes;
  const status = typeof a.status === "string" ? SUBSCRIPTION_STATUS[a.status] : undefined;
  const updatedAt = date(a.updated_at) ?? date(a.created_at);
  if (!status || !updatedAt) return undefined;
  const endsAt = date(a.ends_at);
  const renewsAt = date(a.renews_at);
  // A cancelled Lemon Squeezy subscription keeps access until ends_at (its grace period): Mika reports
  // status "canceled" with cancelAtPeriodEnd true while ends_at is after this snapshot's updated_at.
  const cancelled = a.status === "cancelled" || (a.cancelled === true && status !== "expired");
  const cancelAtPeriodEnd = cancelled && endsAt !== undefined && endsAt.getTime() > updatedAt.getTime();
  const periodEnd =
    status === "canceled" || status === "expired" ? (endsAt ?? renewsAt) : (renewsAt ?? endsAt);
  const priceRef = idOf(a.variant_id) ?? idOf(obj(a.first_subscription_item)?.price_id);
  const change: SubscriptionUpdatedEvent["change"] =
    p.eventName === "subscription_created"
      ? "created"
      : p.eventName === "subscription_cancelled"
        ? "canceled"
        : "updated";
  return eventBase(
    p.webhook,
    "subscription.updated",
    refsWith(p.refs, { subscriptionRef: p.id, orderRef: idOf(a.order_id) }),
    { status, change, priceRef, currentPeriodEnd: periodEnd, cancelAtPeriodEnd, updatedAt },
  );
}

function mapEvent(webhook: VerifiedWebhook): MikaEvent | undefined {
  const payload = obj(webhook.payload);
  const eventName = str(obj(payload?.meta)?.event_name);
  const data = obj(payload?.data);
  const id = idOf(data?.id);
  if (!payload || !eventName || !data || !id) return undefined;
  const attributes = obj(data.attributes) ?? {};
  const checkoutRef = str(obj(obj(payload.meta)?.custom_data)?.[CHECKOUT_ID_KEY]);
  const p: Parts = {
    webhook,
    eventName,
    id,
    attributes,
    refs: {
      checkoutRef,
      customerRef: idOf(attributes.customer_id),
      subscriptionRef: idOf(attributes.subscription_id),
    },
  };
  switch (eventName) {
    case "order_created":
      return checkoutCompleted(p);
    case "order_refunded":
      return refundUpdated(p, id, { orderRef: id });
    case "subscription_payment_refunded":
      return refundUpdated(p, invoicePaymentRef(id), { invoiceRef: id });
    case "subscription_payment_success":
    case "subscription_payment_recovered":
      return invoicePayment(p, "payment.succeeded");
    case "subscription_payment_failed":
      return invoicePayment(p, "payment.failed");
    default:
      return SUBSCRIPTION_EVENTS.has(eventName) ? subscriptionUpdated(p) : undefined;
  }
}

/**
 * Maps a verified webhook to a Mika event. Total: anything unmapped, or a mapped event whose payload
 * lacks what the kind needs, becomes `unknown`.
 */
export function parseLemonSqueezyEvent(webhook: VerifiedWebhook): MikaEvent {
  try {
    const mapped = mapEvent(webhook);
    if (mapped) return mapped;
  } catch {
    // never reached on well-formed input; parsing stays total regardless
  }
  return eventBase(webhook, "unknown");
}
