/**
 * `@mika/paddle`: the Paddle Billing adapter for Mika. Webhooks are verified with native `node:crypto`
 * where available and Web Crypto on edge runtimes (every `h1` against every secret, constant time,
 * tolerance both ways) and mapped from the raw JSON; the API
 * methods go through the official `@paddle/paddle-node-sdk`.
 *
 * @packageDocumentation
 */
import {
  type Capability,
  type CryptoBackend,
  createProviderName,
  hmacKeyring,
  normalizeSecrets,
  type PaymentProvider,
} from "@mika/types";
import { type PaddleClient, type PaddleTaxCategory, paddleApi } from "./api.js";
import { parsePaddleEvent } from "./parse.js";
import { verifyPaddleWebhook } from "./verify.js";

export type { PaddleClient, PaddleTaxCategory } from "./api.js";
export { CHECKOUT_ID_KEY } from "./parse.js";
export { type PaddleSignatureHeader, parsePaddleSignature } from "./verify.js";

/**
 * Default timestamp tolerance, in seconds, both directions. Paddle's SDK allows 5 s, which rejects
 * genuine deliveries on a host whose clock is a few seconds off or whose queue is briefly slow. Five
 * minutes matches Stripe and Standard Webhooks; a delivery replayed inside the window is still only
 * processed once, because Mika deduplicates on `(provider, event_id)`.
 */
export const PADDLE_DEFAULT_TOLERANCE_SECONDS = 300;

/** Options of {@link paddleProvider}. */
export interface PaddleProviderOptions {
  /**
   * A `Paddle` instance from `@paddle/paddle-node-sdk`, used only for the API methods. Omit it for a
   * webhook-only provider (for example on an edge route): only `webhook.timestamp` is then declared.
   */
  client?: PaddleClient;
  /**
   * The notification destination's secret key (`pdl_ntfset_…`), or several while rotating: a delivery
   * verifies when any `h1` matches any of them.
   */
  webhookSecret: string | readonly string[];
  /** Allowed distance between the signed `ts` and the receive time, both ways. Default {@link PADDLE_DEFAULT_TOLERANCE_SECONDS}. */
  toleranceSeconds?: number;
  /**
   * Which Paddle environment the secret and client belong to. Paddle's payloads do not say, so this sets
   * `livemode` on every webhook and event: `"sandbox"` → `false`. Default `"production"`.
   */
  environment?: "production" | "sandbox";
  /** Provider name (the webhook route segment). Default `"paddle"`. */
  name?: string;
  /**
   * The page with Paddle.js that opens the checkout (an approved domain). Omit it to use the default
   * payment link set in Paddle.
   */
  checkoutUrl?: string;
  /** Tax category of products created for inline (non-catalog) checkout lines. Default `"standard"`. */
  taxCategory?: PaddleTaxCategory;
  /** The reason Paddle records on refunds when the caller gives none. Default `"Refund requested"`. */
  refundReason?: string;
  /**
   * Which crypto verifies webhooks. `"auto"` (the default): native `node:crypto` where the runtime
   * offers it synchronously (Node, Bun, Deno), else Web Crypto. `"web"`: Web Crypto only, exactly as on
   * an edge runtime; for tests and benchmarks of that path.
   */
  cryptoBackend?: CryptoBackend;
}

/**
 * Creates the Paddle Billing provider.
 *
 * @throws TypeError when `toleranceSeconds` is not a positive finite number or the name is invalid.
 * (A bad `webhookSecret` does not throw: every delivery is then answered `SECRET_INVALID`.)
 */
export function paddleProvider(options: PaddleProviderOptions): PaymentProvider {
  const name = createProviderName(options.name ?? "paddle");
  const toleranceSeconds = options.toleranceSeconds ?? PADDLE_DEFAULT_TOLERANCE_SECONDS;
  if (typeof toleranceSeconds !== "number" || !Number.isFinite(toleranceSeconds) || toleranceSeconds <= 0) {
    throw new TypeError("paddleProvider: toleranceSeconds must be a positive number of seconds.");
  }
  const livemode = (options.environment ?? "production") !== "sandbox";
  const { secrets, problem } = normalizeSecrets(options.webhookSecret, {
    provider: "Paddle",
    expectedPrefix: "pdl_ntfset_",
    apiKeyPrefixes: ["pdl_live_apikey_", "pdl_sdbx_apikey_"],
  });
  const backend = options.cryptoBackend ?? "auto";
  const ctx = {
    name,
    keyring: hmacKeyring(secrets, { backend }),
    secretProblem: problem,
    toleranceSeconds,
    livemode,
    backend,
  };

  const capabilities = new Set<Capability>(["webhook.timestamp"]);
  const provider: PaymentProvider = {
    name,
    capabilities,
    verifyWebhook: (input) => verifyPaddleWebhook(ctx, input),
    parseWebhookEvent: parsePaddleEvent,
  };
  if (!options.client) return provider;

  const api = paddleApi({
    client: options.client,
    livemode,
    checkoutUrl: options.checkoutUrl,
    taxCategory: options.taxCategory ?? "standard",
    refundReason: options.refundReason ?? "Refund requested",
  });
  for (const c of [
    "checkout",
    "checkout.expire",
    "checkout.inline-prices",
    "subscriptions",
    "subscriptions.change",
    "subscriptions.pause",
    "refunds",
    "refunds.partial",
    "portal",
  ] as const) {
    capabilities.add(c);
  }
  return { ...provider, ...api };
}
