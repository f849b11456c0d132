import { sampleRow } from "@mika/testing";
import { MIKA_SCHEMA } from "@mika/types";
import pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { postgresStore } from "../src/index.js";
import { admin, freshSchema, POSTGRES_URL } from "./helpers.js";

const eventRow = (seed: number, overrides = {}) =>
  sampleRow("events", seed, { id: `evt-${seed}`, provider: "p", event_id: `e-${seed}`, ...overrides });

describe("postgresStore", () => {
  it("creates its tables, constraints and indexes in the given schema", async () => {
    const schema = freshSchema();
    const store = postgresStore({ connectionString: POSTGRES_URL, schema });
    await store.migrate();
    const { rows } = await admin.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
      [schema],
    );
    expect(rows.map((r) => r.table_name).sort()).toEqual(
      [...Object.keys(MIKA_SCHEMA.tables), "mika_meta"].sort(),
    );
    const columns = await admin.query(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'events'",
      [schema],
    );
    const types = Object.fromEntries(columns.rows.map((r) => [r.column_name, r.data_type]));
    expect(types).toMatchObject({ livemode: "boolean", occurred_at: "bigint", event: "jsonb", raw: "text" });
    const indexes = await admin.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1", [
      schema,
    ]);
    const defs = new Map(indexes.rows.map((r) => [r.indexname as string, r.indexdef as string]));
    expect(defs.has("events_provider_event_id_key")).toBe(true);
    // partial: processed events (no next attempt) stay out of the due-work index
    expect(defs.get("events_next_attempt_at_nn_idx")).toMatch(/WHERE \(next_attempt_at IS NOT NULL\)/);
    expect(defs.has("events_status_next_attempt_at_idx")).toBe(false);
    await store.close();
  });

  it("leaves the global pg type parsers alone", async () => {
    const store = postgresStore({ connectionString: POSTGRES_URL, schema: freshSchema() });
    await store.transaction((tx) => tx.insert("events", eventRow(1)));
    expect(pg.types.getTypeParser(20, "text")("12")).toBe("12");
    const { rows } = await admin.query("SELECT 1::bigint AS n, '{\"a\":1}'::jsonb AS j");
    expect(rows[0]).toEqual({ n: "1", j: { a: 1 } });
    await store.close();
  });

  it("does not end a pool it was given (nor listen to it), and ends one it created", async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    const ownListener = () => undefined;
    pool.on("error", ownListener);
    const store = postgresStore({ pool, schema: freshSchema() });
    await store.transaction((tx) => tx.count("events", {}));
    // The pool's 'error' events (idle connections lost) are the owner's to handle, as the README says.
    expect(pool.listeners("error")).toEqual([ownListener]);
    await store.close();
    expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
    await pool.end();
    await expect(store.transaction(async () => 1)).rejects.toThrow(/closed/);
  });

  it("warns once about a pool passed in with no 'error' listener, and not when one is attached right after", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if ((warning as { code?: string }).code === "MIKA_PG_POOL_UNHEARD") warnings.push(warning);
    };
    process.on("warning", onWarning);
    try {
      const unheard = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
      const first = postgresStore({ pool: unheard, schema: freshSchema() });
      const second = postgresStore({ pool: unheard, schema: freshSchema() }); // same pool: no second warning
      const heard = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
      const third = postgresStore({ pool: heard, schema: freshSchema() });
      heard.on("error", () => undefined); // attached after the store was made: still in time
      await first.transaction((tx) => tx.count("events", {}));
      await vi.waitFor(() => expect(warnings).toHaveLength(1));
      expect(warnings[0]!.message).toMatch(/has no 'error' listener.*attach pool\.on\('error', …\)/);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toHaveLength(1);
      for (const store of [first, second, third]) await store.close();
      await unheard.end();
      await heard.end();
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("claims with SKIP LOCKED across instances: a row locked by one instance is skipped by another", async () => {
    const schema = freshSchema();
    const a = postgresStore({ connectionString: POSTGRES_URL, schema });
    const b = postgresStore({ connectionString: POSTGRES_URL, schema });
    const now = Date.now();
    await a.transaction(async (tx) => {
      for (let i = 0; i < 4; i++)
        await tx.insert("events", eventRow(i, { status: "failed", next_attempt_at: now - 100 + i }));
    });
    const opts = {
      where: { status: "failed" as const },
      dueColumn: "next_attempt_at" as const,
      now,
      leaseMs: 60_000,
    };
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let claimedByA: string[] = [];
    const first = a.transaction(async (tx) => {
      claimedByA = (await tx.claim("events", { ...opts, limit: 2 })).map((r) => r.id);
      await held; // keep the row locks while b claims
    });
    while (claimedByA.length === 0) await new Promise((r) => setTimeout(r, 5));
    const claimedByB = (await b.transaction((tx) => tx.claim("events", { ...opts, limit: 10 }))).map(
      (r) => r.id,
    );
    release();
    await first;
    expect(claimedByA).toEqual(["evt-0", "evt-1"]);
    expect(claimedByB).toEqual(["evt-2", "evt-3"]);
    await Promise.all([a.close(), b.close()]);
  });

  it("a concurrent duplicate insert waits for the first transaction and then returns false", async () => {
    const schema = freshSchema();
    const a = postgresStore({ connectionString: POSTGRES_URL, schema });
    const b = postgresStore({ connectionString: POSTGRES_URL, schema });
    await Promise.all([a.migrate(), b.migrate()]);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inserted = false;
    const first = a.transaction(async (tx) => {
      inserted = await tx.insert("events", eventRow(1, { event_id: "dup" }));
      await held;
    });
    while (!inserted) await new Promise((r) => setTimeout(r, 5));
    let secondDone = false;
    const second = b
      .transaction((tx) => tx.insert("events", eventRow(2, { event_id: "dup" })))
      .then((r) => {
        secondDone = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 100));
    expect(secondDone).toBe(false); // blocked on the first transaction's uncommitted row
    release();
    await first;
    expect(await second).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });
});
