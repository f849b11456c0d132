import { type Capability, type CryptoBackend, createProviderName, type PaymentProvider } from "@mika/types";
import { stripeApi } from "./api.js";
import type { StripeClient } from "./client.js";
import { parseStripeEvent } from "./parse.js";
import { createStripeVerifier } from "./verify.js";

/** Options of {@link stripeProvider}. */
export interface StripeProviderOptions {
  /**
   * The SDK client, `new Stripe(process.env.STRIPE_SECRET_KEY)`. Used only by the API methods; leave
   * it out for a verify-and-parse-only provider (for example on an edge route), which then declares
   * no API capability.
   */
  client?: StripeClient;
  /**
   * The webhook endpoint's signing secret (`whsec_…`), or several while rolling it: every `v1`
   * signature is checked against every secret.
   */
  webhookSecret: string | readonly string[];
  /** Allowed distance between the signed timestamp and now, in seconds, both ways. Default 300. */
  toleranceSeconds?: number;
  /** The provider name (route `/webhooks/<name>`). Default `"stripe"`; set it to run two Stripe accounts. */
  name?: string;
  /**
   * Which crypto verifies webhooks. `"auto"` (the default): native `node:crypto` where the runtime
   * offers it synchronously (Node, Bun, Deno), else Web Crypto. `"web"`: Web Crypto only, exactly as on
   * an edge runtime; for tests and benchmarks of that path.
   */
  cryptoBackend?: CryptoBackend;
}

const API_CAPABILITIES: readonly Capability[] = [
  "checkout",
  "checkout.expire",
  "checkout.inline-prices",
  "subscriptions",
  "subscriptions.change",
  "refunds",
  "refunds.partial",
  "portal",
];

/**
 * The Stripe provider: verifies `Stripe-Signature` webhooks (native `node:crypto` where available, Web
 * Crypto on edge runtimes; keys prepared once), maps Stripe events to Mika's normalized events, and drives Checkout Sessions, refunds,
 * subscriptions and the billing portal through the official SDK.
 *
 * @example
 * import Stripe from "stripe";
 * const stripe = stripeProvider({
 *   client: new Stripe(process.env.STRIPE_SECRET_KEY!),
 *   webhookSecret: process.env.STRIPE_WEBHOOK_SECRET!,
 * });
 */
export function stripeProvider(options: StripeProviderOptions): PaymentProvider {
  const name = createProviderName(options.name ?? "stripe");
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds <= 0) {
    throw new TypeError("stripeProvider: toleranceSeconds must be a positive number of seconds.");
  }
  const verifyWebhook = createStripeVerifier({
    name,
    webhookSecret: options.webhookSecret,
    toleranceSeconds,
    backend: options.cryptoBackend ?? "auto",
  });
  const capabilities = new Set<Capability>(["webhook.timestamp"]);
  const provider: PaymentProvider = {
    name,
    capabilities,
    verifyWebhook,
    parseWebhookEvent: parseStripeEvent,
  };
  if (options.client) {
    for (const capability of API_CAPABILITIES) capabilities.add(capability);
    Object.assign(provider, stripeApi(options.client));
  }
  return provider;
}
