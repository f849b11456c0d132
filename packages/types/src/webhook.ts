/**
 * Small, dependency-free helpers for verifying webhooks with Web Crypto. They run on Node 20+, Bun,
 * Deno, Cloudflare Workers and edge routes (no `Buffer`, no `node:crypto`). Every adapter uses them so
 * that constant-time comparison, secret rotation and tolerance checks are written once.
 *
 * @packageDocumentation
 */
import type { VerifyResult, WebhookErrorCode, WebhookInput } from "./provider.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 encodes a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 bytes (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Builds a failed {@link VerifyResult}. */
export function webhookFailure(code: WebhookErrorCode, message: string): VerifyResult & { ok: false } {
  return { ok: false, error: { code, message } };
}

/**
 * The raw body as bytes, or a `BODY_NOT_RAW` failure when the caller passed a parsed object
 * (the usual mistake: a framework's JSON body parser ran before us).
 */
export function rawBodyBytes(
  rawBody: WebhookInput["rawBody"] | unknown,
): { ok: true; bytes: Uint8Array } | (VerifyResult & { ok: false }) {
  if (rawBody instanceof Uint8Array) return { ok: true, bytes: rawBody };
  if (typeof rawBody === "string") return { ok: true, bytes: encoder.encode(rawBody) };
  if (rawBody instanceof ArrayBuffer) return { ok: true, bytes: new Uint8Array(rawBody) };
  return webhookFailure(
    "BODY_NOT_RAW",
    "The webhook body was parsed before verification: pass the raw request body (await request.arrayBuffer() or request.text()), not a parsed object. Disable any JSON body parser on the webhook route.",
  );
}

/**
 * Compares two byte strings in time that depends only on their lengths. Different lengths → false
 * (the length of a MAC is public).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

const HEX = "0123456789abcdef";

/** Lower-case hex of some bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** Parses hex (either case); `undefined` for odd length or a non-hex character. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i));
    const lo = hexValue(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Standard base64 of some bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return btoa(binary);
}

/** Parses standard base64; `undefined` when it is not valid base64. */
export function fromBase64(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

/** Concatenates byte strings. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function subtle(): SubtleCrypto {
  const c = globalThis.crypto;
  if (!c?.subtle) throw new Error("Web Crypto (globalThis.crypto.subtle) is not available in this runtime.");
  return c.subtle;
}

/** `sha256:<hex>` of the raw bytes: the payload hash stored with every event. */
export async function payloadHash(bytes: Uint8Array): Promise<`sha256:${string}`> {
  const digest = await subtle().digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return `sha256:${toHex(new Uint8Array(digest))}`;
}

/**
 * A set of HMAC-SHA256 keys imported once and reused: one per configured secret, so secret rotation
 * is a list. Create it once per provider instance, not per request.
 */
export interface HmacKeyring {
  /** How many secrets it holds. */
  readonly size: number;
  /** HMAC-SHA256 of `message` under every key, in configuration order. */
  macs(message: Uint8Array): Promise<Uint8Array[]>;
  /**
   * Whether any candidate equals the MAC under any key. Every pair is compared in constant time and
   * the loop does not stop at the first match, so timing says nothing about which matched.
   */
  verify(message: Uint8Array, candidates: readonly Uint8Array[]): Promise<boolean>;
}

/** Imports each secret once (lazily, on first use) as an HMAC-SHA256 key. */
export function hmacKeyring(secrets: readonly (string | Uint8Array)[]): HmacKeyring {
  let keys: Promise<CryptoKey[]> | undefined;
  const load = () => {
    keys ??= Promise.all(
      secrets.map((secret) =>
        subtle().importKey(
          "raw",
          (typeof secret === "string" ? encoder.encode(secret) : secret) as Uint8Array<ArrayBuffer>,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        ),
      ),
    );
    return keys;
  };
  const macs = async (message: Uint8Array) => {
    const loaded = await load();
    const out: Uint8Array[] = [];
    for (const key of loaded) {
      out.push(new Uint8Array(await subtle().sign("HMAC", key, message as Uint8Array<ArrayBuffer>)));
    }
    return out;
  };
  return {
    size: secrets.length,
    macs,
    async verify(message, candidates) {
      if (candidates.length === 0 || secrets.length === 0) return false;
      const expected = await macs(message);
      let matched = false;
      for (const mac of expected) {
        for (const candidate of candidates) {
          if (timingSafeEqual(mac, candidate)) matched = true;
        }
      }
      return matched;
    },
  };
}

/**
 * Normalizes a `webhookSecret` option (a string, or a list for rotation). Returns the usable secrets
 * and, when one cannot be right, a message for a `SECRET_INVALID` result. Never echoes the secret.
 */
export function normalizeSecrets(
  secret: string | readonly string[] | undefined,
  options: { provider: string; expectedPrefix?: string; apiKeyPrefixes?: readonly string[] } = {
    provider: "provider",
  },
): { secrets: string[]; problem?: string } {
  const list = secret === undefined ? [] : typeof secret === "string" ? [secret] : [...secret];
  if (list.length === 0) {
    return {
      secrets: [],
      problem: `No ${options.provider} webhook secret is configured: set webhookSecret to the signing secret of your ${options.provider} webhook endpoint.`,
    };
  }
  for (const [index, s] of list.entries()) {
    const where = list.length > 1 ? ` (secret #${index + 1})` : "";
    if (typeof s !== "string" || s.length === 0) {
      return {
        secrets: [],
        problem: `The ${options.provider} webhook secret${where} is empty: set webhookSecret.`,
      };
    }
    if (s.trim() !== s) {
      return {
        secrets: [],
        problem: `The ${options.provider} webhook secret${where} has leading or trailing whitespace: trim it (often a newline from an env file).`,
      };
    }
    for (const prefix of options.apiKeyPrefixes ?? []) {
      if (s.startsWith(prefix)) {
        return {
          secrets: [],
          problem: `The ${options.provider} webhook secret${where} looks like an API key (${prefix}…): use the endpoint's signing secret${options.expectedPrefix ? ` (${options.expectedPrefix}…)` : ""} instead.`,
        };
      }
    }
  }
  return { secrets: list };
}

/**
 * Checks a signed UNIX timestamp (seconds) against `now`, in both directions.
 * Returns `undefined` when inside the tolerance, else a `TIMESTAMP_OUT_OF_TOLERANCE` failure.
 */
export function checkTimestamp(
  timestampSeconds: number,
  now: Date,
  toleranceSeconds: number,
): (VerifyResult & { ok: false }) | undefined {
  const skew = now.getTime() / 1000 - timestampSeconds;
  if (!Number.isFinite(timestampSeconds) || Math.abs(skew) > toleranceSeconds) {
    const direction = skew > 0 ? "old" : "far in the future";
    return webhookFailure(
      "TIMESTAMP_OUT_OF_TOLERANCE",
      `The webhook's signed timestamp is ${Number.isFinite(skew) ? `${Math.round(Math.abs(skew))}s ` : ""}too ${direction} (tolerance ${toleranceSeconds}s): check this server's clock, or this is a replayed delivery.`,
    );
  }
  return undefined;
}

/** Parses a decimal UNIX timestamp in seconds; `undefined` when it is not one. */
export function parseUnixSeconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,12}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * Parses the verified body as a JSON object, or returns a `PAYLOAD_INVALID` failure. Call only after
 * the signature held.
 */
export function parseJsonObject(
  bytes: Uint8Array,
): { ok: true; value: Record<string, unknown> } | (VerifyResult & { ok: false }) {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return webhookFailure(
      "PAYLOAD_INVALID",
      "The signature is valid but the body is not JSON: the sender is misconfigured; this delivery will not be processed.",
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return webhookFailure("PAYLOAD_INVALID", "The signature is valid but the body is not a JSON object.");
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** Largest signature header adapters look at; longer ones are rejected without parsing. */
export const MAX_SIGNATURE_HEADER_LENGTH = 8192;
