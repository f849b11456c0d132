/**
 * The Lemon Squeezy sandbox proven with the real `@lemonsqueezy/lemonsqueezy.js` SDK (its global-fetch
 * calls to https://api.lemonsqueezy.com routed to the sandbox) and the real `@mika/lemonsqueezy`
 * adapter, imported from source by relative path (it devDepends on `@mika/testing`: no cycle).
 */
import { type PaymentProvider, type ProviderCheckoutInput, ProviderError } from "@mika/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lemonSqueezyProvider } from "../../lemonsqueezy/src/index.js";
import { type LemonSqueezySandbox, routeLemonSqueezyFetch, startLemonSqueezySandbox } from "../src/index.js";
import { onlyEvent, useReceiver } from "./sandbox-receiver.js";

const SECRET = "ls-sandbox-signing-secret";
const receiver = useReceiver();
let sandbox: LemonSqueezySandbox;
let provider: PaymentProvider;
const originalFetch = globalThis.fetch;

beforeAll(async () => {
  sandbox = await startLemonSqueezySandbox({
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    storeId: "77",
    variants: {
      "11": { price: 1500, name: "Ebook" },
      "21": { price: 900, name: "Pro", interval: "month" },
      "22": { price: 2900, name: "Team", interval: "month" },
    },
  });
  provider = lemonSqueezyProvider({
    apiKey: "ls_sandbox_key",
    storeId: sandbox.storeId,
    webhookSecret: SECRET,
  });
});
afterAll(() => sandbox.close());

let n = 0;
function input(overrides: Partial<ProviderCheckoutInput> = {}): ProviderCheckoutInput {
  n += 1;
  return {
    checkoutId: `co_ls_${n}`,
    idempotencyKey: `idem_ls_${n}`,
    mode: "payment",
    lines: [{ priceRef: "11", quantity: 2 }],
    successUrl: "https://shop.test/success",
    cancelUrl: "https://shop.test/cancel",
    customer: { email: "buyer@example.com", name: "Buyer" },
    ...overrides,
  };
}
const delivered = () => onlyEvent(receiver, provider);

describe("Lemon Squeezy sandbox with the real SDK and adapter", () => {
  it("creates a checkout, completes it, delivers a verifiable order_created with meta.custom_data", async () => {
    const created = await provider.checkout!.create(input());
    expect(created).toMatchObject({ status: "open", checkoutRef: `co_ls_${n}`, livemode: false });
    expect(created.url).toBe(`${sandbox.url}/pay/${created.providerCheckoutId}`);
    const sent = sandbox.requests.at(-1)!;
    expect(sent).toMatchObject({ method: "POST", path: "/v1/checkouts" });
    expect(sent.headers.authorization).toBe("Bearer ls_sandbox_key");
    expect(sent.body).toMatchObject({
      data: { attributes: { checkout_data: { custom: { mika_checkout_id: `co_ls_${n}` } } } },
    });

    expect(await provider.checkout!.retrieve(created.providerCheckoutId)).toMatchObject({ status: "open" });
    expect(await sandbox.complete(created.providerCheckoutId)).toBe(200);

    const event = await delivered();
    const orderRef = String(sandbox.checkouts.get(created.providerCheckoutId)!.attributes.paid_order_id);
    expect(event).toMatchObject({
      kind: "checkout.completed",
      eventType: "order_created",
      checkoutRef: `co_ls_${n}`,
      paymentStatus: "paid",
      amount: 3000,
      currency: "USD",
      orderRef,
    });
    expect(JSON.parse(receiver.received[0]!.rawBody).meta.custom_data).toEqual({
      mika_checkout_id: `co_ls_${n}`,
      mika_idempotency_key: `idem_ls_${n}`,
    });
    // The adapter reads payment state from the order (a checkout resource has none).
    expect(await provider.checkout!.retrieve(orderRef)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      amount: 3000,
      orderRef,
    });
    await expect(sandbox.complete(created.providerCheckoutId)).rejects.toThrow(/is paid/);
  });

  it("serves the hosted page; Pay redirects to the checkout's redirect_url", async () => {
    const created = await provider.checkout!.create(input());
    const html = await (await fetch(created.url!)).text();
    expect(html).toContain('id="pay"');
    expect(html).toContain("$30.00");
    const paid = await fetch(`${sandbox.url}/pay/${created.providerCheckoutId}/complete`, {
      method: "POST",
      redirect: "manual",
    });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toBe("https://shop.test/success");
    expect((await delivered()).kind).toBe("checkout.completed");
  });

  it("treats a checkout past expires_at as expired: not payable (the adapter still reads it open)", async () => {
    const expiresAt = new Date(Date.now() - 1000);
    const created = await provider.checkout!.create(input({ expiresAt }));
    // the checkout object has no payment state: the adapter leaves expiring the order to Mika
    const read = await provider.checkout!.retrieve(created.providerCheckoutId);
    expect(read).toMatchObject({ status: "open" });
    expect(read.expiresAt?.getTime()).toBe(expiresAt.getTime());
    await expect(sandbox.complete(created.providerCheckoutId)).rejects.toThrow(/expired/);
    expect(await (await fetch(created.url!)).text()).toContain("This checkout is expired");
  });

  it("refunds an order partially, then the rest; refuses more than is left", async () => {
    const created = await provider.checkout!.create(input());
    await sandbox.complete(created.providerCheckoutId);
    const paymentRef = String(sandbox.checkouts.get(created.providerCheckoutId)!.attributes.paid_order_id);
    await provider.refunds!.create({ paymentRef, amount: 500, idempotencyKey: "r1" });
    const order = sandbox.orders.get(paymentRef)!;
    expect(order.attributes).toMatchObject({ status: "partial_refund", refunded_amount: 500 });
    const error = await provider
      .refunds!.create({ paymentRef, amount: 2600, idempotencyKey: "r2" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.providerStatus).toBe(422);
    await provider.refunds!.create({ paymentRef, idempotencyKey: "r3" });
    expect(order.attributes).toMatchObject({ status: "refunded", refunded_amount: 3000, refunded: true });

    receiver.received.length = 0;
    expect(await sandbox.sendEvent("order_refunded", order, { mika_checkout_id: `co_ls_${n}` })).toBe(200);
    expect(await delivered()).toMatchObject({ kind: "refund.updated", full: true, refundedAmount: 3000 });
  });

  it("runs a subscription: cancel, resume, change variant and quantity, pause, resume, portal", async () => {
    const created = await provider.checkout!.create(
      input({ mode: "subscription", lines: [{ priceRef: "21", quantity: 1 }] }),
    );
    await sandbox.complete(created.providerCheckoutId);
    expect((await delivered()).kind).toBe("checkout.completed");
    const [subscriptionRef, sub] = [...sandbox.subscriptions].at(-1)!;
    expect(sub.attributes).toMatchObject({ status: "active", variant_id: 21 });

    await provider.subscriptions!.cancel({ subscriptionRef, atPeriodEnd: true, idempotencyKey: "s1" });
    expect(sub.attributes).toMatchObject({ status: "cancelled", cancelled: true });
    await provider.subscriptions!.resume!({ subscriptionRef, idempotencyKey: "s2" });
    expect(sub.attributes).toMatchObject({ status: "active", cancelled: false });
    await provider.subscriptions!.change!({
      subscriptionRef,
      priceRef: "22",
      quantity: 3,
      idempotencyKey: "s3",
    });
    expect(sub.attributes).toMatchObject({ variant_id: 22, first_subscription_item: { quantity: 3 } });
    await provider.subscriptions!.pause!({ subscriptionRef, idempotencyKey: "s4" });
    expect(sub.attributes).toMatchObject({ status: "paused", pause: { mode: "void" } });
    await provider.subscriptions!.resume!({ subscriptionRef, idempotencyKey: "s5" });
    expect(sub.attributes).toMatchObject({ status: "active", pause: null });

    const portal = await provider.portal!.create({
      customerRef: String(sub.attributes.customer_id),
      returnUrl: "https://shop.test/account",
    });
    expect(portal.url).toBe(`${sandbox.url}/portal/${String(sub.attributes.customer_id)}`);
    expect((await fetch(portal.url)).status).toBe(200);
  });

  it("answers 401 in JSON:API error format without an API key", async () => {
    const response = await fetch("https://api.lemonsqueezy.com/v1/orders/1");
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ errors: [{ status: "401", title: "Unauthorized" }] });
  });

  it("routes only the Lemon Squeezy origin, and restores fetch", async () => {
    expect(globalThis.fetch).not.toBe(originalFetch);
    const seen: string[] = [];
    const previous = globalThis.fetch;
    globalThis.fetch = (async (input: RequestInfo | URL) => {
      seen.push(String(input));
      return new Response("{}");
    }) as typeof fetch;
    const restore = routeLemonSqueezyFetch("http://127.0.0.1:9");
    await fetch("https://api.lemonsqueezy.com/v1/orders/5?include=store");
    await fetch("https://example.com/v1/orders/5");
    restore();
    globalThis.fetch = previous;
    expect(seen).toEqual(["http://127.0.0.1:9/v1/orders/5?include=store", "https://example.com/v1/orders/5"]);
  });
});
