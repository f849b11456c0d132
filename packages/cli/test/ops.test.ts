/**
 * `mika events / events show / replay / maintenance / migrate / orders / subscriptions` run as child
 * processes on a temp SQLite file that a Mika in this process writes to; every answer is checked
 * against what the store holds.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type {
  MaintenanceReport,
  Order,
  Page,
  Subscription,
  WebhookDetail,
  WebhookRecord,
} from "@mika/backend";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TriggerReport } from "../src/trigger.js";
import {
  assertBuilt,
  CLI,
  envelopeOf,
  mika,
  parseJson,
  SECRETS,
  SLOW_MACHINE_TIMEOUT,
  startMikaServer,
  tempDir,
} from "./helpers.js";

type Server = Awaited<ReturnType<typeof startMikaServer>>;

let tmp: ReturnType<typeof tempDir>;
let deferred: Server;
let db: string;
let clockOffset = 0;
const handled: string[] = [];

beforeAll(async () => {
  assertBuilt(CLI);
  tmp = tempDir();
  db = join(tmp.dir, "ops.db");
  // Deferred processing: deliveries are stored `pending` and applied later by replay / maintenance.
  deferred = await startMikaServer(db, {
    config: { processing: "deferred" },
    now: () => new Date(Date.now() + clockOffset),
    on: {
      "checkout.completed": (event) => {
        handled.push(event.eventId);
      },
    },
  });
});
afterAll(async () => {
  await deferred?.close();
  tmp?.remove();
});

const deliver = async (provider: keyof typeof SECRETS, event: string, ...more: string[]) => {
  const ran = await mika([
    "trigger",
    provider,
    event,
    "--to",
    deferred.url(provider),
    "--secret",
    SECRETS[provider],
    "--json",
    ...more,
  ]);
  expect(ran.code).toBe(0);
  const body = envelopeOf(parseJson<TriggerReport>(ran.stdout).deliveries[0]!);
  expect(body.data.status).toBe("accepted");
  return body.data;
};

describe("ops commands on a SQLite file", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  let first: { id: string; eventId: string };
  let others: { id: string; eventId: string }[];

  it("mika events lists what the store holds, with filters", async () => {
    first = await deliver("stripe", "checkout.session.completed", "--checkout", "chk_ops_1");
    others = [
      await deliver("paddle", "transaction.completed", "--checkout", "chk_ops_2"),
      await deliver("lemonsqueezy", "subscription_created"),
    ];
    const ran = await mika(["events", "--db", db, "--json"]);
    expect(ran.code).toBe(0);
    const page = parseJson<Page<WebhookRecord>>(ran.stdout);
    const inProcess = await deferred.mika.webhooks.list();
    expect(inProcess.ok).toBe(true);
    if (!inProcess.ok) return;
    expect(page.items.map((e) => [e.id, e.status, e.eventId])).toEqual(
      inProcess.data.items.map((e) => [e.id, e.status, e.eventId]),
    );
    expect(page.items).toHaveLength(3);
    expect(page.items.every((e) => e.status === "pending")).toBe(true);

    const paddleOnly = parseJson<Page<WebhookRecord>>(
      (await mika(["events", "list", "--db", db, "--provider", "paddle", "--json"])).stdout,
    );
    expect(paddleOnly.items.map((e) => e.id)).toEqual([others[0]!.id]);

    const human = await mika(["events", "--db", db, "--status", "pending"]);
    expect(human.code).toBe(0);
    for (const id of [first.id, ...others.map((o) => o.id)]) expect(human.stdout).toContain(id);
    expect(human.stdout).toContain("checkout.session.completed");
  });

  it("mika events show <id> prints one event with its normalized form", async () => {
    const ran = await mika(["events", "show", first.id, "--db", db, "--json"]);
    expect(ran.code).toBe(0);
    const detail = parseJson<WebhookDetail>(ran.stdout);
    expect(detail.eventId).toBe(first.eventId);
    expect(detail.event?.kind).toBe("checkout.completed");
    expect(detail.event?.checkoutRef).toBe("chk_ops_1");
    expect(JSON.parse(detail.raw!).id).toBe(first.eventId);

    const human = await mika(["events", "show", first.id, "--db", db, "--raw"]);
    expect(human.stdout).toContain(first.eventId);
    expect(human.stdout).toContain("normalized event");
    expect(human.stdout).toContain("raw body");

    const missing = await mika(["events", "show", "evt_nope", "--db", db]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("NOT_FOUND");
  });

  it("mika replay <id> applies a stored event from its normalized form (no provider configured)", async () => {
    expect((await deferred.mika.orders.get("chk_ops_1")).ok).toBe(false);
    const ran = await mika(["replay", first.id, "--db", db, "--json"]);
    expect(ran.code).toBe(0);
    const out = parseJson<{ status: string }>(ran.stdout);
    expect(out.status).toBe("processed");
    const stored = await deferred.mika.webhooks.get(first.id);
    expect(stored.ok && stored.data.status).toBe("processed");
    const order = await deferred.mika.orders.get("chk_ops_1");
    expect(order.ok && order.data.status).toBe("paid");
    expect(order.ok && order.data.provider).toBe("stripe");

    // a second replay does not apply it twice
    const again = parseJson<{ status: string }>(
      (await mika(["replay", first.id, "--db", db, "--json"])).stdout,
    );
    expect(again.status).toBe("processed");
    const orders = await deferred.mika.orders.list({ provider: "stripe" });
    expect(orders.ok && orders.data.items.filter((o) => o.id === "chk_ops_1")).toHaveLength(1);

    const missing = await mika(["replay", "evt_nope", "--db", db]);
    expect(missing.code).toBe(1);
  });

  it("mika maintenance applies the due deferred events", async () => {
    const ran = await mika(["maintenance", "--db", db, "--json"]);
    expect(ran.code).toBe(0);
    const report = parseJson<MaintenanceReport>(ran.stdout);
    expect(report.ran).toBe(true);
    expect(report.events.processed).toBe(2);
    for (const { id } of others) {
      const stored = await deferred.mika.webhooks.get(id);
      expect(stored.ok && stored.data.status).toBe("processed");
    }
    const pending = parseJson<Page<WebhookRecord>>(
      (await mika(["events", "--db", db, "--status", "pending", "--json"])).stdout,
    );
    expect(pending.items).toEqual([]);
    const human = await mika(["maintenance", "--db", db]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/events processed\s*│\s*0/);
  });

  it("handler runs the CLI recorded are left for the app: not run, not marked done", async () => {
    // replay and maintenance above ran in the CLI; the app's handler has not run
    expect(handled).toEqual([]);
    const completions = [first, others[0]!];
    for (const { id } of completions) {
      const detail = await deferred.mika.webhooks.get(id);
      expect(detail.ok).toBe(true);
      if (!detail.ok) return;
      const run = detail.data.handlers.find((h) => h.handler === "on:checkout.completed");
      expect(run?.status).toBe("pending");
      expect(run?.attempts).toBe(0);
    }
    // the app's own maintenance, once the runs are due, runs them with the app's handler, once each
    clockOffset = 10 * 60_000;
    await deferred.mika.maintenance.run();
    await deferred.mika.maintenance.run();
    clockOffset = 0;
    expect([...handled].sort()).toEqual(completions.map((c) => c.eventId).sort());
  });

  it("mika orders and mika subscriptions read the ledger", async () => {
    const orders = parseJson<Page<Order>>((await mika(["orders", "--db", db, "--json"])).stdout);
    const inProcess = await deferred.mika.orders.list();
    expect(inProcess.ok).toBe(true);
    if (!inProcess.ok) return;
    expect(orders.items.map((o) => [o.id, o.status])).toEqual(
      inProcess.data.items.map((o) => [o.id, o.status]),
    );
    expect(orders.items.map((o) => o.id)).toEqual(expect.arrayContaining(["chk_ops_1", "chk_ops_2"]));
    const subs = parseJson<Page<Subscription>>((await mika(["subscriptions", "--db", db, "--json"])).stdout);
    expect(subs.items).toHaveLength(1);
    expect(subs.items[0]!.provider).toBe("lemonsqueezy");
    const human = await mika(["orders", "--db", db, "--status", "paid"]);
    expect(human.stdout).toContain("chk_ops_2");
  });

  it("mika migrate creates a database and is idempotent", async () => {
    const fresh = join(tmp.dir, "fresh.db");
    const first = await mika(["migrate", "--db", fresh, "--json"]);
    expect(first.code).toBe(0);
    expect(parseJson(first.stdout)).toMatchObject({ store: "sqlite", from: 0 });
    const to = parseJson<{ to: number }>(first.stdout).to;
    expect(to).toBeGreaterThanOrEqual(1);
    expect(existsSync(fresh)).toBe(true);
    const again = await mika(["migrate", "--db", fresh]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`schema v${to}, up to date`);
    const empty = parseJson<Page<WebhookRecord>>((await mika(["events", "--db", fresh, "--json"])).stdout);
    expect(empty.items).toEqual([]);
  });

  it("a database that does not exist is an error (exit 1), not a new empty file", async () => {
    const nowhere = join(tmp.dir, "nowhere.db");
    for (const args of [["events"], ["replay", "x"], ["maintenance"], ["orders"]]) {
      const ran = await mika([...args, "--db", nowhere]);
      expect(ran.code).toBe(1);
      expect(ran.stderr).toContain("No database at");
    }
    const asJson = await mika(["events", "--db", nowhere, "--json"]);
    expect(parseJson<{ ok: boolean }>(asJson.stdout).ok).toBe(false);
    expect(existsSync(nowhere)).toBe(false);
  });
});
