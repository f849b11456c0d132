/**
 * Small, dependency-free helpers for verifying webhooks. They run on Node 20+, Bun, Deno, Cloudflare
 * Workers and edge routes: `Uint8Array` only, no `Buffer`, no static `node:crypto` import. Hashing uses
 * native `node:crypto` when the runtime hands it over synchronously, and Web Crypto everywhere else.
 * Every adapter uses them so that constant-time comparison, secret rotation and tolerance checks are
 * written once.
 *
 * @packageDocumentation
 */
import type { VerifiedWebhook, VerifyResult, WebhookErrorCode, WebhookInput } from "./provider.js";

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

/** Bytes, or text that stands for its UTF-8 bytes. Hashing and parsing take either, so a string body is never re-encoded by hand. */
export type BodyPart = string | Uint8Array;

/**
 * Checks that the body is raw (a string or bytes, as received) and returns it unchanged, or a
 * `BODY_NOT_RAW` failure. Prefer this to {@link rawBodyBytes} on the hot path: it copies nothing.
 */
export function checkRawBody(
  rawBody: WebhookInput["rawBody"] | unknown,
): { ok: true; raw: BodyPart } | (VerifyResult & { ok: false }) {
  if (typeof rawBody === "string" || rawBody instanceof Uint8Array) return { ok: true, raw: rawBody };
  if (rawBody instanceof ArrayBuffer) return { ok: true, raw: new Uint8Array(rawBody) };
  return rawBodyBytes(rawBody) as VerifyResult & { ok: false };
}

/** The UTF-8 bytes of a body part. */
export function partBytes(part: BodyPart): Uint8Array {
  return typeof part === "string" ? encoder.encode(part) : part;
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

/**
 * Compares an expected MAC, as lower-case hex, with a candidate hex string from a signature header, in
 * time that depends only on their lengths. The candidate may use either case (`A`–`F` count as
 * `a`–`f`); anything that is not the same hex never matches. Different lengths → false. Comparing the
 * hex text skips decoding every candidate into bytes.
 */
export function timingSafeEqualHex(expectedLowerHex: string, candidate: string): boolean {
  if (expectedLowerHex.length !== candidate.length) return false;
  let diff = 0;
  for (let i = 0; i < candidate.length; i++) {
    let c = candidate.charCodeAt(i);
    // Folds the candidate's own case (public data); the expected MAC is never branched on.
    if (c >= 65 && c <= 70) c += 32;
    diff |= expectedLowerHex.charCodeAt(i) ^ c;
  }
  return diff === 0;
}

const HEX_TEXT = /^[0-9a-fA-F]*$/;

/** Whether `text` is exactly `length` hex characters (either case). */
export function isHex(text: string, length: number): boolean {
  // A RegExp runs about twice as fast as a charCodeAt loop here (it is compiled to native code).
  return text.length === length && HEX_TEXT.test(text);
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

/** The part of `node:crypto` the fast path uses. */
interface NativeDigest {
  update(data: BodyPart): NativeDigest;
  digest(): Uint8Array;
  digest(encoding: "hex"): string;
}
/** A `node:crypto` `KeyObject`, opaque here. */
interface NativeKey {
  readonly type: string;
}
interface NativeCrypto {
  createHmac(algorithm: "sha256", key: Uint8Array | NativeKey): NativeDigest;
  createHash(algorithm: "sha256"): NativeDigest;
  /** Absent only on runtimes with a partial `node:crypto`. */
  createSecretKey?(key: Uint8Array): NativeKey;
  /** One-shot digest (Node 20.12+, Bun, Deno): no `Hash` object per call. */
  hash?(algorithm: "sha256", data: BodyPart, encoding: "hex"): string;
  hash?(algorithm: "sha256", data: BodyPart, encoding: "buffer"): Uint8Array;
}

/**
 * `node:crypto` when the runtime offers it synchronously (`process.getBuiltinModule`, Node 20.16+, Bun,
 * Deno), else `undefined`. There is no static import, so edge bundles never see `node:crypto`; there
 * Web Crypto is used. Native HMAC avoids Web Crypto's per-call thread-pool hop, which costs more than
 * the hash itself for webhook-sized bodies, and lets a verification finish synchronously.
 */
const native: NativeCrypto | undefined = (() => {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = typeof p?.getBuiltinModule === "function" ? p.getBuiltinModule("node:crypto") : undefined;
    return mod &&
      typeof (mod as NativeCrypto).createHmac === "function" &&
      typeof (mod as NativeCrypto).createHash === "function"
      ? (mod as NativeCrypto)
      : undefined;
  } catch {
    return undefined;
  }
})();

/** Lower-case hex sha256 on native `node:crypto` (the method is looked up per call, so tests can spy on it). */
function nativeSha256Hex(lib: NativeCrypto, data: BodyPart): string {
  return typeof lib.hash === "function"
    ? lib.hash("sha256", data, "hex")
    : lib.createHash("sha256").update(data).digest("hex");
}

/** Which implementation the crypto helpers use: `auto` (native when available) or `web` (Web Crypto only). */
export type CryptoBackend = "auto" | "web";

/** Whether the helpers run on native `node:crypto` in this runtime (for diagnostics and benchmarks). */
export const nativeCryptoAvailable: boolean = native !== undefined;

/** `node:crypto` when it is available and `backend` allows it. */
function nativeFor(backend: CryptoBackend | undefined): NativeCrypto | undefined {
  return backend === "web" ? undefined : native;
}

/** sha256 of some bytes (a string counts as its UTF-8 bytes). */
export async function sha256(data: BodyPart, options: { backend?: CryptoBackend } = {}): Promise<Uint8Array> {
  const lib = nativeFor(options.backend);
  if (lib) return lib.createHash("sha256").update(data).digest();
  return new Uint8Array(await subtle().digest("SHA-256", partBytes(data) as Uint8Array<ArrayBuffer>));
}

/**
 * Lower-case hex sha256 of some bytes, computed synchronously, when native `node:crypto` is available
 * (and `backend` is not `"web"`); `undefined` otherwise, in which case use {@link sha256}.
 */
export function sha256HexSync(data: BodyPart, options: { backend?: CryptoBackend } = {}): string | undefined {
  const lib = nativeFor(options.backend);
  return lib ? nativeSha256Hex(lib, data) : undefined;
}

/** `sha256:<hex>` of the raw bytes: the payload hash stored with every event. */
export async function payloadHash(
  data: BodyPart,
  options: { backend?: CryptoBackend } = {},
): Promise<`sha256:${string}`> {
  const lib = nativeFor(options.backend);
  if (lib) return `sha256:${nativeSha256Hex(lib, data)}`;
  return `sha256:${toHex(new Uint8Array(await subtle().digest("SHA-256", partBytes(data) as Uint8Array<ArrayBuffer>)))}`;
}

/** A {@link VerifiedWebhook} without its `payloadHash`: what an adapter read from a verified delivery. */
export type VerifiedWebhookFields = Omit<VerifiedWebhook, "payloadHash">;

/**
 * The payload hash of a delivery under verification, as {@link startPayloadHash} started it: a promise
 * where only Web Crypto exists (await it once the signature held), `undefined` where it is computed
 * lazily on first read.
 */
export type PendingPayloadHash = Promise<`sha256:${string}`> | undefined;

/**
 * Starts the payload hash of a body under verification; call it before the HMAC, then hand the result
 * to {@link verifiedWebhook}.
 *
 * - With native `node:crypto` (and `backend` not `"web"`) it returns `undefined` and does nothing: the
 *   webhook's `payloadHash` is then a getter that hashes synchronously on first read.
 * - Where only Web Crypto exists (edge runtimes, or `backend: "web"`), a getter cannot be synchronous,
 *   so the digest starts now and runs alongside the HMAC. The promise is marked handled, so a delivery
 *   that fails verification may drop it without an unhandled rejection.
 */
export function startPayloadHash(
  body: BodyPart,
  options: { backend?: CryptoBackend } = {},
): PendingPayloadHash {
  if (nativeFor(options.backend)) return undefined;
  const pending = payloadHash(body, { backend: "web" });
  pending.catch(() => undefined);
  return pending;
}

/** Returns the object it is given, so that a subclass constructor adds its private fields to that object. */
class PrivateFieldsOn {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the point: `new LazyPayloadHash(webhook)` stamps `webhook`.
    return target;
  }
}

/**
 * The state behind a lazy `payloadHash`, kept in private fields of the webhook object itself: invisible
 * to spread, `JSON.stringify`, `structuredClone` and `Object.keys`, and with no closure or `WeakMap`
 * entry per webhook. The webhook stays a plain object (its prototype is `Object.prototype`).
 */
class LazyPayloadHash extends PrivateFieldsOn {
  #body: BodyPart | undefined;
  #hash: `sha256:${string}` | undefined;

  private constructor(target: object, body: BodyPart) {
    super(target);
    this.#body = body;
  }

  /** Adds an enumerable, memoized `payloadHash` accessor over `body` to `target` (native crypto only). */
  static define(target: object, body: BodyPart): void {
    new LazyPayloadHash(target, body);
    Object.defineProperty(target, "payloadHash", LazyPayloadHash.#descriptor);
  }

  /** One shared descriptor, so every lazy webhook has the same hidden class. */
  static readonly #descriptor: PropertyDescriptor = {
    get(this: LazyPayloadHash): `sha256:${string}` {
      if (this.#hash === undefined) {
        this.#hash = `sha256:${nativeSha256Hex(native as NativeCrypto, this.#body as BodyPart)}`;
        this.#body = undefined; // the raw body can be collected once hashed
      }
      return this.#hash;
    },
    set(this: LazyPayloadHash, value: `sha256:${string}`) {
      this.#hash = value;
      this.#body = undefined;
    },
    enumerable: true,
    configurable: true,
  };
}

/**
 * Builds the {@link VerifiedWebhook} of a delivery whose signature held. `body` is the raw body the
 * signature covered; `hash` is the awaited result of {@link startPayloadHash} for it (`undefined` when
 * that returned `undefined`).
 *
 * With native `node:crypto`, `payloadHash` is an enumerable getter that hashes `body` synchronously on
 * first read and remembers the value (spread, `JSON.stringify` and `structuredClone` see it like any
 * field); a delivery nobody asks the hash of never pays for it. With a `hash` given, it is a plain field.
 *
 * @example
 * const pending = startPayloadHash(body, { backend });
 * if (!(await keyring.verify(message, candidates))) return webhookFailure("SIGNATURE_INVALID", "…");
 * return { ok: true, webhook: verifiedWebhook({ provider, eventId, eventType, payload }, body, pending && (await pending)) };
 */
export function verifiedWebhook(
  fields: VerifiedWebhookFields,
  body: BodyPart,
  hash: `sha256:${string}` | undefined,
): VerifiedWebhook {
  if (hash !== undefined) {
    return {
      provider: fields.provider,
      payloadHash: hash,
      eventId: fields.eventId,
      eventType: fields.eventType,
      occurredAt: fields.occurredAt,
      livemode: fields.livemode,
      payload: fields.payload,
    };
  }
  if (native === undefined) {
    throw new TypeError(
      "verifiedWebhook: no payload hash was given and native node:crypto is not available: pass the awaited result of startPayloadHash(body).",
    );
  }
  // Built field by field in declaration order: the same hidden class for every lazy webhook.
  const webhook: Partial<VerifiedWebhook> = { provider: fields.provider };
  LazyPayloadHash.define(webhook, body);
  webhook.eventId = fields.eventId;
  webhook.eventType = fields.eventType;
  webhook.occurredAt = fields.occurredAt;
  webhook.livemode = fields.livemode;
  webhook.payload = fields.payload;
  return webhook as VerifiedWebhook;
}

/** SHA-256 block size in bytes: the length of an HMAC pad. */
const BLOCK = 64;
/** Messages up to this many bytes take the one-shot HMAC path; longer ones use `createHmac`. */
const ONE_SHOT_MAX_BYTES = 64 * 1024;
/** `BLOCK` bytes for the inner pad, then the message: reused by every one-shot HMAC (they are synchronous), zeroed after each. */
let oneShotScratch = new Uint8Array(4096);

/**
 * The two HMAC pads of one key (RFC 2104), the key folded in; `outer` has room for the inner digest after it,
 * zeroed again after each use.
 */
interface HmacPads {
  inner: Uint8Array;
  outer: Uint8Array;
}

/** A one-shot sha256: bytes, or lower-case hex. */
interface OneShotDigest {
  (data: Uint8Array): Uint8Array;
  (data: Uint8Array, encoding: "hex"): string;
}

/** `node:crypto`'s one-shot `hash`, when the runtime has it. */
function oneShotHash(lib: NativeCrypto): OneShotDigest | undefined {
  if (typeof lib.hash !== "function") return undefined;
  const hash = lib.hash as (
    algorithm: "sha256",
    data: Uint8Array,
    encoding: "hex" | "buffer",
  ) => string | Uint8Array;
  return ((data: Uint8Array, encoding?: "hex") =>
    hash("sha256", data, encoding ?? "buffer")) as OneShotDigest;
}

function hmacPads(digest: OneShotDigest, key: Uint8Array): HmacPads {
  const folded = key.length > BLOCK ? digest(key) : key;
  const inner = new Uint8Array(BLOCK).fill(0x36);
  const outer = new Uint8Array(BLOCK + 32).fill(0x5c, 0, BLOCK);
  for (let i = 0; i < folded.length; i++) {
    inner[i] = (inner[i] as number) ^ (folded[i] as number);
    outer[i] = (outer[i] as number) ^ (folded[i] as number);
  }
  return { inner, outer };
}

/**
 * Writes `message` into the scratch buffer after room for a pad; returns where it ends, or -1 when it may
 * be longer than {@link ONE_SHOT_MAX_BYTES}.
 */
function stageMessage(message: BodyPart | readonly BodyPart[]): number {
  const parts = typeof message === "string" || message instanceof Uint8Array ? [message] : message;
  let bound = BLOCK;
  for (const part of parts) bound += typeof part === "string" ? part.length * 3 : part.length;
  if (bound > BLOCK + ONE_SHOT_MAX_BYTES) return -1;
  if (oneShotScratch.length < bound)
    oneShotScratch = new Uint8Array(Math.max(bound, oneShotScratch.length * 2));
  let end = BLOCK;
  for (const part of parts) {
    if (typeof part === "string") {
      end += encoder.encodeInto(part, oneShotScratch.subarray(end)).written;
    } else {
      oneShotScratch.set(part, end);
      end += part.length;
    }
  }
  return end;
}

/**
 * HMAC-SHA256 of `message` under each key's pads, from two one-shot hashes per key
 * (`H(outer ‖ H(inner ‖ message))`): on Node this skips building an `Hmac` object per call, which costs
 * about as much as hashing a 1 KB webhook. `undefined` when the message is too long for the scratch.
 */
function oneShotHmacs(
  digest: OneShotDigest,
  pads: readonly HmacPads[],
  message: BodyPart | readonly BodyPart[],
): Uint8Array[] | undefined;
function oneShotHmacs(
  digest: OneShotDigest,
  pads: readonly HmacPads[],
  message: BodyPart | readonly BodyPart[],
  encoding: "hex",
): string[] | undefined;
function oneShotHmacs(
  digest: OneShotDigest,
  pads: readonly HmacPads[],
  message: BodyPart | readonly BodyPart[],
  encoding?: "hex",
): (string | Uint8Array)[] | undefined {
  const end = stageMessage(message);
  if (end < 0) return undefined;
  const macs: (string | Uint8Array)[] = [];
  try {
    for (const { inner, outer } of pads) {
      oneShotScratch.set(inner, 0);
      outer.set(digest(oneShotScratch.subarray(0, end)), BLOCK);
      macs.push(encoding === "hex" ? digest(outer, "hex") : digest(outer));
    }
  } finally {
    // Neither key material nor the message (a payload may hold personal data) stays in the shared buffer,
    // and no key's outer pad keeps the inner digest it was last given.
    oneShotScratch.fill(0, 0, end);
    for (const { outer } of pads) outer.fill(0, BLOCK);
  }
  return macs;
}

/**
 * Whether `digest` gives the RFC 4231 test case 2 HMAC through {@link oneShotHmacs}, so a runtime whose
 * one-shot `hash` differs from Node's falls back to `createHmac`.
 */
function oneShotWorks(digest: OneShotDigest): boolean {
  try {
    const pads = [hmacPads(digest, encoder.encode("Jefe"))];
    const message = "what do ya want for nothing?";
    const bytes = oneShotHmacs(digest, pads, message)?.[0];
    return (
      bytes instanceof Uint8Array &&
      toHex(bytes) === RFC4231_CASE_2 &&
      oneShotHmacs(digest, pads, message, "hex")?.[0] === RFC4231_CASE_2
    );
  } catch {
    return false;
  }
}
const RFC4231_CASE_2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

/** The last `hash` function {@link checkedOneShotHash} checked, and its digest when it passed. */
let lastChecked: { hash: unknown; digest: OneShotDigest | undefined } | undefined;

/** {@link oneShotHash} when it passes {@link oneShotWorks}: checked once per `hash` function, not per keyring. */
function checkedOneShotHash(lib: NativeCrypto): OneShotDigest | undefined {
  let checked = lastChecked;
  if (checked === undefined || checked.hash !== lib.hash) {
    const digest = oneShotHash(lib);
    checked = { hash: lib.hash, digest: digest && oneShotWorks(digest) ? digest : undefined };
    lastChecked = checked;
  }
  return checked.digest;
}

/**
 * A set of HMAC-SHA256 keys prepared once and reused: one per configured secret, so secret rotation
 * is a list. Create it once per provider instance, not per request.
 */
export interface HmacKeyring {
  /** How many secrets it holds. */
  readonly size: number;
  /** HMAC-SHA256 of `message` (one part, or parts signed as if concatenated) under every key, in configuration order. */
  macs(message: BodyPart | readonly BodyPart[]): Promise<Uint8Array[]>;
  /**
   * Whether any candidate equals the MAC under any key. Every pair is compared in constant time and
   * the loop does not stop at the first match, so timing says nothing about which matched.
   */
  verify(message: BodyPart | readonly BodyPart[], candidates: readonly Uint8Array[]): Promise<boolean>;
  /**
   * {@link HmacKeyring.verify} for candidates as sent in signature headers: hex text, either case
   * (compared with {@link timingSafeEqualHex}, so nothing is decoded; text that is not the MAC's hex
   * never matches). Every candidate is compared with the MAC under every key, without an early exit.
   *
   * On native `node:crypto` the answer is computed synchronously and returned as a `boolean`; on Web
   * Crypto it is a `Promise<boolean>`. `await` works on both; a hot path can skip the await when it
   * gets a boolean.
   */
  verifyHex(
    message: BodyPart | readonly BodyPart[],
    candidates: readonly string[],
  ): boolean | Promise<boolean>;
}

/**
 * Prepares each secret once as an HMAC-SHA256 key: a native `node:crypto` `KeyObject` where the runtime
 * has it, else a Web Crypto key imported lazily on first use (and cached). An empty secret is left
 * out: anyone can compute an HMAC under it, so it never verifies anything.
 */
export function hmacKeyring(
  secrets: readonly (string | Uint8Array)[],
  options: { backend?: CryptoBackend } = {},
): HmacKeyring {
  // A zero-length key is public: HMAC under it is forgeable by anyone, so it never verifies anything.
  const raw = secrets
    .map((secret) => (typeof secret === "string" ? encoder.encode(secret) : secret))
    .filter((key) => key.length > 0);
  const lib = nativeFor(options.backend);
  // KeyObjects: node:crypto then skips preparing the raw key on every createHmac.
  const nativeKeys: readonly (Uint8Array | NativeKey)[] | undefined = lib
    ? raw.map((key) => (typeof lib.createSecretKey === "function" ? lib.createSecretKey(key) : key))
    : undefined;
  // The one-shot path (two `hash` calls per key, pads prepared here), where the runtime's `hash` passes
  // a known-answer test; `createHmac` with the KeyObjects otherwise and for long messages.
  const digest = lib ? checkedOneShotHash(lib) : undefined;
  const oneShot = digest ? { digest, pads: raw.map((key) => hmacPads(digest, key)) } : undefined;
  let keys: Promise<CryptoKey[]> | undefined;
  let loaded: CryptoKey[] | undefined; // once imported: used without an await per message
  const load = () => {
    keys ??= Promise.all(
      raw.map((key) =>
        subtle().importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, [
          "sign",
        ]),
      ),
    ).then(
      (imported) => {
        loaded = imported;
        return imported;
      },
      (error: unknown) => {
        keys = undefined; // a failed import is tried again by the next message, not kept for good
        throw error;
      },
    );
    return keys;
  };
  const nativeHmac = (
    lib: NativeCrypto,
    key: Uint8Array | NativeKey,
    message: BodyPart | readonly BodyPart[],
  ) => {
    const hmac = lib.createHmac("sha256", key);
    if (typeof message === "string" || message instanceof Uint8Array) hmac.update(message);
    else for (const part of message as readonly BodyPart[]) hmac.update(part);
    return hmac;
  };
  const webMacs = async (message: BodyPart | readonly BodyPart[]): Promise<Uint8Array[]> => {
    const bytes =
      typeof message === "string" || message instanceof Uint8Array
        ? partBytes(message)
        : message.length === 1
          ? partBytes(message[0]!)
          : concatBytes(...message.map(partBytes));
    const ready = loaded ?? (await load());
    if (ready.length === 1) {
      return [new Uint8Array(await subtle().sign("HMAC", ready[0]!, bytes as Uint8Array<ArrayBuffer>))];
    }
    const signed = await Promise.all(
      ready.map((key) => subtle().sign("HMAC", key, bytes as Uint8Array<ArrayBuffer>)),
    );
    return signed.map((mac) => new Uint8Array(mac));
  };
  /** Every key's MAC on native crypto, synchronously. */
  const nativeMacs = (
    lib: NativeCrypto,
    keys: readonly (Uint8Array | NativeKey)[],
    message: BodyPart | readonly BodyPart[],
  ) =>
    (oneShot && oneShotHmacs(oneShot.digest, oneShot.pads, message)) ??
    keys.map((key) => nativeHmac(lib, key, message).digest());
  const macs = async (message: BodyPart | readonly BodyPart[]): Promise<Uint8Array[]> => {
    if (lib && nativeKeys) return nativeMacs(lib, nativeKeys, message);
    return webMacs(message);
  };
  /** Every candidate against every expected hex MAC: no early exit. */
  const matchHex = (expected: readonly string[], candidates: readonly string[]): boolean => {
    let matched = false;
    for (const mac of expected) {
      for (const candidate of candidates) {
        if (timingSafeEqualHex(mac, candidate)) matched = true;
      }
    }
    return matched;
  };
  return {
    size: raw.length,
    macs,
    async verify(message, candidates) {
      if (candidates.length === 0 || raw.length === 0) return false;
      const expected = await macs(message);
      let matched = false;
      for (const mac of expected) {
        for (const candidate of candidates) {
          if (timingSafeEqual(mac, candidate)) matched = true;
        }
      }
      return matched;
    },
    verifyHex(message, candidates) {
      if (candidates.length === 0 || raw.length === 0) return false;
      if (lib && nativeKeys) {
        const expected =
          (oneShot && oneShotHmacs(oneShot.digest, oneShot.pads, message, "hex")) ??
          nativeKeys.map((key) => nativeHmac(lib, key, message).digest("hex"));
        return matchHex(expected, candidates);
      }
      return webMacs(message).then((macs) => matchHex(macs.map(toHex), candidates));
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
 * Checks a signed UNIX timestamp (seconds) against `now` (a `Date`, or epoch milliseconds as from
 * `Date.now()`), in both directions.
 * Returns `undefined` when inside the tolerance, else a `TIMESTAMP_OUT_OF_TOLERANCE` failure.
 */
export function checkTimestamp(
  timestampSeconds: number,
  now: Date | number,
  toleranceSeconds: number,
): (VerifyResult & { ok: false }) | undefined {
  const skew = (typeof now === "number" ? now : now.getTime()) / 1000 - timestampSeconds;
  if (!Number.isFinite(timestampSeconds) || !Number.isFinite(skew) || Math.abs(skew) > toleranceSeconds) {
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
  if (text === undefined || text.length === 0 || text.length > 12) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Parses the verified body as a JSON object, or returns a `PAYLOAD_INVALID` failure. Call only after
 * the signature held.
 */
export function parseJsonObject(
  data: BodyPart,
): { ok: true; value: Record<string, unknown> } | (VerifyResult & { ok: false }) {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : decoder.decode(data));
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

/** The value of `length` decimal digits of `text` from `at`, or -1 when one of them is not a digit. */
function digitsAt(text: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Reads an RFC 3339 timestamp, exactly `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as epoch
 * milliseconds, digit by digit (no RegExp, no `Date` string parsing: providers' timestamps are read on
 * every delivery). The fraction may have any number of digits and is cut to milliseconds, as V8 does;
 * field ranges are those of the ECMAScript date-time string format (month 1–12, day 1–31 rolling over
 * into the next month as `Date` does, hour 0–24 with 24 only for 24:00:00.000, offsets up to ±23:59).
 * For every string it accepts the result equals `new Date(text).getTime()`. Returns `undefined` for
 * anything else, and for years before 100 (which `Date.UTC` would read as 19xx): callers that want
 * `Date`'s full leniency fall back to it.
 */
export function parseRfc3339(value: string): number | undefined {
  if (value.length < 20) return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  if (
    value.charCodeAt(4) !== 45 || // -
    value.charCodeAt(7) !== 45 ||
    value.charCodeAt(10) !== 84 || // T
    value.charCodeAt(13) !== 58 || // :
    value.charCodeAt(16) !== 58 ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 24 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return undefined;
  }
  let at = 19;
  let millis = 0;
  if (value.charCodeAt(at) === 46) {
    // "." then at least one digit; only the first three count.
    const first = ++at;
    while (at < value.length) {
      const digit = value.charCodeAt(at) - 48;
      if (digit < 0 || digit > 9) break;
      if (at - first < 3) millis = millis * 10 + digit;
      at++;
    }
    const kept = at - first;
    if (kept === 0) return undefined;
    for (let n = kept; n < 3; n++) millis *= 10;
  }
  let offsetMinutes = 0;
  const zone = value.charCodeAt(at);
  if (zone === 90 /* Z */) {
    if (at + 1 !== value.length) return undefined;
  } else if (zone === 43 /* + */ || zone === 45 /* - */) {
    const offsetHours = digitsAt(value, at + 1, 2);
    const offsetMins = digitsAt(value, at + 4, 2);
    if (
      at + 6 !== value.length ||
      value.charCodeAt(at + 3) !== 58 ||
      offsetHours < 0 ||
      offsetHours > 23 ||
      offsetMins < 0 ||
      offsetMins > 59
    ) {
      return undefined;
    }
    offsetMinutes = (zone === 43 ? 1 : -1) * (offsetHours * 60 + offsetMins);
  } else {
    return undefined;
  }
  if (hour === 24 && (minute !== 0 || second !== 0 || millis !== 0)) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999.
  if (year < 100) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  return Number.isNaN(ms) ? undefined : ms;
}

/** Largest signature header adapters look at; longer ones are rejected without parsing. */
export const MAX_SIGNATURE_HEADER_LENGTH = 8192;
