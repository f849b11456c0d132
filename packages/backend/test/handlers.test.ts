import type { HandlerRunRow, MikaStore } from "@mika/types";
import { describe, expect, it, vi } from "vitest";
import { formatAmount, memoryStore, type NotificationIntent, renderNotification } from "../src/index.js";
import { completed, refunded, setup, storeWithTx } from "./helpers.js";

describe("host handlers", () => {
  it("run after the commit with the event and the order, typed by kind", async () => {
    const seen: { kind: string; amount?: number; orderStatus?: string }[] = [];
    const { deliver } = setup({
      on: {
        "checkout.completed": async (event, ctx) => {
          seen.push({
            kind: event.kind,
            ...(event.amount !== undefined ? { amount: event.amount } : {}),
            ...(ctx.order ? { orderStatus: ctx.order.status } : {}),
          });
        },
      },
    });
    await deliver(completed(), "msg_h1");
    expect(seen).toEqual([{ kind: "checkout.completed", amount: 1500, orderStatus: "paid" }]);
    await deliver(completed(), "msg_h1");
    expect(seen).toHaveLength(1);
  });

  it("a throwing handler is recorded failed, retried with backoff, visible in ops, and never rolls back the ledger", async () => {
    let calls = 0;
    const { deliver, mika, clock } = setup({
      on: {
        "checkout.completed": async () => {
          calls++;
          if (calls < 3) throw new Error(`crm down (${calls})`);
        },
      },
    });
    const res = await deliver(completed(), "msg_h2");
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe("processed");
    const orders = await mika.orders.list();
    expect(orders.ok && orders.data.items[0]!.status).toBe("paid");
    const detail = await mika.webhooks.get(res.body.data.id);
    const runOf = (d: typeof detail) =>
      d.ok ? d.data.handlers.find((h) => h.handler === "on:checkout.completed") : undefined;
    expect(runOf(detail)).toMatchObject({ status: "failed", attempts: 1, lastError: "Error: crm down (1)" });
    // without a notifications hook the default only logs: there is no notification run to retry
    expect(detail.ok && detail.data.handlers.map((h) => h.handler)).toEqual(["on:checkout.completed"]);
    expect((await mika.maintenance.run()).ok).toBe(true);
    expect(calls).toBe(1);
    clock.advance(1_500);
    await mika.maintenance.run();
    expect(calls).toBe(2);
    clock.advance(60_000);
    await mika.maintenance.run();
    expect(calls).toBe(3);
    const after = await mika.webhooks.get(res.body.data.id);
    expect(runOf(after)).toMatchObject({ status: "succeeded", attempts: 3 });
    expect(after.ok && after.data.status).toBe("processed");
  });

  it("a run recorded but never executed (process died after commit) is picked up by maintenance", async () => {
    let calls = 0;
    const { mika, clock, store, deliver } = setup({ on: { "payment.succeeded": async () => void calls++ } });
    const res = await deliver(
      { kind: "payment.succeeded", paymentRef: "pi_9", amount: 100, currency: "EUR" },
      "msg_h3",
    );
    expect(calls).toBe(1);
    // Reading the event writes this process's queued handler results, so nothing in memory can
    // overwrite the simulated crash below.
    const before = await mika.webhooks.get(res.body.data.id);
    expect(before.ok && before.data.handlers[0]?.status).toBe("succeeded");
    // simulate the crash: mark the run pending again, as if it had never executed
    const [run] = await store.transaction((tx) => tx.find("handler_runs", {}));
    await store.transaction((tx) =>
      tx.update("handler_runs", run!.id, {
        status: "pending",
        attempts: 0,
        next_attempt_at: clock.ms + 60_000,
      }),
    );
    await mika.maintenance.run();
    expect(calls).toBe(1);
    clock.advance(61_000);
    await mika.maintenance.run();
    expect(calls).toBe(2);
  });
});

describe("a store error writing handler outcomes", () => {
  /** A memory store whose next `failUpdates` updates of handler runs throw. */
  function flakyRunStore() {
    const control = { failUpdates: 0 };
    const { store, inner } = storeWithTx((tx) => ({
      update: (table, id, patch) => {
        if (table === "handler_runs" && control.failUpdates > 0) {
          control.failUpdates--;
          return Promise.reject(new Error("disk I/O error"));
        }
        return tx.update(table, id, patch);
      },
    }));
    return { inner, store, control };
  }

  it("in maintenance: the outcomes are kept for a later write, a handler that succeeded never runs again", async () => {
    const { inner, store, control } = flakyRunStore();
    let calls = 0;
    const { deliver, mika, clock, logs } = setup({
      store,
      on: {
        "checkout.completed": async () => {
          calls++;
          if (calls === 1) throw new Error("crm down");
        },
      },
    });
    const res = await deliver(completed(), "msg_h_write");
    const flushed = await mika.webhooks.get(res.body.data.id); // writes the inline run's (failed) outcome
    expect(flushed.ok && flushed.data.handlers).toMatchObject([{ status: "failed", attempts: 1 }]);
    clock.advance(60 * 60 * 1000);
    control.failUpdates = 1; // the write of the retried run's outcome fails once
    const first = await mika.maintenance.run();
    expect(calls).toBe(2);
    expect(first.ok && first.data.handlers).toEqual({ succeeded: 1, failed: 0 });
    expect(logs.some((l) => l.level === "warn" && /handler results/.test(l.message))).toBe(true);
    clock.advance(10 * 60 * 1000); // past the 5-minute claim
    await mika.maintenance.run();
    expect(calls).toBe(2);
    const runs = await inner.transaction((tx) => tx.find("handler_runs", {}));
    expect(runs).toMatchObject([{ handler: "on:checkout.completed", status: "succeeded", attempts: 2 }]);
  });

  it("held back by a failed write: maintenance does not run it again meanwhile, nor lets it overwrite a newer one", async () => {
    const { inner, store, control } = flakyRunStore();
    let calls = 0;
    const { deliver, mika, clock } = setup({
      store,
      on: {
        "checkout.completed": async () => {
          calls++;
          if (calls === 1) throw new Error("crm down");
        },
      },
    });
    await deliver(completed(), "msg_h_held"); // fails inline; its outcome waits to be written
    clock.advance(60 * 60 * 1000);
    control.failUpdates = 1; // maintenance's write of that waiting outcome fails
    const first = await mika.maintenance.run();
    expect(first.ok && first.data.handlers).toEqual({ succeeded: 0, failed: 0 });
    expect(calls).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 60)); // the held outcome is written
    clock.advance(10 * 60 * 1000);
    await mika.maintenance.run(); // the retry the outcome asked for
    expect(calls).toBe(2);
    clock.advance(60 * 60 * 1000);
    await mika.maintenance.run();
    expect(calls).toBe(2);
    const runs = await inner.transaction((tx) => tx.find("handler_runs", {}));
    expect(runs).toMatchObject([{ status: "succeeded", attempts: 2 }]);
  });
});

describe("runHandlers: false (ops tools)", () => {
  it("records runs with the ledger change but never executes them, inline or in maintenance", async () => {
    let calls = 0;
    const { deliver, mika, clock, store } = setup({
      on: { "checkout.completed": async () => void calls++ },
      config: { runHandlers: false },
    });
    const res = await deliver(completed(), "msg_ops_tool");
    expect(res.body.data.status).toBe("processed");
    clock.advance(3_600_000);
    const report = await mika.maintenance.run();
    expect(report.ok && report.data.handlers).toEqual({ succeeded: 0, failed: 0 });
    expect(calls).toBe(0);
    expect(await store.transaction((tx) => tx.find("handler_runs", {}))).toMatchObject([
      { handler: "on:checkout.completed", status: "pending", attempts: 0 },
    ]);
  });
});

describe("renderNotification", () => {
  it("keeps a subject on one line whatever the ids in it hold (a buyer-named order id)", () => {
    const message = renderNotification({
      type: "order.paid",
      order: {
        id: "chk_x\r\nBcc: victim@example.com",
        customerName: "<b>Ann</b>",
        amount: 1500,
        currency: "USD",
      } as never,
    });
    expect(message?.subject).toBe("Payment received: order chk_x Bcc: victim@example.com");
    expect(message?.html).toContain("&lt;b&gt;Ann&lt;/b&gt;");
  });
});

describe("formatAmount", () => {
  it("divides by each currency's own minor unit", () => {
    expect(formatAmount(1999, "usd")).toBe("USD 19.99");
    expect(formatAmount(500, "JPY")).toBe("JPY 500");
    expect(formatAmount(1000, "XPF")).toBe("XPF 1000");
    expect(formatAmount(1500, "KWD")).toBe("KWD 1.500");
    expect(formatAmount(12345, "BHD")).toBe("BHD 12.345");
    expect(formatAmount(250, null)).toBe("2.50");
    expect(formatAmount(null, "USD")).toBe("an unknown amount");
  });
});

describe("notifications", () => {
  it("render order.paid as text and HTML by default, and log it when the host does not handle it", async () => {
    const { deliver, logs } = setup();
    await deliver(completed({ customer: { name: "Ada <script>" } }), "msg_n1");
    const line = logs.find((l) => l.message.startsWith("notification: Payment received"));
    expect(line?.fields?.text).toMatch(/USD 15\.00/);
  });

  it("hand every intent to the hook; { handled: true } suppresses the default", async () => {
    const intents: NotificationIntent[] = [];
    let html = "";
    const { deliver, logs } = setup({
      notifications: {
        handle(intent, render) {
          intents.push(intent);
          if (intent.type === "order.paid") html = render(intent)!.html;
          return { handled: true };
        },
      },
    });
    await deliver(completed({ customer: { name: "Ada <script>" } }), "msg_n2");
    await deliver(refunded(), "msg_n3");
    await deliver({ kind: "payment.failed", paymentRef: "pi_x", reason: "card_declined" }, "msg_n4");
    await deliver(
      {
        kind: "subscription.updated",
        subscriptionRef: "sub_9",
        status: "active",
        change: "created",
        cancelAtPeriodEnd: false,
        updatedAt: "2025-03-01T00:00:00Z",
      },
      "msg_n5",
    );
    expect(intents.map((i) => i.type)).toEqual([
      "order.paid",
      "order.refunded",
      "payment.failed",
      "subscription.updated",
    ]);
    expect(html).toContain("Ada &lt;script&gt;");
    expect(html).not.toContain("<script>");
    expect(logs.some((l) => l.message.startsWith("notification:"))).toBe(false);
  });

  it("tell ops when an event fails processing", async () => {
    const intents: string[] = [];
    const { memoryStore } = await import("../src/index.js");
    const inner = memoryStore();
    let fail = true;
    const store = {
      ...inner,
      transaction: <T>(fn: (tx: any) => Promise<T>) =>
        inner.transaction((tx) =>
          fn({
            ...tx,
            insert: async (table: any, row: any) => {
              if (table === "orders" && fail) {
                fail = false;
                throw new Error("boom");
              }
              return tx.insert(table, row);
            },
          }),
        ),
    };
    const { deliver } = setup({ store, notifications: { handle: (i) => void intents.push(i.type) } });
    await deliver(completed(), "msg_n6");
    expect(intents).toContain("ops.webhook_failed");
  });

  describe("results of inline runs", () => {
    /** A memoryStore that counts its transactions. */
    const countingStore = () => {
      const inner = memoryStore();
      const counter = { transactions: 0 };
      const store: MikaStore = {
        ...inner,
        name: inner.name,
        transaction: (fn) => {
          counter.transactions++;
          return inner.transaction(fn);
        },
      };
      return { store, counter };
    };
    const runsIn = (rows: HandlerRunRow[]) => rows.map((r) => `${r.handler}:${r.status}:${r.attempts}`);

    it("ride along with the next webhook's transaction: one transaction per receive", async () => {
      const { store, counter } = countingStore();
      let calls = 0;
      const { deliver, rows } = setup({ store, on: { "checkout.completed": async () => void calls++ } });
      await deliver(completed(), "msg_r1");
      expect(calls).toBe(1);
      expect(runsIn(await rows("handler_runs"))).toEqual(["on:checkout.completed:pending:0"]);
      await deliver(completed({ providerCheckoutId: "cs_2", paymentRef: "pi_2" }), "msg_r2");
      expect(calls).toBe(2);
      // two receives, two transactions (plus the two reads of `rows`): the first result was carried
      expect(counter.transactions).toBe(3);
      expect(runsIn(await rows("handler_runs")).sort()).toEqual([
        "on:checkout.completed:pending:0",
        "on:checkout.completed:succeeded:1",
      ]);
    });

    it("are each written once, however receives interleave", async () => {
      const inner = memoryStore();
      const writes = new Map<string, number>();
      const store: MikaStore = {
        ...inner,
        name: inner.name,
        transaction: (fn) =>
          inner.transaction((tx) =>
            fn({
              ...tx,
              update: (table, key, patch) => {
                if (table === "handler_runs") writes.set(key, (writes.get(key) ?? 0) + 1);
                return tx.update(table, key, patch);
              },
            }),
          ),
      };
      const { deliver, mika } = setup({ store, on: { "checkout.completed": async () => undefined } });
      const wave = (from: number) =>
        Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            deliver(
              completed({ providerCheckoutId: `cs_w${from + i}`, paymentRef: `pi_w${from + i}` }),
              `msg_w${from + i}`,
            ),
          ),
        );
      await wave(0);
      await wave(8);
      await wave(16);
      const list = await mika.webhooks.list({ limit: 50 });
      expect(list.ok && list.data.items).toHaveLength(24);
      for (const item of list.ok ? list.data.items : []) await mika.webhooks.get(item.id);
      expect(writes.size).toBe(24);
      expect([...writes.values()].every((n) => n === 1)).toBe(true);
    });

    it("are written by a short timer when no webhook follows", async () => {
      const { deliver, rows } = setup({ on: { "checkout.completed": async () => undefined } });
      await deliver(completed(), "msg_r3");
      await vi.waitFor(async () => {
        expect(runsIn(await rows("handler_runs"))).toEqual(["on:checkout.completed:succeeded:1"]);
      });
    });

    it("are kept when the transaction carrying them rolls back, and written later", async () => {
      let failNext = false;
      const { deliver, rows, mika } = setup({
        on: { "checkout.completed": async () => undefined },
        createId: (prefix) => {
          if (failNext && prefix === "pay") throw new Error("id service down");
          return `${prefix}_${Math.random().toString(36).slice(2)}`;
        },
      });
      await deliver(completed(), "msg_r4");
      failNext = true;
      // payment.succeeded for the known order inserts a payment row: createId throws inside the tx
      const failed = await deliver(
        { kind: "payment.succeeded", paymentRef: "pi_1", amount: 1500, currency: "USD" },
        "msg_r5",
      );
      expect(failed.status).toBe(500);
      const detail = await mika.webhooks.list({ status: "failed" });
      expect(detail.ok && detail.data.items).toHaveLength(1);
      await vi.waitFor(async () => {
        expect(runsIn(await rows("handler_runs"))).toEqual(["on:checkout.completed:succeeded:1"]);
      });
    });
  });
});
