/**
 * A complete provider for any sender that signs with Standard Webhooks (Svix, Polar, Dodo Payments…),
 * written only against the `@mika/types` contract. It is also the worked example of
 * docs/custom-provider.md: a custom provider is one file.
 */
import {
  type Capability,
  checkTimestamp,
  concatBytes,
  createProviderName,
  eventBase,
  fromBase64,
  hmacKeyring,
  MAX_SIGNATURE_HEADER_LENGTH,
  type MikaEvent,
  normalizeSecrets,
  type PaymentProvider,
  parseJsonObject,
  parseUnixSeconds,
  payloadHash,
  rawBodyBytes,
  utf8,
  type VerifiedWebhook,
  webhookFailure,
} from "@mika/types";

/** Options of {@link standardWebhooksProvider}. */
export interface StandardWebhooksProviderOptions {
  /** The provider name (route `/webhooks/<name>`). */
  name: string;
  /** `whsec_<base64>` signing secret, or several during rotation. */
  webhookSecret: string | readonly string[];
  /**
   * Maps a verified webhook to a Mika event. Return `undefined` for events you do not map (they
   * become `unknown`). If it throws, the event is treated as `unknown` too: parsing stays total.
   */
  mapEvent?: (webhook: VerifiedWebhook) => MikaEvent | undefined;
  /** Allowed clock skew in seconds, both directions. Default 300 (the Standard Webhooks recommendation). */
  toleranceSeconds?: number;
}

/** A Standard Webhooks provider (webhooks only; no checkout API). */
export function standardWebhooksProvider(options: StandardWebhooksProviderOptions): PaymentProvider {
  const name = createProviderName(options.name);
  const tolerance = options.toleranceSeconds ?? 300;
  const { secrets, problem } = normalizeSecrets(options.webhookSecret, { provider: name });
  const keys = secrets.map((s) => fromBase64(s.startsWith("whsec_") ? s.slice(6) : s));
  const keyProblem = keys.some((k) => !k || k.length === 0)
    ? `A ${name} webhook secret is not whsec_ followed by base64: copy it again from the sender's dashboard.`
    : undefined;
  const keyring = hmacKeyring(keys.filter((k): k is Uint8Array => k !== undefined));

  return {
    name,
    capabilities: new Set<Capability>(["webhook.timestamp"]),

    async verifyWebhook(input) {
      const body = rawBodyBytes(input.rawBody);
      if (!body.ok) return body;
      if (problem ?? keyProblem) return webhookFailure("SECRET_INVALID", (problem ?? keyProblem)!);
      const id = input.headers.get("webhook-id");
      const ts = input.headers.get("webhook-timestamp");
      const header = input.headers.get("webhook-signature");
      if (!id || !ts || !header) {
        return webhookFailure(
          "SIGNATURE_MISSING",
          "The webhook-id, webhook-timestamp or webhook-signature header is missing: is this request from the configured sender?",
        );
      }
      if (header.length > MAX_SIGNATURE_HEADER_LENGTH) {
        return webhookFailure("SIGNATURE_INVALID", "The webhook-signature header is too long to be genuine.");
      }
      const timestamp = parseUnixSeconds(ts);
      if (timestamp === undefined) {
        return webhookFailure("SIGNATURE_INVALID", "The webhook-timestamp header is not a UNIX timestamp.");
      }
      const candidates: Uint8Array[] = [];
      for (const part of header.split(" ")) {
        const [version, value] = part.split(",", 2);
        if (version !== "v1" || !value) continue;
        const bytes = fromBase64(value);
        if (bytes) candidates.push(bytes);
      }
      if (candidates.length === 0) {
        return webhookFailure("SIGNATURE_MISSING", "The webhook-signature header holds no v1 signature.");
      }
      const message = concatBytes(utf8(`${id}.${ts}.`), body.bytes);
      if (!(await keyring.verify(message, candidates))) {
        return webhookFailure(
          "SIGNATURE_INVALID",
          "No signature matches the configured secret(s): check the secret, and pass the body exactly as received.",
        );
      }
      const stale = checkTimestamp(timestamp, input.receivedAt ?? new Date(), tolerance);
      if (stale) return stale;
      const json = parseJsonObject(body.bytes);
      if (!json.ok) return json;
      const type = json.value.type;
      return {
        ok: true,
        webhook: {
          provider: name,
          payloadHash: await payloadHash(body.bytes),
          eventId: id,
          eventType: typeof type === "string" ? type : "unknown",
          occurredAt: new Date(timestamp * 1000),
          payload: json.value,
        },
      };
    },

    parseWebhookEvent(webhook) {
      try {
        const mapped = options.mapEvent?.(webhook);
        if (mapped) return mapped;
      } catch {
        // a mapper bug must not make a verified event unprocessable: keep it as unknown
      }
      return eventBase(webhook, "unknown");
    },
  };
}
