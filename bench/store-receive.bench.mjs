// Durable receive (verify → inbox → ledger, one transaction) against raw single-row commits on the
// same disk / database, all in one run, printed as ratios:
//   SQLite FULL: mika.webhooks.receive sequential and at 32 concurrent vs raw autocommit INSERTs
//   (one fsync each; better-sqlite3 is synchronous, so "32 concurrent" raw INSERTs are the same
//   commits one after another: that is the baseline group commit has to beat). A second table puts
//   the sequential receive against its floor on this schema: the same rows one receive writes (inbox
//   event, order, handler run, the previous run's result, and the order lookup), written by plain
//   prepared statements in one transaction with no Mika code, so the gap between the two is Mika's
//   own cost and the gap between the floor and the 1-row INSERT is the schema's write volume. A third
//   table puts group commit against the same receive at 32 concurrent with synchronous=OFF (no fsync
//   at all, not durable): what the CPU alone allows, so the ratio is what durability costs under
//   concurrency on this machine, whatever its CPU's speed.
//   Postgres: 3 Node processes running Mika with 32 deliveries in flight in total (11 + 11 + 10, each
//   process driving its own share, as app instances behind a load balancer do) vs raw
//   INSERT … ON CONFLICT DO NOTHING at 32 concurrent from one pool (the ratio that counts). Two context
//   rows follow: the same raw INSERT issued from the same 3 processes (what splitting the load over
//   processes costs on the raw side; not the goal's baseline), and the same processes on memoryStore
//   (no database): the ceiling of that setup, so the Postgres row's gap to it is the store's share. The
//   workers' postgresStore stats (batches, round trips, re-runs) follow. Each Postgres row also shows
//   the CPU time one operation cost: in the processes that ran it ("app") and in the rest of the
//   machine meanwhile ("rest": mostly the Postgres server). On a machine whose cores are saturated, the
//   ratio is about the inverse of the totals, so these say where a receive's cost lies.
//   (An earlier version fed the workers one IPC message per delivery from the parent; on 2 cores that
//   harness, not Mika, was the bottleneck, and neither the baseline nor a deployment pays it.)
// Run after `pnpm build`. Postgres: MIKA_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMika } from "@mika/backend";
import { sqliteStore } from "@mika/store-sqlite";
import { sampleRow, standardWebhooksProvider, standardWebhooksSigner } from "@mika/testing";
import { eventBase } from "@mika/types";
import Database from "better-sqlite3";
import pg from "pg";
import { printTable } from "./lib.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const POSTGRES_URL = process.env.MIKA_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const CONCURRENCY = 32;
/**
 * Connections: the parent's baseline pool (one per concurrent INSERT) plus each worker's store pool
 * and raw-INSERT pool must fit in the server's max_connections (100 here): pools open connections on
 * demand, and a batching store uses one or two, so 32 + 3 × 2 + 3 × 12 = 74 at most in practice.
 */
const PARENT_POOL = CONCURRENCY;
const WORKER_POOL = 12;
const MS = Number(process.env.BENCH_MS ?? 1200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/**
 * Deliveries are signed and built before each timed stretch, enough for it and no more: the rate seen
 * so far for that row × its length × 1.5, plus a margin (a rate of 20 000/s is assumed before the
 * first). An earlier version built every delivery of the whole run up front (160 000 Requests, kept
 * alive until taken): that heap made garbage collection during the timed receives slower. In a probe of
 * 32 concurrent FULL receives, 16 000 Requests built up front gave 10 768/s, 160 000 gave 9 005/s and
 * 400 000 gave 6 821/s, while the raw INSERT rows, which allocate little, do not depend on it.
 */
const FIRST_RATE_GUESS = 20_000;
/** How the 32 in-flight deliveries are split over the 3 Postgres worker processes. */
const WORKER_LANES = [11, 11, 10];

function makeMika(store) {
  const provider = standardWebhooksProvider({
    name: "sw",
    webhookSecret: SECRET,
    mapEvent: (webhook) => ({
      ...eventBase(webhook, "checkout.completed"),
      paymentStatus: "paid",
      amount: webhook.payload.data.amount,
      currency: "EUR",
      providerCheckoutId: webhook.payload.data.id,
    }),
  });
  const quiet = { info() {}, warn() {}, error() {} };
  // The host takes the notifications (as an app that sends mail would); nothing is printed.
  return createMika({
    providers: [provider],
    store,
    config: { logger: quiet },
    notifications: { handle: () => ({ handled: true }) },
  });
}

let eventCounter = 0;
/** A signed delivery of a new, distinct event (~1 KB body). */
async function delivery() {
  const i = eventCounter++;
  const body = JSON.stringify({
    type: "checkout.completed",
    data: { id: `cs_${process.pid}_${i}`, amount: 1000 + (i % 97), note: "x".repeat(900) },
  });
  const signed = await standardWebhooksSigner.sign({
    body,
    signatures: [{ secret: SECRET }],
    messageId: `msg_${process.pid}_${i}`,
  });
  return { body, headers: Object.fromEntries(signed.headers) };
}

/**
 * Signed deliveries and their Requests, built outside the timed stretches: signing is the sender's
 * work and building the Request the HTTP server's, so neither is counted as Mika's receive.
 * `fill(n)` drops the Requests already taken and tops the rest up to `n`; `next()` takes one.
 */
function deliveryPool() {
  let pool = [];
  let next = 0;
  return {
    async fill(n) {
      pool = pool.slice(next);
      next = 0;
      while (pool.length < n) {
        const d = await delivery();
        pool.push(
          new Request("http://localhost/api/mika/webhooks/sw", {
            method: "POST",
            headers: { ...d.headers, "content-length": String(Buffer.byteLength(d.body)) },
            body: d.body,
          }),
        );
      }
    },
    next() {
      if (next >= pool.length) throw new Error("the delivery pool ran out (its margin is too small)");
      return pool[next++];
    },
  };
}

/** How many deliveries to build before running for `ms` at up to `rate` per second. */
const poolFor = (rate, ms) => Math.ceil(((rate ?? FIRST_RATE_GUESS) * ms * 1.5) / 1000) + 2000;
/**
 * Each row's untimed warm-up stretch (ms). Its rate does not size later pools (stretches say whether
 * they are the warm-up): with the code still cold it can be half the row's real rate (3425/s warm, then
 * over 6900/s, at 32 concurrent on one machine), and a pool sized from it ran out in the first timed
 * stretch.
 */
const WARM_UP_MS = 300;

async function receive(mika, request) {
  const result = await mika.webhooks.receive({ provider: "sw", request });
  if (!result.ok || result.data.status !== "processed")
    throw new Error(`receive failed: ${JSON.stringify(result)}`);
}

/**
 * Runs `op` from `lanes` concurrent loops for `ms`; returns completed operations per second (`rate`)
 * and how many completed (`count`).
 */
async function throughput(op, lanes, ms = MS) {
  let done = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return { rate: (done * 1000) / (performance.now() - start), count: done };
}

/** {@link throughput} in this process, metered as `compareOps` wants it. */
async function throughputHere(op, lanes, ms) {
  const { value, own, machine } = await metered(() => throughput(op, lanes, ms));
  return { rate: value.rate, operations: value.count, appCpuUs: own, machineCpuUs: machine };
}

/**
 * CPU time the whole machine spent busy so far (µs, every core summed), from the first line of
 * /proc/stat (user, nice, system, irq and softirq; in USER_HZ = 100 ticks per second); undefined
 * where there is no /proc (the CPU columns are then left out).
 */
function machineBusyUs() {
  try {
    const ticks = readFileSync("/proc/stat", "utf8")
      .split("\n", 1)[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) * 10_000;
  } catch {
    return undefined;
  }
}

/** This process's CPU time so far (µs, user + system, every thread). */
function ownCpuUs() {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Runs `fn`; returns its result with this process's and the whole machine's CPU time meanwhile (µs). */
async function metered(fn) {
  const machine0 = machineBusyUs();
  const own0 = ownCpuUs();
  const value = await fn();
  const own = ownCpuUs() - own0;
  const machine = machine0 === undefined ? undefined : machineBusyUs() - machine0;
  return { value, own, machine };
}

/**
 * Interleaved rounds (after a warm-up): ops/s is the median of each row, the ratio the median of its
 * per-round ratios; rows for printTable. A row either runs `op` from `lanes` loops here, or measures
 * itself with `measure(ms, warmUp)`, which answers `{ rate, operations, appCpuUs, machineCpuUs }` for
 * its timed stretch alone. A row with a `pool` has it filled, untimed, before each of its stretches,
 * for the fastest rate that row has shown in a timed stretch (before its first, for FIRST_RATE_GUESS).
 *
 * With `cpu`, each row also gets the CPU time one operation cost, as medians over the rounds: "app" is
 * the processes that ran it (this one for a row run here, the workers for a row that reports
 * `appCpuUs`), "rest" the rest of the machine in the same stretch (on a quiet machine: the database
 * server, and this process's harness when the workers ran it). Where the CPU is saturated, the ratio
 * is about the inverse of the two rows' totals.
 */
async function compareOps(title, baseline, candidates, { cpu = false } = {}) {
  const all = [baseline, ...candidates];
  const fastest = new Map();
  const measure = async (c, ms, warmUp = false) => {
    if (c.pool) await c.pool.fill(poolFor(fastest.get(c), ms));
    const result = await (c.measure ? c.measure(ms, warmUp) : throughputHere(c.op, c.lanes, ms));
    if (!warmUp) fastest.set(c, Math.max(result.rate, fastest.get(c) ?? 0));
    const { rate, operations, appCpuUs, machineCpuUs } = result;
    return {
      rate,
      appUs: appCpuUs / operations,
      restUs: machineCpuUs === undefined ? undefined : (machineCpuUs - appCpuUs) / operations,
    };
  };
  for (const c of all) await measure(c, WARM_UP_MS, true);
  const samples = all.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of all.entries()) samples[i].push(await measure(c, MS));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const us = (x) => (x === undefined || Number.isNaN(x) ? "" : Math.round(x));
  // The ratio is the median of each round's ratio to the baseline measured just before it: the disk's
  // speed drifts a lot from second to second on a shared machine, and a round's pair shares its drift.
  return all.map((c, i) => {
    const rates = samples[i].map((s) => s.rate);
    const row = {
      bench: title,
      name: c.name,
      "ops/s": Math.round(median(rates)),
      ratio:
        i === 0 ? "1.00× (baseline)" : `${median(rates.map((x, r) => x / samples[0][r].rate)).toFixed(2)}×`,
      goal: c.goal ?? "",
    };
    if (!cpu) return row;
    const app = median(samples[i].map((s) => s.appUs));
    const rest = samples[i][0].restUs === undefined ? undefined : median(samples[i].map((s) => s.restUs));
    return {
      ...row,
      "CPU µs/op app": us(app),
      "+ rest": us(rest),
      "= total": rest === undefined ? "" : us(median(samples[i].map((s) => s.appUs + s.restUs))),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Worker mode: one Mika instance on Postgres (and one on memoryStore), receiving deliveries over IPC.
if (process.argv[2] === "worker") {
  const { postgresStore } = await import("@mika/store-postgres");
  const { memoryStore } = await import("@mika/backend");
  const store = postgresStore({ connectionString: POSTGRES_URL, schema: process.argv[3], max: WORKER_POOL });
  const mika = makeMika(store);
  const inMemory = makeMika(memoryStore());
  // The context row: the baseline's raw INSERT, issued from this worker.
  const rawPool = new pg.Pool({ connectionString: POSTGRES_URL, max: WORKER_POOL });
  let rawCount = 0;
  const deliveries = deliveryPool();
  /** The fastest rate seen per op in this worker, to size its next stretch's deliveries. */
  const fastest = {};
  const ops = {
    "raw-insert": () =>
      rawPool.query(
        `INSERT INTO ${process.argv[3]}.raw (provider, event_id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        ["sw", `w${process.pid}_${rawCount++}`, "x".repeat(1000)],
      ),
    receive: () => receive(mika, deliveries.next()),
    "receive-memory": () => receive(inMemory, deliveries.next()),
  };
  process.on("message", async (message) => {
    if (message.type === "close") {
      const stats = store.stats();
      await store.close();
      await rawPool.end();
      process.send({ id: message.id, stats });
      return;
    }
    try {
      if (message.type === "fill") {
        // Before the parent starts every worker's stretch at once: this worker's deliveries for it.
        if (message.op !== "raw-insert") await deliveries.fill(poolFor(fastest[message.op], message.ms));
        process.send({ id: message.id, stats: {} });
        return;
      }
      // This process's share of the in-flight operations, for `ms`: it answers with its count.
      const start = performance.now();
      const { value, own: cpuUs } = await metered(() =>
        throughput(ops[message.op], message.lanes, message.ms),
      );
      const { rate, count } = value;
      const seconds = (performance.now() - start) / 1000;
      if (!message.warmUp) fastest[message.op] = Math.max(rate, fastest[message.op] ?? 0);
      process.send({ id: message.id, stats: { count, seconds, cpuUs } });
    } catch (error) {
      process.send({ id: message.id, error: String(error) });
    }
  });
  await store.migrate();
  process.send({ ready: true });
} else {
  await main();
}

async function sqliteRows() {
  const dir = mkdtempSync(join(tmpdir(), "mika-bench-"));
  try {
    const raw = new Database(join(dir, "raw.db"));
    raw.pragma("journal_mode = WAL");
    raw.pragma("synchronous = FULL");
    raw.exec("CREATE TABLE raw (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    const insert = raw.prepare("INSERT INTO raw (id, body) VALUES (?, ?)");
    let n = 0;
    const rawInsert = async () => {
      insert.run(`r${n++}`, "x".repeat(1000));
    };
    const store = sqliteStore({ file: join(dir, "mika.db"), synchronous: "FULL" });
    await store.migrate();
    const mika = makeMika(store);
    const deliveries = deliveryPool();
    const mikaReceive = async () => receive(mika, deliveries.next());
    // The same receive with no fsync at all: what the CPU alone allows (not durable; context only).
    const unsyncedStore = sqliteStore({ file: join(dir, "mika-off.db"), synchronous: "OFF" });
    await unsyncedStore.migrate();
    const unsynced = makeMika(unsyncedStore);
    const unsyncedReceive = async () => receive(unsynced, deliveries.next());
    // The store's own share: one transaction inserting one inbox row.
    const storeInsert = () =>
      store.transaction((tx) =>
        tx.insert("events", sampleRow("events", n++, { id: `s${n}`, event_id: `s${n}` })),
      );
    const floor = await schemaFloor(dir);
    const rows = await compareOps(
      "sqlite FULL: durable receive vs raw INSERT commit",
      { name: "raw INSERT (autocommit, 1 fsync each)", op: rawInsert, lanes: 1 },
      [
        { name: "mika receive, sequential", op: mikaReceive, pool: deliveries, lanes: 1, goal: "≥ 0.8×" },
        {
          name: `mika receive, ${CONCURRENCY} concurrent (group commit)`,
          op: mikaReceive,
          pool: deliveries,
          lanes: CONCURRENCY,
          goal: "≥ 1.5×",
        },
        {
          name: "(context) the rows of one receive, plain SQL, one transaction (no Mika code)",
          op: floor.op,
          lanes: 1,
        },
        { name: "store transaction (1 inbox insert), sequential", op: storeInsert, lanes: 1 },
        {
          name: `store transaction (1 inbox insert), ${CONCURRENCY} concurrent`,
          op: storeInsert,
          lanes: CONCURRENCY,
        },
      ],
    );
    rows.push(
      ...(await compareOps(
        "sqlite FULL: sequential receive vs its floor on this schema",
        {
          name: "the rows of one receive, plain SQL, one transaction (no Mika code)",
          op: floor.op,
          lanes: 1,
        },
        [{ name: "mika receive, sequential", op: mikaReceive, pool: deliveries, lanes: 1 }],
      )),
      ...(await compareOps(
        `sqlite: group commit vs no fsync at all, ${CONCURRENCY} concurrent`,
        {
          name: `mika receive, synchronous=OFF (not durable: the CPU's ceiling)`,
          op: unsyncedReceive,
          pool: deliveries,
          lanes: CONCURRENCY,
        },
        [
          {
            name: "mika receive, FULL (group commit)",
            op: mikaReceive,
            pool: deliveries,
            lanes: CONCURRENCY,
          },
        ],
      )),
    );
    await store.close();
    await unsyncedStore.close();
    raw.close();
    floor.close();
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The rows one receive writes, read back from a store after a real receive: the templates of the
 * floor transaction (ids varied per call, sizes and columns as Mika writes them).
 */
async function receiveRows(dir) {
  const file = join(dir, "template.db");
  const store = sqliteStore({ file, synchronous: "OFF" });
  const mika = makeMika(store);
  const template = deliveryPool();
  await template.fill(1);
  await receive(mika, template.next());
  await store.close();
  const db = new Database(file, { readonly: true });
  const one = (table) => db.prepare(`SELECT * FROM ${table}`).get();
  const rows = { events: one("events"), orders: one("orders"), handler_runs: one("handler_runs") };
  db.close();
  for (const [table, row] of Object.entries(rows))
    if (!row) throw new Error(`no ${table} row after a receive`);
  return rows;
}

/**
 * One receive's writes as plain better-sqlite3 statements in one transaction on a FULL database with
 * Mika's schema: insert the inbox event, look up the order, insert it, insert the handler run and
 * record the previous run's result. Returns the operation (one transaction per call).
 */
async function schemaFloor(dir) {
  const templates = await receiveRows(dir);
  const file = join(dir, "floor.db");
  const schemaStore = sqliteStore({ file });
  await schemaStore.migrate();
  await schemaStore.close();
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const insert = (table) => {
    const columns = Object.keys(templates[table]);
    return db.prepare(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
    );
  };
  const insertEvent = insert("events");
  const insertOrder = insert("orders");
  const insertRun = insert("handler_runs");
  const findOrder = db.prepare("SELECT * FROM orders WHERE provider = ? AND provider_checkout_id = ?");
  const finishRun = db.prepare(
    "UPDATE handler_runs SET status = 'succeeded', attempts = 1, next_attempt_at = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
  );
  // Time-sortable ids, as Mika's are (new rows land at the right edge of each index).
  const prefix = Date.now().toString(36);
  let n = 0;
  let previousRun;
  const write = db.transaction(() => {
    const i = String(n++).padStart(10, "0");
    const now = Date.now();
    const eventId = `evt_${prefix}${i}`;
    const checkout = `cs_floor_${i}`;
    insertEvent.run({
      ...templates.events,
      id: eventId,
      event_id: `msg_floor_${i}`,
      received_at: now,
      updated_at: now,
    });
    findOrder.get(templates.orders.provider, checkout);
    insertOrder.run({
      ...templates.orders,
      id: `ord_${prefix}${i}`,
      provider_checkout_id: checkout,
      created_at: now,
      updated_at: now,
    });
    const runId = `${eventId}:0:notify:order.paid`;
    insertRun.run({ ...templates.handler_runs, id: runId, event_row_id: eventId, updated_at: now });
    if (previousRun) finishRun.run(now, previousRun);
    previousRun = runId;
  });
  return { op: async () => write(), close: () => db.close() };
}

async function postgresRows() {
  const schema = `mika_bench_${process.pid}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: PARENT_POOL });
  const workers = [];
  try {
    await pool.query("SELECT 1");
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await pool.query(
      `CREATE TABLE ${schema}.raw (provider TEXT NOT NULL, event_id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (provider, event_id))`,
    );
    let n = 0;
    const rawInsert = async () => {
      await pool.query(
        `INSERT INTO ${schema}.raw (provider, event_id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        ["sw", `e${n++}`, "x".repeat(1000)],
      );
    };
    const here = fileURLToPath(import.meta.url);
    for (let i = 0; i < 3; i++) {
      const child = fork(here, ["worker", schema], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      const waiting = new Map();
      let next = 0;
      await new Promise((resolve, reject) => {
        child.once("message", resolve);
        child.once("exit", (code) => reject(new Error(`bench worker exited with ${code}`)));
      });
      child.on("message", (m) => {
        const done = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error) done.reject(new Error(m.error));
        else done.resolve(m.stats);
      });
      workers.push({
        child,
        send: (message) =>
          new Promise((resolve, reject) => {
            const id = next++;
            waiting.set(id, { resolve, reject });
            child.send({ ...message, id });
          }),
      });
    }
    /** Every worker runs `op` with its share of the lanes for `ms`; the total per second. */
    const inWorkers = (op) => async (ms, warmUp) => {
      await Promise.all(workers.map((w) => w.send({ type: "fill", op, ms })));
      const { value: results, machine } = await metered(() =>
        Promise.all(workers.map((w, i) => w.send({ type: "run", op, lanes: WORKER_LANES[i], ms, warmUp }))),
      );
      const operations = results.reduce((total, r) => total + r.count, 0);
      return {
        rate: operations / Math.max(...results.map((r) => r.seconds)),
        operations,
        appCpuUs: results.reduce((total, r) => total + r.cpuUs, 0),
        machineCpuUs: machine,
      };
    };
    return await compareOps(
      "postgres: durable receive on 3 processes vs raw INSERT … ON CONFLICT",
      { name: `raw INSERT … ON CONFLICT, ${CONCURRENCY} concurrent`, op: rawInsert, lanes: CONCURRENCY },
      [
        {
          name: `mika receive, 3 processes, ${CONCURRENCY} in flight in total`,
          measure: inWorkers("receive"),
          goal: "≥ 0.5×",
        },
        {
          name: `(context, not the goal's baseline) raw INSERT … ON CONFLICT from the 3 processes`,
          measure: inWorkers("raw-insert"),
        },
        {
          name: `(ceiling) same processes on memoryStore, no database`,
          measure: inWorkers("receive-memory"),
        },
      ],
      { cpu: true },
    );
  } finally {
    const stats = [];
    for (const w of workers) {
      stats.push(await w.send({ type: "close" }).catch(() => undefined));
      w.child.kill();
    }
    printStoreStats(stats.filter(Boolean));
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  }
}

/** One line summing the workers' postgresStore stats (warm-up rounds included). */
function printStoreStats(stats) {
  if (stats.length === 0) return;
  const sum = (pick) => stats.reduce((total, s) => total + pick(s), 0);
  const batched = sum((s) => s.batched);
  const batches = sum((s) => s.batches);
  const rollbacks = {};
  for (const s of stats)
    for (const [k, v] of Object.entries(s.rollbacks)) rollbacks[k] = (rollbacks[k] ?? 0) + v;
  console.log(
    `postgresStore in the workers: ${sum((s) => s.transactions)} transactions, ${batches} batches ` +
      `(${(batched / Math.max(1, batches)).toFixed(1)} per batch), ` +
      `${(sum((s) => s.roundTrips) / Math.max(1, batched)).toFixed(2)} round trips and ` +
      `${(sum((s) => s.statements) / Math.max(1, batched)).toFixed(2)} statements per batched transaction, ` +
      `rollbacks ${JSON.stringify(rollbacks)}, ${sum((s) => s.fallbacks)} re-run solo`,
  );
}

async function main() {
  // BENCH_PART=sqlite or BENCH_PART=postgres runs one half only (for profiling).
  const part = process.env.BENCH_PART;
  const rows = part === "postgres" ? [] : await sqliteRows();
  try {
    if (part !== "sqlite") rows.push(...(await postgresRows()));
  } catch (error) {
    console.log(`postgres part not run: ${String(error)} (set MIKA_TEST_POSTGRES_URL)`);
    process.exitCode = 1;
  }
  printTable(rows);
}
