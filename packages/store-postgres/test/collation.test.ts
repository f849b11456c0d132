import { encodeRow, MIGRATIONS, metaTableDdl } from "@mika/store-sqlite/sql";
import { runStoreConformance, sampleRow } from "@mika/testing";
import { MIKA_SCHEMA, type MikaStore } from "@mika/types";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDialect, postgresStore } from "../src/index.js";
import { admin, POSTGRES_URL, rawTypes } from "./helpers.js";

// Production databases are often created with a linguistic collation (ICU, or glibc's en_US.UTF-8, the
// default of many hosted Postgres services). Under one, ";" sorts before ":" and case and accents are
// compared apart from code points: the store must not depend on the database's collation. The test
// database is C.UTF-8, so these tests make a database of their own with the ICU en-US collation.
const database = `mika_icu_${process.pid}_${Date.now().toString(36)}`;
const url = new URL(POSTGRES_URL);
url.pathname = `/${database}`;
const ICU_URL = url.toString();
let icu: pg.Pool;
let counter = 0;

beforeAll(async () => {
  await admin.query(
    `CREATE DATABASE "${database}" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`,
  );
  icu = new pg.Pool({ connectionString: ICU_URL, max: 4 });
  // The database is dropped WITH (FORCE) at the end: a connection still closing then is cut off, and
  // that is expected, not a failure of the run.
  icu.on("error", () => undefined);
  // The premise: this database's default collation is not code point order.
  const { rows } = await icu.query(`SELECT 'run:x' < 'run;' AS ordered`);
  expect(rows[0].ordered).toBe(false);
});

afterAll(async () => {
  await icu?.end();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
});

/** A schema of its own in the ICU database (dropped with the database). */
const freshIcuSchema = () => `mika_icu_test_${++counter}`;

const schemaOf = new WeakMap<MikaStore, string>();

describe("on a database whose default collation is ICU en-US", () => {
  runStoreConformance({
    name: "postgresStore (own schema per check)",
    makeStore() {
      const schema = freshIcuSchema();
      const store = postgresStore({ connectionString: ICU_URL, schema, max: 4 });
      schemaOf.set(store, schema);
      return store;
    },
    probe: {
      async row(table, key, store) {
        const { rows } = await icu.query({
          text: `SELECT * FROM "${schemaOf.get(store)!}"."${table}" WHERE id = $1`,
          values: [key],
          types: rawTypes,
        });
        return rows[0];
      },
    },
  });

  it("migration 3 makes a version-2 schema's key ranges hold, keeping its rows", async () => {
    const schema = freshIcuSchema();
    const dialect = postgresDialect(schema);
    // The schema as version 2 of this package left it (text in the database's collation), with the
    // handler runs of one event in it.
    await icu.query(`CREATE SCHEMA "${schema}"`);
    await icu.query(metaTableDdl(dialect).sql);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
      for (const statement of migration.statements(dialect)) {
        await icu.query(statement.sql, statement.parameters as unknown[]);
      }
    }
    await icu.query(`INSERT INTO "${schema}".mika_meta (id, version) VALUES ('schema', 2)`);
    for (const [n, handler] of ["on:payment.succeeded", "notify:order.paid"].entries()) {
      const run = sampleRow("handler_runs", n, {
        id: `evt_1:${n}:${handler}`,
        event_row_id: "evt_1",
        handler,
      });
      const insert = dialect.db
        .insertInto("handler_runs")
        .values(encodeRow(dialect, "handler_runs", { ...run }))
        .compile();
      await icu.query(insert.sql, insert.parameters as unknown[]);
    }
    const store = postgresStore({ connectionString: ICU_URL, schema });
    try {
      expect(await store.schemaVersion()).toBe(2);
      const range = { id: { gte: "evt_1:", lt: "evt_1;" } };
      // what the backend's webhooks.get asks for an event's handler runs
      const find = () => store.transaction((tx) => tx.find("handler_runs", range));
      // the store migrates on its first transaction, so read version 2 through raw SQL
      const before = await icu.query(`SELECT id FROM "${schema}".handler_runs WHERE id >= $1 AND id < $2`, [
        "evt_1:",
        "evt_1;",
      ]);
      expect(before.rows).toEqual([]);
      expect(await store.migrate()).toEqual({ from: 2, to: MIKA_SCHEMA.version });
      expect((await find()).map((r) => r.id).sort()).toEqual([
        "evt_1:0:on:payment.succeeded",
        "evt_1:1:notify:order.paid",
      ]);
      const { rows } = await icu.query(
        `SELECT count(*)::int AS n FROM information_schema.columns
         WHERE table_schema = $1 AND table_name <> 'mika_meta' -- (one row, never ranged over)
           AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'`,
        [schema],
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await store.close();
    }
  });
});
