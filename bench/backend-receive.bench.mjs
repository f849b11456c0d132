// The pipeline's own cost: in-process `mika.webhooks.receive` (capped body read, verify, parse, one
// memoryStore transaction with inbox insert + ledger) against the same adapter's verify + parse alone,
// in the same run. Every delivery is a distinct Stripe event (a new order each), signed beforehand.
// Run: pnpm build && node bench/backend-receive.bench.mjs
import { createMika, memoryStore } from "@mika/backend";
import { stripeProvider } from "@mika/stripe";
import { stripeSigner } from "@mika/testing";
import { compare, printTable } from "./lib.mjs";

const SECRET = "whsec_bench_backend_receive";
const provider = stripeProvider({ webhookSecret: SECRET });
const quiet = { info() {}, warn() {}, error() {} };

/** `n` distinct checkout.session.completed deliveries (~1 KB each), signed now. */
async function deliveries(n) {
  const out = [];
  const created = Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({
      id: `evt_bench_${i}`,
      object: "event",
      api_version: "2025-03-31.basil",
      created,
      livemode: false,
      type: "checkout.session.completed",
      data: {
        object: {
          id: `cs_bench_${i}`,
          object: "checkout.session",
          amount_total: 2500,
          currency: "usd",
          mode: "payment",
          payment_status: "paid",
          payment_intent: `pi_bench_${i}`,
          customer: "cus_bench",
          customer_details: { email: "buyer@example.com", name: "Bench Buyer" },
          metadata: { note: "x".repeat(600) },
        },
      },
    });
    const signed = await stripeSigner.sign({ body, signatures: [{ secret: SECRET }], timestamp: created });
    // The Request is built beforehand, as a framework hands it over: its construction is not Mika's cost.
    const request = new Request("http://bench.local/api/mika/webhooks/stripe", {
      method: "POST",
      headers: { ...Object.fromEntries(signed.headers), "content-length": String(Buffer.byteLength(body)) },
      body,
    });
    out.push({ body, headers: signed.headers, request });
  }
  return out;
}

const pool = await deliveries(40_000);
let cursor = 0;
const next = () => pool[cursor++ % pool.length];

// A fresh Mika per lane run would be unfair to the store; one instance, distinct events (duplicates only
// after the pool wraps, which the run length below avoids for the candidate).
const mika = createMika({ providers: [provider], store: memoryStore(), config: { logger: quiet } });
let receiveIndex = 0;

const rows = await compare(
  "receive (memoryStore) vs verify+parse, 1 KB",
  {
    name: "stripe verify + parse (no storage)",
    fn: async () => {
      const d = next();
      const result = await provider.verifyWebhook({ rawBody: d.body, headers: d.headers });
      if (result.ok) provider.parseWebhookEvent(result.webhook);
    },
  },
  [
    {
      name: "mika.webhooks.receive (verify → parse → inbox + ledger)",
      goal: "report",
      fn: async () => {
        const d = pool[receiveIndex++ % pool.length];
        const result = await mika.webhooks.receive({ provider: "stripe", request: d.request });
        if (!result.ok) throw new Error(JSON.stringify(result.error));
      },
    },
  ],
  { rounds: 3, ms: 300 },
);
printTable(rows);
if (receiveIndex > pool.length) {
  console.log(
    "note: the delivery pool ran out; receives past it were rejected (body already read) — enlarge the pool",
  );
}
