import {
  type EventRow,
  type MikaStore,
  type PaymentProvider,
  StoreClosedError,
  type StoreTx,
} from "@mika/types";
import { describe, expect, it, vi } from "vitest";
import { memoryStore } from "../src/index.js";
import { acmeProvider, completed, setup, storeWithTx, webhookRequest } from "./helpers.js";

/**
 * A memory store whose transactions hand every `insert` to `insert(table, write)`, where `write()` does
 * the real insert; everything else is the memory store's.
 */
function storeWithInsert(
  insert: (table: string, write: () => Promise<boolean>) => Promise<boolean>,
): MikaStore {
  const inner = memoryStore();
  return {
    ...inner,
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          ...tx,
          get: tx.get,
          find: tx.find,
          count: tx.count,
          delete: tx.delete,
          claim: tx.claim,
          update: tx.update,
          insert: (table, row) => insert(table, () => tx.insert(table, row)),
        }),
      ),
  };
}

describe("webhook pipeline", () => {
  it("processes a verified event into the ledger and answers 200 processed", async () => {
    const { deliver, mika } = setup();
    const res = await deliver(completed(), "msg_1");
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({
      status: "processed",
      eventId: "msg_1",
      kind: "checkout.completed",
    });
    const orders = await mika.orders.list();
    expect(orders.ok && orders.data.items).toMatchObject([
      { status: "paid", amount: 1500, currency: "USD", paymentRef: "pi_1" },
    ]);
  });

  it("answers a duplicate in a row with 200 duplicate and no second effect", async () => {
    const { deliver, rows, store } = setup();
    await deliver(completed(), "msg_dup");
    const second = await deliver(completed(), "msg_dup");
    expect(second.status).toBe(200);
    expect(second.body.data.status).toBe("duplicate");
    expect(await rows("orders")).toHaveLength(1);
    const [event] = await rows("events");
    expect(event).toMatchObject({ status: "processed", duplicates: 1 });
    expect(await store.transaction((tx) => tx.count("events", {}))).toBe(1);
  });

  it("gives 10 concurrent duplicates exactly one effect", async () => {
    const { mika, clock, rows } = setup();
    const requests = await Promise.all(
      Array.from({ length: 10 }, () =>
        webhookRequest(
          { ...completed(), kind: "payment.succeeded", amount: 900, currency: "USD" },
          { id: "msg_storm", nowMs: clock.ms },
        ),
      ),
    );
    const responses = await Promise.all(requests.map((r) => mika.handler(r)));
    const statuses = await Promise.all(responses.map(async (r) => ((await r.json()) as any).data.status));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(statuses.filter((s) => s === "processed")).toHaveLength(1);
    expect(statuses.filter((s) => s === "duplicate")).toHaveLength(9);
    expect(await rows("payments")).toHaveLength(1);
  });

  it("treats the same body replayed inside the tolerance (re-signed later) as one event", async () => {
    const { deliver, clock, rows } = setup();
    await deliver(completed(), "msg_replay");
    clock.advance(120_000);
    const again = await deliver(completed(), "msg_replay");
    expect(again.body.data.status).toBe("duplicate");
    expect(await rows("orders")).toHaveLength(1);
  });

  it("rejects an empty body with 400", async () => {
    const { mika } = setup();
    const res = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/acme", { method: "POST", body: "" }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      ok: false,
      error: { code: "WEBHOOK_INVALID", detail: "PAYLOAD_INVALID" },
    });
  });

  it("answers > 1 MiB with 413 and never calls verify (declared and streamed sizes)", async () => {
    const provider = acmeProvider();
    const verify = vi.spyOn(provider, "verifyWebhook");
    const { mika } = setup({ providers: [provider] });
    const big = "x".repeat(1024 * 1024 + 1);
    const declared = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/acme", { method: "POST", body: big }),
    );
    expect(declared.status).toBe(413);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const chunked = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/acme", {
        method: "POST",
        body: streamed,
        duplex: "half",
      } as RequestInit),
    );
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
    expect(verify).not.toHaveBeenCalled();
  });

  it("reads a streamed body of many tiny chunks (no Content-Length) whole", async () => {
    const { mika, clock } = setup();
    // 200 000 bytes of JSON (padded with spaces), signed, then sent one byte per chunk
    const body =
      `${JSON.stringify({ type: "test.checkout.completed", event: completed() })}${" ".repeat(200_000)}`.slice(
        0,
        200_000,
      );
    const signed = await webhookRequest("", { id: "msg_tiny_chunks", nowMs: clock.ms, body });
    const bytes = new Uint8Array(await signed.arrayBuffer());
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at === bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(at, ++at));
      },
    });
    const res = await mika.handler(
      new Request(signed.url, {
        method: "POST",
        headers: signed.headers,
        body: stream,
        duplex: "half",
      } as RequestInit),
    );
    expect(await res.json()).toMatchObject({ ok: true, data: { status: "processed" } });
  });

  it("stores a signed body that is not JSON as a poison record, answers 400 and never retries it", async () => {
    const { mika, clock, rows } = setup();
    const res = await mika.handler(
      await webhookRequest("", { id: "msg_poison", nowMs: clock.ms, body: "{not json" }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "WEBHOOK_INVALID", detail: "PAYLOAD_INVALID" } });
    const [poison] = await rows("events");
    expect(poison).toMatchObject({ status: "poison", raw: "{not json" });
    clock.advance(24 * 3600_000);
    const drained = await mika.webhooks.drain();
    expect(drained.ok && drained.data).toEqual({ processed: 0, ignored: 0, parked: 0, failed: 0 });
    const replay = await mika.webhooks.replay(poison!.id);
    expect(replay).toMatchObject({ ok: false, error: { code: "CONFLICT" } });
  });

  it("stores an unknown event type as ignored and answers 200", async () => {
    const { deliver, rows } = setup();
    const res = await deliver(JSON.stringify({ type: "benefit.granted", data: {} }), "msg_unknown");
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: "ignored", kind: "unknown" });
    expect(await rows("events")).toMatchObject([{ status: "ignored", event_type: "benefit.granted" }]);
  });

  it("rejects tampered, unsigned and wrong-provider requests with clear envelopes", async () => {
    const { mika, clock } = setup();
    const good = await webhookRequest(completed(), { id: "msg_t", nowMs: clock.ms });
    const tampered = new Request(good.url, {
      method: "POST",
      headers: good.headers,
      body: (await good.text()).replace("1500", "1"),
    });
    const t = await mika.handler(tampered);
    expect(t.status).toBe(400);
    expect(await t.json()).toMatchObject({ error: { code: "WEBHOOK_INVALID", detail: "SIGNATURE_INVALID" } });
    const unsigned = await mika.handler(new Request(good.url, { method: "POST", body: "{}" }));
    expect(await unsigned.json()).toMatchObject({ error: { detail: "SIGNATURE_MISSING" } });
    const stale = await mika.handler(
      await webhookRequest(completed(), {
        id: "msg_s",
        nowMs: clock.ms,
        timestamp: Math.floor(clock.ms / 1000) - 3600,
      }),
    );
    expect(await stale.json()).toMatchObject({ error: { detail: "TIMESTAMP_OUT_OF_TOLERANCE" } });
    const unknown = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/nope", { method: "POST", body: "{}" }),
    );
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "PROVIDER_UNKNOWN" } });
  });

  it("answers 500 (so the provider retries) and logs when the webhook secret is misconfigured, without the secret", async () => {
    const { standardWebhooksProvider } = await import("@mika/testing");
    const broken = standardWebhooksProvider({ name: "acme", webhookSecret: " whsec_spaced " });
    const { mika, clock, logs } = setup({ providers: [broken] });
    const res = await mika.handler(await webhookRequest(completed(), { id: "msg_cfg", nowMs: clock.ms }));
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain("whsec_spaced");
    expect(logs.some((l) => l.level === "error" && /misconfigured/.test(l.message))).toBe(true);
  });
});

describe("failures are recorded and retried, never half-applied", () => {
  /** A store whose transactions throw when they write an order (once, or always). */
  function failingStore(mode: { failures: number }): MikaStore {
    return storeWithInsert(async (table, write) => {
      if (table === "orders" && mode.failures > 0) {
        mode.failures--;
        throw new Error("disk full");
      }
      return write();
    });
  }

  it("rolls back the inbox insert and the ledger when the store throws mid-transaction; records failed; replay applies once", async () => {
    const mode = { failures: 1 };
    const store = failingStore(mode);
    const { deliver, mika, clock } = setup({ store });
    const res = await deliver(completed(), "msg_fail");
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe("INTERNAL");
    const listed = await mika.webhooks.list({ status: "failed" });
    expect(listed.ok && listed.data.items).toMatchObject([
      { eventId: "msg_fail", attempts: 1, lastError: "Error: disk full" },
    ]);
    const failed = listed.ok ? listed.data.items[0]! : undefined;
    expect(Date.parse(failed!.nextAttemptAt!)).toBeGreaterThan(clock.ms);
    expect(await store.transaction((tx) => tx.count("orders", {}))).toBe(0);
    const replayed = await mika.webhooks.replay(failed!.id);
    expect(replayed).toMatchObject({ ok: true, data: { status: "processed" } });
    const again = await mika.webhooks.replay(failed!.id);
    expect(again).toMatchObject({ ok: true, data: { status: "processed" } });
    expect(await store.transaction((tx) => tx.count("orders", {}))).toBe(1);
  });

  it("retries a failed event when the provider redelivers it", async () => {
    const mode = { failures: 1 };
    const { deliver, store } = setup({ store: failingStore(mode) });
    expect((await deliver(completed(), "msg_redeliver")).status).toBe(500);
    const second = await deliver(completed(), "msg_redeliver");
    expect(second.status).toBe(200);
    expect(second.body.data.status).toBe("processed");
    expect(await store.transaction((tx) => tx.count("orders", {}))).toBe(1);
  });

  it("backs off exponentially and maintenance retries when due", async () => {
    const mode = { failures: 2 };
    const { deliver, mika, clock, store } = setup({ store: failingStore(mode) });
    await deliver(completed(), "msg_backoff");
    const early = await mika.maintenance.run();
    expect(early.ok && early.data.events.processed).toBe(0);
    clock.advance(2_000);
    const first = await mika.maintenance.run();
    expect(first.ok && first.data.events.failed).toBe(1);
    const [row] = await store.transaction((tx) => tx.find("events", {}));
    expect(row!.attempts).toBe(2);
    expect(row!.next_attempt_at! - clock.ms).toBeGreaterThan(1_000);
    clock.advance(5_000);
    const second = await mika.maintenance.run();
    expect(second.ok && second.data.events.processed).toBe(1);
  });

  it("answers 500 when verify throws (an adapter bug) so the provider retries", async () => {
    const provider: PaymentProvider = {
      ...acmeProvider(),
      verifyWebhook: async () => {
        throw new Error("bug");
      },
    };
    const { mika, clock } = setup({ providers: [provider] });
    const res = await mika.handler(await webhookRequest(completed(), { id: "msg_bug", nowMs: clock.ms }));
    expect(res.status).toBe(500);
  });
});

describe("a store that commits but loses the answer (a connection dropped during COMMIT)", () => {
  /**
   * Memory store whose next `lose.count` transactions that insert an order commit and then throw, as
   * such a store reports; `failOrders.count` order inserts before that throw instead ("disk full").
   */
  function lostAnswerStore(lose: { count: number }, failOrders = { count: 0 }): MikaStore {
    const inner = memoryStore();
    return {
      ...inner,
      transaction: async (fn) => {
        let wroteOrder = false;
        const value = await inner.transaction((tx) =>
          fn({
            ...tx,
            insert: async (table, row) => {
              if (table === "orders" && failOrders.count > 0) {
                failOrders.count--;
                throw new Error("disk full");
              }
              const inserted = await tx.insert(table, row);
              if (table === "orders") wroteOrder = true;
              return inserted;
            },
          }),
        );
        if (wroteOrder && lose.count > 0) {
          lose.count--;
          throw new Error("the connection was lost during COMMIT: the outcome is unknown");
        }
        return value;
      },
    };
  }

  it("receive answers 500 without calling the event failed, raises no ops alert, and the redelivery is a duplicate", async () => {
    const lose = { count: 1 };
    const intents: string[] = [];
    const { deliver, rows, logs } = setup({
      store: lostAnswerStore(lose),
      notifications: { handle: (intent) => void intents.push(intent.type) },
    });
    const res = await deliver(completed(), "msg_lost_answer");
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/turned out stored and processed/);
    expect(res.body.error.message).toMatch(/answered as a duplicate/);
    expect(intents).not.toContain("ops.webhook_failed");
    expect(logs.some((l) => /recorded as failed/.test(l.message))).toBe(false);
    expect(logs.some((l) => l.level === "warn" && /stored after all/.test(l.message))).toBe(true);
    expect(await rows("events")).toMatchObject([{ status: "processed", attempts: 0, last_error: null }]);
    const again = await deliver(completed(), "msg_lost_answer");
    expect(again).toMatchObject({ status: 200, body: { data: { status: "duplicate" } } });
    expect(await rows("orders")).toMatchObject([{ status: "paid" }]);
  });

  /**
   * A memory store whose next transaction, once armed, is reported lost without running; `land(tx,
   * lost, row)` then runs inside the following transaction just before its first events insert (of
   * `row`: recordFailure's), as work that reached the database meanwhile.
   */
  function landingStore(
    land: (tx: StoreTx, lost: (tx: StoreTx) => Promise<unknown>, row: unknown) => Promise<unknown>,
  ) {
    const inner = memoryStore();
    const late: { fn?: (tx: StoreTx) => Promise<unknown>; armed: boolean } = { armed: false };
    const store: MikaStore = {
      ...inner,
      transaction: (fn) => {
        if (late.armed) {
          late.armed = false;
          late.fn = fn;
          return Promise.reject(new Error("the connection was lost during COMMIT: the outcome is unknown"));
        }
        return inner.transaction((tx) =>
          fn({
            ...tx,
            insert: async (table, row) => {
              const lost = table === "events" ? late.fn : undefined;
              late.fn = undefined;
              if (lost) await land(tx, lost, row);
              return tx.insert(table, row);
            },
          }),
        );
      },
    };
    return { store, late };
  }

  it("a COMMIT that lands only after the failure's own transaction began is still seen: no failure recorded", async () => {
    // The receive's own work lands (as a whole) just as recordFailure, having found no row, inserts
    // the failed one: that insert conflicts.
    const { store, late } = landingStore((tx, lost) => lost(tx));
    const intents: string[] = [];
    const { deliver, rows, logs } = setup({
      store,
      notifications: { handle: (intent) => void intents.push(intent.type) },
    });
    late.armed = true;
    const res = await deliver(completed(), "msg_late_commit");
    expect(late.fn).toBeUndefined();
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/turned out stored and processed/);
    expect(intents).not.toContain("ops.webhook_failed");
    expect(logs.some((l) => /recorded as failed/.test(l.message))).toBe(false);
    expect(await rows("events")).toMatchObject([{ status: "processed", attempts: 0, last_error: null }]);
    expect(await rows("orders")).toMatchObject([{ status: "paid" }]);
    const again = await deliver(completed(), "msg_late_commit");
    expect(again).toMatchObject({ status: 200, body: { data: { status: "duplicate" } } });
  });

  it("when another delivery stored the event as failed meanwhile, the failure is counted on that row, which the answer names", async () => {
    // Another instance's delivery of the same event, stored failed under its own row id, lands just
    // before recordFailure's insert.
    const { store, late } = landingStore((tx, _lost, row) =>
      tx.insert("events", {
        ...(row as EventRow),
        id: "evt_other_delivery",
        status: "failed",
        attempts: 1,
        last_error: "earlier failure",
      }),
    );
    const { deliver, rows } = setup({ store });
    late.armed = true;
    const res = await deliver(completed(), "msg_other_delivery");
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/recorded as failed \(attempt 2\)/);
    expect(res.body.error.message).toMatch(/replay\("evt_other_delivery"\)/);
    expect(await rows("events")).toMatchObject([
      {
        id: "evt_other_delivery",
        status: "failed",
        attempts: 2,
        last_error: expect.stringMatching(/lost during COMMIT/),
      },
    ]);
  });

  it("when the failure cannot be recorded either, the answer says so and the redelivery processes it", async () => {
    const inner = memoryStore();
    const down = { on: false };
    const store: MikaStore = {
      ...inner,
      transaction: (fn) =>
        down.on ? Promise.reject(new Error("SQLITE_FULL: database or disk is full")) : inner.transaction(fn),
    };
    const { deliver, rows, logs } = setup({ store });
    down.on = true;
    const res = await deliver(completed(), "msg_store_down");
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/could not record the failure either/);
    expect(res.body.error.message).toMatch(/retry will deliver it again/);
    expect(res.body.error.message).not.toMatch(/attempt 0/);
    expect(logs.some((l) => l.level === "error" && /could not record the failure/.test(l.message))).toBe(
      true,
    );
    down.on = false;
    expect(await rows("events")).toHaveLength(0);
    expect((await deliver(completed(), "msg_store_down")).body.data.status).toBe("processed");
  });

  it("a replay whose COMMIT answer is lost reports the stored outcome, not a failure", async () => {
    const lose = { count: 0 };
    const { deliver, mika, rows } = setup({ store: lostAnswerStore(lose, { count: 1 }) });
    expect((await deliver(completed(), "msg_replay_lost")).status).toBe(500);
    const [failed] = await rows("events");
    expect(failed).toMatchObject({ status: "failed" });
    lose.count = 1;
    const replayed = await mika.webhooks.replay(failed!.id);
    expect(replayed).toMatchObject({ ok: true, data: { id: failed!.id, status: "processed" } });
    expect(await rows("events")).toMatchObject([{ status: "processed", attempts: 1 }]);
    expect(await rows("orders")).toHaveLength(1);
  });
});

describe("a store closed under the app (shutdown)", () => {
  it("a webhook gets 500 with Retry-After, nothing is stored, no failure is recorded, and the redelivery processes it", async () => {
    const inner = memoryStore();
    const shut = { on: false };
    const store: MikaStore = {
      ...inner,
      transaction: (fn) => (shut.on ? Promise.reject(new StoreClosedError("memory")) : inner.transaction(fn)),
    };
    const { mika, clock, rows, logs, deliver } = setup({ store });
    shut.on = true;
    const response = await mika.handler(
      await webhookRequest(completed(), { id: "msg_closed", nowMs: clock.ms }),
    );
    expect(response.status).toBe(500);
    expect(response.headers.get("retry-after")).toBe("5");
    const body = (await response.json()) as { error: { code: string; message: string; retryAfter: number } };
    expect(body.error).toMatchObject({ code: "INTERNAL", retryAfter: 5 });
    expect(body.error.message).toMatch(/store is closed/);
    expect(body.error.message).toMatch(/nothing was stored or acknowledged/);
    expect(body.error.message).not.toMatch(/could not record the failure/);
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
    expect(logs.some((l) => l.level === "warn" && /store is closed/.test(l.message))).toBe(true);
    shut.on = false;
    expect(await rows("events")).toHaveLength(0);
    expect((await deliver(completed(), "msg_closed")).body.data.status).toBe("processed");
  });

  it("every other method answers an envelope with retryAfter instead of throwing", async () => {
    const { mika, store, logs } = setup();
    await store.close();
    const answers = await Promise.all([
      mika.orders.get("ord_1"),
      mika.orders.list(),
      mika.webhooks.list(),
      mika.refunds.create({ orderId: "ord_1" }, { idempotencyKey: "refund-1" }),
      mika.subscriptions.cancel({ subscriptionId: "sub_1" }, { idempotencyKey: "cancel-1" }),
    ]);
    for (const answer of answers) {
      expect(answer).toMatchObject({ ok: false, status: 500, error: { code: "INTERNAL", retryAfter: 5 } });
      expect(!answer.ok && answer.error.message).toMatch(/store is closed/);
    }
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
  });
});

describe("parked events (waiting for their order)", () => {
  const payment = {
    kind: "payment.succeeded" as const,
    checkoutRef: "chk_late_order",
    paymentRef: "pi_late",
    amount: 1500,
    currency: "USD",
  };

  it("retries when the backoff says, not when a drain's 5-minute claim runs out", async () => {
    const { deliver, mika, clock } = setup();
    expect((await deliver(payment, "msg_parked")).body.data.status).toBe("parked");
    clock.advance(2_000);
    expect(await mika.webhooks.drain()).toMatchObject({ ok: true, data: { parked: 1 } });
    clock.advance(10_000);
    expect(await mika.webhooks.drain()).toMatchObject({ ok: true, data: { parked: 1 } });
  });

  it("counts its first real failure as attempt 1 however long it waited, so it is retried", async () => {
    const broken = { payments: false };
    const store = storeWithInsert(async (table, write) => {
      if (table === "payments" && broken.payments) throw new Error("disk full");
      return write();
    });
    const { deliver, mika, clock } = setup({
      store,
      config: { retry: { baseMs: 1000, maxMs: 60_000, maxAttempts: 3 } },
    });
    const parked = await deliver(payment, "msg_parked_long");
    for (let i = 0; i < 4; i++) {
      clock.advance(120_000);
      await mika.webhooks.drain();
    }
    broken.payments = true;
    // the order arrives; the parked payment is tried at once, and fails
    await deliver(completed({ checkoutRef: "chk_late_order", paymentRef: "pi_late" }), "msg_order_arrives");
    const row = await store.transaction((tx) => tx.get("events", parked.body.data.id));
    expect(row).toMatchObject({ status: "failed", attempts: 1, next_attempt_at: expect.any(Number) });
    broken.payments = false;
    clock.advance(120_000);
    expect(await mika.maintenance.run()).toMatchObject({ ok: true, data: { events: { processed: 1 } } });
  });
});

describe("a redelivery that meets a store error", () => {
  it("is answered with an envelope, not a thrown error", async () => {
    const failing = { finds: false };
    const { store } = storeWithTx((tx) => ({
      find: (table, where, options) =>
        failing.finds && table === "events"
          ? Promise.reject(new Error("connection reset"))
          : tx.find(table, where, options),
    }));
    const { deliver, mika, clock, logs } = setup({ store });
    await deliver(completed(), "msg_twice");
    failing.finds = true;
    const answer = await mika.webhooks.receive({
      provider: "acme",
      request: await webhookRequest(completed(), { id: "msg_twice", nowMs: clock.ms }),
    });
    expect(answer).toMatchObject({ ok: false, status: 500, error: { code: "INTERNAL" } });
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", message: "Counting a redelivery failed" }),
    );
  });
});

describe("deferred processing", () => {
  it("stores, answers 200 accepted at once, and applies on drain", async () => {
    const { deliver, mika, rows } = setup({ config: { processing: "deferred" } });
    const res = await deliver(completed(), "msg_deferred");
    expect(res.body.data.status).toBe("accepted");
    expect(await rows("orders")).toHaveLength(0);
    const drained = await mika.webhooks.drain();
    expect(drained.ok && drained.data.processed).toBe(1);
    expect(await rows("orders")).toMatchObject([{ status: "paid" }]);
    const again = await mika.webhooks.drain();
    expect(again.ok && again.data.processed).toBe(0);
  });
});

describe("livemode is never mixed", () => {
  it("keeps a test-mode event away from a live-only deployment", async () => {
    const { deliver, rows } = setup({ config: { livemode: true } });
    const res = await deliver(completed({ livemode: false }), "msg_test_mode");
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe("ignored");
    expect(await rows("orders")).toHaveLength(0);
    expect((await rows("events"))[0]!.parked_reason).toMatch(/test-mode event/);
  });

  it("does not apply a test-mode payment to a live order", async () => {
    const { deliver, rows } = setup();
    await deliver(completed({ paymentStatus: "unpaid" }), "msg_live");
    const res = await deliver(
      { kind: "payment.succeeded", paymentRef: "pi_1", amount: 1500, currency: "USD", livemode: false },
      "msg_test",
    );
    expect(res.body.data.status).toBe("ignored");
    expect(await rows("orders")).toMatchObject([{ status: "awaiting_payment", livemode: true }]);
  });
});

describe("a receive that creates an order", () => {
  /** A memory store recording when order and handler-run inserts are issued and answered; `refuse` orders answer false. */
  function recordingStore(options: { refuseOrders: number }) {
    const log: string[] = [];
    const store = storeWithInsert(async (table, write) => {
      if (table !== "orders" && table !== "handler_runs") return write();
      log.push(`issue ${table}`);
      await new Promise((resolve) => setImmediate(resolve));
      const refused = table === "orders" && options.refuseOrders > 0;
      if (refused) options.refuseOrders--;
      const inserted = refused ? false : await write();
      log.push(`answer ${table}`);
      return inserted;
    });
    return { store, log };
  }
  const notifications = { handle: () => ({ handled: true }) };

  it("issues the order insert and its handler-run inserts together, before either is answered", async () => {
    const { store, log } = recordingStore({ refuseOrders: 0 });
    const { deliver, rows } = setup({ store, notifications });
    expect((await deliver(completed(), "msg_burst")).body.data.status).toBe("processed");
    expect(log.slice(0, 2)).toEqual(["issue orders", "issue handler_runs"]);
    expect(await rows("orders")).toHaveLength(1);
    expect(await rows("handler_runs")).toMatchObject([{ handler: "notify:order.paid" }]);
  });

  it("rolls everything back when the order turns out to exist already (its handler runs included)", async () => {
    const { store, log } = recordingStore({ refuseOrders: 1 });
    const { deliver, rows, mika } = setup({ store, notifications });
    const res = await deliver(completed(), "msg_raced");
    expect(res.status).toBe(500);
    expect(log).toContain("issue handler_runs");
    expect(await rows("orders")).toHaveLength(0);
    expect(await rows("handler_runs")).toHaveLength(0);
    const listed = await mika.webhooks.list({ status: "failed" });
    expect(listed.ok && listed.data.items).toMatchObject([
      { eventId: "msg_raced", lastError: expect.stringContaining("created concurrently") },
    ]);
  });
});
