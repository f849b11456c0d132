/**
 * The Stripe sandbox proven with the real `stripe` SDK (from `sandbox.client()`) and the real
 * `@mika/stripe` adapter. The adapter is imported from its source by relative path: `@mika/stripe`
 * devDepends on `@mika/testing`, so a workspace dependency back would be a cycle in turbo's graph.
 */
import { type PaymentProvider, type ProviderCheckoutInput, ProviderError } from "@mika/types";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripeProvider } from "../../stripe/src/index.js";
import { type StripeSandbox, startStripeSandbox } from "../src/index.js";
import { onlyEvent, useReceiver } from "./sandbox-receiver.js";

const SECRET = "whsec_sandbox_stripe_tests";
const receiver = useReceiver();
let sandbox: StripeSandbox<Stripe>;
let provider: PaymentProvider;

beforeAll(async () => {
  sandbox = await startStripeSandbox({
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    sdk: Stripe,
    prices: {
      price_pro_monthly: { unit_amount: 1900, currency: "usd", recurring: { interval: "month" } },
      price_team_monthly: { unit_amount: 4900, currency: "usd", recurring: { interval: "month" } },
    },
  });
  provider = stripeProvider({ client: sandbox.client(), webhookSecret: SECRET });
});
afterAll(() => sandbox.close());

let n = 0;
function input(overrides: Partial<ProviderCheckoutInput> = {}): ProviderCheckoutInput {
  n += 1;
  return {
    checkoutId: `co_stripe_${n}`,
    idempotencyKey: `idem_stripe_${n}`,
    mode: "payment",
    lines: [{ name: "Sticker pack", amount: 2500, currency: "EUR", quantity: 2 }],
    successUrl: "https://shop.test/success?session={CHECKOUT_SESSION_ID}",
    cancelUrl: "https://shop.test/cancel",
    customer: { email: "buyer@example.com" },
    ...overrides,
  };
}

const delivered = () => onlyEvent(receiver, provider);

describe("Stripe sandbox with the real SDK and adapter", () => {
  it("creates a session, completes it, delivers a verifiable checkout.session.completed", async () => {
    const created = await provider.checkout!.create(input());
    expect(created).toMatchObject({
      status: "open",
      paymentStatus: "unpaid",
      checkoutRef: `co_stripe_${n}`,
      amount: 5000,
      currency: "EUR",
    });
    expect(created.url).toBe(`${sandbox.url}/pay/${created.providerCheckoutId}`);
    const sent = sandbox.requests.at(-1)!;
    expect(sent.headers["idempotency-key"]).toBe(`idem_stripe_${n}`);
    expect(sandbox.lineItems.get(created.providerCheckoutId)).toMatchObject([
      { quantity: 2, amount_total: 5000, currency: "eur", description: "Sticker pack" },
    ]);

    expect(await provider.checkout!.retrieve(created.providerCheckoutId)).toMatchObject({ status: "open" });
    expect(await sandbox.complete(created.providerCheckoutId)).toBe(200);

    const event = await delivered();
    const session = sandbox.sessions.get(created.providerCheckoutId)!;
    expect(event).toMatchObject({
      kind: "checkout.completed",
      checkoutRef: `co_stripe_${n}`,
      providerCheckoutId: created.providerCheckoutId,
      paymentStatus: "paid",
      amount: 5000,
      currency: "EUR",
      paymentRef: session.payment_intent,
    });
    expect(session.payment_intent).toMatch(/^pi_/);
    expect(sandbox.paymentIntents.get(session.payment_intent as string)?.metadata).toEqual({
      mika_checkout_id: `co_stripe_${n}`,
    });
    expect(await provider.checkout!.retrieve(created.providerCheckoutId)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      paymentRef: session.payment_intent,
      checkoutRef: `co_stripe_${n}`,
    });
    await expect(sandbox.complete(created.providerCheckoutId)).rejects.toThrow(/not open/);
  });

  it("serves the hosted page: Pay delivers the event and redirects to success_url", async () => {
    const created = await provider.checkout!.create(input());
    const page = await fetch(created.url!);
    const html = await page.text();
    expect(html).toContain('id="pay"');
    expect(html).toContain("€50.00");
    expect(html).toContain('href="https://shop.test/cancel"');

    const paid = await fetch(`${sandbox.url}/pay/${created.providerCheckoutId}/complete`, {
      method: "POST",
      redirect: "manual",
    });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toBe(
      `https://shop.test/success?session=${created.providerCheckoutId}`,
    );
    expect((await delivered()).kind).toBe("checkout.completed");
    expect(await (await fetch(created.url!)).text()).not.toContain('id="pay"');
  });

  it("reports the receiver's status and records every delivery", async () => {
    receiver.status = 500;
    const created = await provider.checkout!.create(input());
    expect(await sandbox.complete(created.providerCheckoutId, { paid: false })).toBe(500);
    expect(await delivered()).toMatchObject({ kind: "checkout.completed", paymentStatus: "unpaid" });
    expect(sandbox.deliveries.at(-1)).toMatchObject({ status: 500, eventType: "checkout.session.completed" });
  });

  it("honours Idempotency-Key: same key and params → same session; other params → idempotency_error", async () => {
    const first = input();
    const a = await provider.checkout!.create(first);
    const b = await provider.checkout!.create(first);
    expect(b.providerCheckoutId).toBe(a.providerCheckoutId);
    const count = sandbox.sessions.size;
    const error = await provider
      .checkout!.create({ ...first, cancelUrl: "https://shop.test/other" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ providerStatus: 400, providerCode: "idempotency_error" });
    expect(sandbox.sessions.size).toBe(count);
  });

  it("refuses what Stripe refuses, in Stripe's error format", async () => {
    await expect(provider.checkout!.retrieve("cs_test_missing")).rejects.toMatchObject({
      providerStatus: 404,
      providerCode: "resource_missing",
    });
    await expect(
      provider.checkout!.create(input({ lines: [{ priceRef: "price_unknown", quantity: 1 }] })),
    ).rejects.toMatchObject({ providerStatus: 404, providerCode: "resource_missing" });
    await expect(
      provider.checkout!.create(input({ lines: [{ priceRef: "price_pro_monthly", quantity: 1 }] })),
    ).rejects.toThrow(/recurring price/);
    const anonymous = await fetch(`${sandbox.url}/v1/checkout/sessions/cs_x`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { type: "authentication_error" } });
  });

  it("expires open sessions (API and programmatic) and delivers checkout.session.expired", async () => {
    const viaApi = await provider.checkout!.create(input());
    await provider.checkout!.expire!(viaApi.providerCheckoutId);
    expect(await provider.checkout!.retrieve(viaApi.providerCheckoutId)).toMatchObject({ status: "expired" });
    await provider.checkout!.expire!(viaApi.providerCheckoutId); // already expired: the adapter treats it as done
    await expect(sandbox.complete(viaApi.providerCheckoutId)).rejects.toThrow(/expired/);

    const direct = await provider.checkout!.create(input());
    receiver.received.length = 0;
    await sandbox.expire(direct.providerCheckoutId);
    const expired = receiver.received.find((r) => r.rawBody.includes(direct.providerCheckoutId))!;
    const verified = await provider.verifyWebhook(expired);
    expect(verified.ok && provider.parseWebhookEvent(verified.webhook)).toMatchObject({
      kind: "checkout.expired",
      checkoutRef: `co_stripe_${n}`,
    });
  });

  it("refunds partially then fully, and refuses more than is left", async () => {
    const created = await provider.checkout!.create(input());
    await sandbox.complete(created.providerCheckoutId);
    const paymentRef = sandbox.sessions.get(created.providerCheckoutId)!.payment_intent as string;
    const partial = await provider.refunds!.create({ paymentRef, amount: 1000, idempotencyKey: "rf_1" });
    expect(partial.status).toBe("succeeded");
    expect(sandbox.refunds.get(partial.ref)).toMatchObject({ amount: 1000, payment_intent: paymentRef });
    const again = await provider.refunds!.create({ paymentRef, amount: 1000, idempotencyKey: "rf_1" });
    expect(again.ref).toBe(partial.ref);
    await expect(
      provider.refunds!.create({ paymentRef, amount: 4001, idempotencyKey: "rf_2" }),
    ).rejects.toMatchObject({ providerStatus: 400, providerCode: "amount_too_large" });
    const rest = await provider.refunds!.create({ paymentRef, idempotencyKey: "rf_3" });
    expect(sandbox.refunds.get(rest.ref)?.amount).toBe(4000);
    expect(sandbox.paymentIntents.get(paymentRef)?.amount_refunded).toBe(5000);

    receiver.received.length = 0;
    expect(await sandbox.sendEvent("refund.updated", sandbox.refunds.get(rest.ref)!)).toBe(200);
    expect(await delivered()).toMatchObject({ kind: "refund.updated", paymentRef, refundRef: rest.ref });
  });

  it("runs a subscription: cancel at period end, resume, change price, cancel now, portal", async () => {
    const created = await provider.checkout!.create(
      input({ mode: "subscription", lines: [{ priceRef: "price_pro_monthly", quantity: 1 }] }),
    );
    await sandbox.complete(created.providerCheckoutId);
    const event = await delivered();
    const session = sandbox.sessions.get(created.providerCheckoutId)!;
    expect(event).toMatchObject({ kind: "checkout.completed", subscriptionRef: session.subscription });
    const subscriptionRef = session.subscription as string;
    const sub = sandbox.subscriptions.get(subscriptionRef)!;
    expect(sub).toMatchObject({ status: "active", metadata: { mika_checkout_id: `co_stripe_${n}` } });

    await provider.subscriptions!.cancel({ subscriptionRef, atPeriodEnd: true, idempotencyKey: "s1" });
    expect(sub.cancel_at_period_end).toBe(true);
    await provider.subscriptions!.resume!({ subscriptionRef, idempotencyKey: "s2" });
    expect(sub.cancel_at_period_end).toBe(false);
    await provider.subscriptions!.change!({
      subscriptionRef,
      priceRef: "price_team_monthly",
      idempotencyKey: "s3",
    });
    expect((sub.items as { data: { price: { id: string } }[] }).data[0]!.price.id).toBe("price_team_monthly");
    await provider.subscriptions!.cancel({ subscriptionRef, atPeriodEnd: false, idempotencyKey: "s4" });
    expect(sub.status).toBe("canceled");

    const portal = await provider.portal!.create({
      customerRef: session.customer as string,
      returnUrl: "https://shop.test/account",
    });
    expect(portal.url).toMatch(new RegExp(`^${sandbox.url}/portal/bps_`));
    expect(await (await fetch(portal.url)).text()).toContain('href="https://shop.test/account"');
  });
});
