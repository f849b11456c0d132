/**
 * Maps verified Paddle Billing notifications to Mika's normalized events, from the raw JSON (never the
 * SDK's entity classes, which throw on shapes they do not expect). Total: anything unreadable becomes
 * `unknown`.
 */
import {
  type CheckoutCompletedEvent,
  type DisputeUpdatedEvent,
  type EventRefs,
  eventBase,
  type MikaEvent,
  type RefundUpdatedEvent,
  type SubscriptionStatus,
  type SubscriptionUpdatedEvent,
  type VerifiedWebhook,
} from "@mika/types";
import { arr, currency, type Json, minorUnits, obj, str, time } from "./read.js";

/** The `custom_data` key that carries Mika's checkout id through Paddle. */
export const CHECKOUT_ID_KEY = "mika_checkout_id";

/** Transaction origins that are a buyer (or the app) paying at a checkout, not a renewal or an update. */
const CHECKOUT_ORIGINS = new Set(["web", "api"]);

const SUBSCRIPTION_EVENTS = new Set([
  "subscription.created",
  "subscription.activated",
  "subscription.trialing",
  "subscription.updated",
  "subscription.past_due",
  "subscription.paused",
  "subscription.resumed",
  "subscription.canceled",
]);

const SUBSCRIPTION_STATUS: Record<string, SubscriptionStatus> = {
  active: "active",
  trialing: "trialing",
  past_due: "past_due",
  paused: "paused",
  canceled: "canceled",
};

const REFUND_STATUS: Record<string, RefundUpdatedEvent["status"]> = {
  pending_approval: "pending",
  approved: "succeeded",
  rejected: "failed",
  reversed: "failed",
};

const DISPUTE_STATUS: Record<string, DisputeUpdatedEvent["status"]> = {
  chargeback_warning: "open",
  chargeback: "lost",
  chargeback_reverse: "won",
  chargeback_warning_reverse: "won",
};

/** Mika's checkout id from a Paddle entity's `custom_data`. */
export function checkoutRefOf(entity: Json): string | undefined {
  return str(obj(entity.custom_data)?.[CHECKOUT_ID_KEY]);
}

function transactionRefs(data: Json): EventRefs {
  const id = str(data.id);
  return {
    checkoutRef: checkoutRefOf(data),
    providerCheckoutId: id,
    paymentRef: id,
    subscriptionRef: str(data.subscription_id),
    customerRef: str(data.customer_id),
    invoiceRef: str(data.invoice_id),
  };
}

/** The transaction's total (`details.totals.grand_total`, else `total`) and currency. */
function transactionMoney(data: Json): { amount?: number; currency?: string } {
  const totals = obj(obj(data.details)?.totals);
  return {
    amount: minorUnits(totals?.grand_total) ?? minorUnits(totals?.total),
    currency: currency(totals?.currency_code) ?? currency(data.currency_code),
  };
}

function isRecurring(data: Json): boolean {
  if (str(data.subscription_id)) return true;
  for (const item of arr(data.items) ?? []) {
    if (obj(obj(obj(item)?.price)?.billing_cycle)) return true;
  }
  return false;
}

function mapTransaction(webhook: VerifiedWebhook, data: Json): MikaEvent | undefined {
  if (!str(data.id)) return undefined;
  const refs = transactionRefs(data);
  const money = transactionMoney(data);
  switch (webhook.eventType) {
    case "transaction.completed": {
      // A renewal or a subscription update also completes a transaction; only a checkout (origin web
      // or api) is a checkout.completed. The rest is money in. Paddle copies a subscription's
      // custom_data onto its renewals, so Mika's checkout id decides only when the origin is missing.
      const origin = str(data.origin);
      const isCheckout = origin ? CHECKOUT_ORIGINS.has(origin) : refs.checkoutRef !== undefined;
      if (!isCheckout) {
        if (money.amount === undefined || !money.currency) return undefined;
        return eventBase(webhook, "payment.succeeded", refs, {
          amount: money.amount,
          currency: money.currency,
        });
      }
      return eventBase(webhook, "checkout.completed", refs, {
        paymentStatus: (money.amount === 0
          ? "no_payment_required"
          : "paid") as CheckoutCompletedEvent["paymentStatus"],
        amount: money.amount,
        currency: money.currency,
        mode: (isRecurring(data) ? "subscription" : "payment") as CheckoutCompletedEvent["mode"],
      });
    }
    case "transaction.paid": {
      if (money.amount === undefined || !money.currency) return undefined;
      return eventBase(webhook, "payment.succeeded", refs, {
        amount: money.amount,
        currency: money.currency,
      });
    }
    case "transaction.payment_failed": {
      let reason: string | undefined;
      for (const attempt of arr(data.payments) ?? []) {
        reason = str(obj(attempt)?.error_code);
        if (reason) break;
      }
      return eventBase(webhook, "payment.failed", refs, {
        amount: money.amount,
        currency: money.currency,
        reason,
      });
    }
    case "transaction.canceled": {
      const captured = (arr(data.payments) ?? []).some((p) => obj(p)?.status === "captured");
      if (captured) return undefined;
      return eventBase(webhook, "checkout.expired", refs);
    }
    default:
      return undefined;
  }
}

function mapSubscription(webhook: VerifiedWebhook, data: Json): MikaEvent | undefined {
  const id = str(data.id);
  const status = SUBSCRIPTION_STATUS[String(data.status)];
  if (!id || !status) return undefined;
  const period = obj(data.current_billing_period);
  const firstItem = obj(arr(data.items)?.[0]);
  const change: SubscriptionUpdatedEvent["change"] =
    webhook.eventType === "subscription.created"
      ? "created"
      : webhook.eventType === "subscription.canceled"
        ? "canceled"
        : "updated";
  const updatedAt = time(data.updated_at) ?? time(obj(webhook.payload)?.occurred_at);
  // eventBase copies field by field and leaves out undefined ones (no object spread: hot path).
  const event: SubscriptionUpdatedEvent = eventBase(webhook, "subscription.updated", {
    checkoutRef: checkoutRefOf(data),
    subscriptionRef: id,
    customerRef: str(data.customer_id),
    paymentRef: str(data.transaction_id),
    status,
    change,
    priceRef: str(obj(firstItem?.price)?.id) ?? str(firstItem?.price_id),
    currentPeriodStart: time(period?.starts_at),
    currentPeriodEnd: time(period?.ends_at),
    cancelAtPeriodEnd: obj(data.scheduled_change)?.action === "cancel",
    updatedAt: updatedAt as Date, // set below when undefined
  });
  // Last fallback: the event's own occurredAt (the webhook's, or now).
  if (updatedAt === undefined) event.updatedAt = event.occurredAt;
  return event;
}

function mapAdjustment(webhook: VerifiedWebhook, data: Json): MikaEvent | undefined {
  const id = str(data.id);
  if (!id) return undefined;
  const totals = obj(data.totals);
  const amount = minorUnits(totals?.total);
  const code = currency(totals?.currency_code) ?? currency(data.currency_code);
  if (amount === undefined || !code) return undefined;
  const refs: EventRefs = {
    paymentRef: str(data.transaction_id),
    subscriptionRef: str(data.subscription_id),
    customerRef: str(data.customer_id),
  };
  const action = String(data.action);
  if (action === "refund") {
    const status = REFUND_STATUS[String(data.status)];
    if (!status) return undefined;
    return eventBase(webhook, "refund.updated", refs, {
      refundRef: id,
      // Paddle's adjustment carries only its own total, not the transaction's running refunded total
      // nor the transaction's amount: both fields hold this adjustment's total (see the README).
      refundedAmount: amount,
      amount,
      cumulative: false,
      currency: code,
      full: data.type === "full",
      status,
    });
  }
  const disputeStatus = DISPUTE_STATUS[action];
  if (disputeStatus) {
    return eventBase(webhook, "dispute.updated", refs, {
      disputeRef: id,
      amount,
      currency: code,
      status: disputeStatus,
    });
  }
  return undefined;
}

/** Maps a verified Paddle notification. Never throws; unmapped or unreadable → `unknown`. */
export function parsePaddleEvent(webhook: VerifiedWebhook): MikaEvent {
  try {
    const data = obj(obj(webhook.payload)?.data);
    const type = webhook.eventType;
    let event: MikaEvent | undefined;
    if (data) {
      if (type.startsWith("transaction.")) event = mapTransaction(webhook, data);
      else if (SUBSCRIPTION_EVENTS.has(type)) event = mapSubscription(webhook, data);
      else if (type === "adjustment.created" || type === "adjustment.updated")
        event = mapAdjustment(webhook, data);
    }
    if (event) return event;
  } catch {
    // unreachable by construction (every reader is defensive); kept so a verified event is never lost
  }
  return eventBase(webhook, "unknown");
}
