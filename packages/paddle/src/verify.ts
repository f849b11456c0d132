/**
 * Paddle Billing webhook verification with Web Crypto: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`,
 * HMAC-SHA256 over `${ts}:${rawBody}` with the notification destination's secret key.
 */
import {
  checkTimestamp,
  concatBytes,
  fromHex,
  type HmacKeyring,
  MAX_SIGNATURE_HEADER_LENGTH,
  type ProviderName,
  parseJsonObject,
  parseUnixSeconds,
  payloadHash,
  rawBodyBytes,
  utf8,
  type VerifyResult,
  type WebhookInput,
  webhookFailure,
} from "@mika/types";
import { str, time } from "./read.js";

/** The parts of a `Paddle-Signature` header this adapter uses. */
export interface PaddleSignatureHeader {
  /** The `ts` value exactly as sent (it is part of the signed message). */
  ts: string;
  /** Every `h1` value that is 32 bytes of hex, in header order. */
  h1: Uint8Array[];
}

/**
 * Parses a `Paddle-Signature` header. Returns `undefined` when there is no single numeric `ts`.
 * Unknown schemes (`h2=…`) and `h1` values that are not 64 hex characters are skipped, so one
 * malformed entry never hides a valid one.
 */
export function parsePaddleSignature(header: string): PaddleSignatureHeader | undefined {
  let ts: string | undefined;
  const h1: Uint8Array[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "ts") {
      if (ts !== undefined && ts !== value) return undefined;
      ts = value;
    } else if (key === "h1" && value.length === 64) {
      const bytes = fromHex(value);
      if (bytes) h1.push(bytes);
    }
  }
  if (ts === undefined || parseUnixSeconds(ts) === undefined) return undefined;
  return { ts, h1 };
}

/** What {@link verifyPaddleWebhook} needs from the provider instance. */
export interface VerifyContext {
  name: ProviderName;
  keyring: HmacKeyring;
  secretProblem: string | undefined;
  toleranceSeconds: number;
  livemode: boolean;
}

/** Verifies one delivery. Never throws: every failure is a {@link VerifyResult} with a code. */
export async function verifyPaddleWebhook(ctx: VerifyContext, input: WebhookInput): Promise<VerifyResult> {
  try {
    return await verify(ctx, input);
  } catch (error) {
    // Only reachable when the runtime lacks Web Crypto or the input is not what the types say.
    return webhookFailure(
      "SIGNATURE_INVALID",
      `The webhook could not be verified (${error instanceof Error ? error.name : "unexpected error"}): pass { rawBody, headers: Headers } on a runtime with Web Crypto (globalThis.crypto.subtle).`,
    );
  }
}

async function verify(ctx: VerifyContext, input: WebhookInput): Promise<VerifyResult> {
  const body = rawBodyBytes(input?.rawBody);
  if (!body.ok) return body;
  if (ctx.secretProblem) return webhookFailure("SECRET_INVALID", ctx.secretProblem);
  if (typeof input.headers?.get !== "function") {
    return webhookFailure(
      "SIGNATURE_MISSING",
      "No request headers were passed: give verifyWebhook the request's Headers (request.headers).",
    );
  }
  const header = input.headers.get("paddle-signature");
  if (!header) {
    return webhookFailure(
      "SIGNATURE_MISSING",
      "The Paddle-Signature header is missing: is this request from Paddle, and does your proxy forward the header?",
    );
  }
  if (header.length > MAX_SIGNATURE_HEADER_LENGTH) {
    return webhookFailure("SIGNATURE_INVALID", "The Paddle-Signature header is too long to be genuine.");
  }
  const parsed = parsePaddleSignature(header);
  if (!parsed) {
    return webhookFailure(
      "SIGNATURE_INVALID",
      "The Paddle-Signature header has no valid ts=<unix seconds> part: the request was not signed by Paddle.",
    );
  }
  if (parsed.h1.length === 0) {
    return webhookFailure(
      "SIGNATURE_MISSING",
      "The Paddle-Signature header holds no h1 signature (64 hex characters): the request was not signed by Paddle.",
    );
  }
  // The payload hash does not depend on the signature: start it now so both digests run together.
  const hashing = payloadHash(body.bytes);
  const message = concatBytes(utf8(`${parsed.ts}:`), body.bytes);
  if (!(await ctx.keyring.verify(message, parsed.h1))) {
    hashing.catch(() => {});
    return webhookFailure(
      "SIGNATURE_INVALID",
      "No h1 signature matches the configured secret(s): check webhookSecret (the notification destination's secret key) and pass the body exactly as received.",
    );
  }
  // An invalid receivedAt would make checkTimestamp's skew NaN, which passes every comparison: use the clock.
  const received = input.receivedAt;
  const now = received instanceof Date && !Number.isNaN(received.getTime()) ? received : new Date();
  const stale = checkTimestamp(Number(parsed.ts), now, ctx.toleranceSeconds);
  if (stale) {
    hashing.catch(() => {});
    return stale;
  }
  const json = parseJsonObject(body.bytes);
  if (!json.ok) {
    hashing.catch(() => {});
    return json;
  }
  const eventId = str(json.value.event_id);
  const eventType = str(json.value.event_type);
  if (!eventId || !eventType) {
    hashing.catch(() => {});
    return webhookFailure(
      "PAYLOAD_INVALID",
      "The signature is valid but the body has no event_id or event_type: it is not a Paddle notification.",
    );
  }
  const occurredAt = time(json.value.occurred_at);
  return {
    ok: true,
    webhook: {
      provider: ctx.name,
      payloadHash: await hashing,
      eventId,
      eventType,
      ...(occurredAt ? { occurredAt } : {}),
      livemode: ctx.livemode,
      payload: json.value,
    },
  };
}
