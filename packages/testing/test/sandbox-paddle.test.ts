/**
 * The Paddle sandbox proven with the real `@paddle/paddle-node-sdk` (from `sandbox.client()`, its
 * `environment` set to the sandbox URL) and the real `@mika/paddle` adapter, imported from source by
 * relative path (a workspace dependency back on it would be a cycle: it devDepends on `@mika/testing`).
 */
import { type PaymentProvider, type ProviderCheckoutInput, ProviderError } from "@mika/types";
import { Paddle } from "@paddle/paddle-node-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { paddleProvider } from "../../paddle/src/index.js";
import { type PaddleSandbox, startPaddleSandbox } from "../src/index.js";
import { onlyEvent, useReceiver } from "./sandbox-receiver.js";

const SECRET = "pdl_ntfset_01sandboxtests_c2FuZGJveC1zZWNyZXQ";
const receiver = useReceiver();
let sandbox: PaddleSandbox<Paddle>;
let provider: PaymentProvider;

beforeAll(async () => {
  sandbox = await startPaddleSandbox({
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    sdk: Paddle,
    prices: {
      pri_pro_monthly: { amount: 1900, currency: "USD", interval: "month", name: "Pro" },
      pri_team_monthly: { amount: 4900, currency: "USD", interval: "month", name: "Team" },
    },
    successUrl: (t) => `https://shop.test/success?txn=${t.id}`,
  });
  provider = paddleProvider({ client: sandbox.client(), webhookSecret: SECRET, environment: "sandbox" });
});
afterAll(() => sandbox.close());

let n = 0;
function input(overrides: Partial<ProviderCheckoutInput> = {}): ProviderCheckoutInput {
  n += 1;
  return {
    checkoutId: `co_paddle_${n}`,
    idempotencyKey: `idem_paddle_${n}`,
    mode: "payment",
    lines: [
      { name: "Ebook", amount: 1200, currency: "USD", quantity: 1 },
      { name: "Stickers", amount: 300, currency: "USD", quantity: 2 },
    ],
    successUrl: "https://shop.test/success",
    cancelUrl: "https://shop.test/cancel",
    metadata: { source: "sandbox-test" },
    ...overrides,
  };
}

const delivered = () => onlyEvent(receiver, provider);

describe("Paddle sandbox with the real SDK and adapter", () => {
  it("creates a transaction, completes it, delivers a verifiable transaction.completed", async () => {
    const created = await provider.checkout!.create(input());
    expect(created).toMatchObject({
      status: "open",
      paymentStatus: "unpaid",
      checkoutRef: `co_paddle_${n}`,
      amount: 1800,
      currency: "USD",
      livemode: false,
    });
    expect(created.url).toBe(`${sandbox.url}/pay?_ptxn=${created.providerCheckoutId}`);
    const sent = sandbox.requests.at(-1)!;
    expect(sent.headers.authorization).toBe("bearer pdl_sdbx_apikey_sandbox");
    expect(sent.body).toMatchObject({
      custom_data: { mika_checkout_id: `co_paddle_${n}`, source: "sandbox-test" },
    });

    expect(await provider.checkout!.retrieve(created.providerCheckoutId)).toMatchObject({ status: "open" });
    expect(await sandbox.complete(created.providerCheckoutId)).toBe(200);

    const event = await delivered();
    expect(event).toMatchObject({
      kind: "checkout.completed",
      eventType: "transaction.completed",
      checkoutRef: `co_paddle_${n}`,
      paymentStatus: "paid",
      amount: 1800,
      currency: "USD",
    });
    expect(JSON.parse(receiver.received[0]!.rawBody)).toMatchObject({
      event_id: expect.stringMatching(/^evt_/),
      notification_id: expect.stringMatching(/^ntf_/),
      data: { id: created.providerCheckoutId, custom_data: { source: "sandbox-test" } },
    });
    expect(await provider.checkout!.retrieve(created.providerCheckoutId)).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      checkoutRef: `co_paddle_${n}`,
      customerRef: sandbox.transactions.get(created.providerCheckoutId)!.customer_id,
    });
    await expect(sandbox.complete(created.providerCheckoutId)).rejects.toThrow(/cannot be paid/);
  });

  it("serves the hosted page from Paddle's ?_ptxn= link and redirects to successUrl after Pay", async () => {
    const created = await provider.checkout!.create(input());
    const page = await fetch(created.url!);
    expect(page.url).toBe(`${sandbox.url}/pay/${created.providerCheckoutId}`);
    const html = await page.text();
    expect(html).toContain('id="pay"');
    expect(html).toContain("$18.00");
    const paid = await fetch(`${sandbox.url}/pay/${created.providerCheckoutId}/complete`, {
      method: "POST",
      redirect: "manual",
    });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toBe(`https://shop.test/success?txn=${created.providerCheckoutId}`);
    expect((await delivered()).kind).toBe("checkout.completed");
  });

  it("cancels open transactions (checkout.expire) and refuses to cancel a completed one", async () => {
    const open = await provider.checkout!.create(input());
    await provider.checkout!.expire!(open.providerCheckoutId);
    expect(await provider.checkout!.retrieve(open.providerCheckoutId)).toMatchObject({ status: "expired" });
    await expect(sandbox.complete(open.providerCheckoutId)).rejects.toThrow(/canceled/);

    const paid = await provider.checkout!.create(input());
    await sandbox.complete(paid.providerCheckoutId);
    const error = await provider.checkout!.expire!(paid.providerCheckoutId).catch((e) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.providerCode).toBe("transaction_immutable");
  });

  it("refunds with adjustments: partial over line items, then the rest (what the first left), then nothing", async () => {
    const created = await provider.checkout!.create(input());
    await sandbox.complete(created.providerCheckoutId);
    const paymentRef = created.providerCheckoutId;
    const partial = await provider.refunds!.create({ paymentRef, amount: 1500, idempotencyKey: "r1" });
    expect(partial.status).toBe("pending");
    expect(sandbox.adjustments.get(partial.ref)).toMatchObject({
      type: "partial",
      status: "pending_approval",
      totals: { total: "1500" },
    });
    // the adapter reads the earlier adjustment (include=adjustment) and refunds what it left
    const full = await provider.refunds!.create({ paymentRef, idempotencyKey: "r2" });
    expect(sandbox.adjustments.get(full.ref)).toMatchObject({ type: "partial", totals: { total: "300" } });
    await expect(provider.refunds!.create({ paymentRef, idempotencyKey: "r3" })).rejects.toThrow(
      /refunded in full already/,
    );

    receiver.received.length = 0;
    const approved = { ...sandbox.adjustments.get(full.ref)!, status: "approved" };
    expect(await sandbox.sendEvent("adjustment.updated", approved)).toBe(200);
    expect(await delivered()).toMatchObject({ kind: "refund.updated", status: "succeeded" });
  });

  it("runs a subscription: cancel at period end, undo, change price, pause, resume, portal", async () => {
    const created = await provider.checkout!.create(
      input({ mode: "subscription", lines: [{ priceRef: "pri_pro_monthly", quantity: 1 }] }),
    );
    await sandbox.complete(created.providerCheckoutId);
    expect(await delivered()).toMatchObject({ kind: "checkout.completed" });
    const done = await provider.checkout!.retrieve(created.providerCheckoutId);
    const subscriptionRef = done.subscriptionRef!;
    const sub = sandbox.subscriptions.get(subscriptionRef)!;
    expect(sub).toMatchObject({ status: "active", custom_data: { mika_checkout_id: `co_paddle_${n}` } });

    await provider.subscriptions!.cancel({ subscriptionRef, atPeriodEnd: true, idempotencyKey: "c1" });
    expect(sub.scheduled_change).toMatchObject({ action: "cancel" });
    await provider.subscriptions!.resume!({ subscriptionRef, idempotencyKey: "c2" });
    expect(sub.scheduled_change).toBeNull();
    await provider.subscriptions!.change!({
      subscriptionRef,
      priceRef: "pri_team_monthly",
      idempotencyKey: "c3",
    });
    expect((sub.items as { price: { id: string } }[])[0]!.price.id).toBe("pri_team_monthly");
    await provider.subscriptions!.pause!({ subscriptionRef, idempotencyKey: "c4" });
    expect(sub.scheduled_change).toMatchObject({ action: "pause" });

    const portal = await provider.portal!.create({
      customerRef: done.customerRef!,
      returnUrl: "https://x.test",
    });
    expect(portal.url).toMatch(new RegExp(`^${sandbox.url}/portal/cpls_`));
    expect((await fetch(portal.url)).status).toBe(200);
    await expect(
      provider.portal!.create({ customerRef: "ctm_unknown", returnUrl: "https://x.test" }),
    ).rejects.toMatchObject({ providerCode: "not_found" });
  });

  it("answers 401 in Paddle's error format without an API key", async () => {
    const response = await fetch(`${sandbox.url}/transactions/txn_x`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      error: { type: "request_error", code: "authentication_missing" },
    });
  });
});
