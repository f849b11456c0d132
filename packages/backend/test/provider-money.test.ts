/**
 * Money through the outbound API side, end to end through createMika, the real adapters, the real SDKs and the
 * loopback sandboxes / stubs (no real provider is ever called).
 */

import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { paddleProvider } from "@mika/paddle";
import { loadFixtureJson, paddleSigner, startLemonSqueezySandbox, startPaddleSandbox } from "@mika/testing";
import { afterEach, describe, expect, it } from "vitest";
import { paddleData, startPaddleStub } from "../../paddle/test/stub.js";
import { createMika, memoryStore } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const urls = { successUrl: "https://shop.test/thanks", cancelUrl: "https://shop.test/cart" };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/**
 * Wraps globalThis.fetch so the FIRST request matching `hit` reaches the provider (which applies it)
 * and its answer is then lost, as on a connection reset or a timeout after the provider acted.
 */
function loseFirstAnswer(hit: (url: string, method: string) => boolean) {
  const original = globalThis.fetch;
  let lost = false;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const response = await original(input, init);
    if (!lost && hit(url, method)) {
      lost = true;
      await response.arrayBuffer();
      throw new TypeError("fetch failed", { cause: new Error("read ECONNRESET") });
    }
    return response;
  }) as typeof fetch;
  cleanups.push(() => {
    globalThis.fetch = original;
  });
}

describe("refunds without provider idempotency (Paddle, Lemon Squeezy): a retry with the same key", () => {
  it("Paddle: a partial refund whose answer was lost is not sent a second time", async () => {
    const sandbox = await startPaddleSandbox({ webhookSecret: "pdl_ntfset_review" });
    cleanups.push(() => sandbox.close());
    const mika = createMika({
      providers: [
        paddleProvider({
          client: sandbox.client("pdl_apikey_review") as never,
          webhookSecret: "pdl_ntfset_review",
        }),
      ],
      store: memoryStore(),
      config: { logger: quiet },
    });
    const started = await mika.checkout.start(
      { provider: "paddle", lines: [{ name: "Plan", amount: 5000, currency: "USD" }], ...urls },
      { idempotencyKey: "paddle-checkout-1" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const order = await mika.orders.get(started.data.checkoutId);
    const txn = order.ok ? order.data.providerCheckoutId! : "";
    await sandbox.complete(txn); // no webhook URL: status() reconciles with Paddle
    const status = await mika.checkout.status(started.data);
    expect(status.ok && status.data.status).toBe("paid");

    loseFirstAnswer((url, method) => method === "POST" && url.endsWith("/adjustments"));
    const first = await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 1000 },
      { idempotencyKey: "refund-key-1" },
    );
    expect(first).toMatchObject({ ok: false, error: { code: "PROVIDER_FAILED" } });
    expect(sandbox.adjustments.size).toBe(1); // Paddle did refund 1000

    // The host retries the very same request with the very same key (what idempotency keys are for).
    const retry = await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 1000 },
      { idempotencyKey: "refund-key-1" },
    );
    // one refund of 1000, not two; the host is told to look at Paddle before trying a new key
    expect(sandbox.adjustments.size).toBe(1);
    expect(retry).toMatchObject({ ok: false, status: 409, error: { code: "CONFLICT" } });
  });

  it("Lemon Squeezy: a partial refund whose answer was lost is not sent a second time", async () => {
    const sandbox = await startLemonSqueezySandbox({
      webhookSecret: "ls_review",
      variants: { "11": { price: 5000, name: "Plan" } },
    });
    cleanups.push(() => sandbox.close());
    const mika = createMika({
      providers: [
        lemonSqueezyProvider({
          apiKey: "ls-key-review",
          storeId: sandbox.storeId,
          webhookSecret: "ls_review",
        }),
      ],
      store: memoryStore(),
      catalog: [{ id: "plan", name: "Plan", amount: 5000, currency: "USD", prices: { lemonsqueezy: "11" } }],
      config: { logger: quiet },
    });
    const started = await mika.checkout.start(
      { provider: "lemonsqueezy", lines: [{ sellableId: "plan" }], ...urls },
      { idempotencyKey: "ls-checkout-1" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const order = await mika.orders.get(started.data.checkoutId);
    await sandbox.complete(order.ok ? order.data.providerCheckoutId! : "");
    const lsOrder = [...sandbox.orders.values()][0]!;
    // order_created (the sandbox has no webhook URL here): deliver what it would have sent
    await deliverLsOrderCreated(mika, lsOrder, started.data.checkoutId);
    expect((await mika.orders.get(started.data.checkoutId)).ok).toBe(true);
    const paid = await mika.orders.get(started.data.checkoutId);
    expect(paid.ok && paid.data.status).toBe("paid");

    loseFirstAnswer((url, method) => method === "POST" && /\/v1\/orders\/\d+\/refund$/.test(url));
    const first = await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 1000 },
      { idempotencyKey: "ls-refund-key-1" },
    );
    expect(first).toMatchObject({ ok: false, error: { code: "PROVIDER_FAILED" } });
    expect(sandbox.orders.get(lsOrder.id)!.attributes.refunded_amount).toBe(1000);

    await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 1000 },
      { idempotencyKey: "ls-refund-key-1" },
    );
    // the buyer got 1000 back once, not 2000
    expect(sandbox.orders.get(lsOrder.id)!.attributes.refunded_amount).toBe(1000);
  });
});

async function deliverLsOrderCreated(
  mika: ReturnType<typeof createMika>,
  lsOrder: { type: string; id: string; attributes: Record<string, unknown> },
  checkoutId: string,
) {
  const { lemonSqueezySigner } = await import("@mika/testing");
  const body = JSON.stringify({
    meta: { event_name: "order_created", custom_data: { mika_checkout_id: checkoutId } },
    data: lsOrder,
  });
  const signed = await lemonSqueezySigner.sign({ body, signatures: [{ secret: "ls_review" }] });
  const res = await mika.handler(
    new Request("http://shop.test/api/mika/webhooks/lemonsqueezy", {
      method: "POST",
      headers: signed.headers,
      body: signed.rawBody,
    }),
  );
  expect(res.status).toBe(200);
}

describe("what Mika records vs what the provider charged (Paddle adds tax at checkout)", () => {
  const SECRET = "pdl_ntfset_review_tax";
  const TXN = "txn_01h8dzxgkvdwemdhbpcapj2tbj"; // fixture: subtotal 59900 + tax 5315 = grand_total 65215

  async function paidOrder() {
    const stub = await startPaddleStub();
    cleanups.push(() => stub.close());
    const mika = createMika({
      providers: [
        paddleProvider({
          client: stub.client("pdl_key_review"),
          webhookSecret: SECRET,
          environment: "sandbox",
        }),
      ],
      store: memoryStore(),
      config: { logger: quiet },
    });
    const ready = structuredClone(
      loadFixtureJson<{ data: Record<string, any> }>("paddle/transaction.ready").data,
    );
    ready.id = TXN;
    ready.checkout = { url: `https://pay.example/?_ptxn=${TXN}` };
    stub.reply({ json: paddleData(ready) });
    const started = await mika.checkout.start(
      // the price the shop set, tax-exclusive as Paddle prices are by default
      { provider: "paddle", lines: [{ name: "Plan", amount: 59900, currency: "USD" }], ...urls },
      { idempotencyKey: "paddle-tax-1" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const completed = loadFixtureJson<Record<string, any>>("paddle/transaction.completed");
    completed.data.custom_data = { mika_checkout_id: started.data.checkoutId };
    const res = await send(mika, JSON.stringify(completed));
    expect(res.status).toBe(200);
    return { mika, stub, checkoutId: started.data.checkoutId };
  }

  async function send(mika: ReturnType<typeof createMika>, body: string) {
    const signed = await paddleSigner.sign({ body, signatures: [{ secret: SECRET }] });
    return mika.handler(
      new Request("http://shop.test/api/mika/webhooks/paddle", {
        method: "POST",
        headers: signed.headers,
        body: signed.rawBody,
      }),
    );
  }

  it("the paid order's amount is what the buyer paid (grand_total 65215), not the pre-tax line sum", async () => {
    const { mika, checkoutId } = await paidOrder();
    const order = await mika.orders.get(checkoutId);
    expect(order.ok && order.data.status).toBe("paid");
    expect(order.ok && order.data.amount).toBe(65215);
  });

  it("a refund of the whole paid amount by amount is accepted", async () => {
    const { mika, stub, checkoutId } = await paidOrder();
    stub.reply(
      { json: paddleData(loadFixtureJson<{ data: unknown }>("paddle/transaction.completed").data) },
      { json: paddleData(loadFixtureJson<{ data: unknown }>("paddle/adjustment.created").data) },
    );
    const refund = await mika.refunds.create(
      { orderId: checkoutId, amount: 65215 },
      { idempotencyKey: "tax-refund-1" },
    );
    expect(refund.ok ? "ok" : refund.error.message).toBe("ok");
  });

  it("an approved partial adjustment of 59900 (of 65215 paid) leaves the order partially refunded", async () => {
    const { mika, checkoutId } = await paidOrder();
    const adjustment = loadFixtureJson<Record<string, any>>("paddle/adjustment.updated");
    Object.assign(adjustment.data, {
      id: "adj_review_partial",
      transaction_id: TXN,
      action: "refund",
      type: "partial",
      status: "approved",
      currency_code: "USD",
    });
    adjustment.data.totals = { ...adjustment.data.totals, total: "59900", currency_code: "USD" };
    const res = await send(mika, JSON.stringify(adjustment));
    expect(res.status).toBe(200);
    const order = await mika.orders.get(checkoutId);
    expect(order.ok && order.data.refundedAmount).toBe(59900);
    // 5315 of the buyer's money is still at Paddle: the order is not refunded in full
    expect(order.ok && order.data.status).toBe("partially_refunded");
  });
});

describe("Lemon Squeezy checkout.retrieve: a paid checkout is not 'expired'", () => {
  it("status() after the checkout's expires_at, with the order_created webhook still on its way, does not expire a paid order", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const clock = () => new Date(now);
    const sandbox = await startLemonSqueezySandbox({
      webhookSecret: "ls_review_exp",
      variants: { "11": { price: 5000, name: "Plan" } },
    });
    cleanups.push(() => sandbox.close());
    const expiredHandler: string[] = [];
    const mika = createMika({
      providers: [
        lemonSqueezyProvider({
          apiKey: "ls-key-review",
          storeId: sandbox.storeId,
          webhookSecret: "ls_review_exp",
          now: clock,
        }),
      ],
      store: memoryStore(),
      now: clock,
      catalog: [
        { id: "plan", name: "Plan", amount: 5000, currency: "USD", stock: 1, prices: { lemonsqueezy: "11" } },
      ],
      on: { "checkout.expired": async (event) => void expiredHandler.push(event.eventId) },
      config: { logger: quiet },
    });
    const started = await mika.checkout.start(
      { provider: "lemonsqueezy", lines: [{ sellableId: "plan" }], ...urls },
      { idempotencyKey: "ls-exp-1" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const order = await mika.orders.get(started.data.checkoutId);
    // The buyer pays before expiry (the sandbox's hosted page checks real time, long before 2030).
    expect(await sandbox.complete(order.ok ? order.data.providerCheckoutId! : "")).toBeUndefined();
    expect(sandbox.orders.size).toBe(1);
    // A minute past the checkout's expiry the buyer's success page polls status; order_created is late.
    now += 31 * 60_000;
    const status = await mika.checkout.status(started.data);
    // Lemon Squeezy's checkout object carries no payment state, so the clock alone
    // must not turn a checkout the buyer paid into "expired" (stock released, expired handlers run).
    expect(status.ok && status.data.status).not.toBe("expired");
    expect(expiredHandler).toEqual([]);
  });
});

describe("Stripe idempotency keys Mika derives from the host's key", () => {
  it("stay within Stripe's 255-character limit for every key Mika accepts (8-255 characters)", async () => {
    const { stripeProvider } = await import("@mika/stripe");
    const sent: string[] = [];
    const session = (params: Record<string, unknown>, status: string) => ({
      id: "cs_test_1",
      object: "checkout.session",
      url: "https://checkout.example/cs_test_1",
      status,
      payment_status: status === "complete" ? "paid" : "unpaid",
      client_reference_id: params.client_reference_id ?? "",
      amount_total: 2500,
      currency: "usd",
      payment_intent: status === "complete" ? "pi_test_1" : null,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      livemode: false,
    });
    let created: Record<string, unknown> = {};
    const client = {
      checkout: {
        sessions: {
          create: async (params: Record<string, unknown>, opts?: { idempotencyKey?: string }) => {
            created = params;
            sent.push(opts?.idempotencyKey ?? "");
            return session(params, "open");
          },
          retrieve: async () => session(created, "complete"),
          expire: async () => session(created, "expired"),
        },
      },
      refunds: {
        create: async (_p: object, opts?: { idempotencyKey?: string }) => {
          sent.push(opts?.idempotencyKey ?? "");
          return { id: "re_1", status: "succeeded" };
        },
      },
      subscriptions: {} as never,
      billingPortal: { sessions: { create: async () => ({ url: "https://portal" }) } },
    };
    const mika = createMika({
      providers: [stripeProvider({ client: client as never, webhookSecret: "whsec_review" })],
      store: memoryStore(),
      config: { logger: quiet },
    });
    const started = await mika.checkout.start(
      { provider: "stripe", lines: [{ name: "Tee", amount: 2500, currency: "USD" }], ...urls },
      { idempotencyKey: "stripe-review-1" },
    );
    if (!started.ok) throw new Error(started.error.message);
    expect(
      (await mika.checkout.status(started.data)).ok && (await mika.orders.get(started.data.checkoutId)),
    ).toMatchObject({
      data: { status: "paid" },
    });
    const hostKey = "k".repeat(255); // Mika accepts it ("8 to 255 characters")
    const refund = await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 100 },
      { idempotencyKey: hostKey },
    );
    expect(refund.ok).toBe(true);
    // Stripe refuses Idempotency-Key headers longer than 255 characters.
    for (const key of sent) expect(key.length).toBeLessThanOrEqual(255);
  });
});
