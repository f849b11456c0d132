/**
 * Signing helpers: produce `{ rawBody, headers }` exactly as each provider sends them, so tests and the
 * `mika trigger` command can deliver real-looking webhooks. Each signer can put several signatures in
 * one header (any mix of real ones and raw values) and sign with a chosen timestamp.
 */
import { fromBase64, hmacKeyring, toBase64, toHex, utf8 } from "@mika/types";

/** One signature to put in the header: computed with a secret, or a raw value copied verbatim. */
export type SignatureSpec = { secret: string } | { raw: string };

/** What to sign. */
export interface SignInput {
  /** The exact body to send. */
  body: string;
  /** The signatures to put in the header, in this order. */
  signatures: readonly SignatureSpec[];
  /** UNIX seconds for schemes that sign a timestamp (defaults to now). */
  timestamp?: number;
  /**
   * Message id for schemes that sign one (Standard Webhooks). Defaults to one derived from the body, so
   * signing the same body again is a redelivery of the same message.
   */
  messageId?: string;
}

/** A signed delivery, ready for `verifyWebhook` or `fetch`. */
export interface SignedWebhook {
  rawBody: string;
  headers: Headers;
}

/** A provider's signing scheme. */
export interface WebhookSigner {
  /** Scheme name, for test titles. */
  readonly scheme: string;
  /** The header that carries the signature(s). */
  readonly signatureHeader: string;
  /** Whether the header can hold several signatures (key rotation on the sender's side). */
  readonly multipleSignatures: boolean;
  /** Whether the scheme signs a timestamp. */
  readonly timestamped: boolean;
  /** Signs a body. */
  sign(input: SignInput): Promise<SignedWebhook>;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A short, stable digest of a string (FNV-1a, two lanes): not cryptographic, only an id. */
function bodyDigest(body: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const [mac] = await hmacKeyring([secret]).macs(utf8(message));
  return toHex(mac!);
}

async function each(specs: readonly SignatureSpec[], compute: (secret: string) => Promise<string>) {
  const out: string[] = [];
  for (const spec of specs) out.push("raw" in spec ? spec.raw : await compute(spec.secret));
  return out;
}

/** Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 over `${t}.${body}`. */
export const stripeSigner: WebhookSigner = {
  scheme: "stripe",
  signatureHeader: "stripe-signature",
  multipleSignatures: true,
  timestamped: true,
  async sign({ body, signatures, timestamp = nowSeconds() }) {
    const values = await each(signatures, (secret) => hmacHex(secret, `${timestamp}.${body}`));
    const header = [`t=${timestamp}`, ...values.map((v) => `v1=${v}`)].join(",");
    return {
      rawBody: body,
      headers: new Headers({ "stripe-signature": header, "content-type": "application/json" }),
    };
  },
};

/** Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex>[;h1=<hex>…]`, HMAC-SHA256 over `${ts}:${body}`. */
export const paddleSigner: WebhookSigner = {
  scheme: "paddle",
  signatureHeader: "paddle-signature",
  multipleSignatures: true,
  timestamped: true,
  async sign({ body, signatures, timestamp = nowSeconds() }) {
    const values = await each(signatures, (secret) => hmacHex(secret, `${timestamp}:${body}`));
    const header = [`ts=${timestamp}`, ...values.map((v) => `h1=${v}`)].join(";");
    return {
      rawBody: body,
      headers: new Headers({ "paddle-signature": header, "content-type": "application/json" }),
    };
  },
};

/**
 * Lemon Squeezy: `X-Signature: <hex>`, HMAC-SHA256 over the body; one signature per header, no
 * timestamp. With several specs only the first is used (the scheme has room for one).
 */
export const lemonSqueezySigner: WebhookSigner = {
  scheme: "lemonsqueezy",
  signatureHeader: "x-signature",
  multipleSignatures: false,
  timestamped: false,
  async sign({ body, signatures }) {
    const [value = ""] = await each(signatures.slice(0, 1), (secret) => hmacHex(secret, body));
    let eventName = "unknown";
    try {
      eventName = String(JSON.parse(body)?.meta?.event_name ?? "unknown");
    } catch {
      // not JSON: the header is still set so tests can send garbage
    }
    return {
      rawBody: body,
      headers: new Headers({
        "x-signature": value,
        "x-event-name": eventName,
        "content-type": "application/json",
      }),
    };
  },
};

/**
 * Standard Webhooks (Svix, Polar, Dodo…): `webhook-id`, `webhook-timestamp`, and
 * `webhook-signature: v1,<base64> [v1,<base64>…]`, HMAC-SHA256 over `${id}.${ts}.${body}` with the
 * base64 key after `whsec_`.
 */
export const standardWebhooksSigner: WebhookSigner = {
  scheme: "standard-webhooks",
  signatureHeader: "webhook-signature",
  multipleSignatures: true,
  timestamped: true,
  async sign({ body, signatures, timestamp = nowSeconds(), messageId = `msg_${bodyDigest(body)}` }) {
    const values = await each(signatures, async (secret) => {
      const key = fromBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret);
      if (!key) throw new TypeError("A Standard Webhooks secret is whsec_ followed by base64.");
      const [mac] = await hmacKeyring([key]).macs(utf8(`${messageId}.${timestamp}.${body}`));
      return toBase64(mac!);
    });
    return {
      rawBody: body,
      headers: new Headers({
        "webhook-id": messageId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": values.map((v) => `v1,${v}`).join(" "),
        "content-type": "application/json",
      }),
    };
  },
};

/** Every built-in signer by scheme name. */
export const signers = {
  stripe: stripeSigner,
  paddle: paddleSigner,
  lemonsqueezy: lemonSqueezySigner,
  "standard-webhooks": standardWebhooksSigner,
} as const;

/** Signs `body` with one secret; the common case. */
export function signWebhook(
  signer: WebhookSigner,
  body: string,
  secret: string,
  options: { timestamp?: number; messageId?: string } = {},
): Promise<SignedWebhook> {
  return signer.sign({ body, signatures: [{ secret }], ...options });
}
