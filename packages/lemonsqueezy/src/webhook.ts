/**
 * Lemon Squeezy webhook verification and the derived event id.
 *
 * Lemon Squeezy signs the raw body with HMAC-SHA256 and sends the lower-case hex in `X-Signature`.
 * Nothing else is signed: no timestamp, no delivery id. So the event id is derived from the signed
 * body (see {@link lemonSqueezyEventId}).
 */
import {
  checkRawBody,
  fromHex,
  type HmacKeyring,
  MAX_SIGNATURE_HEADER_LENGTH,
  type ProviderName,
  parseJsonObject,
  payloadHash,
  sha256,
  toHex,
  type VerifyResult,
  type WebhookInput,
  webhookFailure,
} from "@mika/types";
import { date, idOf, obj, str } from "./read.js";

/** The HMAC-SHA256 output length in bytes. */
const MAC_BYTES = 32;

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

async function sha256Hex(text: string): Promise<string> {
  return toHex(await sha256(text));
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

/** Verifies one delivery; never throws. */
export async function verifyLemonSqueezyWebhook(
  input: WebhookInput,
  context: { name: ProviderName; keyring: HmacKeyring; secretProblem: string | undefined },
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
    const value = header.trim();
    const candidate = value.length <= MAX_SIGNATURE_HEADER_LENGTH ? fromHex(value) : undefined;
    if (!candidate || candidate.length !== MAC_BYTES) {
      return webhookFailure(
        "SIGNATURE_INVALID",
        "The X-Signature header is not a hex HMAC-SHA256 (64 hex characters): the request was not signed by Lemon Squeezy.",
      );
    }
    // The payload hash is over the raw bytes (no parsing), so it runs alongside the HMAC: in Node each
    // Web Crypto call is a thread-pool round trip, and overlapping them halves the latency.
    const hashing = payloadHash(body.raw);
    hashing.catch(() => undefined); // awaited below only when the signature holds
    if (!(await context.keyring.verify(body.raw, [candidate]))) {
      return webhookFailure(
        "SIGNATURE_INVALID",
        "X-Signature matches none of the configured signing secrets: check webhookSecret against the webhook's signing secret in Lemon Squeezy, and pass the body exactly as received (Lemon Squeezy escapes / as \\/, so re-serialized JSON never verifies).",
      );
    }
    const json = parseJsonObject(body.raw);
    if (!json.ok) return json;
    const payload = json.value;
    const material = eventIdMaterial(payload);
    const [hash, idHex] = await Promise.all([
      hashing,
      material === undefined ? undefined : sha256Hex(material),
    ]);
    const attributes = obj(obj(payload.data)?.attributes) ?? {};
    const testMode = attributes.test_mode ?? obj(payload.meta)?.test_mode;
    const occurredAt = date(attributes.updated_at) ?? date(attributes.created_at);
    return {
      ok: true,
      webhook: {
        provider: context.name,
        payloadHash: hash,
        eventId: idHex === undefined ? `ls_body_${hash.slice("sha256:".length)}` : `ls_${idHex}`,
        eventType: str(obj(payload.meta)?.event_name) ?? "unknown",
        ...(occurredAt ? { occurredAt } : {}),
        ...(typeof testMode === "boolean" ? { livemode: !testMode } : {}),
        payload,
      },
    };
  } catch (error) {
    // Defensive: nothing above should throw, but verifyWebhook must always return a result.
    return webhookFailure(
      "PAYLOAD_INVALID",
      `The webhook could not be verified (${error instanceof Error ? error.name : "error"}): pass { rawBody, headers } from the raw request.`,
    );
  }
}
