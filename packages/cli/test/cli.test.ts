/**
 * The built `mika` bin, run as a child process against a real Mika (three real adapters, SQLite)
 * served over node:http in this process.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KnownEvent, TriggerReport } from "../src/trigger.js";
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
let inline: Server;

beforeAll(async () => {
  assertBuilt(CLI);
  tmp = tempDir();
  inline = await startMikaServer(join(tmp.dir, "inline.db"));
});
afterAll(async () => {
  await inline?.close();
  tmp?.remove();
});

const trigger = (provider: keyof typeof SECRETS, event: string, ...more: string[]) =>
  mika(["trigger", provider, event, "--to", inline.url(provider), "--secret", SECRETS[provider], ...more]);

const parse = (text: string) => parseJson<TriggerReport>(text);

describe("mika trigger", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  const completions = [
    ["stripe", "checkout.session.completed"],
    ["paddle", "transaction.completed"],
    ["lemonsqueezy", "order_created"],
  ] as const;

  for (const [provider, event] of completions) {
    it(`${provider} ${event}: signed with the real scheme, 200 processed, linked to the checkout`, async () => {
      const checkout = `chk_cli_${provider}_${Date.now()}`;
      const ran = await trigger(provider, event, "--checkout", checkout);
      expect(ran.stderr).toBe("");
      expect(ran.code).toBe(0);
      expect(ran.stdout).toMatch(/← 200 processed/);
      expect(ran.stdout).toContain(`"kind": "checkout.completed"`);
      // the adapter read the checkout id where the trigger put it: the order has the checkout's id
      const order = await inline.mika.orders.get(checkout);
      expect(order.ok && order.data.status).toBe("paid");
      expect(order.ok && order.data.provider).toBe(provider);
    });
  }

  it("--json prints the report; the event is stored under the printed event id", async () => {
    const ran = await trigger("stripe", "invoice.paid", "--json");
    expect(ran.code).toBe(0);
    const report = parse(ran.stdout);
    expect(report.ok).toBe(true);
    expect(report.deliveries).toHaveLength(1);
    expect(report.deliveries[0]!.status).toBe(200);
    const data = envelopeOf(report.deliveries[0]!).data;
    expect(data.eventId).toBe(report.eventId);
    expect(report.eventId).toMatch(/^evt_[0-9a-z]{24}$/);
    const stored = await inline.mika.webhooks.get(data.id);
    expect(stored.ok && stored.data.eventId).toBe(report.eventId);
    expect(stored.ok && stored.data.eventType).toBe("invoice.paid");
  });

  it("gives every run fresh ids and timestamps of now", async () => {
    const a = parse((await trigger("paddle", "subscription.updated", "--json")).stdout);
    const b = parse((await trigger("paddle", "subscription.updated", "--json")).stdout);
    expect(a.eventId).not.toBe(b.eventId);
    const event = await inline.mika.webhooks.get(envelopeOf(a.deliveries[0]!).data.id);
    expect(event.ok).toBe(true);
    if (!event.ok) return;
    expect(Math.abs(Date.parse(event.data.occurredAt) - Date.now())).toBeLessThan(60_000);
  });

  it("--set overrides dotted paths with JSON values", async () => {
    const checkout = `chk_cli_set_${Date.now()}`;
    const ran = await trigger(
      "stripe",
      "checkout.session.completed",
      "--checkout",
      checkout,
      "--set",
      "data.object.amount_total=4321",
      "--set",
      "data.object.currency=eur",
      "--set",
      "data.object.customer_details.email=buyer@example.test",
    );
    expect(ran.code).toBe(0);
    const order = await inline.mika.orders.get(checkout);
    expect(order.ok).toBe(true);
    if (!order.ok) return;
    expect(order.data.amount).toBe(4321);
    expect(order.data.currency).toBe("EUR");
    expect(order.data.customerEmail).toBe("buyer@example.test");
  });

  it("--repeat 5: one event id, 1 processed + 4 duplicates, applied once", async () => {
    const ran = await trigger(
      "lemonsqueezy",
      "subscription_payment_success",
      "--repeat",
      "5",
      "--concurrency",
      "5",
      "--json",
    );
    expect(ran.code).toBe(0);
    const report = parse(ran.stdout);
    expect(report.summary).toEqual({ "200 processed": 1, "200 duplicate": 4 });
    const ids = new Set(report.deliveries.map((d) => envelopeOf(d).data.eventId));
    expect(ids.size).toBe(1);
    const rowIds = new Set(report.deliveries.map((d) => envelopeOf(d).data.id));
    expect(rowIds.size).toBe(1);
    const stored = await inline.mika.webhooks.get([...rowIds][0] as string);
    expect(stored.ok && stored.data.duplicates).toBe(4);
    expect(stored.ok && stored.data.status).toBe("processed");
  });

  it("--repeat prints a summary table of outcomes", async () => {
    const ran = await trigger("paddle", "transaction.paid", "--repeat", "3", "--concurrency", "1");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/3 deliveries of one event/);
    expect(ran.stdout).toMatch(/200 processed\s*│\s*1/);
    expect(ran.stdout).toMatch(/200 duplicate\s*│\s*2/);
  });

  for (const provider of ["stripe", "paddle", "lemonsqueezy"] as const) {
    it(`${provider} --tamper: the endpoint answers 400, exit code 1, nothing stored`, async () => {
      const before = await inline.mika.webhooks.list({ provider, limit: 500 });
      const event =
        provider === "stripe" ? "invoice.paid" : provider === "paddle" ? "transaction.paid" : "order_created";
      const ran = await trigger(provider, event, "--tamper");
      expect(ran.code).toBe(1);
      expect(ran.stdout).toMatch(/← 400 WEBHOOK_INVALID/);
      expect(ran.stdout).toContain("SIGNATURE_INVALID");
      const after = await inline.mika.webhooks.list({ provider, limit: 500 });
      expect(after.ok && after.data.items.length).toBe(before.ok && before.data.items.length);
    });
  }

  it("a wrong secret is rejected the same way (the signature is real, not decorative)", async () => {
    const ran = await mika([
      "trigger",
      "stripe",
      "invoice.paid",
      "--to",
      inline.url("stripe"),
      "--secret",
      "whsec_wrong",
      "--json",
    ]);
    expect(ran.code).toBe(1);
    const report = parse(ran.stdout);
    expect(report.deliveries[0]!.status).toBe(400);
    expect(envelopeOf(report.deliveries[0]!).error.code).toBe("WEBHOOK_INVALID");
  });

  it("never prints the secret (human, --json, --dry-run, errors)", async () => {
    const secret = SECRETS.stripe;
    const runs = await Promise.all([
      trigger("stripe", "invoice.paid"),
      trigger("stripe", "invoice.paid", "--json"),
      trigger("stripe", "invoice.paid", "--dry-run"),
      trigger("stripe", "invoice.paid", "--tamper", "--json"),
      mika(["trigger", "stripe", "invoice.paid", "--to", "http://127.0.0.1:1/x", "--secret", secret]),
      mika(["trigger", "stripe", "invoice.paid", "--to", inline.url("stripe")], {
        env: { MIKA_WEBHOOK_SECRET: secret },
      }),
    ]);
    for (const ran of runs) {
      expect(ran.stdout + ran.stderr).not.toContain(secret);
      expect(ran.stdout + ran.stderr).not.toContain(secret.slice(6));
    }
    expect(runs[4]!.code).toBe(1); // nothing listens there
    expect(runs[5]!.code).toBe(0); // the secret from the environment works
  });

  it("--dry-run prints the signed headers and the body, sends nothing", async () => {
    const before = await inline.mika.webhooks.list({ limit: 500 });
    const ran = await mika([
      "trigger",
      "paddle",
      "transaction.completed",
      "--dry-run",
      "--checkout",
      "chk_dry",
      "--json",
    ]);
    expect(ran.code).toBe(0);
    const out = parseJson<{
      headers: Record<string, string>;
      body: { data: { custom_data: Record<string, string> } };
    }>(ran.stdout);
    expect(out.headers["paddle-signature"]).toMatch(/^ts=\d+;h1=[0-9a-f]{64}$/);
    expect(out.body.data.custom_data.mika_checkout_id).toBe("chk_dry");
    const after = await inline.mika.webhooks.list({ limit: 500 });
    expect(after.ok && after.data.items.length).toBe(before.ok && before.data.items.length);
  });

  it("--list shows what it can build per provider, fixtures and derived ones", async () => {
    const ran = await mika(["trigger", "--list", "--json"]);
    expect(ran.code).toBe(0);
    const list = parseJson<KnownEvent[]>(ran.stdout);
    const has = (provider: string, event: string) =>
      list.some((e) => e.provider === provider && e.event === event);
    expect(has("stripe", "checkout.session.completed")).toBe(true);
    expect(has("stripe", "customer.subscription.updated")).toBe(true);
    expect(has("paddle", "adjustment.updated")).toBe(true);
    expect(has("lemonsqueezy", "order_refunded")).toBe(true);
    expect(list.every((e) => ["stripe", "paddle", "lemonsqueezy"].includes(e.provider))).toBe(true);
    const human = await mika(["trigger", "lemonsqueezy", "--list"]);
    expect(human.stdout).toContain("order_created");
    expect(human.stdout).not.toContain("transaction.completed");
  });

  it("every event it lists is accepted and verified by the real adapter", async () => {
    const list = parseJson<KnownEvent[]>((await mika(["trigger", "--list", "--json"])).stdout);
    // four child processes at a time: the machine running the tests may have two cores
    const results: Awaited<ReturnType<typeof trigger>>[] = [];
    for (let i = 0; i < list.length; i += 4) {
      const batch = list.slice(i, i + 4);
      results.push(...(await Promise.all(batch.map((e) => trigger(e.provider, e.event, "--json")))));
    }
    for (const [i, ran] of results.entries()) {
      expect({ event: list[i], code: ran.code }).toEqual({ event: list[i], code: 0 });
      const body = envelopeOf(parse(ran.stdout).deliveries[0]!);
      expect(["processed", "ignored", "parked"]).toContain(body.data.status);
    }
  });
});

describe("output into a pipe", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  it("ends quietly with 0 when the reader closes early (mika … | head)", async () => {
    // more than a pipe's buffer (64 KiB), so the write meets the closed pipe
    const note = JSON.stringify("x".repeat(120_000));
    const child = spawn(
      process.execPath,
      [
        CLI,
        "trigger",
        "stripe",
        "checkout.session.completed",
        "--dry-run",
        "--secret",
        "whsec_pipe",
        "--set",
        `data.object.metadata.note=${note}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.once("data", () => child.stdout.destroy()); // what `head -c 10` does
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});

describe("usage errors exit 2 with help", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  const cases: [string, string[]][] = [
    ["no command", []],
    ["unknown command", ["bogus"]],
    ["unknown provider", ["trigger", "bogus", "x"]],
    ["missing event", ["trigger", "stripe", "--to", "http://x", "--secret", "s"]],
    ["unknown event", ["trigger", "stripe", "no.such.event", "--to", "http://x", "--secret", "s"]],
    ["missing --to", ["trigger", "stripe", "invoice.paid", "--secret", "s"]],
    [
      "bad --repeat",
      ["trigger", "stripe", "invoice.paid", "--to", "http://x", "--secret", "s", "--repeat", "0"],
    ],
    [
      "bad --set",
      [
        "trigger",
        "stripe",
        "invoice.paid",
        "--to",
        "http://127.0.0.1:1",
        "--secret",
        "s",
        "--set",
        "novalue",
      ],
    ],
    ["unknown option", ["events", "--nope"]],
    ["bad --status", ["events", "--status", "weird"]],
    ["replay without id", ["replay"]],
  ];
  for (const [name, args] of cases) {
    it(name, async () => {
      const ran = await mika(args);
      expect(ran.code).toBe(2);
      expect(ran.stdout + ran.stderr).toMatch(/Usage: mika|--help/);
    });
  }

  it("--help, help <command> and --version exit 0", async () => {
    const helps = [
      ["--help"],
      ["trigger", "--help"],
      ["events", "show", "--help"],
      ["replay", "--help"],
      ["maintenance", "--help"],
      ["migrate", "--help"],
      ["help", "events"],
    ];
    for (const ran of await Promise.all(helps.map((args) => mika(args)))) {
      expect(ran.code).toBe(0);
      expect(ran.stdout).toMatch(/Usage: mika/);
    }
    const version = await mika(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await mika(["--help"])).stdout).toContain("Exit codes: 0 ok, 1");
  });
});
