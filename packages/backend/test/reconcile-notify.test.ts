/**
 * A checkout that `checkout.status` (the success page) or maintenance settles with the provider's API
 * before, or without, its webhook: the change goes through the inbox like a webhook's, so its
 * `order.paid` notification and host handlers run, once for the payment.
 */
import { describe, expect, it } from "vitest";
import { setup } from "./helpers.js";
import { shopProvider } from "./shop-provider.js";

const urls = { successUrl: "https://shop.test/success", cancelUrl: "https://shop.test/cancel" };
const catalog = [{ id: "mug", name: "Mug", amount: 1200, currency: "USD" }];

function paidShop() {
  const { provider, account } = shopProvider();
  const intents: string[] = [];
  const handled: { eventType: string; order?: string }[] = [];
  const env = setup({
    providers: [provider],
    catalog,
    on: {
      "checkout.completed": (event, ctx) =>
        void handled.push({ eventType: event.eventType, ...(ctx.order ? { order: ctx.order.status } : {}) }),
    },
    notifications: { handle: (intent) => void intents.push(intent.type) },
  });
  const pay = (paymentRef: string) =>
    Object.assign(account.sessions.get("cs_1")!, {
      status: "complete",
      paymentStatus: "paid",
      paymentRef,
      amount: 1200,
      currency: "USD",
    });
  return { ...env, intents, handled, pay };
}

describe("a checkout settled through the provider's API", () => {
  it("status() before the webhook: one order.paid; handlers see the settlement and then the webhook", async () => {
    const { mika, deliver, intents, handled, pay } = paidShop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-reconcile-1" },
    );
    if (!started.ok) throw new Error("start failed");
    pay("pi_1");
    // the buyer lands on the success page before the webhook
    const status = await mika.checkout.status(started.data);
    expect(status.ok && status.data.status).toBe("paid");
    const res = await deliver(
      {
        kind: "checkout.completed",
        checkoutRef: started.data.checkoutId,
        providerCheckoutId: "cs_1",
        paymentRef: "pi_1",
        paymentStatus: "paid",
        amount: 1200,
        currency: "USD",
      },
      "msg_paid",
    );
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(intents.filter((t) => t === "order.paid")).toHaveLength(1);
    // at least once, as documented: fulfil by ctx.order, which both runs see paid
    expect(handled).toEqual([
      { eventType: "mika.reconcile.checkout", order: "paid" },
      { eventType: "test.checkout.completed", order: "paid" },
    ]);
    // the settlement is in the ops view, as the event Mika made
    const events = await mika.webhooks.list();
    expect(events.ok && events.data.items.map((e) => [e.eventType, e.status]).sort()).toEqual([
      ["mika.reconcile.checkout", "processed"],
      ["test.checkout.completed", "processed"],
    ]);
  });

  it("no webhook at all: maintenance settles the checkout, and order.paid and the handler still run", async () => {
    const { mika, clock, intents, handled, pay } = paidShop();
    const started = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      { idempotencyKey: "key-reconcile-2" },
    );
    if (!started.ok) throw new Error("start failed");
    pay("pi_2");
    clock.advance(2 * 60 * 60 * 1000);
    const run = await mika.maintenance.run();
    expect(run.ok && run.data.reconciledCheckouts).toBe(1);
    const order = await mika.orders.get(started.data.checkoutId);
    expect(order.ok && order.data.status).toBe("paid");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(intents).toEqual(["order.paid"]);
    expect(handled).toEqual([{ eventType: "mika.reconcile.checkout", order: "paid" }]);
  });
});
