import { encodeRow, MIGRATIONS, metaTableDdl } from "@mika/store-sqlite/sql";
import { sampleRow } from "@mika/testing";
import { MIKA_SCHEMA } from "@mika/types";
import { describe, expect, it } from "vitest";
import { postgresDialect, postgresStore } from "../src/index.js";
import { admin, freshSchema, POSTGRES_URL } from "./helpers.js";

describe("postgresStore migrations", () => {
  it("upgrades a version-1 schema to the current version, keeping its rows", async () => {
    const schema = freshSchema();
    const dialect = postgresDialect(schema);
    // The schema as version 1 of this package left it, with an event in it.
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(metaTableDdl(dialect).sql);
    for (const statement of MIGRATIONS[0]!.statements(dialect)) {
      await admin.query(statement.sql, statement.parameters as unknown[]);
    }
    await admin.query(`INSERT INTO "${schema}".mika_meta (id, version) VALUES ('schema', 1)`);
    const event = sampleRow("events", 1, { id: "evt-1", provider: "p", event_id: "e-1" });
    const insert = dialect.db
      .insertInto("events")
      .values(encodeRow(dialect, "events", { ...event }))
      .compile();
    await admin.query(insert.sql, insert.parameters as unknown[]);
    const store = postgresStore({ connectionString: POSTGRES_URL, schema });
    expect(await store.schemaVersion()).toBe(1);
    const before = await admin.query("SELECT indexname FROM pg_indexes WHERE schemaname = $1", [schema]);
    expect(before.rows.map((r) => r.indexname)).toContain("handler_runs_event_row_id_idx");

    expect(await store.migrate()).toEqual({ from: 1, to: MIKA_SCHEMA.version });
    expect(await store.transaction((tx) => tx.get("events", "evt-1"))).toMatchObject({ event_id: "e-1" });
    const after = await admin.query("SELECT indexname FROM pg_indexes WHERE schemaname = $1", [schema]);
    const names = after.rows.map((r) => r.indexname);
    expect(names).not.toContain("handler_runs_event_row_id_idx");
    expect(names).toContain("handler_runs_next_attempt_at_nn_idx");
    expect(names).toContain("orders_status_expires_at_nn_idx");
    await store.close();
  });
});
