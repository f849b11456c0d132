/** Public types of `@mika/backend`. */
import type {
  EventOfKind,
  EventRow,
  MikaEvent,
  MikaEventKind,
  MikaStore,
  OrderRow,
  OrderStatus,
  PaymentProvider,
  SubscriptionRow,
} from "@mika/types";

/** What a host handler receives besides the event. */
export interface HandlerContext {
  /** The inbox row id of the event. */
  eventRowId: string;
  /** Which attempt this is (1 for the first run). */
  attempt: number;
  /**
   * The order the event touched, after the ledger change, when there is one. An event whose
   * `checkoutRef` named an order it could not settle (another provider checkout, another currency)
   * never gets that order here: fulfil only what `ctx.order` holds.
   */
  order?: Order;
}

/** Host handlers by event kind; they run after the ledger commit, at least once. */
export type EventHandlers = {
  [K in MikaEventKind]?: (event: EventOfKind<K>, context: HandlerContext) => Promise<void> | void;
};

/** Something worth telling a person about. */
export type NotificationIntent =
  | { type: "order.paid"; order: Order }
  | { type: "order.refunded"; order: Order; refundedAmount: number; full: boolean }
  | { type: "payment.failed"; order?: Order; reason?: string; provider: string }
  | {
      type: "subscription.updated";
      subscription: Subscription;
      change: "created" | "updated" | "canceled";
    }
  | {
      type: "ops.webhook_failed";
      eventRowId: string;
      provider: string;
      eventType: string;
      error: string;
      attempts: number;
    };

/** A rendered message (the default renderer produces these). */
export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

/** The notification hook. Return `{ handled: true }` to suppress the default (logging the rendered message). */
export interface NotificationsConfig {
  handle(
    intent: NotificationIntent,
    render: (intent: NotificationIntent) => RenderedMessage | undefined,
  ): Promise<{ handled: boolean } | undefined> | { handled: boolean } | undefined;
}

/** Where the backend writes what it does. Never receives secrets or raw bodies. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Tunables, all optional. */
export interface MikaConfig {
  /** Path prefix of `mika.handler`'s routes. Default `/api/mika`. */
  basePath?: string;
  /**
   * What the public `POST /checkout` route takes; anyone can call it, where `mika.checkout.start` on
   * the server takes whatever your code passes. `inlinePrices`: whether a request may name its own
   * price (`{ name, amount, currency }` lines). Default `false`: catalog lines (`sellableId`) only.
   * `redirectOrigins`: the origins `successUrl` and `cancelUrl` may point to (`["https://shop.example"]`).
   * Set it: without it any http(s) URL is taken, so anyone can make a checkout on your account whose
   * page sends the buyer to a site of their choosing. (Mika cannot default it to the request's own
   * host: frameworks and proxies report another host than the buyer's.)
   */
  publicCheckout?: { inlinePrices?: boolean; redirectOrigins?: readonly string[] };
  /** Largest webhook body accepted, in bytes; larger → 413 before any hashing. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * `inline` (default): verify, store and apply before answering. `deferred`: verify and store, answer
   * 200 at once, and leave applying to `mika.webhooks.drain()` / `mika.maintenance.run()`.
   */
  processing?: "inline" | "deferred";
  /**
   * Which mode this deployment takes money in. `true`: live only; `false`: test only. Events of the other
   * mode are stored as `ignored` (kept apart, never applied). Default: both, kept apart by `livemode`.
   */
  livemode?: boolean;
  /** Guards the `/ops/*` routes. Denies everything unless given. */
  authorize?: (request: Request) => boolean | Promise<boolean>;
  /** Retry policy for failed events and handlers. */
  retry?: { baseMs?: number; maxMs?: number; maxAttempts?: number };
  /** How long raw payloads are kept before maintenance purges them (normalized events stay). Default 30 days. */
  rawPayloadRetentionDays?: number;
  /**
   * `false`: record host handler and notification runs (with the ledger change, as always) but never
   * execute them in this process, inline or in maintenance. For ops tools such as the `mika` CLI that
   * replay events into an app's store: the app, which has the real handlers, runs them. Default `true`.
   */
  runHandlers?: boolean;
  /** Log sink. Default: `console`, prefixed `[mika]`. */
  logger?: Logger;
}

/** Options of `createMika`. */
export interface CreateMikaOptions {
  /** The providers to accept webhooks from and start checkouts with. */
  providers: readonly PaymentProvider[];
  /** Where the inbox and ledger live. */
  store: MikaStore;
  /** Host handlers by event kind. */
  on?: EventHandlers;
  /** Notification hook. */
  notifications?: NotificationsConfig;
  /** Tunables. */
  config?: MikaConfig;
  /** The clock (tests). */
  now?: () => Date;
  /** Id generator (tests). Receives a prefix such as `evt` or `chk`. */
  createId?: (prefix: string) => string;
}

/** An order as the API returns it. */
export interface Order {
  id: string;
  provider: string;
  status: OrderStatus;
  mode: "payment" | "subscription";
  livemode: boolean;
  amount: number | null;
  currency: string | null;
  refundedAmount: number;
  disputeStatus: string | null;
  providerCheckoutId: string | null;
  paymentRef: string | null;
  providerOrderRef: string | null;
  subscriptionRef: string | null;
  customerRef: string | null;
  customerEmail: string | null;
  customerName: string | null;
  lines: unknown;
  metadata: unknown;
  failureReason: string | null;
  expiresAt: string | null;
  paidAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A subscription as the API returns it. */
export interface Subscription {
  id: string;
  provider: string;
  subscriptionRef: string;
  status: string;
  priceRef: string | null;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  customerRef: string | null;
  orderId: string | null;
  livemode: boolean;
  providerUpdatedAt: string;
  updatedAt: string;
}

/** A stored webhook event (ops view). */
export interface WebhookRecord {
  id: string;
  provider: string;
  eventId: string;
  eventType: string;
  kind: string;
  livemode: boolean;
  payloadHash: string;
  status: EventRow["status"];
  attempts: number;
  duplicates: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  parkedReason: string | null;
  occurredAt: string;
  receivedAt: string;
  processedAt: string | null;
}

/** A stored webhook event with everything ops needs to debug it. */
export interface WebhookDetail extends WebhookRecord {
  /** The normalized event. */
  event: MikaEvent | null;
  /** The raw body as received, until retention purges it. */
  raw: string | null;
  /** Each host handler / notification run. */
  handlers: {
    handler: string;
    status: string;
    attempts: number;
    lastError: string | null;
    nextAttemptAt: string | null;
  }[];
}

/** What `webhooks.receive` answers with. */
export interface ReceiveResult {
  /** `processed`, `duplicate`, `ignored` (unmapped or other mode), `parked` (waiting for its order), `accepted` (deferred). */
  status: "processed" | "duplicate" | "ignored" | "parked" | "accepted";
  /** Mika's inbox row id. */
  id: string;
  /** The provider's event id. */
  eventId: string;
  /** The normalized kind. */
  kind: string;
}

/** A page of results. */
export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  nextCursor?: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Maps an order row to the API shape. */
export function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    provider: row.provider,
    status: row.status,
    mode: row.mode,
    livemode: row.livemode,
    amount: row.amount,
    currency: row.currency,
    refundedAmount: row.refunded_amount,
    disputeStatus: row.dispute_status,
    providerCheckoutId: row.provider_checkout_id,
    paymentRef: row.payment_ref,
    providerOrderRef: row.provider_order_ref,
    subscriptionRef: row.subscription_ref,
    customerRef: row.customer_ref,
    customerEmail: row.customer_email,
    customerName: row.customer_name,
    lines: row.lines,
    metadata: row.metadata,
    failureReason: row.failure_reason,
    expiresAt: iso(row.expires_at),
    paidAt: iso(row.paid_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

/** Maps a subscription row to the API shape. */
export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    provider: row.provider,
    subscriptionRef: row.subscription_ref,
    status: row.status,
    priceRef: row.price_ref,
    currentPeriodStart: iso(row.current_period_start),
    currentPeriodEnd: iso(row.current_period_end),
    cancelAtPeriodEnd: row.cancel_at_period_end,
    customerRef: row.customer_ref,
    orderId: row.order_id,
    livemode: row.livemode,
    providerUpdatedAt: iso(row.provider_updated_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

/** Maps an inbox row to the ops shape. */
export function toWebhookRecord(row: EventRow): WebhookRecord {
  return {
    id: row.id,
    provider: row.provider,
    eventId: row.event_id,
    eventType: row.event_type,
    kind: row.kind,
    livemode: row.livemode,
    payloadHash: row.payload_hash,
    status: row.status,
    attempts: row.attempts,
    duplicates: row.duplicates,
    nextAttemptAt: iso(row.next_attempt_at),
    lastError: row.last_error,
    parkedReason: row.parked_reason,
    occurredAt: iso(row.occurred_at)!,
    receivedAt: iso(row.received_at)!,
    processedAt: iso(row.processed_at),
  };
}
