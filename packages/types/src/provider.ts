/**
 * The provider contract: what an adapter (Stripe, Paddle, Lemon Squeezy, or your own) implements.
 *
 * Reading order for a provider author: {@link ProviderName}, {@link WebhookInput},
 * {@link PaymentProvider.verifyWebhook}, {@link VerifiedWebhook}, {@link PaymentProvider.parseWebhookEvent}
 * (see `events.ts` for the normalized kinds), then the optional API groups guarded by {@link Capability}.
 *
 * @packageDocumentation
 */
import type { MikaEvent } from "./events.js";

/**
 * A provider's name: lowercase letters, digits and dashes, starting with a letter, at most 32 characters.
 * It is the `:provider` path segment of the webhook route and the key events are deduplicated under.
 * Create one with {@link createProviderName}.
 */
export type ProviderName = string & { readonly __brand: "ProviderName" };

const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * Validates and brands a provider name.
 *
 * @throws TypeError when the name is not lowercase letters, digits and dashes starting with a letter (max 32).
 * @example createProviderName("stripe")
 */
export function createProviderName(name: string): ProviderName {
  if (typeof name !== "string" || !PROVIDER_NAME.test(name)) {
    throw new TypeError(
      `Invalid provider name ${JSON.stringify(name)}: use 1-32 lowercase letters, digits or dashes, starting with a letter (for example "stripe" or "acme-pay").`,
    );
  }
  return name as ProviderName;
}

/** What a webhook endpoint hands to {@link PaymentProvider.verifyWebhook}. */
export interface WebhookInput {
  /** The request body exactly as received: bytes, or the string decoded from them. Never a parsed object. */
  rawBody: Uint8Array | string;
  /** The request headers (a Web `Headers`, so lookups are case-insensitive). */
  headers: Headers;
  /** When the request arrived; the timestamp tolerance is measured against it. Defaults to now. */
  receivedAt?: Date;
}

/**
 * Why a webhook was rejected.
 * - `SIGNATURE_MISSING`: the signature header is absent or has no signature of a known scheme.
 * - `SIGNATURE_INVALID`: no signature matches any configured secret (tampered body, wrong secret, re-serialized JSON).
 * - `TIMESTAMP_OUT_OF_TOLERANCE`: the signed timestamp is too old or too far in the future.
 * - `PAYLOAD_INVALID`: the signature holds but the body is not an event the provider could have sent (not JSON, no id).
 * - `BODY_NOT_RAW`: the body was parsed before verification; pass the raw request body.
 * - `SECRET_INVALID`: the configured secret cannot be right (empty, whitespace, an API key instead of a signing secret).
 */
export type WebhookErrorCode =
  | "SIGNATURE_MISSING"
  | "SIGNATURE_INVALID"
  | "TIMESTAMP_OUT_OF_TOLERANCE"
  | "PAYLOAD_INVALID"
  | "BODY_NOT_RAW"
  | "SECRET_INVALID";

/** Every {@link WebhookErrorCode}, as data. */
export const WEBHOOK_ERROR_CODES: readonly WebhookErrorCode[] = [
  "SIGNATURE_MISSING",
  "SIGNATURE_INVALID",
  "TIMESTAMP_OUT_OF_TOLERANCE",
  "PAYLOAD_INVALID",
  "BODY_NOT_RAW",
  "SECRET_INVALID",
];

/** A webhook whose signature held, with the fields every later step needs. */
export interface VerifiedWebhook {
  /** The provider that verified it. */
  provider: ProviderName;
  /**
   * `sha256:<hex>` over the raw body bytes, exactly as received.
   *
   * When it is computed: the built-in adapters build the webhook with `verifiedWebhook()`. Where
   * native `node:crypto` is available (Node, Bun, Deno), this field is an enumerable getter that hashes
   * the raw body synchronously on first read and remembers the value, so a verification whose hash
   * nobody reads does not pay for it; spread, `JSON.stringify` and `structuredClone` see it like any
   * field. Where only Web Crypto exists (edge runtimes), it is computed eagerly alongside the HMAC and is
   * a plain field. Either way the value is the same, and reading it never fails.
   */
  payloadHash: `sha256:${string}`;
  /**
   * The provider's event id, stable across redeliveries of the same event. Providers that send none
   * (Lemon Squeezy) derive a documented key from fields a redelivery repeats.
   */
  eventId: string;
  /** The provider's own event type string (for example `checkout.session.completed`). */
  eventType: string;
  /** When the provider says the event happened. */
  occurredAt?: Date;
  /** `false` for test-mode / sandbox events, `true` for live ones, absent when the provider does not say. */
  livemode?: boolean;
  /** The parsed JSON body. Parsed only after the signature held. */
  payload: unknown;
}

/** The result of {@link PaymentProvider.verifyWebhook}: never thrown, always returned. */
export type VerifyResult =
  | { ok: true; webhook: VerifiedWebhook }
  | { ok: false; error: { code: WebhookErrorCode; message: string } };

/**
 * What a provider can do besides receiving webhooks. Declared as data in
 * {@link PaymentProvider.capabilities}; a declared capability requires its methods, and the
 * conformance suite checks that.
 * - `checkout`: `checkout.create` and `checkout.retrieve`.
 * - `checkout.expire`: `checkout.expire`.
 * - `subscriptions`: `subscriptions.cancel` and `subscriptions.resume`.
 * - `subscriptions.change`: `subscriptions.change`.
 * - `subscriptions.pause`: `subscriptions.pause`.
 * - `refunds` / `refunds.partial`: `refunds.create`, with or without an amount.
 * - `portal`: `portal.create`.
 * - `checkout.inline-prices`: checkout lines may carry a name and amount instead of a provider price id.
 * - `webhook.timestamp`: the signature covers a timestamp, so stale and future deliveries are rejected.
 */
export type Capability =
  | "checkout"
  | "checkout.expire"
  | "checkout.inline-prices"
  | "subscriptions"
  | "subscriptions.change"
  | "subscriptions.pause"
  | "refunds"
  | "refunds.partial"
  | "portal"
  | "webhook.timestamp";

/** Every {@link Capability}, as data. */
export const CAPABILITIES: readonly Capability[] = [
  "checkout",
  "checkout.expire",
  "checkout.inline-prices",
  "subscriptions",
  "subscriptions.change",
  "subscriptions.pause",
  "refunds",
  "refunds.partial",
  "portal",
  "webhook.timestamp",
];

/** One line of a checkout, in minor units. */
export interface ProviderCheckoutLine {
  /** The provider's price id (`price_…`, `pri_…`, a Lemon Squeezy variant id). */
  priceRef?: string;
  /** Inline price: product name (with `amount` and `currency`), for providers with `checkout.inline-prices`. */
  name?: string;
  /** Inline price: unit amount in minor units. */
  amount?: number;
  /** Inline price: ISO 4217 currency, upper case. */
  currency?: string;
  /** Inline recurring price: the billing interval. */
  interval?: "day" | "week" | "month" | "year";
  /** How many units. */
  quantity: number;
}

/** What the backend asks a provider to open a hosted checkout with. */
export interface ProviderCheckoutInput {
  /** Mika's own checkout id. Adapters carry it in the provider's metadata / client reference / custom data. */
  checkoutId: string;
  /** Sent to the provider so a retried call does not create a second session. */
  idempotencyKey: string;
  /** One-off payment or subscription. */
  mode: "payment" | "subscription";
  /** At least one line. */
  lines: ProviderCheckoutLine[];
  /** The buyer, when known. */
  customer?: { email?: string; name?: string; customerRef?: string };
  /** Where the provider sends the buyer after paying. Never proof of payment. */
  successUrl: string;
  /** Where the provider sends the buyer who gives up. */
  cancelUrl: string;
  /** When the session should stop accepting payment (the provider may round or cap it). */
  expiresAt?: Date;
  /** Extra string metadata to attach. */
  metadata?: Record<string, string>;
}

/** A hosted checkout as the provider sees it. */
export interface ProviderCheckout {
  /** The provider's id for the session / transaction / checkout. */
  providerCheckoutId: string;
  /** The hosted page to send the buyer to. */
  url?: string;
  /** `open` (buyer may still pay), `complete` (buyer finished), `expired` (no longer payable). */
  status: "open" | "complete" | "expired";
  /** Whether money arrived, when the provider says. */
  paymentStatus?: "paid" | "unpaid" | "no_payment_required";
  /** Mika's checkout id, read back from metadata. */
  checkoutRef?: string;
  /** Total in minor units. */
  amount?: number;
  /** ISO 4217, upper case. */
  currency?: string;
  /** When the session stops accepting payment. */
  expiresAt?: Date;
  /** The payment (intent / transaction / order) the session produced. */
  paymentRef?: string;
  /** The provider's order id, where it has one. */
  orderRef?: string;
  /** The subscription the session created. */
  subscriptionRef?: string;
  /** The provider's customer id. */
  customerRef?: string;
  /** Test mode or live. */
  livemode?: boolean;
}

/** A refund request. */
export interface RefundInput {
  /** The payment to refund (payment intent / transaction / order id). */
  paymentRef: string;
  /** Minor units; omit for a full refund. */
  amount?: number;
  /** ISO 4217, upper case. */
  currency?: string;
  /** A free-text reason, passed on where the provider accepts one. */
  reason?: string;
  /** Sent to the provider so a retried call does not refund twice. */
  idempotencyKey: string;
  /** Mika's checkout id, for metadata. */
  checkoutRef?: string;
}

/** The provider's immediate answer to an action; the ledger changes when its webhook confirms. */
export interface ProviderActionResult {
  /** The provider's id for what was created or changed (refund id, subscription id…). */
  ref: string;
  /** Where the action stands now. */
  status: "pending" | "succeeded" | "failed";
}

/** Subscription actions; all take the provider's subscription id. */
export interface ProviderSubscriptions {
  /** Cancel now, or at the end of the current period. */
  cancel(input: {
    subscriptionRef: string;
    atPeriodEnd: boolean;
    idempotencyKey: string;
  }): Promise<ProviderActionResult>;
  /** Undo a scheduled cancellation, or resume a paused subscription. */
  resume?(input: { subscriptionRef: string; idempotencyKey: string }): Promise<ProviderActionResult>;
  /** Move to another price. */
  change?(input: {
    subscriptionRef: string;
    priceRef: string;
    quantity?: number;
    prorate?: boolean;
    idempotencyKey: string;
  }): Promise<ProviderActionResult>;
  /** Pause collection. */
  pause?(input: { subscriptionRef: string; idempotencyKey: string }): Promise<ProviderActionResult>;
}

/**
 * A payment provider. Only {@link PaymentProvider.verifyWebhook} and
 * {@link PaymentProvider.parseWebhookEvent} are required; the rest is declared through
 * {@link PaymentProvider.capabilities}.
 *
 * API methods throw {@link ProviderError} when the provider refuses or cannot be reached; the backend
 * turns that into a `PROVIDER_FAILED` envelope.
 */
export interface PaymentProvider {
  /** The provider's name; the webhook route is `/webhooks/<name>`. */
  readonly name: ProviderName;
  /** What this provider can do, as data. */
  readonly capabilities: ReadonlySet<Capability>;
  /**
   * Checks the signature over the raw bytes and returns the verified webhook, or an error result.
   * Must never throw, whatever the input: compare in constant time, try every signature against
   * every configured secret, check the timestamp both ways, parse JSON only after the signature holds.
   */
  verifyWebhook(input: WebhookInput): Promise<VerifyResult>;
  /**
   * Maps a verified webhook to Mika's normalized event. Total: never throws on a verified payload;
   * anything it does not map becomes `{ kind: "unknown" }`.
   */
  parseWebhookEvent(webhook: VerifiedWebhook): MikaEvent;
  /** Hosted checkout (capability `checkout`, `checkout.expire`). */
  checkout?: {
    create(input: ProviderCheckoutInput): Promise<ProviderCheckout>;
    retrieve(providerCheckoutId: string): Promise<ProviderCheckout>;
    expire?(providerCheckoutId: string): Promise<void>;
  };
  /** Refunds (capability `refunds`, `refunds.partial`). */
  refunds?: { create(input: RefundInput): Promise<ProviderActionResult> };
  /** Subscription management (capabilities `subscriptions`, `subscriptions.change`, `subscriptions.pause`). */
  subscriptions?: ProviderSubscriptions;
  /** Customer self-service portal (capability `portal`). */
  portal?: { create(input: { customerRef: string; returnUrl: string }): Promise<{ url: string }> };
}

/** A factory for a provider, the type every adapter export satisfies. */
export type ProviderFactory<Options> = (options: Options) => PaymentProvider;

/**
 * The `providerCode` of a {@link ProviderError} for a money-moving call (a refund) that got no answer
 * from a provider without idempotency keys: the provider may have applied it. The backend then keeps
 * the call's idempotency key, and a retry with it answers `CONFLICT` instead of moving money twice.
 * Throw it with `retryable: false`.
 */
export const OUTCOME_UNKNOWN = "outcome_unknown";

/**
 * Thrown by provider API methods when the provider refuses a call or cannot be reached.
 * The message must be safe to show to an operator: never include secrets or API keys.
 */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
  /** The provider's HTTP status, when there was a response. */
  readonly providerStatus: number | undefined;
  /** The provider's error code (`card_declined`, `rate_limit`…). */
  readonly providerCode: string | undefined;
  /** Seconds the provider asks us to wait before retrying (from `Retry-After`). */
  readonly retryAfter: number | undefined;
  /** Whether retrying the same call later may succeed (rate limit, 5xx, network). */
  readonly retryable: boolean;

  constructor(
    message: string,
    options: {
      providerStatus?: number;
      providerCode?: string;
      retryAfter?: number;
      retryable?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.providerStatus = options.providerStatus;
    this.providerCode = options.providerCode;
    this.retryAfter = options.retryAfter;
    this.retryable =
      options.retryable ??
      (options.providerStatus === undefined ||
        options.providerStatus === 429 ||
        options.providerStatus >= 500);
  }
}
