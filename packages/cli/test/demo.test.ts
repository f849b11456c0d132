/**
 * `pnpm demo` end to end: the built demo script, spawned as `pnpm demo` spawns it, must exit 0 and its
 * ledger must show, per provider, the statuses the story produces.
 */
import type { Order, Subscription, WebhookRecord } from "@mika/backend";
import { beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, DEMO, parseJson, runNode, SLOW_MACHINE_TIMEOUT } from "./helpers.js";

interface Step {
  step: string;
  expected: string;
  actual: string;
  ok: boolean;
}
interface DemoReport {
  ok: boolean;
  stories: Record<string, { steps: Step[]; orderId?: string; subscriptionRef?: string }>;
  orders: Order[];
  subscriptions: Subscription[];
  events: WebhookRecord[];
  warnings: string[];
}

const PROVIDERS = ["stripe", "paddle", "lemonsqueezy"] as const;

beforeAll(() => assertBuilt(DEMO));

describe("pnpm demo", { timeout: SLOW_MACHINE_TIMEOUT }, () => {
  it("--json: exits 0 and every provider's story ends with the expected ledger", async () => {
    const ran = await runNode(DEMO, ["--json"], { timeoutMs: 120_000 });
    expect(ran.code, `stderr: ${ran.stderr}\nstdout: ${ran.stdout.slice(-3000)}`).toBe(0);
    expect(ran.stderr).toBe("");
    const report = parseJson<DemoReport>(ran.stdout);
    expect(report.ok).toBe(true);
    for (const provider of PROVIDERS) {
      const story = report.stories[provider]!;
      expect(story.steps.map((s) => s.step)).toEqual([
        "checkout started",
        "signed completion webhook",
        "order after payment",
        "duplicate delivery",
        "tampered delivery",
        "subscription checkout completed",
        "subscription order after payment",
        "newer subscription snapshot",
        "older snapshot, delivered late",
        "subscription keeps the newer state",
        "refund event",
        "order after the refund",
      ]);
      for (const step of story.steps) expect(step, `${provider}: ${step.step}`).toMatchObject({ ok: true });

      // the ledger itself, not only the story's own checks
      const order = report.orders.find((o) => o.id === story.orderId);
      expect(order).toMatchObject({
        provider,
        status: "partially_refunded",
        refundedAmount: 1000,
        amount: 2500,
      });
      const subscription = report.subscriptions.find((s) => s.subscriptionRef === story.subscriptionRef);
      expect(subscription).toMatchObject({ provider, status: "past_due" });

      // the ops view: the completion stored once with one duplicate, the late snapshot ignored, no tampered row
      const events = report.events.filter((e) => e.provider === provider);
      const completions = events.filter((e) => e.kind === "checkout.completed");
      expect(completions).toHaveLength(2); // the T-shirt and the subscription checkout
      expect(completions.map((e) => e.duplicates).sort()).toEqual([0, 1]);
      const snapshots = events.filter((e) => e.kind === "subscription.updated");
      expect(snapshots.map((e) => e.status)).toEqual(["processed", "ignored"]);
      expect(events.filter((e) => e.kind === "refund.updated").map((e) => e.status)).toEqual(["processed"]);
      expect(events.every((e) => e.status !== "failed")).toBe(true);
    }
    expect(report.orders).toHaveLength(6);
    // the backend warned about the three tampered deliveries and nothing else
    expect(report.warnings).toEqual(["webhook rejected", "webhook rejected", "webhook rejected"]);
  });

  it("prints the ledger and the ops view as tables", async () => {
    const ran = await runNode(DEMO, [], { timeoutMs: 120_000 });
    expect(ran.code, `stderr: ${ran.stderr}\nstdout: ${ran.stdout.slice(-3000)}`).toBe(0);
    expect(ran.stdout).toContain("Ledger: orders");
    expect(ran.stdout).toContain("Ledger: subscriptions");
    expect(ran.stdout).toContain("Ops view: webhook events");
    expect(ran.stdout).not.toContain("✗");
    for (const provider of PROVIDERS) {
      expect(ran.stdout).toMatch(
        new RegExp(`│ ${provider}\\s+│ partially_refunded\\s+│ USD 25\\.00 │ USD 10\\.00`),
      );
      expect(ran.stdout).toMatch(new RegExp(`│ ${provider}\\s+│ past_due`));
    }
    expect(ran.stdout).toMatch(/every step behaved/);
  });
});
