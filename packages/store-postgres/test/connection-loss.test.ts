import net from "node:net";
import { createMika } from "@mika/backend";
import { standardWebhooksProvider } from "@mika/testing";
import { eventBase, type StoreTx } from "@mika/types";
import { afterAll, describe, expect, it, vi } from "vitest";
import { delivery, SECRET } from "../../store-sqlite/test/workers/harness.js";
import { CLOSE_GRACE_MS } from "../src/connection.js";
import { postgresStore } from "../src/index.js";
import { admin, freshSchema, gate, POSTGRES_URL, rawRow } from "./helpers.js";

let appCounter = 0;
/** A connection string whose sessions carry a name of their own, so a test can find and kill them. */
function namedConnection() {
  const name = `mika_loss_${process.pid}_${++appCounter}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set("application_name", name);
  return { name, connectionString: url.toString() };
}

/** Ends the server sessions of `name` (as a database restart or an administrator would). */
async function killSessions(name: string, state?: string): Promise<number> {
  const { rowCount } = await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = $1 AND pid <> pg_backend_pid() AND ($2::text IS NULL OR state = $2)`,
    [name, state ?? null],
  );
  return rowCount ?? 0;
}

/** Waits until the store has counted `n` lost connections (pg reports them asynchronously). */
const sawLost = (store: ReturnType<typeof postgresStore>, n = 1) =>
  vi.waitFor(() => expect(store.stats().connectionsLost).toBeGreaterThanOrEqual(n), {
    timeout: 5000,
    interval: 10,
  });

const lockRow = (id: string) => ({ id, holder: null, lease_until: null });

describe("postgresStore when the server ends its connections", () => {
  it("an idle pooled connection the server ends does not take the process down; the next transaction reconnects", async () => {
    const { name, connectionString } = namedConnection();
    const schema = freshSchema();
    const store = postgresStore({ connectionString, schema });
    await store.migrate();
    await store.transaction((tx) => tx.insert("locks", lockRow("before")));
    expect(await killSessions(name, "idle")).toBeGreaterThan(0);
    // pg reports the lost idle client as an 'error' on the pool: unhandled, it would end this process.
    await sawLost(store);
    await store.transaction((tx) => tx.insert("locks", lockRow("after")));
    expect(await rawRow(schema, "locks", "after")).toMatchObject({ id: "after" });
    await store.close();
  });

  for (const batching of [false, true]) {
    it(`batching: ${batching}: a connection ended while a transaction holds it keeps none of that run; the function runs again on a new connection and commits`, async () => {
      const { name, connectionString } = namedConnection();
      const schema = freshSchema();
      const store = postgresStore({ connectionString, schema, batching });
      await store.migrate();
      const held = gate();
      const resumed = gate();
      let runs = 0;
      const outcome = store
        .transaction(async (tx) => {
          runs++;
          await tx.insert("locks", lockRow(`first-${runs}`));
          if (runs === 1) {
            held.open();
            await resumed.opened;
          }
          await tx.insert("locks", lockRow(`second-${runs}`));
          return runs;
        })
        .then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error: error as Error }),
        );
      await held.opened;
      expect(await killSessions(name, "idle in transaction")).toBe(1);
      // The client notices the lost connection while the function still waits (no query of its own runs).
      await sawLost(store);
      resumed.open();
      // The function ran again on a new connection and committed; the lost run left nothing behind.
      expect(await outcome).toEqual({ ok: true, value: 2 });
      // Batched: the batch fell back to a solo re-run. Solo: the transaction was tried again.
      expect(batching ? store.stats().fallbacks : store.stats().retries).toBe(1);
      expect(await rawRow(schema, "locks", "first-2")).toBeDefined();
      expect(await rawRow(schema, "locks", "second-2")).toBeDefined();
      expect(await rawRow(schema, "locks", "first-1")).toBeUndefined();
      expect(await rawRow(schema, "locks", "second-1")).toBeUndefined();
      // The store is not wedged: new transactions run on a fresh connection.
      await store.transaction((tx) => tx.insert("locks", lockRow("later")));
      expect(await rawRow(schema, "locks", "later")).toBeDefined();
      await store.close();
    });
  }
});

/**
 * A TCP proxy in front of the test database. Armed, it forwards the next `COMMIT` query and then drops
 * Postgres' answers on that connection: with "cut", it also ends its stream, so Postgres commits,
 * closes, and its close cuts the client off; with "silence", the connection stays open and silent (a
 * database host that vanished after it committed). `freeze()` silences every connection open now,
 * both ways, as a host that vanished mid-statement; connections opened later work.
 */
async function pgProxy() {
  const target = new URL(POSTGRES_URL);
  let armed: "cut" | "silence" | undefined;
  let trips = 0;
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const frozen = new WeakSet<net.Socket>();
  // Half-open allowed, so a frozen connection can leave the client's FIN unanswered, as a host that
  // vanished would (an unfrozen one answers it at once, below).
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    clients.add(client);
    client.on("close", () => clients.delete(client));
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    let mute = false;
    upstream.on("data", (chunk) => {
      if (!mute && !frozen.has(client)) client.write(chunk);
    });
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.end());
    client.on("end", () => {
      if (!frozen.has(client)) client.end();
    });
    client.on("data", (chunk: Buffer) => {
      if (frozen.has(client)) return;
      // A simple-query message: 'Q', a 4-byte length, the text and a NUL.
      const isCommit = chunk[0] === 0x51 && chunk.toString("utf8", 5, chunk.length - 1) === "COMMIT";
      if (armed && isCommit) {
        trips++;
        mute = true;
        // Delivered; with "cut", then end of stream: Postgres commits before it reads the end and
        // closes, and its close cuts the client off (above).
        if (armed === "cut") upstream.end(chunk);
        else upstream.write(chunk);
        armed = undefined;
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(POSTGRES_URL);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    connectionString: url.toString(),
    arm: (mode: "cut" | "silence" = "cut") => {
      armed = mode;
    },
    trips: () => trips,
    freeze: () => {
      for (const socket of sockets) frozen.add(socket);
    },
    /**
     * How many client connections are still open at the client's end: the proxy writes a byte down
     * each one it has not seen close, and a client socket that is really closed answers with a reset,
     * which the next write reports. (One that is only half-closed takes both bytes and stays open.)
     */
    openAtClient: async () => {
      const waiting = [...clients].map(
        (client) =>
          new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), 500);
            client.once("close", () => {
              clearTimeout(timer);
              resolve(false);
            });
            client.write(Buffer.from("N"));
            setTimeout(() => client.write(Buffer.from("N")), 100);
          }),
      );
      return (await Promise.all(waiting)).filter(Boolean).length;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("postgresStore when every attempt loses its connection", () => {
  it("the caller gets an error that says nothing was committed and to retry", async () => {
    const { name, connectionString } = namedConnection();
    const schema = freshSchema();
    const store = postgresStore({ connectionString, schema, batching: false });
    await store.migrate();
    let runs = 0;
    const outcome = store.transaction(async (tx) => {
      runs++;
      await tx.insert("locks", lockRow(`run-${runs}`));
      // Each attempt's session is ended before the function goes on.
      expect(await killSessions(name, "idle in transaction")).toBe(1);
      await sawLost(store, runs);
      await tx.insert("locks", lockRow(`run-${runs}-b`));
    });
    await expect(outcome).rejects.toThrow(
      /connection to the database was lost during the transaction .*Nothing of it was committed: retry/,
    );
    expect(runs).toBe(4);
    for (let run = 1; run <= runs; run++) expect(await rawRow(schema, "locks", `run-${run}`)).toBeUndefined();
    await store.close();
  });
});

describe("postgresStore when the connection drops during COMMIT", () => {
  const cutters: Awaited<ReturnType<typeof pgProxy>>[] = [];
  afterAll(async () => {
    for (const cutter of cutters) await cutter.close();
  });

  for (const batching of [false, true]) {
    it(`batching: ${batching}: each caller hears that the outcome is unknown, no function runs again, and the rows did commit`, async () => {
      const cutter = await pgProxy();
      cutters.push(cutter);
      const schema = freshSchema();
      const store = postgresStore({ connectionString: cutter.connectionString, schema, batching });
      await store.migrate();
      const n = batching ? 5 : 1;
      const runs = new Array<number>(n).fill(0);
      cutter.arm();
      const settled = await Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          store.transaction(async (tx: StoreTx) => {
            runs[i]!++;
            await tx.insert("locks", lockRow(`cut-${i}`));
          }),
        ),
      );
      expect(cutter.trips()).toBe(1);
      if (batching) expect(store.stats().largestBatch).toBe(n);
      for (const outcome of settled) {
        expect(outcome.status).toBe("rejected");
        const { message } = (outcome as PromiseRejectedResult).reason as Error;
        expect(message).toMatch(/lost during COMMIT/);
        expect(message).toMatch(/whether the transaction was committed is unknown/);
      }
      // Not re-run: a second run of a function whose first run may have committed could apply it twice.
      expect(runs).toEqual(new Array(n).fill(1));
      // Here Postgres did commit: that is why the store cannot say "not committed".
      for (let i = 0; i < n; i++) expect(await rawRow(schema, "locks", `cut-${i}`)).toBeDefined();
      await store.transaction((tx) => tx.insert("locks", lockRow("after")));
      expect(await rawRow(schema, "locks", "after")).toBeDefined();
      await store.close();
    });
  }
});

describe("postgresStore when the database stops answering", () => {
  const proxies: Awaited<ReturnType<typeof pgProxy>>[] = [];
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
  });
  const start = async (batching: boolean) => {
    const proxy = await pgProxy();
    proxies.push(proxy);
    const schema = freshSchema();
    const store = postgresStore({
      connectionString: proxy.connectionString,
      schema,
      batching,
      queryTimeoutMs: 300,
    });
    await store.migrate();
    return { proxy, schema, store };
  };

  for (const batching of [false, true]) {
    it(`batching: ${batching}: a statement left unanswered past queryTimeoutMs closes the connection; the function runs again on a new one and commits once`, async () => {
      const { proxy, schema, store } = await start(batching);
      let runs = 0;
      const value = await store.transaction(async (tx) => {
        runs++;
        await tx.insert("locks", lockRow(`first-${runs}`));
        // The host vanishes: this connection's next statement is never answered.
        if (runs === 1) proxy.freeze();
        await tx.insert("locks", lockRow(`second-${runs}`));
        return runs;
      });
      expect(value).toBe(2);
      expect(store.stats().connectionsLost).toBe(1);
      expect(batching ? store.stats().fallbacks : store.stats().retries).toBe(1);
      expect(await rawRow(schema, "locks", "first-2")).toBeDefined();
      expect(await rawRow(schema, "locks", "second-2")).toBeDefined();
      expect(await rawRow(schema, "locks", "first-1")).toBeUndefined();
      await store.close();
    });

    it(`batching: ${batching}: a COMMIT left unanswered past queryTimeoutMs: the caller hears why and that the outcome is unknown; nothing runs again`, async () => {
      const { proxy, schema, store } = await start(batching);
      let runs = 0;
      proxy.arm("silence");
      const outcome = store.transaction(async (tx) => {
        runs++;
        await tx.insert("locks", lockRow("silent-commit"));
      });
      await expect(outcome).rejects.toThrow(
        /lost during COMMIT \(the database sent no answer within 300 ms \(queryTimeoutMs\).*whether the transaction was committed is unknown/,
      );
      expect(proxy.trips()).toBe(1);
      expect(runs).toBe(1);
      // Postgres got the COMMIT before the host went silent: it did commit.
      expect(await rawRow(schema, "locks", "silent-commit")).toBeDefined();
      await store.transaction((tx) => tx.insert("locks", lockRow("after")));
      expect(await rawRow(schema, "locks", "after")).toBeDefined();
      await store.close();
    });
  }

  it("close() with the host gone silent under its idle connections returns, and closes their sockets", async () => {
    const { proxy, store } = await start(false);
    await Promise.all(
      ["a", "b", "c"].map((key) =>
        store.transaction((tx) => tx.insert("locks", lockRow(`before-close-${key}`))),
      ),
    );
    proxy.freeze();
    const started = Date.now();
    await store.close();
    // It waited for the database to close its end of each connection, then gave up and closed them:
    // half-open, they would keep the process from exiting for as long as the host stays silent.
    expect(Date.now() - started).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 50);
    expect(await proxy.openAtClient()).toBe(0);
  });

  it("close() with the database answering does not wait out the grace period", async () => {
    const { store } = await start(true);
    await store.transaction((tx) => tx.insert("locks", lockRow("before-prompt-close")));
    // With the clock stopped, a close() that waited for its grace timer would never return.
    const realSetTimeout = globalThis.setTimeout;
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    try {
      const outcome = await Promise.race([
        store.close().then(() => "closed"),
        new Promise((resolve) => realSetTimeout(() => resolve("still waiting"), 5000)),
      ]);
      expect(outcome).toBe("closed");
    } finally {
      vi.useRealTimers();
    }
  });

  it("a database that accepts the TCP connection and never answers: an error naming connectTimeoutMs, without the password", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as net.AddressInfo;
    const store = postgresStore({
      connectionString: `postgres://mika:hunter2-secret@127.0.0.1:${port}/test`,
      connectTimeoutMs: 300,
    });
    const failed = await store.transaction((tx) => tx.count("locks", {})).catch((error: Error) => error);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toMatch(
      /no connection to the database within 300 ms \(connectTimeoutMs\)\. Nothing was written: check that Postgres is up/,
    );
    expect((failed as Error).message).not.toMatch(/hunter2/);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await store.close();
  });

  it("a refused connection: an error that says the database is unreachable, without the password", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const store = postgresStore({
      connectionString: `postgres://mika:hunter2-secret@127.0.0.1:${port}/test`,
    });
    const failed = await store.transaction((tx) => tx.count("locks", {})).catch((error: Error) => error);
    expect((failed as Error).message).toMatch(
      /could not connect to the database \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)\. Nothing was written/,
    );
    expect((failed as Error).message).not.toMatch(/hunter2/);
    await store.close();
  });
});

describe("Mika's webhook receive on postgresStore when the connection drops during COMMIT", () => {
  it("answers 500, and the redelivery finds the event that did commit: one paid order, nothing lost or doubled", async () => {
    const cutter = await pgProxy();
    const schema = freshSchema();
    const store = postgresStore({ connectionString: cutter.connectionString, schema });
    await store.migrate();
    const errors: string[] = [];
    const mika = createMika({
      providers: [
        standardWebhooksProvider({
          name: "sw",
          webhookSecret: SECRET,
          mapEvent: (webhook) => ({
            ...eventBase(webhook, "checkout.completed"),
            paymentStatus: "paid" as const,
            amount: (webhook.payload as { data: { amount: number } }).data.amount,
            currency: "EUR",
            providerCheckoutId: (webhook.payload as { data: { id: string } }).data.id,
          }),
        }),
      ],
      store,
      config: { logger: { info() {}, warn() {}, error: (message: string) => errors.push(message) } },
    });
    const { body, headers } = await delivery(7);
    const deliver = () =>
      mika.webhooks.receive({
        provider: "sw",
        request: new Request("http://localhost/webhooks/sw", { method: "POST", headers, body }),
      });
    cutter.arm();
    const first = await deliver();
    expect(cutter.trips()).toBe(1);
    expect(first.ok).toBe(false);
    if (!first.ok) {
      expect(first.error.code).toBe("INTERNAL");
      expect(first.error.message).toMatch(/turned out stored and processed/);
    }
    const again = await deliver();
    expect(again).toMatchObject({ ok: true, data: { status: "duplicate" } });
    const stored = await store.transaction(async (tx) => ({
      events: await tx.find("events", {}),
      paid: await tx.count("orders", { status: "paid" }),
    }));
    expect(stored.paid).toBe(1);
    expect(stored.events).toHaveLength(1);
    expect(stored.events[0]).toMatchObject({ status: "processed", duplicates: 1 });
    await store.close();
    await cutter.close();
  });
});
