import { loadFixture, loadFixtureJson, providerFixtures, stripeSigner } from "@mika/testing";
import type { EventOfKind, MikaEvent, MikaEventKind, VerifiedWebhook } from "@mika/types";
import { describe, expect, it } from "vitest";
import { stripeProvider } from "../src/index.js";

const SECRET = "whsec_parse_tests_0123456789";
const provider = stripeProvider({ webhookSecret: SECRET });

/** Signs and verifies a body, so parse tests see exactly what the backend would hand over. */
async function verified(body: string): Promise<VerifiedWebhook> {
  const delivery = await stripeSigner.sign({ body, signatures: [{ secret: SECRET }] });
  const result = await provider.verifyWebhook({ rawBody: delivery.rawBody, headers: delivery.headers });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.webhook;
}

async function parse(body: string): Promise<MikaEvent> {
  return provider.parseWebhookEvent(await verified(body));
}

async function parseAs<K extends MikaEventKind>(body: string, kind: K): Promise<EventOfKind<K>> {
  const event = await parse(body);
  expect(event.kind).toBe(kind);
  return event as EventOfKind<K>;
}

const fixture = (name: string) => {
  const found = providerFixtures("stripe").find((f) => f.name === `stripe/${name}`);
  if (!found) throw new Error(`no fixture ${name}`);
  return found.body;
};

/**
 * An Event envelope around a data object. Used for the kinds with no public sample payload: the
 * objects come from fixtures/stripe/objects (real API objects from Stripe's OpenAPI fixtures),
 * with the fields the event implies changed as Stripe documents them.
 */
function event(type: string, object: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: `evt_built_${type.replace(/\W/g, "_")}`,
    object: "event",
    api_version: "2025-03-31.basil",
    created: 1_750_000_000,
    livemode: true,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object, ...extra },
  });
}
const object = (name: string) => loadFixtureJson<Record<string, unknown>>(`stripe/objects/${name}`);

describe("public Stripe fixtures", () => {
  it("every fixture maps to a known kind with the event's own id, type, time and mode", async () => {
    for (const f of providerFixtures("stripe")) {
      const payload = JSON.parse(f.body);
      const e = await parse(f.body);
      expect(e.kind, f.name).not.toBe("unknown");
      expect(e.eventId).toBe(payload.id);
      expect(e.eventType).toBe(payload.type);
      expect(e.occurredAt).toEqual(new Date(payload.created * 1000));
      expect(e.livemode).toBe(payload.livemode);
    }
  });

  it("checkout.session.completed (subscription mode, paid)", async () => {
    const e = await parseAs(fixture("checkout.session.completed"), "checkout.completed");
    expect(e).toMatchObject({
      paymentStatus: "paid",
      amount: 1900,
      currency: "USD",
      mode: "subscription",
      customer: { email: "chris@gorails.com", name: "Chris Oliver" },
      providerCheckoutId: "cs_test_a1UejXx8ebIdTzFolicVypUAZpOBVkoQKDbaarXoPlPVtj8p0zujPEEhjT",
      subscriptionRef: "sub_1LNkeSKXBGcbgpbZ7jMqOPSi",
      customerRef: "cus_M5wW9RPFk9xNZ5",
    });
    expect(e.checkoutRef).toBeUndefined(); // client_reference_id null, metadata empty
  });

  it("charge.refunded, partial: 500 of 1500 is cumulative and not full", async () => {
    const e = await parseAs(fixture("charge.refunded"), "refund.updated");
    expect(e).toMatchObject({
      refundedAmount: 500,
      amount: 1500,
      currency: "USD",
      full: false,
      status: "succeeded",
      refundRef: "re_3LQOJoKXBGcbgpbZ10i9Mg75",
      paymentRef: "pm_1234",
      customerRef: "cus_0dUMWLtzCTagWs",
    });
  });

  it("charge.refunded, full (stripe-ruby-mock envelope): full true, the charge stands in for the payment", async () => {
    // providerFixtures names both charge.refunded files "stripe/charge.refunded"; read the envelope directly.
    const e = await parseAs(loadFixture("stripe/charge.refunded.json"), "refund.updated");
    expect(e).toMatchObject({
      refundedAmount: 100,
      amount: 100,
      full: true,
      status: "succeeded",
      refundRef: "re_000000000000000000000000",
      paymentRef: "ch_000000000000000000000000",
      eventId: "evt_000000000000000000000000",
    });
  });

  it("invoice.paid → payment.succeeded with the invoice and payment intent", async () => {
    const e = await parseAs(JSON.stringify(loadFixtureJson("stripe/invoice.paid")), "payment.succeeded");
    expect(e).toMatchObject({
      amount: 2000,
      currency: "USD",
      invoiceRef: "in_000000000000000000000000",
      paymentRef: "pi_000000000000000000000000",
      customerRef: "cus_00000000000000",
    });
    expect(e.subscriptionRef).toBeUndefined();
  });

  it("invoice.payment_failed (new API shape) → payment.failed with the subscription from parent", async () => {
    const e = await parseAs(fixture("invoice.payment_failed"), "payment.failed");
    expect(e).toMatchObject({
      amount: 24900,
      currency: "USD",
      invoiceRef: "in_1234",
      subscriptionRef: "sub_1234",
      customerRef: "cus_1234",
      reason: "Invoice payment attempt 1 failed.",
    });
  });

  it("payment_intent.payment_failed → payment.failed with the decline as reason", async () => {
    const e = await parseAs(
      JSON.stringify(loadFixtureJson("stripe/payment_intent.payment_failed")),
      "payment.failed",
    );
    expect(e).toMatchObject({
      amount: 2000,
      currency: "USD",
      paymentRef: "pi_000000000000000000000000",
      reason: "card_declined/generic_decline: Your card was declined.",
    });
  });

  it("charge.dispute.created → dispute.updated, open", async () => {
    const e = await parseAs(
      JSON.stringify(loadFixtureJson("stripe/charge.dispute.created")),
      "dispute.updated",
    );
    expect(e).toMatchObject({
      amount: 100,
      currency: "USD",
      status: "open",
      disputeRef: "dp_000000000000000000000000",
      paymentRef: "ch_000000000000000000000000",
    });
  });

  it("customer.subscription.created: active, price, period on the subscription", async () => {
    const e = await parseAs(fixture("subscription.created"), "subscription.updated");
    expect(e).toMatchObject({
      eventType: "customer.subscription.created",
      change: "created",
      status: "active",
      subscriptionRef: "sub_00000000000000",
      customerRef: "cus_00000000000000",
      priceRef: "FFBEGINNER_00000000000000",
      cancelAtPeriodEnd: false,
      currentPeriodStart: new Date(1486568724 * 1000),
      currentPeriodEnd: new Date(1488987924 * 1000),
    });
    expect(e.updatedAt).toEqual(e.occurredAt);
  });

  it("customer.subscription.updated: period read from the item (newer API versions)", async () => {
    const e = await parseAs(fixture("subscription.updated"), "subscription.updated");
    expect(e).toMatchObject({
      change: "updated",
      status: "canceled",
      currentPeriodStart: new Date(1486568724 * 1000),
      currentPeriodEnd: new Date(1488987924 * 1000),
    });
  });

  it("customer.subscription.deleted → change canceled", async () => {
    const e = await parseAs(fixture("subscription.deleted"), "subscription.updated");
    expect(e).toMatchObject({ change: "canceled", status: "canceled" });
  });
});

// Built from Stripe's documented object shapes (fixtures/stripe/objects, real API objects), for the
// event types with no public sample payload.
describe("events built from documented object shapes", () => {
  const session = object("checkout.session");

  it("checkout.session.completed carries Mika's id from client_reference_id, else metadata", async () => {
    const paid = {
      ...session,
      status: "complete",
      payment_status: "paid",
      amount_total: 1099,
      currency: "eur",
    };
    const a = await parseAs(
      event("checkout.session.completed", { ...paid, client_reference_id: "chk_direct" }),
      "checkout.completed",
    );
    expect(a).toMatchObject({
      checkoutRef: "chk_direct",
      paymentStatus: "paid",
      amount: 1099,
      currency: "EUR",
      mode: "payment",
      paymentRef: "pi_1PgafyB7WZ01zgkWSjxsAJo3",
      livemode: true,
    });
    const b = await parseAs(
      event("checkout.session.completed", { ...paid, metadata: { mika_checkout_id: "chk_meta" } }),
      "checkout.completed",
    );
    expect(b.checkoutRef).toBe("chk_meta");
  });

  it.each(["unpaid", "no_payment_required"] as const)("checkout.session.completed, %s", async (status) => {
    const e = await parseAs(
      event("checkout.session.completed", { ...session, status: "complete", payment_status: status }),
      "checkout.completed",
    );
    expect(e.paymentStatus).toBe(status);
  });

  it("checkout.session.async_payment_succeeded → payment.succeeded", async () => {
    const e = await parseAs(
      event("checkout.session.async_payment_succeeded", {
        ...session,
        status: "complete",
        payment_status: "paid",
        amount_total: 5000,
        currency: "eur",
        client_reference_id: "chk_async",
      }),
      "payment.succeeded",
    );
    expect(e).toMatchObject({
      amount: 5000,
      currency: "EUR",
      checkoutRef: "chk_async",
      providerCheckoutId: session.id,
    });
  });

  it("checkout.session.async_payment_failed → payment.failed", async () => {
    const e = await parseAs(
      event("checkout.session.async_payment_failed", {
        ...session,
        status: "complete",
        payment_status: "unpaid",
        amount_total: 5000,
        currency: "eur",
      }),
      "payment.failed",
    );
    expect(e).toMatchObject({ amount: 5000, currency: "EUR", providerCheckoutId: session.id });
    expect(e.reason).toMatch(/delayed payment/);
  });

  it("checkout.session.expired → checkout.expired", async () => {
    const e = await parseAs(
      event("checkout.session.expired", {
        ...session,
        status: "expired",
        metadata: { mika_checkout_id: "chk_x" },
      }),
      "checkout.expired",
    );
    expect(e).toMatchObject({ providerCheckoutId: session.id, checkoutRef: "chk_x" });
  });

  it("payment_intent.succeeded → payment.succeeded with amount_received and metadata", async () => {
    const e = await parseAs(
      event("payment_intent.succeeded", {
        ...object("payment_intent"),
        status: "succeeded",
        amount_received: 1099,
        metadata: { mika_checkout_id: "chk_pi" },
      }),
      "payment.succeeded",
    );
    expect(e).toMatchObject({
      amount: 1099,
      currency: "USD",
      paymentRef: "pi_1PgafyB7WZ01zgkWSjxsAJo3",
      checkoutRef: "chk_pi",
    });
  });

  it("invoice.payment_succeeded → payment.succeeded", async () => {
    const e = await parseAs(
      event("invoice.payment_succeeded", { ...object("invoice"), status: "paid", amount_paid: 1000 }),
      "payment.succeeded",
    );
    expect(e).toMatchObject({ amount: 1000, currency: "USD", invoiceRef: "in_1Pgc6tB7WZ01zgkWu9fdqL6I" });
  });

  it("invoice.marked_uncollectible → invoice.uncollectible, never a refund", async () => {
    const e = await parseAs(
      event("invoice.marked_uncollectible", { ...object("invoice"), status: "uncollectible" }),
      "invoice.uncollectible",
    );
    expect(e).toMatchObject({
      amount: 1000,
      currency: "USD",
      invoiceRef: "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
      customerRef: "cus_QXg1o8vcGmoR32",
    });
    expect(e).not.toHaveProperty("refundedAmount");
  });

  it("refund.updated with the charge expanded: cumulative figures from the charge", async () => {
    const charge = { ...object("charge"), amount: 3000, amount_refunded: 3000, refunded: true };
    const e = await parseAs(
      event("refund.updated", { ...object("refund"), amount: 1000, charge }),
      "refund.updated",
    );
    expect(e).toMatchObject({
      refundRef: "re_1Pgc72B7WZ01zgkWqPvrRrPE",
      refundedAmount: 3000,
      amount: 3000,
      full: true,
      status: "succeeded",
    });
  });

  it("refund.created without the charge: the refund's own amount, never claimed full", async () => {
    const e = await parseAs(
      event("refund.created", { ...object("refund"), status: "pending" }),
      "refund.updated",
    );
    expect(e).toMatchObject({
      refundedAmount: 100,
      full: false,
      status: "pending",
      paymentRef: "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    });
  });

  it.each([
    ["failed", "failed"],
    ["canceled", "failed"],
    ["requires_action", "pending"],
    ["succeeded", "succeeded"],
  ])("refund status %s → %s", async (stripeStatus, status) => {
    const e = await parseAs(
      event("refund.failed", { ...object("refund"), status: stripeStatus }),
      "refund.updated",
    );
    expect(e.status).toBe(status);
  });

  it.each([
    ["won", "won"],
    ["lost", "lost"],
    ["needs_response", "open"],
    ["under_review", "open"],
    ["warning_closed", "won"],
  ])("charge.dispute.closed %s → %s", async (stripeStatus, status) => {
    const e = await parseAs(
      event("charge.dispute.closed", { ...object("dispute"), status: stripeStatus }),
      "dispute.updated",
    );
    expect(e).toMatchObject({ status, amount: 1000, currency: "USD" });
  });

  it.each([
    ["incomplete", "incomplete"],
    ["incomplete_expired", "expired"],
    ["trialing", "trialing"],
    ["active", "active"],
    ["past_due", "past_due"],
    ["unpaid", "past_due"],
    ["canceled", "canceled"],
    ["paused", "paused"],
  ])("subscription status %s → %s", async (stripeStatus, status) => {
    const e = await parseAs(
      event("customer.subscription.updated", { ...object("subscription"), status: stripeStatus }),
      "subscription.updated",
    );
    expect(e.status).toBe(status);
  });

  it("customer.subscription.paused / resumed: item period, price, cancel_at counts as ending", async () => {
    const sub = object("subscription");
    const paused = await parseAs(
      event("customer.subscription.paused", { ...sub, status: "paused", cancel_at_period_end: false }),
      "subscription.updated",
    );
    expect(paused).toMatchObject({
      change: "updated",
      status: "paused",
      priceRef: "price_1PgafmB7WZ01zgkW6dKueIc5",
      subscriptionRef: "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
      currentPeriodStart: new Date(1896570518 * 1000),
      currentPeriodEnd: new Date(976287773 * 1000),
      cancelAtPeriodEnd: true, // cancel_at is set
      updatedAt: new Date(1_750_000_000 * 1000),
    });
    const resumed = await parseAs(
      event("customer.subscription.resumed", {
        ...sub,
        status: "active",
        cancel_at_period_end: false,
        cancel_at: null,
      }),
      "subscription.updated",
    );
    expect(resumed).toMatchObject({ status: "active", cancelAtPeriodEnd: false });
  });

  it("anything else, or anything unreadable, is unknown and never throws", async () => {
    const cases = [
      event("customer.created", object("customer")),
      event("customer.subscription.updated", { ...object("subscription"), status: "something_new" }),
      event("charge.refunded", { ...object("charge"), amount: "100" }),
      event("invoice.paid", { id: "in_1" }),
      event("charge.dispute.created", null),
      JSON.stringify({
        id: "evt_1",
        object: "event",
        type: "checkout.session.completed",
        created: 1,
        livemode: false,
      }),
      JSON.stringify({ id: "evt_2", object: "event", type: "invoice.paid", data: { object: "in_1" } }),
    ];
    for (const body of cases) expect((await parse(body)).kind).toBe("unknown");
  });
});
