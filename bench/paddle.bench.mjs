// Paddle webhook verify + parse: @mika/paddle (native node:crypto on Node, keys prepared once, every h1
// checked against every secret in constant time, tolerance both ways, events mapped from the raw JSON)
// against the official SDK's `webhooks.unmarshal` (JSON.parse + entity classes, last h1 only, `===`
// comparison), in the same process, with both of the SDK's crypto providers: the Node build (node:crypto
// HMAC, synchronous) and the edge build that Bun, Deno and Workers load (Web Crypto, importing the key on
// every call). The goal is against the Node build. Against the edge build the like-for-like row is
// @mika/paddle with cryptoBackend "web" (Web Crypto only, as on an edge runtime); the default (native)
// adapter is shown there too, as a report.
// `payloadHash` (sha256 of the raw body) is lazy on native crypto: computed on first read, not during
// verify. Mika's backend reads it on every receive, so the total receive cost does not change (see the
// "payloadHash read" row of bench/stripe.bench.mjs for its cost). With cryptoBackend "web" it is
// computed during verify, alongside the HMAC.
// Every path starts from the request's `Headers`, as in the Web-standard route handlers Mika targets: the
// SDK calls read the header with `headers.get` too (they were handed the string before, which left that
// lookup on Mika's side only).
// The SDK rejects a signature older than 5 s, so the delivery is re-signed with a fresh `ts` every 2 s
// and every path verifies the same current header.
// Run: pnpm --filter @mika/paddle... build && node bench/paddle.bench.mjs
import { createHmac } from "node:crypto";
import { paddleProvider } from "@mika/paddle";
import { loadFixtureJson, paddleSigner } from "@mika/testing";
import { NodeRuntime, Paddle } from "@paddle/paddle-node-sdk";
import { compare, padBody, printTable } from "./lib.mjs";

// The SDK's edge entry (what its "worker"/"bun"/"deno" export conditions resolve to), next to the Node one.
const edgeEntry = import.meta
  .resolve("@paddle/paddle-node-sdk")
  .replace(/index\.esm\.node\.js$/, "index.esm.edge.js");
const { EdgeRuntime } = await import(edgeEntry);

const SECRET = "pdl_ntfset_01hbench0000000000000000000_benchSecretValue0123456789";
const sdk = new Paddle("pdl_sdbx_apikey_bench_never_used");
// Both builds share the SDK's one global crypto provider: each path selects its own before every call
// (the SDK reads it synchronously at the start of the call).
const viaNode = () => {
  NodeRuntime.initialize();
  return sdk.webhooks;
};
const viaEdge = () => {
  EdgeRuntime.initialize();
  return sdk.webhooks;
};
const mika = paddleProvider({ webhookSecret: SECRET });
const mikaWeb = paddleProvider({ webhookSecret: SECRET, cryptoBackend: "web" });

// Real Paddle notifications: adjustment.created is 1 KB as compact JSON; transaction.completed padded to 16 KB.
const cases = [
  {
    label: "1 KB",
    body: JSON.stringify(loadFixtureJson("paddle/adjustment.created")),
    kind: "refund.updated",
  },
  {
    label: "16 KB",
    body: padBody(loadFixtureJson("paddle/transaction.completed"), 16 * 1024),
    kind: "checkout.completed",
  },
];

const CONCURRENCY = 32;
const rows = [];
for (const { label, body, kind } of cases) {
  // Signed synchronously (node:crypto, bench only) so a stale header is replaced inside the measured loop
  // itself: the SDK's Node path never yields to timers, so an interval could not keep it fresh.
  let ts = 0;
  let header = "";
  let headers = new Headers();
  const fresh = () => {
    const now = Math.floor(Date.now() / 1000);
    if (now - ts < 2) return;
    ts = now;
    header = `ts=${ts};h1=${createHmac("sha256", SECRET).update(`${ts}:${body}`).digest("hex")}`;
    headers = new Headers({ "paddle-signature": header, "content-type": "application/json" });
  };
  fresh();
  const reference = await paddleSigner.sign({ body, signatures: [{ secret: SECRET }], timestamp: ts });
  if (reference.headers.get("paddle-signature") !== header) throw new Error("bench signer disagrees");

  const mikaOnce = async () => {
    fresh();
    const result = await mika.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    return mika.parseWebhookEvent(result.webhook);
  };
  const mikaWebOnce = async () => {
    fresh();
    const result = await mikaWeb.verifyWebhook({ rawBody: body, headers });
    if (!result.ok) throw new Error(result.error.message);
    return mikaWeb.parseWebhookEvent(result.webhook);
  };
  const sdkNode = () => {
    fresh();
    return viaNode().unmarshal(body, SECRET, headers.get("paddle-signature"));
  };
  const sdkEdge = () => {
    fresh();
    return viaEdge().unmarshal(body, SECRET, headers.get("paddle-signature"));
  };
  // Sanity: every path accepts the delivery and reads the same event.
  const [a, b, c, d] = [await mikaOnce(), await sdkNode(), await sdkEdge(), await mikaWebOnce()];
  if (a.eventId !== b.eventId || b.eventId !== c.eventId || a.kind !== kind || d.eventId !== a.eventId) {
    throw new Error("the paths disagree");
  }

  const many = (fn) => () => Promise.all(Array.from({ length: CONCURRENCY }, fn));
  for (const [mode, wrap, options] of [
    ["sequential", (fn) => fn, {}],
    [`${CONCURRENCY} in flight`, many, { ms: 400 }],
  ]) {
    const title = `verify+parse ${label} (${body.length} B), ${mode}`;
    const mine = { name: "@mika/paddle verify+parse", fn: wrap(mikaOnce), goal: "≥ 1.00×" };
    const mineWeb = {
      name: '@mika/paddle verify+parse (cryptoBackend "web", like-for-like edge)',
      fn: wrap(mikaWebOnce),
      goal: "report",
    };
    rows.push(
      ...(await compare(
        title,
        { name: "paddle-node-sdk unmarshal (Node build, node:crypto)", fn: wrap(sdkNode) },
        [mine],
        options,
      )),
      ...(await compare(
        title,
        { name: "paddle-node-sdk unmarshal (edge build, Web Crypto)", fn: wrap(sdkEdge) },
        [mineWeb, { ...mine, goal: "report" }],
        options,
      )),
    );
  }
}
printTable(rows);
