import { setTimeout as realSleep } from "node:timers/promises";
import { ProviderError } from "@mika/types";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMika, type HandlerContext, type Sellable } from "../src/index.js";
import { setup } from "./helpers.js";
import { shopProvider } from "./shop-provider.js";

const catalog: Sellable[] = [
  { id: "tee", name: "T-shirt", amount: 2500, currency: "USD", stock: 2 },
  { id: "mug", name: "Mug", amount: 1200, currency: "USD" },
  {
    id: "pro",
    name: "Pro plan",
    amount: 900,
    currency: "USD",
    mode: "subscription",
    interval: "month",
    prices: { acme: "price_pro" },
  },
];
const urls = { successUrl: "https://shop.test/success", cancelUrl: "https://shop.test/cancel" };

function shop(capabilities?: Parameters<typeof shopProvider>[0]) {
  const { provider, account } = shopProvider(capabilities);
  const env = setup({ providers: [provider], catalog });
  return { ...env, account };
}

describe("checkout.start", () => {
  it("validates input with field errors (422)", async () => {
    const { mika } = shop();
    const res = await mika.checkout.start(
      {
        provider: "acme",
        lines: [{ sellableId: "nope" }, { name: "", amount: -1, currency: "dollars" }],
        successUrl: "/relative",
        cancelUrl: urls.cancelUrl,
      },
      { idempotencyKey: "key-validate-1" },
    );
    expect(res).toMatchObject({ ok: false, status: 422, error: { code: "VALIDATION_FAILED" } });
    expect(!res.ok && Object.keys(res.error.fields!)).toEqual(
      expect.arrayContaining([
        "successUrl",
        "lines[0].sellableId",
        "lines[1].name",
        "lines[1].amount",
        "lines[1].currency",
      ]),
    );
    const mixed = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }, { sellableId: "pro" }], ...urls },
      { idempotencyKey: "key-validate-2" },
    );
    expect(!mixed.ok && mixed.error.fields?.lines).toMatch(/cannot be mixed/);
    const unknown = await mika.checkout.start(
      { provider: "nope", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "key-validate-3" },
    );
    expect(unknown).toMatchObject({ status: 404, error: { code: "PROVIDER_UNKNOWN" } });
  });

  it("refuses a provider without the capability (409 PROVIDER_UNSUPPORTED)", async () => {
    const { mika } = shop(["checkout"]);
    const res = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-cap-1" },
    );
    expect(res).toMatchObject({ status: 409, error: { code: "PROVIDER_UNSUPPORTED" } });
    const ok = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "pro" }], ...urls },
      { idempotencyKey: "key-cap-2" },
    );
    expect(ok.ok).toBe(true);
  });

  it("creates the provider session with Mika's checkout id, a provider idempotency key and an expiry", async () => {
    const { mika, account, clock } = shop();
    const res = await mika.checkout.start(
      {
        provider: "acme",
        lines: [{ sellableId: "tee", quantity: 2 }],
        customer: { email: "a@b.co" },
        ...urls,
      },
      { idempotencyKey: "key-create-1" },
    );
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.data).toMatchObject({
      url: "https://pay.example/cs_1",
      checkoutId: expect.stringMatching(/^chk_/),
      token: expect.any(String),
    });
    const [call] = account.calls;
    expect(call).toMatchObject({
      method: "checkout.create",
      input: {
        checkoutId: res.data.checkoutId,
        idempotencyKey: `mika_${res.data.checkoutId}`,
        mode: "payment",
        lines: [{ name: "T-shirt", amount: 2500, currency: "USD", quantity: 2 }],
        metadata: { mika_checkout_id: res.data.checkoutId },
      },
    });
    expect((call!.input as any).expiresAt.getTime()).toBe(clock.ms + 30 * 60_000);
    const order = await mika.orders.get(res.data.checkoutId);
    expect(order.ok && order.data).toMatchObject({
      status: "pending",
      amount: 5000,
      currency: "USD",
      providerCheckoutId: "cs_1",
    });
  });

  it("same key + same input → the stored result and no second provider call; different input → 409", async () => {
    const { mika, account } = shop();
    const input = { provider: "acme", lines: [{ sellableId: "mug" }], ...urls };
    const a = await mika.checkout.start(input, { idempotencyKey: "key-idem-1" });
    const b = await mika.checkout.start({ ...input }, { idempotencyKey: "key-idem-1" });
    expect(b).toEqual(a);
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(1);
    const c = await mika.checkout.start(
      { ...input, lines: [{ sellableId: "mug", quantity: 2 }] },
      { idempotencyKey: "key-idem-1" },
    );
    expect(c).toMatchObject({ status: 409, error: { code: "IDEMPOTENCY_MISMATCH" } });
    const d = await mika.checkout.start(
      { ...input, customer: { email: "x@y.co" } },
      { idempotencyKey: "key-idem-1" },
    );
    expect(d).toMatchObject({ status: 409, error: { code: "IDEMPOTENCY_MISMATCH" } });
  });

  it("makes one provider call for concurrent calls with one key", async () => {
    const { mika, account } = shop();
    account.latencyMs = 50;
    const input = { provider: "acme", lines: [{ sellableId: "mug" }], ...urls };
    const results = await Promise.all(
      Array.from({ length: 5 }, () => mika.checkout.start(input, { idempotencyKey: "key-concurrent" })),
    );
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(1);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results.map((r) => (r.ok ? r.data.checkoutId : "")))).toHaveProperty("size", 1);
  });

  describe("a provider call slower than the key's 60-second lease", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A shop whose first checkout.create waits until `release()`; later ones answer at once. */
    function slowShop() {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
      const { provider, account } = shopProvider();
      const create = provider.checkout!.create;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let calls = 0;
      provider.checkout!.create = async (input) => {
        if (++calls === 1) await gate;
        return create(input);
      };
      const env = setup({ providers: [provider], catalog });
      /** Lets `ms` pass on both the app's clock and the timers. */
      const pass = async (ms: number) => {
        env.clock.advance(ms);
        await vi.advanceTimersByTimeAsync(ms);
        // Web Crypto answers from the thread pool, which fake timers do not wait for: give it real time
        await realSleep(2);
      };
      /** Create calls begun (the slow first one included). */
      const creates = () => calls;
      return { ...env, account, release, pass, creates };
    }
    const input = { provider: "acme", lines: [{ sellableId: "mug" }], ...urls };

    it("keeps the key claimed while the call runs: a retry after 61 s waits for it, not a second checkout", async () => {
      const { mika, release, pass, creates, rows } = slowShop();
      const first = mika.checkout.start(input, { idempotencyKey: "key-slow-1" });
      while (creates() === 0) await vi.advanceTimersByTimeAsync(1);
      for (let s = 0; s < 61; s++) await pass(1000); // the call is still running: its lease is renewed
      let answered = false;
      const retry = mika.checkout.start(input, { idempotencyKey: "key-slow-1" }).finally(() => {
        answered = true;
      });
      for (let i = 0; i < 20; i++) await pass(50); // a second of polling, with real time for the hashing
      expect(answered).toBe(false); // it waits for the running call
      expect(creates()).toBe(1);
      release();
      while (!answered) await pass(50);
      const [a, b] = await Promise.all([first, retry]);
      expect(a.ok && b.ok && a.data.checkoutId === b.data.checkoutId).toBe(true);
      expect(creates()).toBe(1);
      expect(await rows("orders")).toHaveLength(1);
    });

    it("a call whose lease lapsed stores its result when the retry that took the key failed", async () => {
      const { mika, clock, account, release, creates } = slowShop();
      const first = mika.checkout.start(input, { idempotencyKey: "key-slow-3" });
      while (creates() === 0) await vi.advanceTimersByTimeAsync(1);
      clock.advance(61_000);
      account.failNext = new ProviderError("try later", { providerStatus: 503 });
      const retry = await mika.checkout.start(input, { idempotencyKey: "key-slow-3" });
      expect(retry).toMatchObject({ status: 502, error: { code: "PROVIDER_FAILED" } });
      release();
      const late = await first;
      expect(late.ok).toBe(true);
      expect(await mika.checkout.start(input, { idempotencyKey: "key-slow-3" })).toEqual(late);
      expect(creates()).toBe(2);
    });

    it("a call whose lease lapsed (no renewal got through) does not overwrite the retry's stored result", async () => {
      const { mika, clock, release, creates, store } = slowShop();
      const first = mika.checkout.start(input, { idempotencyKey: "key-slow-2" });
      while (creates() === 0) await vi.advanceTimersByTimeAsync(1);
      clock.advance(61_000); // the app's clock jumps; no renewal timer had a chance to run
      const retry = await mika.checkout.start(input, { idempotencyKey: "key-slow-2" });
      expect(creates()).toBe(2);
      release();
      const late = await first;
      expect(late.ok && retry.ok && late.data.checkoutId !== retry.data.checkoutId).toBe(true);
      const again = await mika.checkout.start(input, { idempotencyKey: "key-slow-2" });
      expect(again).toEqual(retry);
      const key = await store.transaction((tx) => tx.get("idempotency", "checkout:key-slow-2"));
      expect(key).toMatchObject({ status: "done" });
    });
  });

  it("holds tracked stock, refuses beyond it with 409 OUT_OF_STOCK and holds nothing on failure", async () => {
    const { mika, rows } = shop();
    const first = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-stock-1" },
    );
    expect(first.ok).toBe(true);
    const second = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }, { sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-stock-2" },
    );
    expect(second).toMatchObject({ status: 409, error: { code: "OUT_OF_STOCK" } });
    expect(await rows("reservations")).toHaveLength(1);
    expect(await rows("orders")).toHaveLength(1);
    expect(await rows("idempotency")).toHaveLength(1);
  });

  it("tells the caller not to retry a request the provider refused for good", async () => {
    const { mika, account } = shop();
    account.failNext = new ProviderError("No such price: 'price_gone'", {
      providerStatus: 400,
      providerCode: "resource_missing",
    });
    const res = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 1 }], ...urls },
      { idempotencyKey: "key-refused-for-good" },
    );
    expect(res).toMatchObject({
      ok: false,
      status: 502,
      error: { code: "PROVIDER_FAILED", message: expect.stringMatching(/No such price.*will fail again/) },
    });
    expect(!res.ok && res.error.retryAfter).toBeUndefined();
  });

  it("releases holds and answers 502 PROVIDER_FAILED with retryAfter when the provider fails", async () => {
    const { mika, account, rows } = shop();
    account.failNext = new ProviderError("rate limited", { providerStatus: 429, retryAfter: 7 });
    const res = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-fail-1" },
    );
    expect(res).toMatchObject({
      ok: false,
      status: 502,
      error: {
        code: "PROVIDER_FAILED",
        retryAfter: 7,
        message: expect.stringMatching(/may succeed when retried/),
      },
    });
    expect(await rows("reservations")).toMatchObject([{ status: "released" }]);
    const again = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-fail-1" },
    );
    expect(again.ok).toBe(true);
  });

  it("releases holds of checkouts that expire, by maintenance", async () => {
    const { mika, clock, rows } = shop();
    await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-exp-1" },
    );
    clock.advance(36 * 60_000);
    const report = await mika.maintenance.run();
    expect(report.ok && report.data.releasedReservations).toBe(1);
    const again = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-exp-2" },
    );
    expect(again.ok).toBe(true);
    expect((await rows("reservations")).map((r) => r.status).sort()).toEqual(["held", "released"]);
  });

  it("holds stock as long as the provider keeps a checkout payable, when that is longer than asked", async () => {
    const { provider, account } = shopProvider();
    account.extendExpiryMs = 20 * 60_000;
    const { mika, clock } = setup({ providers: [provider], catalog, checkoutTtlMinutes: 10 });
    const tees = { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls };
    const first = await mika.checkout.start(tees, { idempotencyKey: "key-hold-1" });
    expect(first.ok && Date.parse(first.data.expiresAt)).toBe(clock.ms + 30 * 60_000);
    clock.advance(16 * 60_000); // past Mika's 10 minutes and the 5-minute grace; the buyer can still pay
    const early = await mika.maintenance.run();
    expect(early.ok && early.data.releasedReservations).toBe(0);
    const second = await mika.checkout.start(tees, { idempotencyKey: "key-hold-2" });
    expect(second).toMatchObject({ status: 409, error: { code: "OUT_OF_STOCK" } });
    clock.advance(20 * 60_000); // past the provider's 30 minutes and the grace
    const late = await mika.maintenance.run();
    expect(late.ok && late.data.releasedReservations).toBe(1);
    expect((await mika.checkout.start(tees, { idempotencyKey: "key-hold-3" })).ok).toBe(true);
  });

  it("a process that cannot ask the provider (the CLI) expires a checkout only an hour past its expiry", async () => {
    const { mika, store, clock } = shop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-ops-expiry" },
    );
    if (!started.ok) throw new Error("start failed");
    const quiet = { info() {}, warn() {}, error() {} };
    const ops = createMika({ providers: [], store, now: clock.now, config: { logger: quiet } });
    clock.advance(40 * 60_000); // ten minutes past the checkout's 30: its webhook may still be on the way
    await ops.maintenance.run();
    const early = await mika.orders.get(started.data.checkoutId);
    expect(early.ok && early.data.status).toBe("pending");
    clock.advance(60 * 60_000);
    await ops.maintenance.run();
    const late = await mika.orders.get(started.data.checkoutId);
    expect(late.ok && late.data.status).toBe("expired");
  });

  it("expires an abandoned checkout even when over 100 older ones wait on slow bank payments", async () => {
    const { mika, clock, account, deliver } = shop();
    const mug = { provider: "acme", lines: [{ sellableId: "mug" }], ...urls };
    for (let i = 0; i < 100; i++) {
      const started = await mika.checkout.start(mug, { idempotencyKey: `key-bank-${i}` });
      if (!started.ok) throw new Error("start failed");
      // the buyer finished; the money is still on its way (SEPA, ACH)
      await deliver(
        {
          kind: "checkout.completed",
          checkoutRef: started.data.checkoutId,
          paymentStatus: "unpaid",
          amount: 1200,
          currency: "USD",
        },
        `msg_bank_${i}`,
      );
    }
    const abandoned = await mika.checkout.start(mug, { idempotencyKey: "key-abandoned" });
    if (!abandoned.ok) throw new Error("start failed");
    clock.advance(2 * 60 * 60_000);
    const runs = [];
    for (let i = 0; i < 2; i++) {
      runs.push(await mika.maintenance.run());
      clock.advance(60_000);
    }
    expect(runs.map((r) => r.ok && r.data.reconciledCheckouts)).toEqual([100, 100]);
    const order = await mika.orders.get(abandoned.data.checkoutId);
    expect(order.ok && order.data.status).toBe("expired");
    // the second run asked about the checkout the first one had not reached
    const asked = account.calls.filter((c) => c.method === "checkout.retrieve").map((c) => c.input);
    expect(new Set(asked).size).toBe(101);
  });
});

describe("checkout.status and cancel", () => {
  it("refuses a wrong token with 403 TOKEN_INVALID", async () => {
    const { mika } = shop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-tok-1" },
    );
    if (!started.ok) throw new Error("start failed");
    const res = await mika.checkout.status({ checkoutId: started.data.checkoutId, token: "guess" });
    expect(res).toMatchObject({ status: 403, error: { code: "TOKEN_INVALID" } });
    const good = await mika.checkout.status({
      checkoutId: started.data.checkoutId,
      token: started.data.token,
    });
    expect(good.ok && good.data).toMatchObject({ status: "pending", paid: false });
  });

  it("reconciles a checkout whose webhook never came, asking the provider at most once per few seconds", async () => {
    const { mika, account, clock, rows } = shop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "key-rec-1" },
    );
    if (!started.ok) throw new Error("start failed");
    const session = account.sessions.get("cs_1")!;
    Object.assign(session, {
      status: "complete",
      paymentStatus: "paid",
      paymentRef: "pi_77",
      amount: 2500,
      currency: "USD",
    });
    const first = await mika.checkout.status(started.data);
    expect(first.ok && first.data).toMatchObject({ status: "paid", paid: true });
    expect((await rows("reservations"))[0]!.status).toBe("committed");
    expect((await rows("stock"))[0]!.on_hand).toBe(1);
    const retrieves = () => account.calls.filter((c) => c.method === "checkout.retrieve").length;
    expect(retrieves()).toBe(1);
    await mika.checkout.status(started.data);
    expect(retrieves()).toBe(1);
    const other = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-rec-2" },
    );
    if (!other.ok) throw new Error("start failed");
    await mika.checkout.status(other.data);
    await mika.checkout.status(other.data);
    expect(retrieves()).toBe(2);
    clock.advance(6_000);
    await mika.checkout.status(other.data);
    expect(retrieves()).toBe(3);
  });

  it("keeps a checkout pending, with its stock, when one payment attempt inside it is declined", async () => {
    const { mika, deliver, clock } = shop();
    const tees = { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls };
    const started = await mika.checkout.start(tees, { idempotencyKey: "key-declined-1" });
    if (!started.ok) throw new Error("start failed");
    const declined = await deliver(
      {
        kind: "payment.failed",
        checkoutRef: started.data.checkoutId,
        paymentRef: "pi_declined",
        reason: "card_declined",
        amount: 5000,
        currency: "USD",
      },
      "msg_declined",
    );
    expect(declined.status).toBe(200);
    const order = await mika.orders.get(started.data.checkoutId);
    expect(order.ok && order.data).toMatchObject({ status: "pending", failureReason: "card_declined" });
    const other = await mika.checkout.start(tees, { idempotencyKey: "key-declined-2" });
    expect(other).toMatchObject({ status: 409, error: { code: "OUT_OF_STOCK" } });
    // the buyer tries another card, which goes through
    clock.advance(1000);
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: started.data.checkoutId,
        paymentRef: "pi_declined",
        paymentStatus: "paid",
        amount: 5000,
        currency: "USD",
      },
      "msg_paid_after_decline",
    );
    const paid = await mika.orders.get(started.data.checkoutId);
    expect(paid.ok && paid.data).toMatchObject({ status: "paid", failureReason: null });
  });

  it("never hands a host handler the order a refused event named, inline or on a retry", async () => {
    const seen: { kind: string; attempt: number; order?: string }[] = [];
    const { provider } = shopProvider();
    const record = (kind: string, ctx: HandlerContext) => {
      seen.push({ kind, attempt: ctx.attempt, ...(ctx.order ? { order: ctx.order.id } : {}) });
      if (ctx.attempt === 1) throw new Error("crm down");
    };
    const { mika, deliver, rows, clock } = setup({
      providers: [provider],
      catalog,
      on: {
        "checkout.completed": (_event, ctx) => record("checkout.completed", ctx),
        "payment.succeeded": (_event, ctx) => record("payment.succeeded", ctx),
      },
    });
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 1 }], ...urls },
      { idempotencyKey: "key-refused-handler" },
    );
    if (!started.ok) throw new Error("start failed");
    const checkoutId = started.data.checkoutId;
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: checkoutId,
        providerCheckoutId: "cs_someone_else",
        paymentRef: "pi_cheap",
        paymentStatus: "paid",
        amount: 100,
        currency: "USD",
      },
      "msg_refused_handler_checkout",
    );
    await deliver(
      {
        kind: "payment.succeeded",
        checkoutRef: checkoutId,
        paymentRef: "pi_yen",
        amount: 5000,
        currency: "JPY",
      },
      "msg_refused_handler_payment",
    );
    clock.advance(60_000);
    await mika.maintenance.run();
    const separate = (await rows("orders")).find((o) => o.id !== checkoutId)!;
    // the refused checkout's own order (never the one it named); the refused payment settled no order
    // (maintenance retries in its own order)
    seen.sort((a, b) => a.attempt - b.attempt || a.kind.localeCompare(b.kind));
    expect(seen).toEqual([
      { kind: "checkout.completed", attempt: 1, order: separate.id },
      { kind: "payment.succeeded", attempt: 1 },
      { kind: "checkout.completed", attempt: 2, order: separate.id },
      { kind: "payment.succeeded", attempt: 2 },
    ]);
  });

  it("does not let a payment from another provider checkout, or in another currency, settle an order", async () => {
    const { mika, deliver, rows } = shop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-spoof-1" },
    );
    if (!started.ok) throw new Error("start failed");
    const checkoutId = started.data.checkoutId;
    const [order] = await rows("orders");
    // a buyer's own cheap checkout that carries this order's id in its custom data
    const foreign = await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: checkoutId,
        providerCheckoutId: "cs_someone_else",
        paymentRef: "pi_cheap",
        paymentStatus: "paid",
        amount: 100,
        currency: "USD",
      },
      "msg_foreign_checkout",
    );
    expect(foreign.status).toBe(200);
    const otherCurrency = await deliver(
      {
        kind: "payment.succeeded",
        checkoutRef: checkoutId,
        paymentRef: "pi_yen",
        amount: 5000,
        currency: "JPY",
      },
      "msg_other_currency",
    );
    expect(otherCurrency.body.data.status).toBe("processed");
    const target = await mika.orders.get(checkoutId);
    expect(target.ok && target.data.status).toBe("pending");
    const all = await rows("orders");
    expect(all).toHaveLength(2);
    const separate = all.find((o) => o.id !== checkoutId)!;
    expect(separate).toMatchObject({
      status: "paid",
      amount: 100,
      provider_checkout_id: "cs_someone_else",
      metadata: { mika_refused_checkout_ref: expect.stringContaining("cs_someone_else") },
    });
    expect(await rows("payments")).toMatchObject([{ payment_ref: "pi_yen", order_id: null }]);
    // the real checkout's own event, its currency in lower case, still settles it
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: checkoutId,
        providerCheckoutId: order!.provider_checkout_id!,
        paymentRef: "pi_real",
        paymentStatus: "paid",
        amount: 5000,
        currency: "usd",
      },
      "msg_real_checkout",
    );
    const paid = await mika.orders.get(checkoutId);
    expect(paid.ok && paid.data.status).toBe("paid");
  });

  it("cancel expires the provider session, releases stock and marks canceled; after paid it is refused", async () => {
    const { mika, account, rows, deliver } = shop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "key-can-1" },
    );
    if (!started.ok) throw new Error("start failed");
    const canceled = await mika.checkout.cancel(started.data);
    expect(canceled.ok && canceled.data.status).toBe("canceled");
    expect(account.calls.some((c) => c.method === "checkout.expire" && c.input === "cs_1")).toBe(true);
    expect((await rows("reservations"))[0]!.status).toBe("released");

    const paid = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-can-2" },
    );
    if (!paid.ok) throw new Error("start failed");
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: paid.data.checkoutId,
        providerCheckoutId: "cs_2",
        paymentRef: "pi_2",
        paymentStatus: "paid",
        amount: 1200,
        currency: "USD",
      },
      "msg_paid_can",
    );
    const refused = await mika.checkout.cancel(paid.data);
    expect(refused).toMatchObject({ status: 409, error: { code: "CONFLICT" } });
  });
});

describe("refunds, subscriptions, portal", () => {
  async function paidOrder(env: ReturnType<typeof shop>) {
    const started = await env.mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: `key-paid-${Math.random()}` },
    );
    if (!started.ok) throw new Error("start failed");
    await env.deliver(
      {
        kind: "checkout.completed",
        checkoutRef: started.data.checkoutId,
        paymentRef: "pi_r",
        paymentStatus: "paid",
        amount: 1200,
        currency: "USD",
      },
      `msg_${started.data.checkoutId}`,
    );
    return started.data.checkoutId;
  }

  /** Delivers an active subscription `sub_1` and returns its Mika id. */
  async function activeSubscription(env: ReturnType<typeof shop>) {
    await env.deliver(
      {
        kind: "subscription.updated",
        subscriptionRef: "sub_1",
        status: "active",
        change: "created",
        cancelAtPeriodEnd: false,
        updatedAt: "2025-03-01T00:00:00Z",
      },
      "msg_sub",
    );
    const list = await env.mika.subscriptions.list();
    return list.ok ? list.data.items[0]!.id : "";
  }

  it("refuses a refund over the paid amount with 422 and passes a valid one to the provider, idempotently", async () => {
    const env = shop();
    const orderId = await paidOrder(env);
    const over = await env.mika.refunds.create({ orderId, amount: 1201 }, { idempotencyKey: "key-ref-1" });
    expect(over).toMatchObject({ status: 422, error: { code: "VALIDATION_FAILED" } });
    const partial = await env.mika.refunds.create({ orderId, amount: 500 }, { idempotencyKey: "key-ref-2" });
    expect(partial).toMatchObject({ ok: true, data: { status: "pending", orderId } });
    const again = await env.mika.refunds.create({ orderId, amount: 500 }, { idempotencyKey: "key-ref-2" });
    expect(again).toEqual(partial);
    const calls = env.account.calls.filter((c) => c.method === "refunds.create");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toMatchObject({
      paymentRef: "pi_r",
      amount: 500,
      currency: "USD",
      idempotencyKey: "mika_refund_key-ref-2",
    });
    const order = await env.mika.orders.get(orderId);
    expect(order.ok && order.data.refundedAmount).toBe(0);
  });

  it("answers a retried refund with its stored result after the refund landed; a new key is refused", async () => {
    const env = shop();
    const orderId = await paidOrder(env);
    const first = await env.mika.refunds.create({ orderId }, { idempotencyKey: "key-ref-retry" });
    expect(first).toMatchObject({ ok: true, data: { orderId } });
    const refundRef = first.ok ? first.data.refundRef : "";
    await env.deliver(
      {
        kind: "refund.updated",
        paymentRef: "pi_r",
        refundRef,
        refundedAmount: 1200,
        amount: 1200,
        currency: "USD",
        full: true,
        status: "succeeded",
      },
      "msg_refund_landed",
    );
    const order = await env.mika.orders.get(orderId);
    expect(order.ok && order.data.status).toBe("refunded");
    // the client lost the first answer and sends the same request again
    expect(await env.mika.refunds.create({ orderId }, { idempotencyKey: "key-ref-retry" })).toEqual(first);
    const fresh = await env.mika.refunds.create({ orderId }, { idempotencyKey: "key-ref-fresh" });
    expect(fresh).toMatchObject({ status: 409, error: { code: "CONFLICT" } });
    expect(env.account.calls.filter((c) => c.method === "refunds.create")).toHaveLength(1);
    expect((await env.rows("idempotency")).map((r) => r.id).sort()).toEqual([
      expect.stringMatching(/^checkout:/),
      "refund:key-ref-retry",
    ]);
  });

  it("checks capabilities: no partial refunds without refunds.partial, no portal without portal", async () => {
    const env = shop(["checkout", "checkout.inline-prices", "refunds"]);
    const orderId = await paidOrder(env);
    expect(
      await env.mika.refunds.create({ orderId, amount: 100 }, { idempotencyKey: "key-cap-r" }),
    ).toMatchObject({
      status: 409,
      error: { code: "PROVIDER_UNSUPPORTED" },
    });
    expect((await env.mika.refunds.create({ orderId }, { idempotencyKey: "key-cap-full" })).ok).toBe(true);
    expect(
      await env.mika.portal.create({
        provider: "acme",
        customerRef: "cus_1",
        returnUrl: "https://shop.test",
      }),
    ).toMatchObject({
      error: { code: "PROVIDER_UNSUPPORTED" },
    });
  });

  it("refuses one idempotency key for two subscription actions with 409 IDEMPOTENCY_MISMATCH", async () => {
    const env = shop();
    const subscriptionId = await activeSubscription(env);
    const canceled = await env.mika.subscriptions.cancel(
      { subscriptionId },
      { idempotencyKey: "key-sub-both" },
    );
    expect(canceled.ok).toBe(true);
    const resumed = await env.mika.subscriptions.resume(
      { subscriptionId },
      { idempotencyKey: "key-sub-both" },
    );
    expect(resumed).toMatchObject({ status: 409, error: { code: "IDEMPOTENCY_MISMATCH" } });
    expect(
      env.account.calls
        .filter((c) => c.method.startsWith("subscriptions."))
        .map((c) => `${c.method} ${(c.input as { idempotencyKey: string }).idempotencyKey}`),
    ).toEqual(["subscriptions.cancel mika_sub_key-sub-both"]);
  });

  it("cancels a subscription through the provider and opens the portal", async () => {
    const env = shop();
    const id = await activeSubscription(env);
    const res = await env.mika.subscriptions.cancel({ subscriptionId: id }, { idempotencyKey: "key-sub-1" });
    expect(res).toMatchObject({ ok: true, data: { subscriptionRef: "sub_1" } });
    expect(env.account.calls.at(-1)).toMatchObject({
      method: "subscriptions.cancel",
      input: { subscriptionRef: "sub_1", atPeriodEnd: true },
    });
    expect(
      await env.mika.subscriptions.change(
        { subscriptionId: id, priceRef: "p" },
        { idempotencyKey: "key-sub-2" },
      ),
    ).toMatchObject({
      error: { code: "PROVIDER_UNSUPPORTED" },
    });
    expect(
      await env.mika.portal.create({
        provider: "acme",
        customerRef: "cus_1",
        returnUrl: "https://shop.test",
      }),
    ).toMatchObject({
      ok: true,
      data: { url: "https://pay.example/portal/cus_1" },
    });
  });
});

describe("checkout over HTTP", () => {
  it("POST /checkout needs an Idempotency-Key, then GET status and POST cancel work with the token", async () => {
    const { mika } = shop();
    const body = JSON.stringify({ provider: "acme", lines: [{ sellableId: "mug" }], ...urls });
    const noKey = await mika.handler(
      new Request("http://shop.test/api/mika/checkout", { method: "POST", body }),
    );
    expect(noKey.status).toBe(422);
    const res = await mika.handler(
      new Request("http://shop.test/api/mika/checkout", {
        method: "POST",
        body,
        headers: { "idempotency-key": "key-http-1", "content-type": "application/json" },
      }),
    );
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as any;
    const status = await mika.handler(
      new Request(`http://shop.test/api/mika/checkout/${data.checkoutId}?token=${data.token}`),
    );
    expect(((await status.json()) as any).data.status).toBe("pending");
    const wrong = await mika.handler(
      new Request(`http://shop.test/api/mika/checkout/${data.checkoutId}?token=nope`),
    );
    expect(wrong.status).toBe(403);
    const cancel = await mika.handler(
      new Request(`http://shop.test/api/mika/checkout/${data.checkoutId}/cancel`, {
        method: "POST",
        body: JSON.stringify({ token: data.token }),
      }),
    );
    expect(((await cancel.json()) as any).data.status).toBe("canceled");
  });
});

describe("assertWired", () => {
  it("lists missing secrets, prices a provider cannot take inline, and an unmigrated store", async () => {
    const { standardWebhooksProvider } = await import("@mika/testing");
    const { provider } = shopProvider(["checkout"]);
    const noSecret = standardWebhooksProvider({ name: "nosecret", webhookSecret: [] });
    const env = setup({ providers: [provider, noSecret], catalog });
    const res = await env.mika.assertWired();
    expect(res.ok && res.data.ok).toBe(false);
    const problems = res.ok ? res.data.problems.join("\n") : "";
    expect(problems).toMatch(/nosecret: No nosecret webhook secret/);
    expect(problems).toMatch(/sellable tee has no acme price id/);
    expect(problems).toMatch(/schema version 0/);
  });
});
