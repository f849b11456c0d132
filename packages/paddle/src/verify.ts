/**
 * Paddle Billing webhook verification: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`, HMAC-SHA256
 * over `${ts}:${rawBody}` with the notification destination's secret key. Native `node:crypto` where
 * the runtime hands it over synchronously, Web Crypto everywhere else (through `@mika/types`).
 */
import {
  type CryptoBackend,
  checkRawBody,
  checkTimestamp,
  fromHex,
  type HmacKeyring,
  isHex,
  MAX_SIGNATURE_HEADER_LENGTH,
  type ProviderName,
  parseJsonObject,
  parseUnixSeconds,
  startPayloadHash,
  type VerifyResult,
  verifiedWebhook,
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
  const parsed = readSignatureHeader(header);
  if (!parsed) return undefined;
  const h1: Uint8Array[] = [];
  for (const hex of parsed.h1) {
    const bytes = fromHex(hex);
    if (bytes) h1.push(bytes);
  }
  return { ts: parsed.ts, h1 };
}

/**
 * {@link parsePaddleSignature} with each `h1` kept as its (validated) hex text, which the keyring
 * compares as is: the verification path decodes nothing.
 */
function readSignatureHeader(header: string): { ts: string; h1: string[] } | undefined {
  let ts: string | undefined;
  const h1: string[] = [];
  let start = 0;
  let eq = -1; // the next "=" at or after `start`, searched again only once passed (linear in the header)
  while (start < header.length) {
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    if (eq < start) eq = header.indexOf("=", start);
    if (eq === -1) break;
    if (eq > start && eq < end) {
      const key = header.slice(start, eq).trim();
      const value = header.slice(eq + 1, end).trim();
      if (key === "ts") {
        if (ts !== undefined && ts !== value) return undefined;
        ts = value;
      } else if (key === "h1" && value.length === 64) {
        // Hex is checked only when nothing matched (see verifyPaddleWebhook): text that is not hex never
        // equals the MAC's hex, so a valid delivery need not validate every candidate first.
        h1.push(value);
      }
    }
    start = end + 1;
  }
  if (ts === undefined || parseUnixSeconds(ts) === undefined) return undefined;
  return { ts, h1 };
}

/** The failure for a header with no usable `h1`. */
function noH1(): VerifyResult {
  return webhookFailure(
    "SIGNATURE_MISSING",
    "The Paddle-Signature header holds no h1 signature (64 hex characters): the request was not signed by Paddle.",
  );
}

/** What {@link verifyPaddleWebhook} needs from the provider instance. */
export interface VerifyContext {
  name: ProviderName;
  keyring: HmacKeyring;
  secretProblem: string | undefined;
  toleranceSeconds: number;
  livemode: boolean;
  /** Which crypto verifies (see `PaddleProviderOptions.cryptoBackend`). */
  backend: CryptoBackend;
}

/**
 * Verifies one delivery. Never throws: every failure is a {@link VerifyResult} with a code. (One async
 * function, not a wrapper around another: each extra await is a promise and a microtask per delivery.)
 */
export async function verifyPaddleWebhook(ctx: VerifyContext, input: WebhookInput): Promise<VerifyResult> {
  try {
    const body = checkRawBody(input?.rawBody);
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
    const parsed = readSignatureHeader(header);
    if (!parsed) {
      return webhookFailure(
        "SIGNATURE_INVALID",
        "The Paddle-Signature header has no valid ts=<unix seconds> part: the request was not signed by Paddle.",
      );
    }
    if (parsed.h1.length === 0) return noH1();
    // Web Crypto only: the payload hash starts now and runs alongside the HMAC. With native crypto it is
    // computed on first read of `payloadHash` instead (see verifiedWebhook in @mika/types).
    const pendingHash = startPayloadHash(body.raw, { backend: ctx.backend });
    // The signed message is `${ts}:${body}`, hashed in parts so the body is never copied or re-encoded.
    // Native crypto answers synchronously: no await on that path.
    const check = ctx.keyring.verifyHex([`${parsed.ts}:`, body.raw], parsed.h1);
    if (!(typeof check === "boolean" ? check : await check)) {
      if (!parsed.h1.some((h1) => isHex(h1, 64))) return noH1();
      return webhookFailure(
        "SIGNATURE_INVALID",
        "No h1 signature matches the configured secret(s): check webhookSecret (the notification destination's secret key) and pass the body exactly as received.",
      );
    }
    // An invalid receivedAt would make checkTimestamp's skew NaN, which passes every comparison: use the clock.
    const received = input.receivedAt;
    const now = received instanceof Date && !Number.isNaN(received.getTime()) ? received : Date.now();
    const stale = checkTimestamp(Number(parsed.ts), now, ctx.toleranceSeconds);
    if (stale) return stale;
    const json = parseJsonObject(body.raw);
    if (!json.ok) return json;
    const payload = json.value;
    const eventId = str(payload.event_id);
    const eventType = str(payload.event_type);
    if (!eventId || !eventType) {
      return webhookFailure(
        "PAYLOAD_INVALID",
        "The signature is valid but the body has no event_id or event_type: it is not a Paddle notification.",
      );
    }
    const webhook = verifiedWebhook(
      {
        provider: ctx.name,
        eventId,
        eventType,
        occurredAt: time(payload.occurred_at),
        livemode: ctx.livemode,
        payload,
      },
      body.raw,
      pendingHash && (await pendingHash),
    );
    return { ok: true, webhook };
  } catch (error) {
    // Only reachable when the runtime lacks Web Crypto or the input is not what the types say.
    return webhookFailure(
      "SIGNATURE_INVALID",
      `The webhook could not be verified (${error instanceof Error ? error.name : "unexpected error"}): pass { rawBody, headers: Headers } on a runtime with Web Crypto (globalThis.crypto.subtle).`,
    );
  }
}
