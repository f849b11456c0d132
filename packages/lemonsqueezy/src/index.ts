/**
 * `@mika/lemonsqueezy`: the Lemon Squeezy adapter for Mika. Byte-exact `X-Signature` verification
 * (native `node:crypto` where available, Web Crypto on edge runtimes), a derived event id (Lemon Squeezy sends none), normalized events, and the Lemon
 * Squeezy API through `@lemonsqueezy/lemonsqueezy.js`.
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
import { lemonSqueezyApi } from "./api.js";
import { parseLemonSqueezyEvent } from "./events.js";
import { verifyLemonSqueezyWebhook } from "./webhook.js";

export { lemonSqueezyEventId } from "./webhook.js";

/** Options of {@link lemonSqueezyProvider}. */
export interface LemonSqueezyProviderOptions {
  /**
   * The Lemon Squeezy API key. When set, the provider calls the SDK's global
   * `lemonSqueezySetup({ apiKey })` right before each API call (this replaces any `onError` you
   * configured). Omit it if you call `lemonSqueezySetup` yourself, or only receive webhooks.
   */
  apiKey?: string;
  /** Your store id; needed to create checkouts (the `checkout` capability is declared only with it). */
  storeId?: string | number;
  /** The webhook's signing secret, or several while rotating. */
  webhookSecret: string | readonly string[];
  /**
   * How `subscriptions.pause` pauses: `"void"` (no charges, no service; the default) or `"free"`
   * (service continues for free).
   */
  pauseMode?: "void" | "free";
  /**
   * @deprecated Unused: a retrieved checkout is reported `open` whatever the clock says (it may have
   * been paid), and Mika's maintenance expires it an hour past its `expiresAt`. Still accepted.
   */
  now?: () => Date;
  /**
   * Which crypto verifies webhooks and derives event ids. `"auto"` (the default): native `node:crypto`
   * where the runtime offers it synchronously (Node, Bun, Deno), else Web Crypto. `"web"`: Web Crypto
   * only, exactly as on an edge runtime; for tests and benchmarks of that path.
   */
  cryptoBackend?: CryptoBackend;
}

/**
 * A Lemon Squeezy provider for Mika (name `lemonsqueezy`, webhook route `/webhooks/lemonsqueezy`).
 *
 * Capabilities: `subscriptions`, `subscriptions.change`, `subscriptions.pause`, `refunds`,
 * `refunds.partial`, `portal`, and `checkout` when `storeId` is set. Not `webhook.timestamp`: Lemon
 * Squeezy signs no timestamp, so replays are caught by the derived event id instead (see the README).
 *
 * @example
 * const lemonsqueezy = lemonSqueezyProvider({
 *   apiKey: process.env.LEMONSQUEEZY_API_KEY,
 *   storeId: process.env.LEMONSQUEEZY_STORE_ID,
 *   webhookSecret: process.env.LEMONSQUEEZY_WEBHOOK_SECRET!,
 * });
 */
export function lemonSqueezyProvider(options: LemonSqueezyProviderOptions): PaymentProvider {
  const name = createProviderName("lemonsqueezy");
  const { secrets, problem } = normalizeSecrets(options.webhookSecret, {
    provider: "Lemon Squeezy",
    // Lemon Squeezy API keys are JWTs; a signing secret is a short string you chose.
    apiKeyPrefixes: ["eyJ"],
  });
  const backend = options.cryptoBackend ?? "auto";
  const verifyContext = { name, keyring: hmacKeyring(secrets, { backend }), secretProblem: problem, backend };
  const storeId = options.storeId === undefined ? undefined : String(options.storeId);
  const capabilities = new Set<Capability>([
    "subscriptions",
    "subscriptions.change",
    "subscriptions.pause",
    "refunds",
    "refunds.partial",
    "portal",
  ]);
  if (storeId) capabilities.add("checkout");
  const api = lemonSqueezyApi({
    apiKey: options.apiKey,
    storeId,
    pauseMode: options.pauseMode ?? "void",
    now: options.now ?? (() => new Date()),
  });

  return {
    name,
    capabilities,
    verifyWebhook: (input) => verifyLemonSqueezyWebhook(input, verifyContext),
    parseWebhookEvent: parseLemonSqueezyEvent,
    checkout: api.checkout,
    refunds: api.refunds,
    subscriptions: api.subscriptions,
    portal: api.portal,
  };
}
