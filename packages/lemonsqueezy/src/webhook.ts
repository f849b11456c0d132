/**
 * Lemon Squeezy webhook verification and the derived event id.
 *
 * Lemon Squeezy signs the raw body with HMAC-SHA256 and sends the lower-case hex in `X-Signature`.
 * Nothing else is signed: no timestamp, no delivery id. So the event id is derived from the signed
 * body (see {@link lemonSqueezyEventId}).
 */
import {
  type CryptoBackend,
  checkRawBody,
  type HmacKeyring,
  isHex,
  type ProviderName,
  parseJsonObject,
  sha256,
  sha256HexSync,
  startPayloadHash,
  toHex,
  type VerifyResult,
  verifiedWebhook,
  type WebhookInput,
  webhookFailure,
} from "@mika/types";
import { date, idOf, obj, str } from "./read.js";

/** The HMAC-SHA256 output length in hex characters. */
const MAC_HEX_LENGTH = 64;

/**
 * Attribute fields that make up the "version" of the resource in the derived event id. A redelivery
 * repeats all of them; a real change moves `updated_at` and, within the same second, usually one of
 * the others.
 */
const VERSION_FIELDS = [
  "updated_at",
  "status",
  "refunded",
  "refunded_at",
  "refunded_amount",
  "cancelled",
  "ends_at",
  "renews_at",
  "variant_id",
  "pause",
] as const;

/** Hex sha256: synchronous on native `node:crypto`, Web Crypto (a promise) otherwise. */
function sha256Hex(text: string, backend?: CryptoBackend): string | Promise<string> {
  return sha256HexSync(text, { backend }) ?? sha256(text, { backend }).then(toHex);
}

/** The material the derived event id hashes, or `undefined` when the body names no resource. */
function eventIdMaterial(payload: Record<string, unknown>): string | undefined {
  const eventName = str(obj(payload.meta)?.event_name);
  const data = obj(payload.data);
  const type = str(data?.type);
  const id = idOf(data?.id);
  if (!eventName || !type || !id) return undefined;
  const attributes = obj(data?.attributes) ?? {};
  const parts: unknown[] = [
    "v1",
    eventName,
    type,
    id,
    attributes.store_id ?? null,
    attributes.test_mode ?? null,
  ];
  for (const field of VERSION_FIELDS) parts.push(attributes[field] ?? null);
  return JSON.stringify(parts);
}

/**
 * The event id Mika uses for a Lemon Squeezy webhook, which carries none of its own:
 * `ls_` + hex SHA-256 of the event name, the resource type and id, its store and test-mode flag, and
 * the resource's version fields (`updated_at`, `status`, `refunded`, `refunded_at`, `refunded_amount`,
 * `cancelled`, `ends_at`, `renews_at`, `variant_id`, `pause`).
 *
 * A redelivery of the same event repeats every one of those, so it gets the same id and is answered as
 * a duplicate; a later change of the same resource moves `updated_at` (and usually a state field), so
 * it gets a new id. Returns `undefined` when the body has no `meta.event_name`, `data.type` or `data.id`
 * (the provider then falls back to `ls_body_` + the SHA-256 of the raw body).
 *
 * @example
 * await lemonSqueezyEventId(JSON.parse(rawBody)); // "ls_3f0c…"
 */
export async function lemonSqueezyEventId(payload: Record<string, unknown>): Promise<string | undefined> {
  const material = eventIdMaterial(payload);
  return material === undefined ? undefined : `ls_${await sha256Hex(material)}`;
}

/** What {@link verifyLemonSqueezyWebhook} needs from the provider instance. */
export interface VerifyContext {
  name: ProviderName;
  keyring: HmacKeyring;
  secretProblem: string | undefined;
  /** Which crypto verifies (see `LemonSqueezyProviderOptions.cryptoBackend`). */
  backend: CryptoBackend;
}

/** Verifies one delivery; never throws. */
export async function verifyLemonSqueezyWebhook(
  input: WebhookInput,
  context: VerifyContext,
): Promise<VerifyResult> {
  try {
    const body = checkRawBody(input?.rawBody);
    if (!body.ok) return body;
    if (context.secretProblem) return webhookFailure("SECRET_INVALID", context.secretProblem);
    const header = input.headers?.get("x-signature");
    if (header === null || header === undefined || header.trim() === "") {
      return webhookFailure(
        "SIGNATURE_MISSING",
        "The X-Signature header is missing: is this request from Lemon Squeezy, and does your proxy forward it?",
      );
    }
    const candidate = header.trim();
    if (!isHex(candidate, MAC_HEX_LENGTH)) {
      return webhookFailure(
        "SIGNATURE_INVALID",
        "The X-Signature header is not a hex HMAC-SHA256 (64 hex characters): the request was not signed by Lemon Squeezy.",
      );
    }
    // Web Crypto only: the payload hash starts now and runs alongside the HMAC. With native crypto it is
    // computed on first read of `payloadHash` instead (see verifiedWebhook in @mika/types).
    const { backend } = context;
    const pendingHash = startPayloadHash(body.raw, { backend });
    // Native crypto answers synchronously: no await on that path.
    const check = context.keyring.verifyHex(body.raw, [candidate]);
    if (!(typeof check === "boolean" ? check : await check)) {
      return webhookFailure(
        "SIGNATURE_INVALID",
        "X-Signature matches none of the configured signing secrets: check webhookSecret against the webhook's signing secret in Lemon Squeezy, and pass the body exactly as received (Lemon Squeezy escapes / as \\/, so re-serialized JSON never verifies).",
      );
    }
    const json = parseJsonObject(body.raw);
    if (!json.ok) return json;
    const payload = json.value;
    const meta = obj(payload.meta);
    const attributes = obj(obj(payload.data)?.attributes);
    const material = eventIdMaterial(payload);
    let hash = pendingHash && (await pendingHash);
    let eventId: string;
    if (material !== undefined) {
      const idHex = sha256Hex(material, backend);
      eventId = `ls_${typeof idHex === "string" ? idHex : await idHex}`;
    } else {
      // No resource to name: the id is the body's own hash, which is then known here already.
      hash ??= `sha256:${sha256HexSync(body.raw, { backend }) as string}`;
      eventId = `ls_body_${hash.slice("sha256:".length)}`;
    }
    const testMode = attributes?.test_mode ?? meta?.test_mode;
    const webhook = verifiedWebhook(
      {
        provider: context.name,
        eventId,
        eventType: str(meta?.event_name) ?? "unknown",
        occurredAt: date(attributes?.updated_at) ?? date(attributes?.created_at),
        livemode: typeof testMode === "boolean" ? !testMode : undefined,
        payload,
      },
      body.raw,
      hash,
    );
    return { ok: true, webhook };
  } catch (error) {
    // Defensive: nothing above should throw, but verifyWebhook must always return a result.
    return webhookFailure(
      "SIGNATURE_INVALID",
      `The webhook could not be verified (${error instanceof Error ? error.name : "error"}): pass { rawBody, headers } from the raw request.`,
    );
  }
}
