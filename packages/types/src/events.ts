/**
 * Mika's normalized event model. Every provider event maps to exactly one {@link MikaEvent},
 * discriminated by `kind`. Amounts are integers in minor units; currencies are ISO 4217, upper case.
 *
 * @packageDocumentation
 */
import type { ProviderName } from "./provider.js";

/** Identifiers an event may carry. Each is optional: an event carries the ones it knows. */
export interface EventRefs {
  /** Mika's own checkout id, carried through the provider's metadata / client_reference_id / custom_data. */
  checkoutRef?: string;
  /** The provider's checkout session / transaction id. */
  providerCheckoutId?: string;
  /** The payment (payment intent, transaction, order) the money moved on. */
  paymentRef?: string;
  /** The provider's order id, where the provider has orders. */
  orderRef?: string;
  /** The provider's subscription id. */
  subscriptionRef?: string;
  /** The provider's customer id. */
  customerRef?: string;
  /** The provider's invoice id. */
  invoiceRef?: string;
}

/** Fields every normalized event has. */
export interface EventBase<K extends string> extends EventRefs {
  /** The discriminator. */
  kind: K;
  /** The provider that sent it. */
  provider: ProviderName;
  /** The provider's event id (deduplication key with `provider`). */
  eventId: string;
  /** The provider's own event type string. */
  eventType: string;
  /** When the provider says it happened: the verified webhook's `occurredAt`, else when it was received. */
  occurredAt: Date;
  /** `false` for test-mode / sandbox events: the verified webhook's `livemode` when it has one. */
  livemode: boolean;
}

/** A buyer finished a hosted checkout. Paid only when `paymentStatus` is `paid` (or `no_payment_required`). */
export interface CheckoutCompletedEvent extends EventBase<"checkout.completed"> {
  /** `unpaid` means an asynchronous method (bank debit…) is still settling: wait for `payment.succeeded`. */
  paymentStatus: "paid" | "unpaid" | "no_payment_required";
  /** Total in minor units. */
  amount?: number;
  /** ISO 4217, upper case. */
  currency?: string;
  /** Who paid, as far as the provider says. */
  customer?: { email?: string; name?: string };
  /** Whether the checkout started a subscription. */
  mode?: "payment" | "subscription";
}

/** A checkout session died without payment. */
export interface CheckoutExpiredEvent extends EventBase<"checkout.expired"> {}

/** Money arrived: an asynchronous payment settled, a renewal was collected. */
export interface PaymentSucceededEvent extends EventBase<"payment.succeeded"> {
  /** Minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
}

/** A payment attempt failed. A business outcome recorded on the order, never a processing error. */
export interface PaymentFailedEvent extends EventBase<"payment.failed"> {
  /** Minor units, when known. */
  amount?: number;
  /** ISO 4217, upper case, when known. */
  currency?: string;
  /** The provider's reason (decline code, message). */
  reason?: string;
}

/**
 * The refund state of a payment. By default `refundedAmount` is cumulative (the payment's total refunded
 * so far), so applying it twice is harmless. Providers that only report one refund at a time (a Paddle
 * adjustment, a Stripe `refund.*` event without its charge) set `cumulative: false` and a `refundRef`:
 * the ledger then adds up distinct refunds by `refundRef`, so redeliveries still count once.
 */
export interface RefundUpdatedEvent extends EventBase<"refund.updated"> {
  /** The provider's refund id; required when `cumulative` is false. */
  refundRef?: string;
  /** Total refunded so far on the payment (or, with `cumulative: false`, this refund's amount), minor units. */
  refundedAmount: number;
  /** `false` when `refundedAmount` is this one refund's amount, not the payment's running total. Default true. */
  cumulative?: boolean;
  /** The payment's amount, minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  /** Whether the payment is now refunded in full. */
  full: boolean;
  /** The refund's own state. Only `succeeded` moves money in the ledger. */
  status: "pending" | "succeeded" | "failed";
}

/** The provider gave up collecting an invoice. Not a refund: no money moved. */
export interface InvoiceUncollectibleEvent extends EventBase<"invoice.uncollectible"> {
  /** Amount that was due, minor units. */
  amount?: number;
  /** ISO 4217, upper case. */
  currency?: string;
}

/** A chargeback was opened, or closed in our favour (`won`) or not (`lost`). */
export interface DisputeUpdatedEvent extends EventBase<"dispute.updated"> {
  /** The provider's dispute / adjustment id. */
  disputeRef?: string;
  /** Disputed amount, minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  /** Where the dispute stands. */
  status: "open" | "won" | "lost";
}

/** Mika's subscription states. */
export type SubscriptionStatus =
  | "incomplete"
  | "trialing"
  | "active"
  | "past_due"
  | "paused"
  | "canceled"
  | "expired";

/** A full subscription snapshot. Applied only when `updatedAt` is newer than what the ledger holds. */
export interface SubscriptionUpdatedEvent extends EventBase<"subscription.updated"> {
  /** The subscription's status after this change. */
  status: SubscriptionStatus;
  /** What happened: it was created, changed, or canceled. */
  change: "created" | "updated" | "canceled";
  /** The provider's price id. */
  priceRef?: string;
  /** Start of the current billing period. */
  currentPeriodStart?: Date;
  /** End of the current billing period (renewal or end of access). */
  currentPeriodEnd?: Date;
  /** Whether it ends at `currentPeriodEnd` instead of renewing. */
  cancelAtPeriodEnd: boolean;
  /** The provider's own time for this snapshot; the ordering key. */
  updatedAt: Date;
}

/** Verified but not mapped: stored and acknowledged, never an error. */
export interface UnknownEvent extends EventBase<"unknown"> {}

/** Every normalized event. */
export type MikaEvent =
  | CheckoutCompletedEvent
  | CheckoutExpiredEvent
  | PaymentSucceededEvent
  | PaymentFailedEvent
  | RefundUpdatedEvent
  | InvoiceUncollectibleEvent
  | DisputeUpdatedEvent
  | SubscriptionUpdatedEvent
  | UnknownEvent;

/** The `kind` of a {@link MikaEvent}. */
export type MikaEventKind = MikaEvent["kind"];

/** The event type for one kind: `EventOfKind<"refund.updated">` is {@link RefundUpdatedEvent}. */
export type EventOfKind<K extends MikaEventKind> = Extract<MikaEvent, { kind: K }>;

/** Every {@link MikaEventKind}, as data. */
export const EVENT_KINDS: readonly MikaEventKind[] = [
  "checkout.completed",
  "checkout.expired",
  "payment.succeeded",
  "payment.failed",
  "refund.updated",
  "invoice.uncollectible",
  "dispute.updated",
  "subscription.updated",
  "unknown",
];

const DATE_FIELDS = ["occurredAt", "currentPeriodStart", "currentPeriodEnd", "updatedAt"] as const;

/** The JSON form of an event, with dates as ISO strings (how stores keep it). */
export type SerializedEvent = Record<string, unknown> & { kind: MikaEventKind };

/** Turns an event into plain JSON (dates as ISO strings). */
export function serializeEvent(event: MikaEvent): SerializedEvent {
  const out: Record<string, unknown> = { ...event };
  for (const field of DATE_FIELDS) {
    const value = out[field];
    if (value instanceof Date) out[field] = value.toISOString();
  }
  return out as SerializedEvent;
}

/** The inverse of {@link serializeEvent}. */
export function reviveEvent(json: SerializedEvent): MikaEvent {
  const out: Record<string, unknown> = { ...json };
  for (const field of DATE_FIELDS) {
    const value = out[field];
    if (typeof value === "string") out[field] = new Date(value);
  }
  return out as unknown as MikaEvent;
}

/**
 * Builds an event from a verified webhook: the fields every event carries, plus `fields` (entries whose
 * value is `undefined` are left out, so events compare and serialize cleanly). For adapters:
 * `eventBase(webhook, "unknown")` is a complete {@link UnknownEvent};
 * `eventBase(webhook, "payment.succeeded", refs, { amount, currency })` a payment event (later parts win).
 *
 * (It copies fields one by one rather than with object spread, which is slow on some V8 builds and
 * sits on the webhook hot path.)
 */
export function eventBase<
  K extends MikaEventKind,
  F extends object = Record<never, never>,
  G extends object = Record<never, never>,
>(
  webhook: {
    provider: ProviderName;
    eventId: string;
    eventType: string;
    occurredAt?: Date;
    livemode?: boolean;
  },
  kind: K,
  fields?: F,
  more?: G,
): EventBase<K> & F & G {
  const event: Record<string, unknown> = {
    kind,
    provider: webhook.provider,
    eventId: webhook.eventId,
    eventType: webhook.eventType,
    occurredAt: webhook.occurredAt ?? new Date(),
    livemode: webhook.livemode ?? true,
  };
  for (const part of [fields, more]) {
    if (!part) continue;
    for (const key in part) {
      const value = (part as Record<string, unknown>)[key];
      if (value !== undefined) event[key] = value;
    }
  }
  return event as EventBase<K> & F & G;
}
