/**
 * The store commands on Postgres (`--postgres <url> --schema <name>`), against the database the other
 * Postgres tests use. Like them, this fails loudly when Postgres is unreachable: it never skips.
 */

import { join } from "node:path";
import { createMika, type Mika, type Page, type WebhookRecord } from "@mika/backend";
import { postgresStore } from "@mika/store-postgres";
import { stripeProvider } from "@mika/stripe";
import type { MikaStore } from "@mika/types";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildEvent, signBody } from "../src/trigger.js";
import { assertBuilt, CLI, mika, parseJson, SECRETS, SLOW_MACHINE_TIMEOUT, tempDir } from "./helpers.js";

const POSTGRES_URL = process.env.MIKA_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `mika_cli_${process.pid}_${Date.now().toString(36)}`;
const target = ["--postgres", POSTGRES_URL, "--schema", schema];

let store: MikaStore;
let app: Mika;

beforeAll(async () => {
  assertBuilt(CLI);
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Postgres is unreachable at ${POSTGRES_URL} (${String(error)}): start it or set MIKA_TEST_POSTGRES_URL.`,
    );
  } finally {
    await admin.end().catch(() => {});
  }
});
afterAll(async () => {
  await store?.close();
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe("store commands on Postgres", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  it("migrate, then events / replay read and change what the app stored", async () => {
    const migrated = await mika(["migrate", ...target, "--json"]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(parseJson(migrated.stdout)).toMatchObject({ store: "postgres", from: 0 });

    store = postgresStore({ connectionString: POSTGRES_URL, schema });
    app = createMika({
      providers: [stripeProvider({ webhookSecret: SECRETS.stripe })],
      store,
      config: { processing: "deferred", logger: { info() {}, warn() {}, error() {} } },
    });
    const built = buildEvent("stripe", "checkout.session.completed", { checkout: "chk_pg_1" });
    const signed = await signBody("stripe", built.body, SECRETS.stripe);
    const received = await app.webhooks.receive({
      provider: "stripe",
      request: new Request("http://app/api/mika/webhooks/stripe", {
        method: "POST",
        headers: signed.headers,
        body: signed.rawBody,
      }),
    });
    expect(received.ok && received.data.status).toBe("accepted");
    if (!received.ok) return;

    const listed = await mika(["events", ...target, "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const page = parseJson<Page<WebhookRecord>>(listed.stdout);
    expect(page.items.map((e) => [e.id, e.eventId, e.status])).toEqual([
      [received.data.id, built.eventId, "pending"],
    ]);

    const replayed = await mika(["replay", received.data.id, ...target, "--json"]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(parseJson<{ status: string }>(replayed.stdout).status).toBe("processed");
    const order = await app.orders.get("chk_pg_1");
    expect(order.ok && order.data.status).toBe("paid");

    const orders = await mika(["orders", ...target]);
    expect(orders.stdout).toContain("chk_pg_1");
    // the password of a connection string never shows up in messages
    const wrong = await mika(["events", "--postgres", "postgres://u:hunter2secret@127.0.0.1:1/x", "--json"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout + wrong.stderr).not.toContain("hunter2secret");
    // …nor when it is a parameter of the URL
    const asParameter = await mika([
      "migrate",
      "--postgres",
      `${POSTGRES_URL}?password=hunter2param`,
      "--schema",
      schema,
    ]);
    expect(asParameter.code, asParameter.stderr).toBe(0);
    expect(asParameter.stdout).toContain("password=***");
    expect(asParameter.stdout + asParameter.stderr).not.toContain("hunter2param");
  });

  it("a read command refuses a schema without Mika's tables, and creates nothing", async () => {
    const typo = `${schema}_typo`;
    const events = await mika(["events", "--postgres", POSTGRES_URL, "--schema", typo]);
    expect(events.code).toBe(1);
    expect(events.stderr).toMatch(/No Mika tables in postgres .*schema mika_cli_\w+_typo.*mika migrate/s);
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    const found = await admin.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [
      typo,
    ]);
    await admin.end();
    expect(found.rowCount).toBe(0);
  });

  it("a --db typed on the command line wins over MIKA_POSTGRES_URL from the environment", async () => {
    const { dir, remove } = tempDir();
    try {
      const file = join(dir, "local.db");
      expect((await mika(["migrate", "--db", file])).code).toBe(0);
      const env = { MIKA_POSTGRES_URL: "postgres://app:secret@127.0.0.1:1/prod" };
      const local = await mika(["events", "--db", file, "--json"], { env });
      expect(local.code, local.stderr).toBe(0);
      expect(parseJson<Page<WebhookRecord>>(local.stdout).items).toEqual([]);
      const both = await mika(["events", "--db", file, "--postgres", POSTGRES_URL]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("pass --db or --postgres, not both");
    } finally {
      remove();
    }
  });
});
