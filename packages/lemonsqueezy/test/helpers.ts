import { lemonSqueezySigner, loadFixtureJson } from "@mika/testing";
import type { MikaEvent, PaymentProvider, VerifiedWebhook } from "@mika/types";
import { lemonSqueezyProvider } from "../src/index.js";

/** Two signing secrets: the provider is configured with both (rotation). */
export const SECRETS = ["ls-signing-secret-one", "ls-rotated-secret-two"] as const;

/** A webhook-only provider configured with both secrets. */
export const provider: PaymentProvider = lemonSqueezyProvider({ webhookSecret: SECRETS });

type Json = Record<string, any>;

/** A fixture as a mutable object. */
export function fixture(name: string): Json {
  return loadFixtureJson<Json>(`lemonsqueezy/${name}`);
}

/** Signs a body with the first secret, verifies it, and fails loudly if it does not verify. */
export async function verified(body: string, p: PaymentProvider = provider): Promise<VerifiedWebhook> {
  const signed = await lemonSqueezySigner.sign({ body, signatures: [{ secret: SECRETS[0] }] });
  const result = await p.verifyWebhook(signed);
  if (!result.ok)
    throw new Error(`expected a verified webhook: ${result.error.code} ${result.error.message}`);
  return result.webhook;
}

/** Verifies then parses. */
export async function parsed(body: string | Json): Promise<MikaEvent> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return provider.parseWebhookEvent(await verified(text));
}

/**
 * Hand-built bodies for the event kinds with no public sample payload (fixtures/SOURCES.md lists them
 * as not found). Each is built from a real fixture of the same resource type, changed only in the
 * fields Lemon Squeezy's documented object shapes say change for that event (docs.lemonsqueezy.com:
 * the Order, Subscription and Subscription Invoice objects). They are test inputs, not captured
 * deliveries.
 */
export const handBuilt = {
  /** Order object after a partial refund (order_refunded, status stays "paid"). */
  orderPartiallyRefunded(): Json {
    const body = fixture("order_created");
    body.meta = { event_name: "order_refunded", custom_data: { mika_checkout_id: "co_123" } };
    Object.assign(body.data.attributes, {
      refunded: false,
      refunded_amount: 2000,
      refunded_at: null,
      updated_at: "2023-01-20T09:00:00.000000Z",
    });
    return body;
  },
  /** Order object after a full refund (order_refunded, status "refunded"). */
  orderFullyRefunded(): Json {
    const body = fixture("order_created");
    body.meta = { event_name: "order_refunded", custom_data: { mika_checkout_id: "co_123" } };
    Object.assign(body.data.attributes, {
      status: "refunded",
      status_formatted: "Refunded",
      refunded: true,
      refunded_amount: 5899,
      refunded_at: "2023-01-21T09:00:00.000000Z",
      updated_at: "2023-01-21T09:00:00.000000Z",
    });
    return body;
  },
  /** A subscription in its grace period after cancellation (subscription_cancelled). */
  subscriptionCancelled(): Json {
    const body = fixture("subscription_updated");
    body.meta = { event_name: "subscription_cancelled", custom_data: { mika_checkout_id: "co_sub" } };
    Object.assign(body.data.attributes, {
      status: "cancelled",
      status_formatted: "Cancelled",
      cancelled: true,
      ends_at: "2023-02-24T12:43:48.000000Z",
      renews_at: "2023-02-24T12:43:48.000000Z",
      updated_at: "2023-02-01T08:00:00.000000Z",
    });
    return body;
  },
  /** The same subscription once the grace period is over (subscription_expired). */
  subscriptionExpired(): Json {
    const body = fixture("subscription_updated");
    body.meta = { event_name: "subscription_expired" };
    Object.assign(body.data.attributes, {
      status: "expired",
      status_formatted: "Expired",
      cancelled: true,
      ends_at: "2023-02-24T12:43:48.000000Z",
      updated_at: "2023-02-24T12:43:50.000000Z",
    });
    return body;
  },
  /** Resumed before ends_at (subscription_resumed): active again, no end date. */
  subscriptionResumed(): Json {
    const body = fixture("subscription_updated");
    body.meta = { event_name: "subscription_resumed" };
    Object.assign(body.data.attributes, {
      status: "active",
      status_formatted: "Active",
      cancelled: false,
      ends_at: null,
      renews_at: "2023-02-24T12:43:48.000000Z",
      updated_at: "2023-02-02T08:00:00.000000Z",
    });
    return body;
  },
  /** Payment collection paused (subscription_paused). */
  subscriptionPaused(): Json {
    const body = fixture("subscription_updated");
    body.meta = { event_name: "subscription_paused" };
    Object.assign(body.data.attributes, {
      status: "paused",
      status_formatted: "Paused",
      pause: { mode: "void", resumes_at: null },
      updated_at: "2023-02-03T08:00:00.000000Z",
    });
    return body;
  },
  /** A renewal that failed (subscription_payment_failed on a subscription invoice). */
  subscriptionPaymentFailed(): Json {
    const body = fixture("subscription_payment_success");
    body.meta = { event_name: "subscription_payment_failed" };
    Object.assign(body.data.attributes, {
      billing_reason: "renewal",
      status: "failed",
      status_formatted: "Failed",
      updated_at: "2023-02-18T12:16:24.000000Z",
    });
    return body;
  },
  /** A license key event: verified but not mapped (unknown). */
  licenseKeyCreated(): Json {
    return {
      meta: { event_name: "license_key_created" },
      data: {
        type: "license-keys",
        id: "7",
        attributes: {
          store_id: 1,
          customer_id: 1,
          order_id: 1,
          key_short: "XXXX-ABCD",
          status: "inactive",
          created_at: "2023-01-17T12:26:23.000000Z",
          updated_at: "2023-01-17T12:26:23.000000Z",
          test_mode: true,
        },
      },
    };
  },
};
