import { sampleRow } from "@mika/testing";
import type { EventRow } from "@mika/types";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { type PostgresStoreOptions, postgresStore } from "../src/index.js";
import { freshSchema, gate, POSTGRES_URL, rawRow } from "./helpers.js";

const eventRow = (seed: number, overrides: Partial<EventRow> = {}) =>
  sampleRow("events", seed, { id: `evt-${seed}`, provider: "p", event_id: `e-${seed}`, ...overrides });

const stock = (id: string, onHand = 0) => ({ id, on_hand: onHand, updated_at: 1 });

/**
 * A pg pool whose clients record every query text they are given (one entry per round trip), and the
 * most queries one client was ever given before the earlier ones had answered (`overlap.max`).
 */
function countingPool(max = 10) {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max });
  pool.on("error", () => undefined); // an idle connection's end is the owner's to hear
  const texts: string[] = [];
  const overlap = { max: 0 };
  const wrapped = new WeakSet<object>();
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  pool.connect = (async () => {
    const client = await connect();
    if (!wrapped.has(client)) {
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      let pending = 0;
      client.query = ((config: unknown, ...rest: unknown[]) => {
        texts.push(typeof config === "string" ? config : (config as { text: string }).text);
        pending++;
        overlap.max = Math.max(overlap.max, pending);
        const result = query(config, ...rest) as Promise<unknown>;
        const done = () => {
          pending--;
        };
        result.then(done, done);
        return result;
      }) as never;
    }
    return client;
  }) as never;
  return { pool, texts, overlap };
}

/** How many SQL statements of `kind` (INSERT, UPDATE, SELECT…) the recorded round trips carried. */
const statementsOf = (texts: readonly string[], kind: string) =>
  texts.reduce((sum, t) => sum + (t.match(new RegExp(`(^|;\\s*)${kind}\\b`, "g"))?.length ?? 0), 0);

const store = (options: Partial<PostgresStoreOptions> = {}) =>
  postgresStore({ connectionString: POSTGRES_URL, schema: freshSchema(), ...options });

describe("postgresStore batching", () => {
  it("commits N concurrent single-insert transactions with far fewer statements than N", async () => {
    const { pool, texts } = countingPool();
    const s = postgresStore({ pool, schema: freshSchema() });
    await s.transaction((tx) => tx.count("events", {})); // migrates on first use
    texts.length = 0;
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => s.transaction((tx) => tx.insert("events", eventRow(i)))),
    );
    expect(results).toEqual(Array(n).fill(true));
    // One batch: BEGIN + one multi-row INSERT in one round trip, then COMMIT.
    expect(statementsOf(texts, "INSERT")).toBe(1);
    expect(texts.length).toBeLessThanOrEqual(3);
    expect(s.stats()).toMatchObject({ batches: 2, batched: n + 1, largestBatch: n, fallbacks: 0 });
    const count = await s.transaction((tx) => tx.count("events", {}));
    expect(count).toBe(n);
    await s.close();
    await pool.end();
  });

  it("sends a burst of writes to distinct rows, issued without awaiting each, in one round trip", async () => {
    const { pool, texts } = countingPool();
    const schema = freshSchema();
    const s = postgresStore({ pool, schema });
    await s.transaction(async (tx) => {
      for (let i = 0; i < 5; i++) await tx.insert("stock", stock(`s${i}`, i));
    });
    texts.length = 0;
    const written = await s.transaction((tx) =>
      Promise.all([
        tx.insert("events", eventRow(1)),
        ...Array.from({ length: 5 }, (_, i) => tx.update("stock", `s${i}`, { on_hand: 100 + i })),
      ]),
    );
    expect(written).toEqual([true, true, true, true, true, true]);
    // BEGIN + the INSERT + one UPDATE for all five rows in one round trip, then COMMIT.
    expect(texts).toHaveLength(2);
    expect(statementsOf(texts, "INSERT")).toBe(1);
    expect(statementsOf(texts, "UPDATE")).toBe(1);
    for (let i = 0; i < 5; i++) {
      expect(await rawRow(schema, "stock", `s${i}`)).toMatchObject({ on_hand: String(100 + i) });
    }
    // Two writes of the SAME row keep their order: two round trips, the later value wins.
    texts.length = 0;
    await s.transaction((tx) =>
      Promise.all([tx.update("stock", "s0", { on_hand: 1 }), tx.update("stock", "s0", { on_hand: 2 })]),
    );
    expect(statementsOf(texts, "UPDATE")).toBe(2);
    expect(await rawRow(schema, "stock", "s0")).toMatchObject({ on_hand: "2" });
    // An update and an insert of the same row keep their order too (in one round the INSERT would run
    // first): the update finds no row, then the insert writes it.
    texts.length = 0;
    const ordered = await s.transaction((tx) =>
      Promise.all([tx.update("stock", "s9", { on_hand: 10 }), tx.insert("stock", stock("s9", 9))]),
    );
    expect(ordered).toEqual([false, true]);
    expect(texts).toHaveLength(3);
    expect(await rawRow(schema, "stock", "s9")).toMatchObject({ on_hand: "9" });
    await s.close();
    await pool.end();
  });

  it("a burst spread over async functions (a write issued, its caller resuming, then more writes) is one round trip", async () => {
    const { pool, texts } = countingPool();
    const s = postgresStore({ pool, schema: freshSchema() });
    await s.transaction((tx) => tx.count("events", {})); // migrates on first use
    texts.length = 0;
    const written = await s.transaction(async (tx) => {
      // Like the ledger: an async function issues a write, does not await it, and returns to its caller…
      const ledger = async () => {
        const created = tx.insert("stock", stock("made", 1));
        return { created };
      };
      const { created } = await ledger();
      // …which then records more rows before awaiting any of them.
      return Promise.all([created, tx.insert("events", eventRow(1))]);
    });
    expect(written).toEqual([true, true]);
    // BEGIN + both INSERTs in one round trip, then COMMIT.
    expect(texts).toHaveLength(2);
    expect(statementsOf(texts, "INSERT")).toBe(2);
    await s.close();
    await pool.end();
  });

  it("a batched insert writes every schema column (NULL when absent) and ignores keys outside the schema, as a solo one does", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema });
    await s.migrate();
    const { parked_reason: _omitted, ...partial } = eventRow(1, { parked_reason: "x" });
    const rows = [
      { ...partial, not_a_column: "ignored" },
      { ...eventRow(2), not_a_column: "ignored" },
    ] as unknown as EventRow[];
    const results = await Promise.all(rows.map((row) => s.transaction((tx) => tx.insert("events", row))));
    expect(results).toEqual([true, true]);
    expect(await rawRow(schema, "events", "evt-1")).toMatchObject({ id: "evt-1", parked_reason: null });
    expect(await rawRow(schema, "events", "evt-2")).toMatchObject({ id: "evt-2" });
    expect(s.stats()).toMatchObject({ batches: 1, fallbacks: 0, rollbacks: { throw: 0, error: 0 } });
    await s.close();
  });

  it("coalesces get, find, insert and update of concurrent transactions into one statement per shape", async () => {
    const { pool, texts } = countingPool();
    const s = postgresStore({ pool, schema: freshSchema() });
    await s.transaction(async (tx) => {
      for (let i = 0; i < 10; i++) await tx.insert("events", eventRow(i, { status: "pending" }));
    });
    texts.length = 0;
    const n = 10;
    const seen = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        s.transaction(async (tx) => {
          const row = await tx.get("events", `evt-${i}`, { lock: true });
          const [found] = await tx.find("events", { provider: "p", event_id: `e-${i}` }, { limit: 1 });
          await tx.update("events", `evt-${i}`, { status: "processed", attempts: (row?.attempts ?? 0) + 1 });
          await tx.insert("stock", stock(`sku-${i}`, i));
          return found?.id;
        }),
      ),
    );
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `evt-${i}`));
    for (const kind of ["INSERT", "UPDATE"]) expect(statementsOf(texts, kind)).toBe(1);
    expect(statementsOf(texts, "SELECT")).toBe(2);
    expect(s.stats().fallbacks).toBe(0);
    const processed = await s.transaction((tx) => tx.count("events", { status: "processed" }));
    expect(processed).toBe(n);
    await s.close();
    await pool.end();
  });

  it("50 concurrent read-modify-writes of one row (get with lock, update +1) end at exactly 50", async () => {
    const s = store();
    await s.transaction((tx) => tx.insert("stock", stock("sku")));
    await Promise.all(
      Array.from({ length: 50 }, () =>
        s.transaction(async (tx) => {
          const row = await tx.get("stock", "sku", { lock: true });
          await tx.update("stock", "sku", { on_hand: row!.on_hand + 1 });
        }),
      ),
    );
    const row = await s.transaction((tx) => tx.get("stock", "sku"));
    expect(row?.on_hand).toBe(50);
    // They met in a batch, conflicted there, and ran again one by one.
    expect(s.stats().rollbacks.conflict).toBeGreaterThanOrEqual(1);
    expect(s.stats().fallbacks).toBeGreaterThanOrEqual(2);
    await s.close();
  });

  it("a transaction that throws in a batch leaves no trace; its batch-mates commit; it gets its own error", async () => {
    const s = store();
    await s.migrate();
    const boom = new Error("boom");
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        s.transaction(async (tx) => {
          await tx.insert("events", eventRow(i));
          await tx.update("events", `evt-${i}`, { attempts: 7 });
          if (i === 3) throw boom;
          return i;
        }),
      ),
    );
    for (const [i, outcome] of settled.entries()) {
      if (i === 3) expect(outcome).toEqual({ status: "rejected", reason: boom });
      else expect(outcome).toEqual({ status: "fulfilled", value: i });
    }
    const rows = await s.transaction((tx) => tx.find("events", {}));
    expect(rows.map((r) => r.id).sort()).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9].map((i) => `evt-${i}`).sort());
    expect(rows.every((r) => r.attempts === 7)).toBe(true);
    expect(s.stats()).toMatchObject({ rollbacks: { throw: 1 }, fallbacks: 10 });
    await s.close();
  });

  it("two transactions inserting the same unique key in one batch: exactly one wins", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema });
    await s.migrate();
    const results = await Promise.all(
      [1, 2].map((seed) =>
        s.transaction((tx) => tx.insert("events", eventRow(seed, { provider: "stripe", event_id: "same" }))),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    expect((await rawRow(schema, "events", `evt-${winner}`))?.event_id).toBe("same");
    expect(await rawRow(schema, "events", `evt-${3 - winner}`)).toBeUndefined();
    // The loser was refused by its batch-mate's uncommitted row: a conflict, settled solo.
    expect(s.stats().rollbacks.conflict).toBe(1);
    await s.close();
  });

  it("a conflict rolls the batch back and re-runs each function solo (so a function may run twice)", async () => {
    const s = store();
    await s.transaction((tx) => tx.insert("stock", stock("a", 1)));
    const runs = { writer: 0, reader: 0 };
    const [written, read] = await Promise.all([
      s.transaction(async (tx) => {
        runs.writer++;
        await tx.update("stock", "a", { on_hand: 2 });
        return "written";
      }),
      s.transaction(async (tx) => {
        runs.reader++;
        await new Promise((resolve) => setImmediate(resolve)); // read after the write was queued
        return (await tx.get("stock", "a"))?.on_hand;
      }),
    ]);
    expect(written).toBe("written");
    // The reader never sees the writer's uncommitted value: 1 (before) or 2 (after its commit).
    expect([1, 2]).toContain(read);
    expect(runs).toEqual({ writer: 2, reader: 2 });
    expect(s.stats()).toMatchObject({ batches: 2, rollbacks: { conflict: 1 }, fallbacks: 2 });
    await s.close();
  });

  it("a batch waiting longer than lockTimeoutMs for another instance's row lock falls back and completes", async () => {
    const schema = freshSchema();
    const a = postgresStore({ connectionString: POSTGRES_URL, schema });
    const b = postgresStore({ connectionString: POSTGRES_URL, schema, lockTimeoutMs: 100 });
    await a.transaction((tx) => tx.insert("stock", stock("held", 0)));
    await b.transaction((tx) => tx.count("stock", {})); // b has migrated: its next batch goes for the lock
    const held = gate();
    const locked = gate();
    const holder = a.transaction(async (tx) => {
      await tx.get("stock", "held", { lock: true });
      locked.open();
      await held.opened;
      await tx.update("stock", "held", { on_hand: 10 });
    });
    await locked.opened;
    const waiter = b.transaction(async (tx) => {
      const row = await tx.get("stock", "held", { lock: true });
      await tx.update("stock", "held", { on_hand: row!.on_hand + 1 });
    });
    // The batch gives up after 100 ms; its solo re-run then waits for the holder.
    while (b.stats().rollbacks.lockTimeout === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b.stats().rollbacks.lockTimeout).toBe(1);
    held.open();
    await Promise.all([holder, waiter]);
    expect((await b.transaction((tx) => tx.get("stock", "held")))?.on_hand).toBe(11);
    expect(b.stats().fallbacks).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it("two instances locking rows in opposite orders do not hang: the batches fall back and both commit", async () => {
    const schema = freshSchema();
    const a = postgresStore({ connectionString: POSTGRES_URL, schema, lockTimeoutMs: 100 });
    const b = postgresStore({ connectionString: POSTGRES_URL, schema, lockTimeoutMs: 100 });
    await a.transaction(async (tx) => {
      await tx.insert("stock", stock("r1"));
      await tx.insert("stock", stock("r2"));
    });
    const bothHoldOne = { count: 0, gate: gate() };
    const crosswise =
      (first: string, second: string) => async (tx: Parameters<Parameters<typeof a.transaction>[0]>[0]) => {
        const one = await tx.get("stock", first, { lock: true });
        if (++bothHoldOne.count === 2) bothHoldOne.gate.open();
        if (bothHoldOne.count <= 2) await bothHoldOne.gate.opened; // only the first runs meet here
        const two = await tx.get("stock", second, { lock: true });
        await tx.update("stock", first, { on_hand: one!.on_hand + 1 });
        await tx.update("stock", second, { on_hand: two!.on_hand + 1 });
      };
    await Promise.all([a.transaction(crosswise("r1", "r2")), b.transaction(crosswise("r2", "r1"))]);
    const rows = await a.transaction((tx) =>
      tx.find("stock", {}, { orderBy: [{ column: "id", direction: "asc" }] }),
    );
    expect(rows.map((r) => r.on_hand)).toEqual([2, 2]);
    const gaveUp = (s: typeof a) => s.stats().rollbacks.lockTimeout + s.stats().rollbacks.deadlock;
    expect(gaveUp(a) + gaveUp(b)).toBeGreaterThanOrEqual(1);
    await Promise.all([a.close(), b.close()]);
  });

  it("batching: false retries a solo transaction that Postgres aborts as a deadlock victim", async () => {
    const s = store({ batching: false });
    await s.transaction(async (tx) => {
      await tx.insert("stock", stock("r1"));
      await tx.insert("stock", stock("r2"));
    });
    let meetings = 0;
    const met = gate();
    const crosswise = (first: string, second: string) =>
      s.transaction(async (tx) => {
        await tx.get("stock", first, { lock: true });
        if (++meetings === 2) met.open();
        if (meetings <= 2) await met.opened;
        await tx.get("stock", second, { lock: true });
        await tx.update("stock", first, { updated_at: 2 });
      });
    await Promise.all([crosswise("r1", "r2"), crosswise("r2", "r1")]);
    expect(s.stats()).toMatchObject({ batches: 0, retries: 1 });
    expect(s.stats().solo).toBe(3);
    await s.close();
  }, 20_000);

  it("transactions arriving while batches run all complete (waves, two lanes)", async () => {
    const s = store({ maxConcurrentBatches: 2, max: 6 });
    await s.migrate();
    let seed = 0;
    const waves = Array.from({ length: 6 }, (_, wave) =>
      new Promise((resolve) => setTimeout(resolve, wave * 3)).then(() =>
        Promise.all(
          Array.from({ length: 25 }, () => {
            const i = seed++;
            return s.transaction(async (tx) => {
              await tx.insert("events", eventRow(i));
              await tx.update("events", `evt-${i}`, { attempts: 1 });
              return (await tx.get("events", `evt-${i}`))?.attempts;
            });
          }),
        ),
      ),
    );
    const results = (await Promise.all(waves)).flat();
    expect(results).toEqual(Array(150).fill(1));
    expect(await s.transaction((tx) => tx.count("events", { attempts: 1 }))).toBe(150);
    expect(s.stats().batches).toBeGreaterThan(1);
    await s.close();
  });

  it("a transaction function that waits for another transaction does not hang the store", async () => {
    const s = store({ lockTimeoutMs: 50 });
    await s.migrate();
    const value = await s.transaction(async (tx) => {
      await tx.insert("stock", stock("outer", 1));
      // Not recommended (the inner one cannot see the outer's writes), but it must not deadlock.
      return s.transaction((inner) => inner.count("stock", {}));
    });
    expect(value).toBe(0);
    await s.close();
  });

  it("writes quotes, backslashes, SQL-looking text and unicode verbatim through coalesced statements", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema });
    const nasty = [
      "it's",
      "back\\slash \\' \\\\",
      "'); DROP TABLE events; --",
      "E'\\x00'",
      '"double" $1 $$ ::text',
      "ünï 日本 🧾 \u2028",
    ];
    await Promise.all(
      nasty.map((text, i) =>
        s.transaction((tx) =>
          tx.insert("events", eventRow(i, { event_id: text, last_error: text, event: { text } })),
        ),
      ),
    );
    const found = await Promise.all(
      nasty.map((text) => s.transaction((tx) => tx.find("events", { provider: "p", event_id: text }))),
    );
    for (const [i, rows] of found.entries()) {
      expect(rows.map((r) => [r.id, r.last_error, r.event])).toEqual([
        [`evt-${i}`, nasty[i], { text: nasty[i] }],
      ]);
      expect((await rawRow(schema, "events", `evt-${i}`))?.event_id).toBe(nasty[i]);
    }
    await Promise.all(
      nasty.map((text, i) => s.transaction((tx) => tx.update("events", `evt-${i}`, { parked_reason: text }))),
    );
    for (const [i, text] of nasty.entries()) {
      expect((await rawRow(schema, "events", `evt-${i}`))?.parked_reason).toBe(text);
    }
    expect(s.stats().fallbacks).toBe(0);
    await s.close();
  });

  it("an update that frees a unique key and an insert that takes it, issued together, run in call order", async () => {
    const order = (id: string, providerCheckoutId: string) =>
      sampleRow("orders", 1, { id, provider: "p", provider_checkout_id: providerCheckoutId });
    for (const batching of [true, false]) {
      const s = store({ batching });
      await s.transaction((tx) => tx.insert("orders", order("x", "c1")));
      const outcome = await s.transaction((tx) =>
        Promise.all([
          tx.update("orders", "x", { provider_checkout_id: "c2" }),
          tx.insert("orders", order("y", "c1")),
        ]),
      );
      expect(outcome, `batching ${batching}`).toEqual([true, true]);
      expect((await s.transaction((tx) => tx.get("orders", "y")))?.provider_checkout_id).toBe("c1");
      await s.close();
    }
  });

  it("a NUL, which Postgres text cannot hold, is stored as U+FFFD with batching as without", async () => {
    for (const batching of [true, false]) {
      const s = store({ batching });
      const row = eventRow(1, { last_error: "a\u0000b", event: { note: "c\u0000d" } as never });
      expect(await s.transaction((tx) => tx.insert("events", row))).toBe(true);
      expect(await s.transaction((tx) => tx.get("events", row.id))).toMatchObject({
        last_error: "a\ufffdb",
        event: { note: "c\ufffdd" },
      });
      await s.close();
    }
  });

  it("works on a pool of one connection: a batch hands it back to a waiting solo re-run", async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    pool.on("error", () => undefined); // an idle connection's end is the owner's to hear
    const s = postgresStore({ pool, schema: freshSchema() });
    await s.transaction((tx) => tx.insert("stock", stock("sku")));
    // New transactions keep arriving (one per event-loop turn, up to a cap), so a batch always finds
    // more waiting: a lane that kept its client for them would starve the solo re-runs below. The
    // stream stops as soon as the re-runs finish (after 10 000 to 20 000 turns here, more or fewer as
    // the machine's speed goes); the cap only ends a run that starves them, which then also fails on
    // the re-runs' connect timeout.
    const cap = 200_000;
    const stream: Promise<unknown>[] = [];
    let streaming = true;
    const tick = () => {
      if (!streaming || stream.length >= cap) return;
      const i = stream.length;
      stream.push(s.transaction((tx) => tx.insert("events", eventRow(i))));
      setImmediate(tick);
    };
    tick();
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        s.transaction(async (tx) => {
          await tx.insert("stock", stock(`own-${k}`)); // a round trip first: the stream queues meanwhile
          const row = await tx.get("stock", "sku", { lock: true });
          await tx.update("stock", "sku", { on_hand: row!.on_hand + 1 });
        }),
      ),
    );
    streaming = false;
    expect(stream.length).toBeLessThan(cap); // the re-runs finished while transactions kept arriving
    await Promise.all(stream);
    expect((await s.transaction((tx) => tx.get("stock", "sku")))?.on_hand).toBe(20);
    expect(s.stats().fallbacks).toBeGreaterThan(0);
    await s.close();
    await pool.end();
  });

  it.each([false, true])(
    "gives a client one query at a time, even when a transaction's calls overlap (batching: %s)",
    async (batching) => {
      // pg 8 queues a query given while another runs, but deprecates it (with a warning in the app's
      // log) and pg 9 drops it: the store must wait for each answer itself.
      const { pool, overlap } = countingPool();
      const s = postgresStore({ pool, schema: freshSchema(), batching });
      await s.migrate();
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, t) =>
          s.transaction((tx) =>
            Promise.all([
              tx.insert("events", eventRow(t * 10)),
              tx.insert("events", eventRow(t * 10 + 1)),
              tx.insert("stock", stock(`sku-${t}`, t)),
              tx.get("stock", `sku-${t}`),
            ]),
          ),
        ),
      );
      expect(results.map((r) => r.slice(0, 3))).toEqual(Array(4).fill([true, true, true]));
      expect(overlap.max).toBe(1);
      expect(await s.transaction((tx) => tx.count("events", {}))).toBe(8);
      await s.close();
      await pool.end();
    },
  );

  it.each([false, true])(
    "after migrate(), the first transaction does not migrate again (batching: %s)",
    async (batching) => {
      const { pool, texts } = countingPool();
      const s = postgresStore({ pool, schema: freshSchema(), batching });
      await s.migrate();
      const migrations = () => texts.filter((t) => t.includes("pg_advisory_xact_lock")).length;
      expect(migrations()).toBe(1);
      await s.transaction((tx) => tx.insert("events", eventRow(1)));
      expect(migrations()).toBe(1);
      await s.migrate(); // still runs when asked
      expect(migrations()).toBe(2);
      await s.close();
      await pool.end();
    },
  );

  it("batching: false runs every transaction solo", async () => {
    const s = store({ batching: false });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => s.transaction((tx) => tx.insert("events", eventRow(i)))),
    );
    expect(s.stats()).toMatchObject({ batches: 0, solo: 5, transactions: 5 });
    await s.close();
  });
});
