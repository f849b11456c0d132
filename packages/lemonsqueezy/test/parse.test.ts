import { providerFixtures } from "@mika/testing";
import type { MikaEvent } from "@mika/types";
import { describe, expect, it } from "vitest";
import { fixture, handBuilt, parsed, provider, verified } from "./helpers.js";

function kindOf<K extends MikaEvent["kind"]>(event: MikaEvent, kind: K): Extract<MikaEvent, { kind: K }> {
  expect(event.kind).toBe(kind);
  return event as Extract<MikaEvent, { kind: K }>;
}

describe("every Lemon Squeezy fixture parses to its kind", () => {
  const expected: Record<string, MikaEvent["kind"]> = {
    "lemonsqueezy/order_created": "checkout.completed",
    "lemonsqueezy/subscription_created": "subscription.updated",
    "lemonsqueezy/subscription_updated": "subscription.updated",
    "lemonsqueezy/subscription_payment_success": "payment.succeeded",
    "lemonsqueezy/subscription_payment_refunded": "refund.updated",
  };
  const fixtures = providerFixtures("lemonsqueezy");

  it("covers every fixture file", () => {
    expect(fixtures.map((f) => f.name).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const f of fixtures) {
    it(`${f.name} → ${expected[f.name]}`, async () => {
      const webhook = await verified(f.body);
      const event = provider.parseWebhookEvent(webhook);
      expect(event.kind).toBe(expected[f.name]);
      expect(event.provider).toBe("lemonsqueezy");
      expect(event.eventId).toBe(webhook.eventId);
      expect(event.eventType).toBe(f.name.replace("lemonsqueezy/", ""));
      expect(event.livemode).toBe(true);
    });
  }
});

describe("field mapping on the real fixtures", () => {
  it("order_created → checkout.completed with amount, currency, buyer and refs", async () => {
    const e = kindOf(await parsed(fixture("order_created")), "checkout.completed");
    expect(e).toMatchObject({
      paymentStatus: "paid",
      amount: 5899,
      currency: "USD",
      customer: { email: "dan@lemonsqueezy.com", name: "Dan R" },
      orderRef: "1",
      paymentRef: "1",
      customerRef: "1",
    });
    expect(e.occurredAt.toISOString()).toBe("2023-01-17T12:26:23.000Z");
    expect(e.checkoutRef).toBeUndefined();
  });

  it("reads Mika's checkout id from meta.custom_data.mika_checkout_id", async () => {
    const body = fixture("order_created");
    body.meta.custom_data = { mika_checkout_id: "co_42", other: "x" };
    expect((await parsed(body)).checkoutRef).toBe("co_42");
  });

  it("maps the order status to paymentStatus", async () => {
    const cases: [string, number, string][] = [
      ["paid", 5899, "paid"],
      ["refunded", 5899, "paid"],
      ["pending", 5899, "unpaid"],
      ["failed", 5899, "unpaid"],
      ["paid", 0, "no_payment_required"],
    ];
    for (const [status, total, paymentStatus] of cases) {
      const body = fixture("order_created");
      body.data.attributes.status = status;
      body.data.attributes.total = total;
      const e = kindOf(await parsed(body), "checkout.completed");
      expect([status, e.paymentStatus]).toEqual([status, paymentStatus]);
    }
  });

  it("subscription_created → subscription.updated (created, trialing, renews_at, variant)", async () => {
    const e = kindOf(await parsed(fixture("subscription_created")), "subscription.updated");
    expect(e).toMatchObject({
      change: "created",
      status: "trialing",
      priceRef: "2",
      subscriptionRef: "1",
      customerRef: "2",
      orderRef: "2",
      cancelAtPeriodEnd: false,
    });
    expect(e.currentPeriodEnd?.toISOString()).toBe("2023-01-24T12:43:48.000Z");
    expect(e.updatedAt.toISOString()).toBe("2023-01-17T12:43:51.000Z");
  });

  it("subscription_updated → change updated", async () => {
    const e = kindOf(await parsed(fixture("subscription_updated")), "subscription.updated");
    expect(e.change).toBe("updated");
    expect(e.status).toBe("trialing");
  });

  it("maps every subscription status", async () => {
    const cases: [string, string][] = [
      ["on_trial", "trialing"],
      ["active", "active"],
      ["paused", "paused"],
      ["past_due", "past_due"],
      ["unpaid", "past_due"],
      ["cancelled", "canceled"],
      ["expired", "expired"],
    ];
    for (const [ls, mika] of cases) {
      const body = fixture("subscription_updated");
      body.data.attributes.status = ls;
      const e = kindOf(await parsed(body), "subscription.updated");
      expect([ls, e.status]).toEqual([ls, mika]);
    }
  });

  it("falls back to first_subscription_item.price_id without a variant_id", async () => {
    const body = fixture("subscription_updated");
    delete body.data.attributes.variant_id;
    body.data.attributes.first_subscription_item.price_id = 77;
    expect(kindOf(await parsed(body), "subscription.updated").priceRef).toBe("77");
  });

  it("subscription_payment_success → payment.succeeded on the invoice", async () => {
    const e = kindOf(await parsed(fixture("subscription_payment_success")), "payment.succeeded");
    expect(e).toMatchObject({
      amount: 999,
      currency: "USD",
      paymentRef: "subscription-invoices/1",
      invoiceRef: "1",
      subscriptionRef: "1",
      customerRef: "1",
    });
  });

  it("subscription_payment_recovered → payment.succeeded", async () => {
    const body = fixture("subscription_payment_success");
    body.meta.event_name = "subscription_payment_recovered";
    expect(kindOf(await parsed(body), "payment.succeeded").amount).toBe(999);
  });

  it("subscription_payment_refunded → refund.updated, full", async () => {
    const e = kindOf(await parsed(fixture("subscription_payment_refunded")), "refund.updated");
    expect(e).toMatchObject({
      refundedAmount: 999,
      amount: 999,
      currency: "USD",
      full: true,
      status: "succeeded",
      paymentRef: "subscription-invoices/1",
      invoiceRef: "1",
      subscriptionRef: "1",
    });
  });
});

// Bodies hand-built from Lemon Squeezy's documented object shapes: no public sample exists for these
// events (see helpers.ts and fixtures/SOURCES.md).
describe("hand-built bodies for events with no public sample", () => {
  it("order_refunded, partial: cumulative refunded_amount, not full", async () => {
    const e = kindOf(await parsed(handBuilt.orderPartiallyRefunded()), "refund.updated");
    expect(e).toMatchObject({
      refundedAmount: 2000,
      amount: 5899,
      currency: "USD",
      full: false,
      status: "succeeded",
      paymentRef: "1",
      orderRef: "1",
      checkoutRef: "co_123",
    });
    expect(e.occurredAt.toISOString()).toBe("2023-01-20T09:00:00.000Z");
  });

  it("order_refunded, full", async () => {
    const e = kindOf(await parsed(handBuilt.orderFullyRefunded()), "refund.updated");
    expect(e).toMatchObject({ refundedAmount: 5899, amount: 5899, full: true });
  });

  it("order_refunded: full once the cumulative refunded_amount reaches the total, whatever the status", async () => {
    const body = handBuilt.orderPartiallyRefunded();
    body.data.attributes.refunded_amount = 5899;
    expect(kindOf(await parsed(body), "refund.updated").full).toBe(true);
    body.data.attributes.refunded_amount = 5898;
    expect(kindOf(await parsed(body), "refund.updated").full).toBe(false);
  });

  it("order_refunded without refunded_amount: full when the status is refunded, else unknown", async () => {
    const full = handBuilt.orderFullyRefunded();
    delete full.data.attributes.refunded_amount;
    expect(kindOf(await parsed(full), "refund.updated")).toMatchObject({ refundedAmount: 5899, full: true });
    const partial = handBuilt.orderPartiallyRefunded();
    delete partial.data.attributes.refunded_amount;
    expect((await parsed(partial)).kind).toBe("unknown");
  });

  it("subscription_cancelled: canceled, access until ends_at (cancelAtPeriodEnd)", async () => {
    const e = kindOf(await parsed(handBuilt.subscriptionCancelled()), "subscription.updated");
    expect(e).toMatchObject({
      change: "canceled",
      status: "canceled",
      cancelAtPeriodEnd: true,
      checkoutRef: "co_sub",
    });
    expect(e.currentPeriodEnd?.toISOString()).toBe("2023-02-24T12:43:48.000Z");
    expect(e.updatedAt.toISOString()).toBe("2023-02-01T08:00:00.000Z");
  });

  it("a cancelled snapshot taken after ends_at no longer says cancelAtPeriodEnd", async () => {
    const body = handBuilt.subscriptionCancelled();
    body.data.attributes.updated_at = "2023-02-25T00:00:00.000000Z";
    expect(kindOf(await parsed(body), "subscription.updated").cancelAtPeriodEnd).toBe(false);
  });

  it("subscription_expired: expired, period end = ends_at", async () => {
    const e = kindOf(await parsed(handBuilt.subscriptionExpired()), "subscription.updated");
    expect(e).toMatchObject({ change: "updated", status: "expired", cancelAtPeriodEnd: false });
    expect(e.currentPeriodEnd?.toISOString()).toBe("2023-02-24T12:43:48.000Z");
  });

  it("subscription_resumed: active, renews", async () => {
    const e = kindOf(await parsed(handBuilt.subscriptionResumed()), "subscription.updated");
    expect(e).toMatchObject({ change: "updated", status: "active", cancelAtPeriodEnd: false });
    expect(e.currentPeriodEnd?.toISOString()).toBe("2023-02-24T12:43:48.000Z");
  });

  it("subscription_paused / unpaused", async () => {
    const paused = kindOf(await parsed(handBuilt.subscriptionPaused()), "subscription.updated");
    expect(paused.status).toBe("paused");
    const body = handBuilt.subscriptionResumed();
    body.meta.event_name = "subscription_unpaused";
    expect(kindOf(await parsed(body), "subscription.updated").status).toBe("active");
  });

  it("subscription_payment_failed → payment.failed with amount and reason", async () => {
    const e = kindOf(await parsed(handBuilt.subscriptionPaymentFailed()), "payment.failed");
    expect(e).toMatchObject({
      amount: 999,
      currency: "USD",
      reason: "renewal payment failed",
      paymentRef: "subscription-invoices/1",
      subscriptionRef: "1",
    });
  });

  it("license_key_created → unknown, test mode", async () => {
    const e = await parsed(handBuilt.licenseKeyCreated());
    expect(e.kind).toBe("unknown");
    expect(e.livemode).toBe(false);
  });
});

describe("parseWebhookEvent is total", () => {
  it("maps unreadable or incomplete payloads to unknown instead of throwing", () => {
    const odd: unknown[] = [
      null,
      42,
      "string",
      [],
      {},
      { meta: { event_name: "order_created" } },
      { meta: { event_name: "order_created" }, data: { attributes: { total: 100 } } },
      { meta: { event_name: "subscription_updated" }, data: { id: "1", attributes: { status: "weird" } } },
      // no updated_at / created_at: no ordering key, so not applied as a snapshot
      { meta: { event_name: "subscription_updated" }, data: { id: "1", attributes: { status: "active" } } },
      {
        meta: { event_name: "subscription_payment_success" },
        data: { id: "1", attributes: { total: 9.99, currency: "USD" } },
      },
      {
        meta: { event_name: "order_refunded" },
        data: { id: "1", attributes: { total: 100, currency: "US" } },
      },
    ];
    for (const payload of odd) {
      const event = provider.parseWebhookEvent({
        provider: provider.name,
        payloadHash: "sha256:00",
        eventId: "ls_x",
        eventType: "x",
        payload,
      });
      expect([payload, event.kind]).toEqual([payload, "unknown"]);
      expect(event.eventId).toBe("ls_x");
    }
  });
});
