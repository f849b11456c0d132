import { type IndexSpec, MIKA_SCHEMA, type StoreTx, type TableSpec } from "@mika/types";
import Database from "better-sqlite3";
import type { CompiledQuery } from "kysely";
import { describe, expect, it } from "vitest";
import { sqliteDialect, sqliteStore } from "../src/index.js";
import { indexName, MIGRATIONS, metaTableDdl, sqlTransaction } from "../src/sql.js";
import { tempDbFile } from "./helpers.js";
import { eventRow } from "./rows.js";

const tables = MIKA_SCHEMA.tables as Record<string, TableSpec>;

/** Every index the file holds (name → its SQL), autoindexes of unique constraints left out. */
function indexesOf(db: Database.Database): Map<string, string> {
  const rows = db
    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    .all() as { name: string; sql: string }[];
  return new Map(rows.map((r) => [r.name, r.sql]));
}

/** How many entries an index b-tree holds (dbstat counts its cells). */
function entries(db: Database.Database, index: string): number {
  const row = db
    .prepare("SELECT coalesce(sum(ncell), 0) AS n FROM dbstat WHERE name = ? AND pagetype = 'leaf'")
    .get(index) as { n: number };
  return row.n;
}

/** The SQL a transaction function would run, captured without executing it. */
async function compiledBy(fn: (tx: StoreTx) => Promise<unknown>): Promise<CompiledQuery[]> {
  const seen: CompiledQuery[] = [];
  const { tx } = sqlTransaction(sqliteDialect(), async (query) => {
    seen.push(query);
    return { rows: [], affected: 0 };
  });
  await fn(tx);
  return seen;
}

function planOf(db: Database.Database, query: CompiledQuery): string {
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...(query.parameters as unknown[])) as {
    detail: string;
  }[];
  return rows.map((r) => r.detail).join(" | ");
}

describe("sqlite schema", () => {
  it("creates exactly MIKA_SCHEMA's indexes, partial ones with their WHERE", async () => {
    const file = tempDbFile();
    const store = sqliteStore({ file });
    await store.migrate();
    await store.close();
    const db = new Database(file, { readonly: true });
    const found = indexesOf(db);
    const expected = Object.entries(tables).flatMap(([table, spec]) =>
      spec.indexes.map((index: IndexSpec) => ({ table, index, name: indexName(table, index) })),
    );
    expect([...found.keys()].sort()).toEqual(expected.map((e) => e.name).sort());
    for (const { name, index } of expected) {
      if (index.whereNotNull) expect(found.get(name)).toMatch(/ where "?\w+"? is not null$/i);
      else expect(found.get(name)).not.toMatch(/ where /i);
    }
    db.close();
  });

  it("migrates a version-1 database to the current version, keeping its rows", async () => {
    const file = tempDbFile();
    const db = new Database(file);
    const exec = async (query: CompiledQuery) => {
      const statement = db.prepare(query.sql);
      if (statement.reader) return { rows: statement.all(...(query.parameters as unknown[])), affected: 0 };
      return { rows: [], affected: statement.run(...(query.parameters as unknown[])).changes };
    };
    // A database as version 1 of this package left it, with an event in it.
    await exec(metaTableDdl(sqliteDialect()));
    for (const statement of MIGRATIONS[0]!.statements(sqliteDialect())) await exec(statement);
    db.prepare("INSERT INTO mika_meta (id, version) VALUES ('schema', 1)").run();
    expect(indexesOf(db).has("handler_runs_event_row_id_idx")).toBe(true);
    const v1 = await compiledBy((tx) => tx.insert("events", eventRow(1)));
    await exec(v1[0]!);
    db.close();

    const store = sqliteStore({ file });
    expect(await store.schemaVersion()).toBe(1);
    expect(await store.migrate()).toEqual({ from: 1, to: MIKA_SCHEMA.version });
    expect(await store.transaction((tx) => tx.get("events", "evt-1"))).toMatchObject({ event_id: "e-1" });
    await store.close();

    const after = new Database(file, { readonly: true });
    const names = [...indexesOf(after).keys()];
    expect(names).not.toContain("handler_runs_event_row_id_idx");
    expect(names).not.toContain("events_status_next_attempt_at_idx");
    expect(names).toContain("events_next_attempt_at_nn_idx");
    expect(names).toContain("orders_provider_provider_order_ref_nn_idx");
    after.close();
  });

  it("keeps a processed event out of the due-work and parked indexes; the queries for those use them", async () => {
    const file = tempDbFile();
    const store = sqliteStore({ file });
    await store.transaction(async (tx) => {
      await tx.insert(
        "events",
        eventRow(1, { status: "processed", next_attempt_at: null, parked_reason: null }),
      );
      await tx.insert(
        "events",
        eventRow(2, { status: "pending", next_attempt_at: 5, parked_reason: "awaiting-order:chk_1" }),
      );
    });
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(entries(db, "events_next_attempt_at_nn_idx")).toBe(1);
    expect(entries(db, "events_parked_reason_nn_idx")).toBe(1);
    expect(entries(db, "events_received_at_idx")).toBe(2);

    const [claim] = await compiledBy((tx) =>
      tx.claim("events", {
        where: { status: { in: ["pending", "failed"] }, next_attempt_at: { ne: null } },
        dueColumn: "next_attempt_at",
        now: 10,
        leaseMs: 1000,
        limit: 100,
      }),
    );
    expect(planOf(db, claim!)).toContain("events_next_attempt_at_nn_idx");
    const [parked] = await compiledBy((tx) =>
      tx.find("events", { status: "pending", parked_reason: "awaiting-order:chk_1" }, { limit: 50 }),
    );
    expect(planOf(db, parked!)).toContain("events_parked_reason_nn_idx");
    const [byOrderRef] = await compiledBy((tx) =>
      tx.find("orders", { provider: "p", provider_order_ref: "o_1" }, { limit: 1 }),
    );
    expect(planOf(db, byOrderRef!)).toContain("orders_provider_provider_order_ref_nn_idx");
    const [stale] = await compiledBy((tx) =>
      tx.find("orders", { status: { in: ["pending", "awaiting_payment"] }, expires_at: { lte: 10 } }),
    );
    expect(planOf(db, stale!)).toContain("orders_status_expires_at_nn_idx");
    db.close();
  });
});
