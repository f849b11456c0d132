// Lemon Squeezy webhook path: verifyWebhook (HMAC over the raw bytes with every configured secret,
// constant-time compare, derived event id = sha256 of a small JSON material) + parseWebhookEvent, against
// the floor a hand-written handler would pay: node:crypto createHmac + timingSafeEqual + JSON.parse,
// measured in the same run on the same bytes. The default adapter runs on native node:crypto on Node;
// the cryptoBackend "web" row runs it on Web Crypto only, as on an edge runtime (next to the reference
// Web Crypto floor).
// `payloadHash` (sha256 of the raw body) is lazy on native crypto: computed on first read, not during
// verify. Mika's backend reads it on every receive, so the total receive cost does not change (see the
// "payloadHash read" row of bench/stripe.bench.mjs for its cost). With cryptoBackend "web" it is
// computed during verify, alongside the HMAC.
// Run: pnpm --filter @mika/lemonsqueezy... build && node bench/lemonsqueezy.bench.mjs
import { createHmac, timingSafeEqual } from "node:crypto";
import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { loadFixtureJson } from "@mika/testing";
import { compare, padBody, printTable } from "./lib.mjs";

const secret = "bench-lemonsqueezy-signing-secret";
const provider = lemonSqueezyProvider({ webhookSecret: secret });
const providerWeb = lemonSqueezyProvider({ webhookSecret: secret, cryptoBackend: "web" });
const base = loadFixtureJson("lemonsqueezy/subscription_updated");
const key = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(secret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign"],
);

const rows = [];
for (const size of [1024, 16 * 1024]) {
  const text = padBody(base, size);
  const bytes = new TextEncoder().encode(text);
  const signature = createHmac("sha256", secret).update(bytes).digest("hex");
  const headers = new Headers({ "x-signature": signature, "content-type": "application/json" });

  // Sanity: both sides accept this delivery before we time them.
  const check = await provider.verifyWebhook({ rawBody: bytes, headers });
  if (!check.ok) throw new Error(`bench body does not verify: ${check.error.message}`);
  if (provider.parseWebhookEvent(check.webhook).kind !== "subscription.updated") {
    throw new Error("bench body does not parse to subscription.updated");
  }

  const floor = () => {
    const expected = createHmac("sha256", secret).update(bytes).digest();
    const given = Buffer.from(headers.get("x-signature"), "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new Error("bad signature");
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  };
  // Reference only: the least any Web Crypto verifier pays in Node (one crypto.subtle HMAC round trip
  // through the thread pool, constant-time compare, JSON.parse), to show where the gap to the floor is.
  const webCryptoFloor = async () => {
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes));
    const given = Buffer.from(headers.get("x-signature"), "hex");
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) throw new Error("bad signature");
    return JSON.parse(new TextDecoder().decode(bytes));
  };
  const mika = async () => {
    const result = await provider.verifyWebhook({ rawBody: bytes, headers });
    if (!result.ok) throw new Error(result.error.message);
    return provider.parseWebhookEvent(result.webhook);
  };
  const mikaWeb = async () => {
    const result = await providerWeb.verifyWebhook({ rawBody: bytes, headers });
    if (!result.ok) throw new Error(result.error.message);
    return providerWeb.parseWebhookEvent(result.webhook);
  };
  if ((await mikaWeb()).eventId !== (await mika()).eventId) throw new Error("the backends disagree");

  rows.push(
    ...(await compare(
      `lemonsqueezy verify+parse ${size / 1024} KB`,
      { name: "node:crypto HMAC + timingSafeEqual + JSON.parse", fn: floor },
      [
        { name: "@mika/lemonsqueezy verifyWebhook + parseWebhookEvent", fn: mika, goal: "≥ 0.8×" },
        { name: "(reference) one crypto.subtle HMAC + JSON.parse", fn: webCryptoFloor },
        {
          name: '@mika/lemonsqueezy verifyWebhook + parseWebhookEvent (cryptoBackend "web")',
          fn: mikaWeb,
          goal: "report",
        },
      ],
    )),
  );
}
printTable(rows);
