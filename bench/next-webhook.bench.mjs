// Webhook throughput of the BUILT Next example over loopback (autocannon): Mika's route
// (/api/mika/webhooks/stripe: verify, parse, one durable SQLite transaction per event with
// synchronous = FULL) against a route in the same app written the way tutorials do
// (/api/tutorial-webhook: stripe.webhooks.constructEvent + switch + 200, nothing stored).
// Every request is a distinct, freshly signed checkout.session.completed event, so Mika never takes
// its cheaper duplicate path. Same server process, interleaved rounds, medians.
// Run: pnpm build (turbo builds examples/next) && node bench/next-webhook.bench.mjs
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripeEventFromData } from "@mika/testing";
import autocannon from "autocannon";
import { printTable } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, "../examples/next");
const SECRET = "whsec_bench_next_0123456789abcdef";
const CONNECTIONS = 16;
const WARMUP_SECONDS = 2;
const ROUND_SECONDS = 4;
const ROUNDS = 3;

if (!existsSync(join(appDir, ".next/BUILD_ID"))) {
  console.error("examples/next is not built: run `pnpm build` first.");
  process.exit(1);
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

// One real fixture as the template; each request gets its own event id and session id.
const template = JSON.parse(stripeEventFromData("checkout.session.completed"));
let sequence = 0;
function signedDelivery() {
  sequence++;
  const event = structuredClone(template);
  event.id = `evt_bench_${process.pid}_${sequence}`;
  event.created = Math.floor(Date.now() / 1000);
  event.data.object.id = `cs_bench_${process.pid}_${sequence}`;
  event.data.object.client_reference_id = `chk_bench_${sequence}`;
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex");
  return { body, headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${v1}` } };
}

const port = await freePort();
const tmp = mkdtempSync(join(tmpdir(), "mika-bench-next-"));
const server = spawn(
  process.execPath,
  ["node_modules/next/dist/bin/next", "start", "--hostname", "127.0.0.1", "--port", String(port)],
  {
    cwd: appDir,
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "production",
      MIKA_DB: join(tmp, "bench.db"),
      STRIPE_SECRET_KEY: "sk_test_bench",
      STRIPE_WEBHOOK_SECRET: SECRET,
    },
    stdio: ["ignore", "ignore", "pipe"],
  },
);
let stderr = "";
server.stderr.on("data", (d) => {
  stderr += d;
});
const base = `http://127.0.0.1:${port}`;

async function stop() {
  if (server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
  rmSync(tmp, { recursive: true, force: true });
}

try {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fetch(`${base}/api/mika/checkout/none?token=t`).then((r) => r.arrayBuffer());
      break;
    } catch {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`next start failed:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const run = async (path, seconds) => {
    const result = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [
        {
          method: "POST",
          path,
          setupRequest(request) {
            const { body, headers } = signedDelivery();
            return { ...request, body, headers };
          },
        },
      ],
    });
    const bad = result.non2xx + result.errors + result.timeouts;
    if (bad > 0) throw new Error(`${path}: ${bad} failed requests of ${result.requests.total}\n${stderr}`);
    return result.requests.total / seconds;
  };

  const routes = [
    { name: "tutorial route (constructEvent + switch, no storage)", path: "/api/tutorial-webhook" },
    { name: "Mika route (verify + durable SQLite FULL inbox)", path: "/api/mika/webhooks/stripe" },
  ];
  for (const r of routes) await run(r.path, WARMUP_SECONDS);
  const samples = routes.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, r] of routes.entries()) samples[i].push(await run(r.path, ROUND_SECONDS));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const baseline = median(samples[0]);
  printTable(
    routes.map((r, i) => ({
      bench: `next webhook route, ${CONNECTIONS} connections, loopback`,
      name: r.name,
      "ops/s": Math.round(median(samples[i])),
      ratio: i === 0 ? "1.00× (baseline)" : `${(median(samples[i]) / baseline).toFixed(2)}×`,
      goal: i === 0 ? "" : "≥ 0.7×",
    })),
  );
  const stored = await fetch(`${base}/orders`).then((r) => r.status);
  if (stored !== 200) throw new Error(`orders page answered ${stored}`);
} finally {
  await stop();
}
