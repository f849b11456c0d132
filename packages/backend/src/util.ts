/** Small helpers shared by the backend's modules. */
import { toHex, utf8 } from "@mika/types";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * A time-sortable, URL-safe id: `<prefix>_<10 chars of ms time><12 random chars>`. Ids created later
 * sort after earlier ones (to the millisecond), which keyset pagination relies on.
 */
export function defaultCreateId(prefix: string): string {
  let time = Date.now();
  let head = "";
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 36]! + head;
    time = Math.floor(time / 36);
  }
  const random = randomBytes(12);
  let tail = "";
  for (let i = 0; i < 12; i++) tail += ALPHABET[random[i]! % 36];
  return `${prefix}_${head}${tail}`;
}

/** Random bytes drawn from a pool refilled 4 KiB at a time (one system call per ~340 ids, not one each). */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

/** `n` (≤ 4096) fresh random bytes; the view is valid until the next call. */
function randomBytes(n: number): Uint8Array {
  if (poolOffset + n > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/** sha256 hex of a string (tokens, request fingerprints). */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text) as Uint8Array<ArrayBuffer>)));
}

/** A stable JSON string (object keys sorted), for fingerprinting requests. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}

/** Capped exponential backoff with ±20% jitter: attempt 1 → ~base, doubling up to `maxMs`. */
export function backoffMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/** An error's message, without stack, cut to a storable length. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

/**
 * Reads at most `max` bytes of a request body; never buffers more than `max` + one chunk. A declared
 * `Content-Length` over `max` is refused before any of the body is read; one under it is not trusted
 * (a `Request`'s header is not bound to its stream), so every body is counted as it is read. `"used"`: something read the
 * body before; `"unreadable"`: the stream failed (the client went away mid-body).
 */
export async function readCapped(
  request: Request,
  max: number,
): Promise<Uint8Array | "too-large" | "used" | "unreadable"> {
  if (request.bodyUsed) return "used";
  const length = request.headers.get("content-length");
  const declared = length === null ? Number.NaN : Number(length);
  if (declared > max) return "too-large";
  if (!request.body) return new Uint8Array(0);
  try {
    const reader = request.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => undefined);
        return "too-large";
      }
      chunks.push(value);
    }
    // A body in one chunk (most webhooks) is returned as it came, without a copy.
    if (chunks.length === 1) return chunks[0]!;
    // joined in a loop: spreading thousands of chunks into one call would overflow the stack
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  } catch {
    return "unreadable";
  }
}
