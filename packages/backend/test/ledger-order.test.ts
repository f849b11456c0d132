/**
 * The ledger where deliveries arrive out of order or name more than they should: a bank payment's
 * stock, refunds before payments, tax on top of the catalog price, renewals' refunds, subscriptions
 * of another mode or provider, and subscriptions stored before their order.
 */
import { describe, expect, it } from "vitest";
import type { Sellable } from "../src/index.js";
import { acmeProvider, completed, refunded, setup, webhookRequest } from "./helpers.js";
import { shopProvider } from "./shop-provider.js";

const catalog: Sellable[] = [{ id: "tee", name: "T-shirt", amount: 1500, currency: "USD", stock: 1 }];
const urls = { successUrl: "https://shop.test/success", cancelUrl: "https://shop.test/cancel" };

function shop() {
  const { provider, account } = shopProvider();
  return { ...setup({ providers: [provider], catalog }), account };
}

const refund = refunded; // (shorter to read in the event lists below)

describe("ledger: out-of-order and misdirected events", () => {
  it("keeps a bank payment's stock held while the money is on its way: the last unit is not sold twice", async () => {
    const { mika, deliver, clock, account, rows } = shop();
    const tee = { provider: "acme", lines: [{ sellableId: "tee" }], ...urls };
    const a = await mika.checkout.start(tee, { idempotencyKey: "key-review-a" });
    if (!a.ok) throw new Error("start failed");
    // buyer A finishes with SEPA debit: checkout complete, money on its way (days)
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: a.data.checkoutId,
        providerCheckoutId: "cs_1",
        paymentRef: "pi_a",
        paymentStatus: "unpaid",
        amount: 1500,
        currency: "USD",
      },
      "msg_a_completed",
    );
    const session = account.sessions.get("cs_1")!;
    session.status = "complete";
    clock.advance(2 * 60 * 60_000);
    await mika.maintenance.run();
    // buyer B gets the last (already promised) unit
    const b = await mika.checkout.start(tee, { idempotencyKey: "key-review-b" });
    // B is admitted: A's hold was released at checkout expiry + 5 min although A's money is on its way
    if (b.ok) {
      await deliver(
        {
          kind: "checkout.completed",
          checkoutRef: b.data.checkoutId,
          paymentStatus: "paid",
          amount: 1500,
          currency: "USD",
        },
        "msg_b_paid",
      );
    }
    await deliver(
      {
        kind: "payment.succeeded",
        checkoutRef: a.data.checkoutId,
        paymentRef: "pi_a",
        amount: 1500,
        currency: "USD",
      },
      "msg_a_settled",
    );
    const [stock] = await rows("stock");
    expect(stock!.on_hand).toBeGreaterThanOrEqual(0);
  });

  it("counts a refund that landed before the payment event", async () => {
    const { deliver, mika, rows } = setup();
    await deliver(completed({ checkoutRef: "chk_1", paymentStatus: "unpaid" }), "msg_completed_unpaid");
    // charge.refunded delivered before checkout.session.async_payment_succeeded (retried later)
    const r = await deliver(refund({ checkoutRef: "chk_1" }), "msg_refund");
    expect(r.body.data.status).toBe("processed");
    expect(await rows("refunds")).toMatchObject([{ status: "succeeded", refunded_amount: 1500 }]);
    await deliver(
      { kind: "payment.succeeded", checkoutRef: "chk_1", paymentRef: "pi_1", amount: 1500, currency: "USD" },
      "msg_async_succeeded",
    );
    const order = await mika.orders.get("chk_1");

    expect(order.ok && order.data).toMatchObject({ status: "refunded", refundedAmount: 1500 });
  });

  it("counts a refund that landed before checkout.completed, on an order Mika started", async () => {
    const { mika, deliver } = shop();
    const a = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "key-review-r" },
    );
    if (!a.ok) throw new Error("start failed");
    await deliver(refund({ checkoutRef: a.data.checkoutId, paymentRef: "pi_x" }), "msg_refund_first");
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: a.data.checkoutId,
        providerCheckoutId: "cs_1",
        paymentRef: "pi_x",
        paymentStatus: "paid",
        amount: 1500,
        currency: "USD",
      },
      "msg_completed_late",
    );
    const order = await mika.orders.get(a.data.checkoutId);
    expect(order.ok && order.data).toMatchObject({ status: "refunded", refundedAmount: 1500 });
  });

  it("measures refunds against what was paid (tax on top of the catalog price), not the catalog sum", async () => {
    const { mika, deliver } = shop();
    const a = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "key-review-tax" },
    );
    if (!a.ok) throw new Error("start failed");
    // the provider added 150 tax: the buyer paid 1650
    await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: a.data.checkoutId,
        providerCheckoutId: "cs_1",
        paymentRef: "pi_t",
        paymentStatus: "paid",
        amount: 1650,
        currency: "USD",
      },
      "msg_paid_tax",
    );
    // 1500 of 1650 refunded (charge.refunded: amount_refunded 1500, refunded=false)
    await deliver(
      refund({
        checkoutRef: a.data.checkoutId,
        paymentRef: "pi_t",
        refundedAmount: 1500,
        amount: 1650,
        full: false,
      }),
      "msg_partial",
    );
    const order = await mika.orders.get(a.data.checkoutId);

    expect(order.ok && order.data.status).toBe("partially_refunded");
    const rest = await mika.refunds.create(
      { orderId: a.data.checkoutId, amount: 150 },
      { idempotencyKey: "key-review-rest" },
    );
    expect(rest.ok).toBe(true);
  });

  it("keeps a renewal's refund off the subscription's first order, though it names that order", async () => {
    const { deliver, mika } = setup();
    // Lemon Squeezy: order_created (payment "1001") for the subscription's first payment
    await deliver(
      completed({
        checkoutRef: "chk_sub",
        paymentRef: "1001",
        orderRef: "1001",
        subscriptionRef: "sub_1",
        providerCheckoutId: undefined,
      }),
      "msg_first",
    );
    // a renewal invoice is paid, then refunded (subscription_payment_refunded: meta.custom_data still names chk_sub)
    await deliver(
      {
        kind: "payment.succeeded",
        checkoutRef: "chk_sub",
        paymentRef: "subscription-invoices/9",
        subscriptionRef: "sub_1",
        amount: 1500,
        currency: "USD",
      },
      "msg_renewal_paid",
    );
    await deliver(
      refund({
        checkoutRef: "chk_sub",
        paymentRef: "subscription-invoices/9",
        invoiceRef: "9",
        subscriptionRef: "sub_1",
      }),
      "msg_renewal_refunded",
    );
    const order = await mika.orders.get("chk_sub");

    expect(order.ok && order.data).toMatchObject({ status: "paid", refundedAmount: 0 });
  });

  it("records the refund of a payment the ledger holds without an order (a renewal)", async () => {
    const { deliver, mika, rows, clock } = setup();
    // Stripe renewal: invoice.paid names no order Mika knows by payment ref; the ledger keeps the payment
    await deliver(
      {
        kind: "payment.succeeded",
        paymentRef: "pi_2",
        subscriptionRef: "sub_1",
        invoiceRef: "in_2",
        amount: 1500,
        currency: "USD",
      },
      "msg_renewal",
    );
    expect(await rows("payments")).toMatchObject([{ payment_ref: "pi_2", order_id: null }]);
    // charge.refunded of that renewal's charge: no checkoutRef (invoice charges carry no Mika metadata)
    await deliver(refund({ paymentRef: "pi_2" }), "msg_renewal_refund");
    for (let i = 0; i < 5; i++) {
      clock.advance(61 * 60_000);
      await mika.maintenance.run();
    }

    expect(await rows("refunds")).toMatchObject([
      { payment_ref: "pi_2", refunded_amount: 1500, status: "succeeded" },
    ]);
  });

  it("never links a subscription of another mode or provider to the order its checkoutRef names", async () => {
    const { mika, deliver, rows, clock } = setup({ providers: [acmeProvider(), acmeProvider("beta")] });
    await deliver(
      completed({ checkoutRef: "chk_victim", paymentRef: "pi_v", providerCheckoutId: "cs_v" }),
      "msg_victim_paid",
    );
    // a test-mode subscription (custom data naming a live order) from the same provider
    await deliver(
      {
        kind: "subscription.updated",
        subscriptionRef: "sub_test",
        checkoutRef: "chk_victim",
        status: "active",
        change: "created",
        cancelAtPeriodEnd: false,
        updatedAt: "2025-03-01T12:00:00Z",
        livemode: false,
      },
      "msg_sub_testmode",
    );
    // a subscription of another provider naming the same order
    await mika.handler(
      await webhookRequest(
        {
          kind: "subscription.updated",
          subscriptionRef: "sub_beta",
          checkoutRef: "chk_victim",
          status: "active",
          change: "created",
          cancelAtPeriodEnd: false,
          updatedAt: "2025-03-01T12:00:00Z",
        },
        { id: "msg_sub_beta", nowMs: clock.ms, provider: "beta" },
      ),
    );
    const subs = await rows("subscriptions");
    const order = await mika.orders.get("chk_victim");

    expect(subs.map((s) => [s.subscription_ref, s.order_id]).sort()).toEqual([
      ["sub_beta", null],
      ["sub_test", null],
    ]);
    expect(order.ok && order.data.subscriptionRef).toBeNull();
  });

  it("links a subscription stored before its checkout's order once the order comes", async () => {
    const { deliver, rows, mika } = setup();
    await deliver(
      {
        kind: "subscription.updated",
        subscriptionRef: "sub_1",
        checkoutRef: "chk_s",
        status: "active",
        change: "created",
        cancelAtPeriodEnd: false,
        updatedAt: "2025-03-01T12:00:00Z",
      },
      "msg_sub_created",
    );
    await deliver(
      completed({ checkoutRef: "chk_s", subscriptionRef: "sub_1", mode: "subscription" }),
      "msg_completed",
    );
    const order = await mika.orders.get("chk_s");
    expect(order.ok && order.data.subscriptionRef).toBe("sub_1");
    const [sub] = await rows("subscriptions");
    expect(sub!.order_id).toBe("chk_s");
  });

  it("tells of no failed payment when a decline of the payment that went through arrives late", async () => {
    const intents: string[] = [];
    const { deliver } = setup({ notifications: { handle: (intent) => void intents.push(intent.type) } });
    await deliver(completed({ checkoutRef: "chk_late_decline", paymentRef: "pi_ok" }), "msg_paid");
    // the card declined first, then went through; the decline's webhook came last
    await deliver(
      {
        kind: "payment.failed",
        checkoutRef: "chk_late_decline",
        paymentRef: "pi_ok",
        reason: "card_declined",
      },
      "msg_late_decline",
    );
    // a renewal of the same order failing is still told
    await deliver(
      {
        kind: "payment.failed",
        checkoutRef: "chk_late_decline",
        paymentRef: "pi_renewal",
        reason: "expired_card",
      },
      "msg_renewal_failed",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(intents).toEqual(["order.paid", "payment.failed"]);
  });
});
