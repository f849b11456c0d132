/**
 * Stripe webhook verification: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, an HMAC-SHA256 over
 * `<t>.<raw body>` keyed with the endpoint's `whsec_…` secret (the whole string, prefix included). Runs
 * on native `node:crypto` where the runtime hands it over synchronously (Node, Bun, Deno) and on Web
 * Crypto everywhere else (Workers, edge routes), through the `@mika/types` helpers.
 */
import {
  type CryptoBackend,
  checkRawBody,
  checkTimestamp,
  hmacKeyring,
  MAX_SIGNATURE_HEADER_LENGTH,
  normalizeSecrets,
  type ProviderName,
  parseJsonObject,
  parseUnixSeconds,
  startPayloadHash,
  type VerifyResult,
  verifiedWebhook,
  type WebhookInput,
  webhookFailure,
} from "@mika/types";

/** What {@link parseStripeSignature} reads from a `Stripe-Signature` header. */
interface StripeSignature {
  /** The signed timestamp, or `undefined` when `t=` is absent or not a UNIX time. */
  timestamp: number | undefined;
  /** The raw `t=` text, exactly as signed. */
  timestampText: string | undefined;
  /**
   * Every `v1` value of the right length for an HMAC-SHA256 (64 characters), as sent: hex text is
   * compared as text, and a value that is not the MAC's hex never matches.
   */
  v1: string[];
  /** How many `v1=` entries there were, decodable or not. */
  v1Count: number;
}

/** Parses `t=…,v1=…,v1=…,v0=…`; `v0` and unknown schemes are ignored. */
function parseStripeSignature(header: string): StripeSignature {
  const out: StripeSignature = { timestamp: undefined, timestampText: undefined, v1: [], v1Count: 0 };
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(",", start);
    if (end === -1) end = header.length;
    const item = header.slice(start, end).trim();
    start = end + 1;
    const eq = item.indexOf("=");
    if (eq <= 0) continue;
    const scheme = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (scheme === "t") {
      out.timestampText = value;
      out.timestamp = parseUnixSeconds(value);
    } else if (scheme === "v1") {
      out.v1Count++;
      if (value.length === 64) out.v1.push(value);
    }
  }
  return out;
}

/** Options of {@link createStripeVerifier}. */
interface VerifierOptions {
  name: ProviderName;
  webhookSecret: string | readonly string[] | undefined;
  toleranceSeconds: number;
  /** Which crypto to verify with (see `StripeProviderOptions.cryptoBackend`). */
  backend: CryptoBackend;
}

/**
 * Builds the `verifyWebhook` of a Stripe provider. The secrets are checked and the HMAC keys prepared
 * once here (Web Crypto keys lazily, on the first delivery) and reused for every request.
 */
export function createStripeVerifier(
  options: VerifierOptions,
): (input: WebhookInput) => Promise<VerifyResult> {
  const { name, toleranceSeconds, backend } = options;
  const { secrets, problem } = normalizeSecrets(options.webhookSecret, {
    provider: "Stripe",
    expectedPrefix: "whsec_",
    apiKeyPrefixes: ["sk_", "rk_", "pk_"],
  });
  const keyring = hmacKeyring(secrets, { backend });

  return async function verifyWebhook(input) {
    try {
      const body = checkRawBody(input?.rawBody);
      if (!body.ok) return body;
      if (problem) return webhookFailure("SECRET_INVALID", problem);
      const header = input.headers?.get("stripe-signature");
      if (!header) {
        return webhookFailure(
          "SIGNATURE_MISSING",
          "The Stripe-Signature header is missing: point only Stripe at this endpoint, and make sure no proxy strips the header.",
        );
      }
      if (header.length > MAX_SIGNATURE_HEADER_LENGTH) {
        return webhookFailure(
          "SIGNATURE_INVALID",
          `The Stripe-Signature header is longer than ${MAX_SIGNATURE_HEADER_LENGTH} characters, so it is not one Stripe sent: the request was rejected unread.`,
        );
      }
      const signature = parseStripeSignature(header);
      if (signature.v1Count === 0) {
        return webhookFailure(
          "SIGNATURE_MISSING",
          "The Stripe-Signature header holds no v1 signature (v0 and other schemes are not accepted): check that this request comes from Stripe.",
        );
      }
      if (signature.timestamp === undefined || signature.timestampText === undefined) {
        return webhookFailure(
          "SIGNATURE_INVALID",
          "The Stripe-Signature header has no valid t= timestamp, so it cannot be a signature Stripe made.",
        );
      }
      // Web Crypto only: the payload hash starts now and runs alongside the HMAC. With native crypto it
      // is computed on first read of `payloadHash` instead (see verifiedWebhook in @mika/types).
      const pendingHash = startPayloadHash(body.raw, { backend });
      // The signed message is `<t>.<body>`, hashed in parts so the body is never copied or re-encoded.
      // Native crypto answers synchronously: no await on that path.
      const check = keyring.verifyHex([`${signature.timestampText}.`, body.raw], signature.v1);
      if (!(typeof check === "boolean" ? check : await check)) {
        return webhookFailure(
          "SIGNATURE_INVALID",
          "No v1 signature matches the configured webhook secret(s): check that webhookSecret is this endpoint's signing secret (whsec_…, one per endpoint; list the old and new ones while rolling), and pass the body exactly as received (no JSON re-serialization, no charset conversion).",
        );
      }
      const stale = checkTimestamp(signature.timestamp, input.receivedAt ?? Date.now(), toleranceSeconds);
      if (stale) return stale;
      const json = parseJsonObject(body.raw);
      if (!json.ok) return json;
      const event = json.value;
      if (event.object === "v2.core.event" || isThinEvent(event)) {
        return webhookFailure(
          "PAYLOAD_INVALID",
          'This is a thin event (v2.core.event): thin events are not supported. Configure a snapshot event destination ("Snapshot" payload style, v1 events) for this endpoint instead.',
        );
      }
      const { id, type, created, livemode } = event;
      if (typeof id !== "string" || id.length === 0 || typeof type !== "string" || type.length === 0) {
        return webhookFailure(
          "PAYLOAD_INVALID",
          "The signature is valid but the body is not a Stripe event (no id or type): check the endpoint's configuration in the Stripe dashboard.",
        );
      }
      const webhook = verifiedWebhook(
        {
          provider: name,
          eventId: id,
          eventType: type,
          occurredAt:
            typeof created === "number" && Number.isFinite(created) ? new Date(created * 1000) : undefined,
          livemode: typeof livemode === "boolean" ? livemode : undefined,
          payload: event,
        },
        body.raw,
        pendingHash && (await pendingHash),
      );
      return { ok: true, webhook };
    } catch (error) {
      // verifyWebhook must never throw; this is reached only by a runtime without Web Crypto.
      return webhookFailure(
        "SIGNATURE_INVALID",
        `The webhook could not be verified (${error instanceof Error ? error.message : "unexpected error"}): this runtime needs Web Crypto (globalThis.crypto.subtle).`,
      );
    }
  };
}

/** A thin event notification: no `data.object` snapshot, only a pointer to the related object. */
function isThinEvent(event: Record<string, unknown>): boolean {
  if (event.object === "event") return false;
  const data = event.data;
  const hasSnapshot =
    data !== null && typeof data === "object" && "object" in (data as Record<string, unknown>);
  return !hasSnapshot && ("related_object" in event || "reason" in event);
}
