/**
 * The read-only ops commands (`events`, `events show`, `orders`, `subscriptions`) must not
 * write to the app's database: no schema migration behind the app's back, no Mika tables created in
 * a file that is not a Mika database.
 */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { postgresStore } from "@mika/store-postgres";
import { sqliteStore } from "@mika/store-sqlite";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, CLI, mika, SLOW_MACHINE_TIMEOUT, tempDir } from "./helpers.js";

const POSTGRES_URL = process.env.MIKA_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `mika_cli_readonly_${process.pid}_${Date.now().toString(36)}`;

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  assertBuilt(CLI);
  tmp = tempDir();
});
afterAll(async () => {
  tmp?.remove();
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

const READ_COMMANDS = [["events"], ["events", "show", "evt_x"], ["orders"], ["subscriptions"]];

describe("read commands do not write", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  it("SQLite: `mika events/orders/…` on an app database at an older schema version leave its version alone", async () => {
    const file = join(tmp.dir, "old.db");
    const store = sqliteStore({ file });
    await store.migrate();
    await store.close();
    // the app (an older @mika release) is at schema version 2
    const db = new Database(file);
    db.prepare("UPDATE mika_meta SET version = 2 WHERE id = 'schema'").run();
    db.close();

    for (const args of READ_COMMANDS) {
      await mika([...args, "--db", file]);
      const check = new Database(file, { readonly: true });
      const { version } = check.prepare("SELECT version FROM mika_meta").get() as { version: number };
      check.close();
      expect(version, `mika ${args.join(" ")} migrated the app's database`).toBe(2);
    }
  });

  it("SQLite: `mika events` on an existing file that is not a Mika database is an error, and creates no tables", async () => {
    const file = join(tmp.dir, "not-mika.db");
    writeFileSync(file, ""); // e.g. `touch mika.db`, or the app's own non-Mika database by mistake
    const ran = await mika(["events", "--db", file]);
    expect(ran.code).toBe(1);
    expect(statSync(file).size).toBe(0);
  });

  it("Postgres: `mika events` on a schema at an older version leaves its version alone", async () => {
    const store = postgresStore({ connectionString: POSTGRES_URL, schema });
    await store.migrate();
    await store.close();
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`UPDATE "${schema}".mika_meta SET version = 2`);
      const ran = await mika(["events", "--postgres", POSTGRES_URL, "--schema", schema]);
      expect(ran.code, ran.stderr).toBeDefined();
      const { rows } = await admin.query(`SELECT version FROM "${schema}".mika_meta`);
      expect(rows[0].version).toBe(2);
    } finally {
      await admin.end();
    }
  });
});
