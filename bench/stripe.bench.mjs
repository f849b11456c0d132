// Stripe webhook verify + parse: @mika/stripe (Web Crypto, keys imported once) against the official SDK's
// `stripe.webhooks.constructEvent` (sync, node:crypto) and `constructEventAsync` (default Node crypto
// provider, and the SubtleCrypto provider the SDK uses on edge runtimes), in the same process.
// Run: pnpm --filter @mika/stripe build && node bench/stripe.bench.mjs
import { stripeProvider } from "@mika/stripe";
import { stripeSigner } from "@mika/testing";
import Stripe from "stripe";
import { compare, padBody, printTable } from "./lib.mjs";

const SECRET = "whsec_bench_0123456789abcdefghijklmnop";
const sdk = new Stripe("sk_test_bench", { maxNetworkRetries: 0 });
const subtleProvider = Stripe.createSubtleCryptoProvider();
const mika = stripeProvider({ webhookSecret: SECRET });

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
  const header = delivery.headers.get("stripe-signature");
  const headers = delivery.headers;
  const label = `${Math.round(body.length / 1024)} KB`;

  const mikaOnce = async () => {
    const result = await mika.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    return mika.parseWebhookEvent(result.webhook);
  };
  const sdkSync = () => sdk.webhooks.constructEvent(body, header, SECRET);
  const sdkAsync = () => sdk.webhooks.constructEventAsync(body, header, SECRET);
  const sdkSubtle = () => sdk.webhooks.constructEventAsync(body, header, SECRET, 300, subtleProvider);
  // Sanity: every path accepts the delivery and reads the same event.
  const [a, b, c, d] = [await mikaOnce(), sdkSync(), await sdkAsync(), await sdkSubtle()];
  if (a.eventId !== b.id || b.id !== c.id || c.id !== d.id || a.kind !== "payment.succeeded") {
    throw new Error("the paths disagree");
  }

  // One delivery at a time: latency-bound, every Web Crypto call waits for its round trip.
  rows.push(
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEvent (sync)", fn: sdkSync },
      [{ name: "@mika/stripe verify+parse", fn: mikaOnce, goal: "≥ 1.00×" }],
    )),
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEventAsync (default Node provider)", fn: sdkAsync },
      [{ name: "@mika/stripe verify+parse", fn: mikaOnce, goal: "≥ 5.00×" }],
    )),
    ...(await compare(
      `verify+parse ${label}, sequential`,
      { name: "stripe constructEventAsync (SubtleCrypto provider, as on edge)", fn: sdkSubtle },
      [{ name: "@mika/stripe verify+parse", fn: mikaOnce, goal: "≥ 5.00×" }],
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
