import { loadFixtureJson, paddleSigner, providerFixtures } from "@mika/testing";
import type { MikaEvent, VerifiedWebhook } from "@mika/types";
import { describe, expect, it } from "vitest";
import { paddleProvider } from "../src/index.js";

const SECRET = "pdl_ntfset_01h8bxswamxysj44zt5n48njwh_parseTestSecret";
const provider = paddleProvider({ webhookSecret: SECRET, environment: "sandbox" });

async function verified(body: string): Promise<VerifiedWebhook> {
  const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRET }] });
  const result = await provider.verifyWebhook({ rawBody: d.rawBody, headers: d.headers });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.webhook;
}

const at = (iso: string) => new Date(iso);
const base = (eventType: string, eventId: string, occurredAt: string) => ({
  provider: "paddle",
  eventId,
  eventType,
  occurredAt: at(occurredAt),
  livemode: false,
});

const SUB = "sub_01h7ht5z5wdg9pz18jx1fagp8k";
const SUB_CUSTOMER = "ctm_01h7hswb86rtps5ggbq7ybydcw";
const SEAT_PRICE = "pri_01gsz8x8sawmvhz1pv30nge1ke";

/**
 * The expected event for EVERY Paddle fixture, written by hand from the fixture files (values copied,
 * fractions cut to milliseconds). A fixture without an entry here fails the suite.
 */
const EXPECTED: Record<string, MikaEvent | Record<string, unknown>> = {
  "paddle/adjustment.created": {
    kind: "refund.updated",
    ...base("adjustment.created", "evt_01h8c6tc8aa58zqj6h8a13r103", "2023-08-21T14:08:43.786Z"),
    refundRef: "adj_01h8c6tbrkpdd7vx61w7b1r0ap",
    paymentRef: "txn_01h8bxpvx398a7zbawb77y0kp5",
    subscriptionRef: "sub_01h8bxswamxysj44zt5n48njwh",
    customerRef: "ctm_01h8441jn5pcwrfhwh78jqt8hk",
    refundedAmount: 100,
    amount: 100,
    currency: "USD",
    full: false,
    cumulative: false,
    status: "pending",
  },
  "paddle/adjustment.updated": {
    kind: "refund.updated",
    ...base("adjustment.updated", "evt_01h8c6wz4ac017hxdehrgdvpz4", "2023-08-21T14:10:08.650Z"),
    refundRef: "adj_01h8c6tbrkpdd7vx61w7b1r0ap",
    paymentRef: "txn_01h8bxpvx398a7zbawb77y0kp5",
    subscriptionRef: "sub_01h8bxswamxysj44zt5n48njwh",
    customerRef: "ctm_01h8441jn5pcwrfhwh78jqt8hk",
    refundedAmount: 100,
    amount: 100,
    currency: "USD",
    full: false,
    cumulative: false,
    status: "succeeded",
  },
  "paddle/subscription.activated": {
    kind: "subscription.updated",
    ...base("subscription.activated", "evt_01h7ht60mmw6d4sf4h38g3t4yq", "2023-08-11T08:07:38.388Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "active",
    change: "updated",
    priceRef: SEAT_PRICE,
    currentPeriodStart: at("2023-08-11T08:07:35.449Z"),
    currentPeriodEnd: at("2023-09-11T08:07:35.449Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-08-11T08:07:36.892Z"),
  },
  "paddle/subscription.canceled": {
    kind: "subscription.updated",
    ...base("subscription.canceled", "evt_01h7jk37p1ezj1k5b4kt83t35j", "2023-08-11T15:23:01.697Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "canceled",
    change: "canceled",
    priceRef: SEAT_PRICE,
    cancelAtPeriodEnd: false,
    updatedAt: at("2024-01-11T08:34:01.798Z"),
  },
  "paddle/subscription.created": {
    kind: "subscription.updated",
    ...base("subscription.created", "evt_01h7ht60jy5hpdv5x8tfsaxje4", "2023-08-11T08:07:38.334Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    paymentRef: "txn_01h7hst69d7tar4rm6vyeb0j36",
    status: "active",
    change: "created",
    priceRef: SEAT_PRICE,
    currentPeriodStart: at("2023-08-11T08:07:35.449Z"),
    currentPeriodEnd: at("2023-09-11T08:07:35.449Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-08-11T08:07:36.892Z"),
  },
  // Not in the list of mapped subscription events.
  "paddle/subscription.imported": {
    kind: "unknown",
    ...base("subscription.imported", "evt_01gxwxwnghn8xa7amfwqb0992q", "2023-04-13T09:07:06.642Z"),
  },
  "paddle/subscription.past_due": {
    kind: "subscription.updated",
    ...base("subscription.past_due", "evt_01h7jagte1wnq80w5bw5gbmrwk", "2023-08-11T12:53:09.697Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "past_due",
    change: "updated",
    priceRef: SEAT_PRICE,
    currentPeriodStart: at("2023-10-11T08:07:35.449Z"),
    currentPeriodEnd: at("2023-11-11T08:07:35.449Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-10-11T08:08:04.929Z"),
  },
  "paddle/subscription.paused": {
    kind: "subscription.updated",
    ...base("subscription.paused", "evt_01h7jcst3syp03dk5f0m8h204f", "2023-08-11T13:33:01.433Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "paused",
    change: "updated",
    priceRef: SEAT_PRICE,
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-11-11T08:08:19.863Z"),
  },
  "paddle/subscription.resumed": {
    kind: "subscription.updated",
    ...base("subscription.resumed", "evt_01h7je74dkvjc4b2pt8sgsfm7f", "2023-08-11T13:57:46.547Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "active",
    change: "updated",
    priceRef: SEAT_PRICE,
    currentPeriodStart: at("2023-11-11T08:33:04.443Z"),
    currentPeriodEnd: at("2023-12-11T08:33:04.443Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-11-11T08:33:04.453Z"),
  },
  "paddle/subscription.trialing": {
    kind: "subscription.updated",
    ...base("subscription.trialing", "evt_01h84cka4p40e737vm1ajb2bc5", "2023-08-18T13:15:48.246Z"),
    subscriptionRef: "sub_01h84ck8sg4ebkpzqb9x2mtjjf",
    customerRef: "ctm_01h84cjfwmdph1k8kgsyjt3k7g",
    status: "trialing",
    change: "updated",
    priceRef: "pri_01h84cdy3xatsp16afda2gekzy",
    currentPeriodStart: at("2023-08-18T13:15:46.864Z"),
    currentPeriodEnd: at("2023-08-28T13:15:46.864Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-08-18T13:15:46.864Z"),
  },
  "paddle/subscription.updated": {
    kind: "subscription.updated",
    ...base("subscription.updated", "evt_01h7j296f40h99m4dcrr6h4as8", "2023-08-11T10:29:11.268Z"),
    subscriptionRef: SUB,
    customerRef: SUB_CUSTOMER,
    status: "active",
    change: "updated",
    priceRef: SEAT_PRICE,
    currentPeriodStart: at("2023-09-11T08:07:35.449Z"),
    currentPeriodEnd: at("2023-10-11T08:07:35.449Z"),
    cancelAtPeriodEnd: false,
    updatedAt: at("2023-09-11T08:07:47.341Z"),
  },
  "paddle/transaction.billed": {
    kind: "unknown",
    ...base("transaction.billed", "evt_01h8e3a5029s6xrd5qj89beawp", "2023-08-22T07:45:55.202Z"),
  },
  "paddle/transaction.canceled": {
    kind: "checkout.expired",
    ...base("transaction.canceled", "evt_01h8e3dvbz4y98ge4q3raptg16", "2023-08-22T07:47:56.415Z"),
    providerCheckoutId: "txn_01h8e0d5sej61d5n18bth8d7se",
    paymentRef: "txn_01h8e0d5sej61d5n18bth8d7se",
    subscriptionRef: "sub_01h8e3a4xydvszvmnm61x1t0kt",
    customerRef: "ctm_01h8441jn5pcwrfhwh78jqt8hk",
    invoiceRef: "inv_01h8e0d6zvkbs5cgezqjptysee",
  },
  "paddle/transaction.completed": {
    kind: "checkout.completed",
    ...base("transaction.completed", "evt_01h8e1jxjnw9ra6zarhnz1a7y1", "2023-08-22T07:15:45.366Z"),
    providerCheckoutId: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
    paymentRef: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
    customerRef: "ctm_01h8e18bxp9hby49dnm8ewf0m0",
    paymentStatus: "paid",
    amount: 65215,
    currency: "USD",
    mode: "subscription",
  },
  "paddle/transaction.created": {
    kind: "unknown",
    ...base("transaction.created", "evt_01h8dzxgzb5af0yzd0mv5v11e2", "2023-08-22T06:46:35.755Z"),
  },
  "paddle/transaction.paid": {
    kind: "payment.succeeded",
    ...base("transaction.paid", "evt_01gxwxwnba186hj04xy8hf6wkd", "2023-04-13T09:07:06.401Z"),
    providerCheckoutId: "txn_01gxwxqj0rd5m8j1zdhvk05twz",
    paymentRef: "txn_01gxwxqj0rd5m8j1zdhvk05twz",
    customerRef: "ctm_01gxwxe6vzgz6hcsbwjs6zrszr",
    amount: 89880,
    currency: "GBP",
  },
  "paddle/transaction.past_due": {
    kind: "unknown",
    ...base("transaction.past_due", "evt_01h8e2sys80rn6y8xz31mstgt9", "2023-08-22T07:37:04.552Z"),
  },
  "paddle/transaction.payment_failed": {
    kind: "payment.failed",
    ...base("transaction.payment_failed", "evt_01h8e1exw67n96j6n0h3k2qq5x", "2023-08-22T07:13:34.599Z"),
    providerCheckoutId: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
    paymentRef: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
    customerRef: "ctm_01h8e18bxp9hby49dnm8ewf0m0",
    amount: 65215,
    currency: "USD",
    reason: "declined",
  },
  "paddle/transaction.ready": {
    kind: "unknown",
    ...base("transaction.ready", "evt_01h8e18cwy7atj440tjms1k8dk", "2023-08-22T07:10:00.607Z"),
  },
  "paddle/transaction.revised": {
    kind: "unknown",
    ...base("transaction.revised", "evt_01hv8x2axb33yr5y238zfwcn5p", "2024-04-12T10:18:50.155Z"),
  },
  "paddle/transaction.updated": {
    kind: "unknown",
    ...base("transaction.updated", "evt_01h8e43a7vf4qxy0waredf267h", "2023-08-22T07:59:39.771Z"),
  },
};

describe("parseWebhookEvent maps every Paddle fixture", () => {
  const fixtures = providerFixtures("paddle");

  it("has an expectation for every fixture and no stale ones", () => {
    expect(fixtures.map((f) => f.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const fixture of fixtures) {
    it(fixture.name, async () => {
      const event = provider.parseWebhookEvent(await verified(fixture.body));
      expect(event).toEqual(EXPECTED[fixture.name]);
    });
  }
});

/** A fixture with `data` patched, re-serialized (it is signed after patching, so it still verifies). */
function patched(name: string, patch: (data: Record<string, unknown>) => void): string {
  const json = loadFixtureJson<{ data: Record<string, unknown> }>(`paddle/${name}`);
  patch(json.data);
  return JSON.stringify(json);
}

describe("mapping rules beyond the fixtures", () => {
  it("Mika's checkout id comes from custom_data.mika_checkout_id", async () => {
    const body = patched("transaction.completed", (d) => {
      d.custom_data = { mika_checkout_id: "co_123", other: "x" };
    });
    const event = provider.parseWebhookEvent(await verified(body));
    expect(event).toMatchObject({ kind: "checkout.completed", checkoutRef: "co_123" });
  });

  it("a renewal's transaction.completed (origin subscription_recurring) is payment.succeeded, not a checkout", async () => {
    const body = patched("transaction.completed", (d) => {
      d.origin = "subscription_recurring";
      d.subscription_id = "sub_renewal";
    });
    const event = provider.parseWebhookEvent(await verified(body));
    expect(event).toMatchObject({
      kind: "payment.succeeded",
      amount: 65215,
      currency: "USD",
      subscriptionRef: "sub_renewal",
    });
  });

  it("a renewal that carries the subscription's copied custom_data is still payment.succeeded", async () => {
    const body = patched("transaction.completed", (d) => {
      d.origin = "subscription_recurring";
      d.subscription_id = "sub_renewal";
      d.custom_data = { mika_checkout_id: "co_original" };
    });
    expect(provider.parseWebhookEvent(await verified(body))).toMatchObject({
      kind: "payment.succeeded",
      checkoutRef: "co_original",
      subscriptionRef: "sub_renewal",
      amount: 65215,
    });
    const noOrigin = patched("transaction.completed", (d) => {
      d.origin = undefined;
      d.custom_data = { mika_checkout_id: "co_123" };
    });
    expect(provider.parseWebhookEvent(await verified(noOrigin))).toMatchObject({
      kind: "checkout.completed",
      checkoutRef: "co_123",
    });
  });

  it("a zero-total completed transaction needs no payment", async () => {
    const body = patched("transaction.completed", (d) => {
      const totals = (d.details as { totals: Record<string, string> }).totals;
      totals.grand_total = "0";
      totals.total = "0";
    });
    expect(provider.parseWebhookEvent(await verified(body))).toMatchObject({
      paymentStatus: "no_payment_required",
      amount: 0,
    });
  });

  it("amounts fall back from grand_total to total; bad amount strings are dropped, never NaN", async () => {
    const fallback = patched("transaction.paid", (d) => {
      (d.details as { totals: Record<string, unknown> }).totals.grand_total = undefined;
    });
    expect(provider.parseWebhookEvent(await verified(fallback))).toMatchObject({ amount: 89880 });
    for (const bad of ["12.5", "1e3", " 12", "", "99999999999999999"]) {
      const body = patched("transaction.completed", (d) => {
        const totals = (d.details as { totals: Record<string, unknown> }).totals;
        totals.grand_total = bad;
        totals.total = bad;
      });
      const event = provider.parseWebhookEvent(await verified(body)) as { amount?: number };
      expect(event.amount, bad).toBeUndefined();
    }
  });

  it("a canceled transaction that was captured is not an expired checkout", async () => {
    const body = patched("transaction.canceled", (d) => {
      d.payments = [{ status: "captured", amount: "1437041" }];
    });
    expect(provider.parseWebhookEvent(await verified(body)).kind).toBe("unknown");
  });

  it("a scheduled cancel sets cancelAtPeriodEnd; a scheduled pause does not", async () => {
    for (const [action, expected] of [
      ["cancel", true],
      ["pause", false],
    ] as const) {
      const body = patched("subscription.updated", (d) => {
        d.scheduled_change = { action, effective_at: "2023-10-11T08:07:35.449123Z", resume_at: null };
      });
      expect(provider.parseWebhookEvent(await verified(body))).toMatchObject({
        kind: "subscription.updated",
        cancelAtPeriodEnd: expected,
      });
    }
  });

  it("updatedAt falls back to occurred_at when updated_at is missing or Go's zero time", async () => {
    for (const value of [undefined, "0001-01-01T00:00:00Z"]) {
      const body = patched("subscription.updated", (d) => {
        d.updated_at = value;
      });
      const event = provider.parseWebhookEvent(await verified(body));
      expect(event).toMatchObject({ updatedAt: at("2023-08-11T10:29:11.268Z") });
    }
  });

  it("full refunds, rejected refunds, and chargebacks", async () => {
    const full = patched("adjustment.updated", (d) => {
      d.type = "full";
    });
    expect(provider.parseWebhookEvent(await verified(full))).toMatchObject({
      full: true,
      status: "succeeded",
    });
    const rejected = patched("adjustment.updated", (d) => {
      d.status = "rejected";
    });
    expect(provider.parseWebhookEvent(await verified(rejected))).toMatchObject({ status: "failed" });
    for (const [action, status] of [
      ["chargeback_warning", "open"],
      ["chargeback", "lost"],
      ["chargeback_reverse", "won"],
    ] as const) {
      const body = patched("adjustment.created", (d) => {
        d.action = action;
        d.type = "full";
        d.status = "approved";
      });
      expect(provider.parseWebhookEvent(await verified(body))).toEqual({
        kind: "dispute.updated",
        ...base("adjustment.created", "evt_01h8c6tc8aa58zqj6h8a13r103", "2023-08-21T14:08:43.786Z"),
        disputeRef: "adj_01h8c6tbrkpdd7vx61w7b1r0ap",
        paymentRef: "txn_01h8bxpvx398a7zbawb77y0kp5",
        subscriptionRef: "sub_01h8bxswamxysj44zt5n48njwh",
        customerRef: "ctm_01h8441jn5pcwrfhwh78jqt8hk",
        amount: 100,
        currency: "USD",
        status,
      });
    }
    const credit = patched("adjustment.created", (d) => {
      d.action = "credit";
    });
    expect(provider.parseWebhookEvent(await verified(credit)).kind).toBe("unknown");
  });

  it("is total on hostile verified payloads (getters that throw, wrong types)", () => {
    const hostile = {
      get data(): unknown {
        throw new Error("boom");
      },
    };
    for (const eventType of ["transaction.completed", "subscription.updated", "adjustment.created"]) {
      for (const payload of [hostile, { data: { id: 5, status: {}, items: "x" } }, { data: [] }, null, 7]) {
        const event = provider.parseWebhookEvent({
          provider: provider.name,
          payloadHash: "sha256:00",
          eventId: "evt_x",
          eventType,
          occurredAt: at("2024-01-01T00:00:00Z"),
          livemode: false,
          payload,
        });
        expect(event.kind).toBe("unknown");
      }
    }
  });
});
