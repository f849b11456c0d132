/**
 * Keys as Postgres holds them in batched transactions, an update that moves a primary key, and a
 * pooled connection the server ended before BEGIN.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { socketOf } from "../src/connection.js";
import { postgresStore } from "../src/index.js";
import { admin, freshSchema, gate, POSTGRES_URL, rawRow } from "./helpers.js";

const stock = (id: string, onHand = 0) => ({ id, on_hand: onHand, updated_at: 1 });

describe("keys Postgres stores differently than JS holds them (lone surrogate → U+FFFD)", () => {
  it("a batched insert/get/update by a key with a lone surrogate answers as the solo path does", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema }); // batching on (default)
    await s.migrate();
    const key = "sku-\ud800";
    const inserted = await s.transaction((tx) => tx.insert("stock", stock(key, 1)));
    // The row IS written (as "sku-\ufffd")…
    expect(await rawRow(schema, "stock", "sku-\ufffd")).toBeDefined();
    // …yet the caller is told "conflict, nothing written" (solo path: true).
    expect(inserted).toBe(true);
    expect(await s.transaction((tx) => tx.get("stock", key))).toMatchObject({ on_hand: 1 }); // batched: undefined
    expect(await s.transaction((tx) => tx.update("stock", key, { on_hand: 2 }))).toBe(true); // batched: false, yet applied
    await s.close();
  });

  it("a NUL key in update is tracked under another key than the locked read of the same row: a lost update", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema });
    await s.transaction((tx) => tx.insert("stock", stock("x\u0000", 5))); // stored as "x\ufffd"
    const both = gate();
    let arrived = 0;
    const meet = async () => {
      if (++arrived === 2) both.open();
      await both.opened;
    };
    await Promise.all([
      // A: locked read-modify-write by the stored key
      s.transaction(async (tx) => {
        await meet();
        const row = await tx.get("stock", "x\ufffd", { lock: true });
        await tx.update("stock", "x\ufffd", { on_hand: row!.on_hand + 1 });
      }),
      // B: blind write of the same row by the key as given (NUL)
      s.transaction(async (tx) => {
        await meet();
        await tx.update("stock", "x\u0000", { on_hand: 100 });
      }),
    ]);
    // Any serial order (and READ COMMITTED with FOR UPDATE) gives 100 (A, B) or 101 (B, A); the batch gives 6.
    expect([100, 101]).toContain(Number((await rawRow(schema, "stock", "x\ufffd"))?.on_hand));
    await s.close();
  });
});

describe("an update that changes the primary key", () => {
  it("reports true in a batch, as in a solo transaction (RETURNING gives the new key)", async () => {
    const schema = freshSchema();
    const s = postgresStore({ connectionString: POSTGRES_URL, schema });
    await s.transaction((tx) => tx.insert("locks", { id: "a", holder: null, lease_until: null }));
    const updated = await s.transaction((tx) => tx.update("locks", "a", { id: "b" }));
    expect(await rawRow(schema, "locks", "b")).toBeDefined(); // applied…
    expect(updated).toBe(true); // …but the caller is told "no such row"
    await s.close();
  });
});

describe("a connection the server ended before BEGIN", () => {
  it("a solo transaction whose pooled connection is already dead is tried again (ConnectionLost 'not-committed'), not failed with pg's raw error", async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    pool.on("error", () => undefined);
    const s = postgresStore({ pool, schema, batching: false });
    await s.migrate();
    let sabotage = true;
    const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
    pool.connect = (async () => {
      const client = await connect();
      if (!sabotage) return client;
      sabotage = false;
      // The server ends this session (restart, failover, admin); its FATAL is on the wire, unread yet.
      const socket = socketOf(client)!;
      socket.pause();
      const pid = (client as unknown as { processID: number }).processID;
      await admin.query("SELECT pg_terminate_backend($1)", [pid]);
      for (;;) {
        const { rowCount } = await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
        if (!rowCount) break;
      }
      setImmediate(() => socket.resume());
      return client;
    }) as never;
    let runs = 0;
    const outcome = await s
      .transaction(async (tx) => {
        runs++;
        await tx.insert("locks", { id: `run-${runs}`, holder: null, lease_until: null });
        return runs;
      })
      .then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      );
    // not pg's raw "terminating connection due to administrator command": a lost connection before
    // COMMIT is tried again
    expect(outcome).toEqual({ value: 1 });
    await s.close();
    await pool.end();
  });
});
