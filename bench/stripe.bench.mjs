// Stripe webhook verify + parse: @mika/stripe against the official SDK's `stripe.webhooks.constructEvent`
// (sync, node:crypto) and `constructEventAsync` (default Node crypto provider, and the SubtleCrypto
// provider the SDK uses on edge runtimes), in the same process.
//
// What each side does:
// - @mika/stripe (default cryptoBackend "auto"): native node:crypto on Node, keys prepared once, every v1
//   checked against every secret in constant time, tolerance both ways, JSON.parse, then
//   parseWebhookEvent maps the event to Mika's normalized model (the SDK does no such step).
// - `payloadHash` (sha256 of the raw body) is lazy on native crypto: computed on first read, not during
//   verify. Mika's backend reads it on every receive, so the total receive cost does not change; the
//   "verify+parse+payloadHash read" row shows the cost with it.
// - The SDK's default async provider on Node is its sync node:crypto code wrapped in a promise
//   (stripe/cjs/crypto/NodeCryptoProvider.js): that row is report only, as it measures the same work as
//   the sync row. The edge-like baseline is the SubtleCrypto provider (Web Crypto, re-importing the key
//   on every call), which the "≥ 5×" goal is about; the like-for-like edge figure is @mika/stripe with
//   cryptoBackend "web" (Web Crypto only, key imported once, payload hash computed eagerly) against it.
// - Every path starts from the request's `Headers`, as in the Web-standard route handlers Mika targets
//   (Next.js, Astro, SvelteKit): the SDK calls read the header with `headers.get` too (they were handed a
//   pre-extracted string before, which left that lookup on Mika's side only).
// Run: pnpm --filter @mika/stripe... build && node bench/stripe.bench.mjs
import { stripeProvider } from "@mika/stripe";
import { stripeSigner } from "@mika/testing";
import Stripe from "stripe";
import { compare, padBody, printTable } from "./lib.mjs";

const SECRET = "whsec_bench_0123456789abcdefghijklmnop";
const sdk = new Stripe("sk_test_bench", { maxNetworkRetries: 0 });
const subtleProvider = Stripe.createSubtleCryptoProvider();
const mika = stripeProvider({ webhookSecret: SECRET });
const mikaWeb = stripeProvider({ webhookSecret: SECRET, cryptoBackend: "web" });

// A small payment_intent.succeeded event in Stripe's envelope, padded to the target size.
const base = {
  id: "evt_3PbenchA1B2C3D4E5F6G7H8",
  object: "event",
  api_version: "2025-03-31.basil",
  created: Math.floor(Date.now() / 1000),
  livemode: false,
  pending_webhooks: 1,
  request: { id: "req_bench", idempotency_key: null },
  type: "payment_intent.succeeded",
  data: {
    object: {
      id: "pi_3PbenchA1B2C3D4E5F6G7H8",
      object: "payment_intent",
      amount: 2000,
      amount_received: 2000,
      currency: "usd",
      customer: "cus_bench",
      status: "succeeded",
      metadata: { mika_checkout_id: "chk_bench" },
    },
  },
};

const CONCURRENCY = 32;
const rows = [];
for (const size of [1024, 16 * 1024]) {
  const body = padBody(base, size);
  const delivery = await stripeSigner.sign({ body, signatures: [{ secret: SECRET }] });
  const headers = delivery.headers;
  const label = `${Math.round(body.length / 1024)} KB`;

  const mikaOnce = async () => {
    const result = await mika.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    return mika.parseWebhookEvent(result.webhook);
  };
  // What Mika's backend does on receive: it also stores payloadHash, so it reads it every time.
  const mikaWithHash = async () => {
    const result = await mika.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    const event = mika.parseWebhookEvent(result.webhook);
    if (result.webhook.payloadHash.length !== 71) throw new Error("bad payload hash");
    return event;
  };
  const mikaWebOnce = async () => {
    const result = await mikaWeb.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    return mikaWeb.parseWebhookEvent(result.webhook);
  };
  const sdkSync = () => sdk.webhooks.constructEvent(body, headers.get("stripe-signature"), SECRET);
  const sdkAsync = () => sdk.webhooks.constructEventAsync(body, headers.get("stripe-signature"), SECRET);
  const sdkSubtle = () =>
    sdk.webhooks.constructEventAsync(body, headers.get("stripe-signature"), SECRET, 300, subtleProvider);
  // Sanity: every path accepts the delivery and reads the same event.
  const [a, b, c, d, e] = [
    await mikaOnce(),
    sdkSync(),
    await sdkAsync(),
    await sdkSubtle(),
    await mikaWebOnce(),
  ];
  if (
    a.eventId !== b.id ||
    b.id !== c.id ||
    c.id !== d.id ||
    a.kind !== "payment.succeeded" ||
    e.eventId !== a.eventId
  ) {
    throw new Error("the paths disagree");
  }

  // One delivery at a time: latency-bound, every Web Crypto call waits for its round trip.
  rows.push(
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEvent (sync)", fn: sdkSync },
      [
        { name: "@mika/stripe verify+parse", fn: mikaOnce, goal: "≥ 1.00×" },
        {
          name: "@mika/stripe verify+parse+payloadHash read",
          fn: mikaWithHash,
          goal: "report (what a Mika receive pays)",
        },
      ],
    )),
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEventAsync (default Node provider)", fn: sdkAsync },
      [
        {
          name: "@mika/stripe verify+parse",
          fn: mikaOnce,
          goal: "report only — same code as the sync path",
        },
      ],
    )),
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEventAsync (SubtleCrypto provider, as on edge)", fn: sdkSubtle },
      [
        { name: "@mika/stripe verify+parse", fn: mikaOnce, goal: "≥ 5.00×" },
        {
          name: '@mika/stripe verify+parse (cryptoBackend "web", like-for-like edge)',
          fn: mikaWebOnce,
          goal: "report",
        },
      ],
    )),
  );

  // A server under load: CONCURRENCY deliveries in flight per call (the sync SDK path runs them back to back).
  const many = (fn) => () => Promise.all(Array.from({ length: CONCURRENCY }, fn));
  const manySync = () => {
    for (let i = 0; i < CONCURRENCY; i++) sdkSync();
  };
  rows.push(
    ...(await compare(
      `verify+parse ${label}, ${CONCURRENCY} in flight`,
      { name: "stripe constructEvent (sync)", fn: manySync },
      [
        { name: "@mika/stripe verify+parse", fn: many(mikaOnce), goal: "≥ 1.00×" },
        { name: "stripe constructEventAsync (default Node provider)", fn: many(sdkAsync) },
        { name: "stripe constructEventAsync (SubtleCrypto provider)", fn: many(sdkSubtle) },
      ],
      { ms: 400 },
    )),
  );
}
printTable(rows);
