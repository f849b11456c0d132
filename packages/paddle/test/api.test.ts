/**
 * The API methods against a loopback Paddle stub, through the real SDK and real HTTP (see the seam
 * described in ./stub.ts). Each test asserts what went over the wire: method, path, JSON body and the
 * Authorization header, and how Paddle's error answers become ProviderError.
 */
import { loadFixtureJson } from "@mika/testing";
import { type PaymentProvider, ProviderError } from "@mika/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { paddleProvider } from "../src/index.js";
import { type PaddleStub, paddleData, paddleError, startPaddleStub } from "./stub.js";

const API_KEY = "pdl_sdbx_apikey_01hv8wptq8987qeep44cyrewp9_StubOnlyKeyNeverSent";
const SECRET = "pdl_ntfset_01hv8wptq8987qeep44cyrewp9_stubSecret";

type Data = Record<string, unknown>;
const fixtureData = (name: string): Data =>
  structuredClone(loadFixtureJson<{ data: Data }>(`paddle/${name}`).data);

let stub: PaddleStub;
let provider: PaymentProvider;

beforeAll(async () => {
  stub = await startPaddleStub();
  provider = paddleProvider({
    client: stub.client(API_KEY),
    webhookSecret: SECRET,
    environment: "sandbox",
    checkoutUrl: "https://shop.example.com/pay",
  });
});
afterAll(() => stub.close());
beforeEach(() => {
  stub.reset();
});

/** The ProviderError a call rejects with; fails the test when it resolves or throws something else. */
async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome))
    throw new Error(`expected a ProviderError, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ProviderError);
  return outcome.error as ProviderError;
}

function sent(index = 0) {
  const r = stub.requests[index];
  if (!r) throw new Error(`no request #${index} reached the stub`);
  return r;
}

function readyTransaction(): Data {
  const data = fixtureData("transaction.ready");
  data.id = "txn_01hv8wptq8987qeep44cyrewp9";
  data.custom_data = { mika_checkout_id: "co_42", order: "A-17" };
  data.checkout = { url: "https://shop.example.com/pay?_ptxn=txn_01hv8wptq8987qeep44cyrewp9" };
  return data;
}

describe("capabilities", () => {
  it("declares what the client-backed provider implements", () => {
    expect([...provider.capabilities].sort()).toEqual(
      [
        "checkout",
        "checkout.expire",
        "checkout.inline-prices",
        "portal",
        "refunds",
        "refunds.partial",
        "subscriptions",
        "subscriptions.change",
        "subscriptions.pause",
        "webhook.timestamp",
      ].sort(),
    );
  });
});

describe("checkout", () => {
  it("create: a transaction with catalog and inline items, Mika's id in custom_data, returns its checkout URL", async () => {
    stub.reply({ json: paddleData(readyTransaction()) });
    const checkout = await provider.checkout!.create({
      checkoutId: "co_42",
      idempotencyKey: "idem_1",
      mode: "subscription",
      lines: [
        { priceRef: "pri_01gsz8x8sawmvhz1pv30nge1ke", quantity: 10 },
        { name: "Setup", amount: 4900, currency: "usd", quantity: 1 },
        { name: "Support", amount: 1500, currency: "USD", interval: "month", quantity: 2 },
      ],
      customer: { customerRef: "ctm_01h8e18bxp9hby49dnm8ewf0m0", email: "buyer@example.com" },
      successUrl: "https://shop.example.com/thanks",
      cancelUrl: "https://shop.example.com/cart",
      metadata: { order: "A-17" },
    });
    const r = sent();
    expect(stub.requests).toHaveLength(1);
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/transactions");
    expect(r.headers.authorization).toBe(`bearer ${API_KEY}`);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.body).toEqual({
      items: [
        { price_id: "pri_01gsz8x8sawmvhz1pv30nge1ke", quantity: 10 },
        {
          price: {
            name: "Setup",
            description: "Setup",
            unit_price: { amount: "4900", currency_code: "USD" },
            product: { name: "Setup", tax_category: "standard" },
          },
          quantity: 1,
        },
        {
          price: {
            name: "Support",
            description: "Support",
            unit_price: { amount: "1500", currency_code: "USD" },
            billing_cycle: { interval: "month", frequency: 1 },
            product: { name: "Support", tax_category: "standard" },
          },
          quantity: 2,
        },
      ],
      custom_data: { order: "A-17", mika_checkout_id: "co_42" },
      customer_id: "ctm_01h8e18bxp9hby49dnm8ewf0m0",
      currency_code: "USD",
      checkout: { url: "https://shop.example.com/pay" },
    });
    expect(checkout).toEqual({
      providerCheckoutId: "txn_01hv8wptq8987qeep44cyrewp9",
      url: "https://shop.example.com/pay?_ptxn=txn_01hv8wptq8987qeep44cyrewp9",
      status: "open",
      paymentStatus: "unpaid",
      checkoutRef: "co_42",
      amount: 65215,
      currency: "USD",
      paymentRef: "txn_01hv8wptq8987qeep44cyrewp9",
      customerRef: "ctm_01h8e18bxp9hby49dnm8ewf0m0",
      livemode: false,
    });
  });

  it("create: Mika's checkout id wins over a metadata key of the same name", async () => {
    stub.reply({ json: paddleData(readyTransaction()) });
    await provider.checkout!.create({
      checkoutId: "co_42",
      idempotencyKey: "idem_2",
      mode: "payment",
      lines: [{ priceRef: "pri_1", quantity: 1 }],
      successUrl: "https://x.example/ok",
      cancelUrl: "https://x.example/no",
      metadata: { mika_checkout_id: "forged" },
    });
    expect((sent().body as Data).custom_data).toEqual({ mika_checkout_id: "co_42" });
  });

  it("create: a transaction without a checkout URL is a ProviderError (no default payment link)", async () => {
    const data = readyTransaction();
    data.checkout = { url: null };
    stub.reply({ json: paddleData(data) });
    const error = await failure(
      provider.checkout!.create({
        checkoutId: "co_43",
        idempotencyKey: "idem_3",
        mode: "payment",
        lines: [{ priceRef: "pri_1", quantity: 1 }],
        successUrl: "https://x.example/ok",
        cancelUrl: "https://x.example/no",
      }),
    );
    expect(error.message).toMatch(/default payment link/);
    expect(error.retryable).toBe(false);
  });

  it("create: an unusable line is refused before any request", async () => {
    for (const line of [
      { quantity: 1 },
      { name: "X", amount: 1.5, currency: "USD", quantity: 1 },
      { name: "X", amount: 100, currency: "dollars", quantity: 1 },
      { priceRef: "pri_1", quantity: 0 },
    ]) {
      await expect(
        provider.checkout!.create({
          checkoutId: "co_44",
          idempotencyKey: "idem_4",
          mode: "payment",
          lines: [line],
          successUrl: "https://x.example/ok",
          cancelUrl: "https://x.example/no",
        }),
      ).rejects.toBeInstanceOf(ProviderError);
    }
    expect(stub.requests).toHaveLength(0);
  });

  it("retrieve: a completed transaction is complete and paid, with Mika's id read back", async () => {
    const data = fixtureData("transaction.completed");
    data.custom_data = { mika_checkout_id: "co_7" };
    stub.reply({ json: paddleData(data) });
    const checkout = await provider.checkout!.retrieve("txn_01h8dzxgkvdwemdhbpcapj2tbj");
    expect(sent().method).toBe("GET");
    expect(sent().path).toBe("/transactions/txn_01h8dzxgkvdwemdhbpcapj2tbj");
    expect(sent().headers.authorization).toBe(`bearer ${API_KEY}`);
    expect(checkout).toEqual({
      providerCheckoutId: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
      url: "https://magnificent-entremet-7ae0c6.netlify.app/default/overlay?_ptxn=txn_01h8dzxgkvdwemdhbpcapj2tbj",
      status: "complete",
      paymentStatus: "paid",
      checkoutRef: "co_7",
      amount: 65215,
      currency: "USD",
      paymentRef: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
      customerRef: "ctm_01h8e18bxp9hby49dnm8ewf0m0",
      livemode: false,
    });
  });

  it("retrieve: a canceled transaction is expired", async () => {
    stub.reply({ json: paddleData(fixtureData("transaction.canceled")) });
    const checkout = await provider.checkout!.retrieve("txn_01h8e0d5sej61d5n18bth8d7se");
    expect(checkout).toMatchObject({ status: "expired", paymentStatus: "unpaid" });
  });

  it("expire: cancels the transaction with PATCH status canceled", async () => {
    const data = readyTransaction();
    data.status = "canceled";
    stub.reply({ json: paddleData(data) });
    await provider.checkout!.expire!("txn_01hv8wptq8987qeep44cyrewp9");
    expect(sent().method).toBe("PATCH");
    expect(sent().path).toBe("/transactions/txn_01hv8wptq8987qeep44cyrewp9");
    expect(sent().body).toEqual({ status: "canceled" });
  });
});

describe("refunds", () => {
  const adjustment = (status: string, type = "full") => ({
    ...fixtureData("adjustment.created"),
    status,
    type,
  });

  it("a full refund is a full refund adjustment", async () => {
    stub.reply(
      { json: paddleData(fixtureData("transaction.completed")) },
      { json: paddleData(adjustment("pending_approval")) },
    );
    const result = await provider.refunds!.create({
      paymentRef: "txn_01h8bxpvx398a7zbawb77y0kp5",
      idempotencyKey: "idem_r1",
      reason: "duplicate order",
    });
    expect(stub.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /transactions/txn_01h8bxpvx398a7zbawb77y0kp5?include=adjustment",
      "POST /adjustments",
    ]);
    expect(sent(1).headers.authorization).toBe(`bearer ${API_KEY}`);
    expect(sent(1).body).toEqual({
      action: "refund",
      type: "full",
      reason: "duplicate order",
      transaction_id: "txn_01h8bxpvx398a7zbawb77y0kp5",
    });
    expect(result).toEqual({ ref: "adj_01h8c6tbrkpdd7vx61w7b1r0ap", status: "pending" });
  });

  it("a partial refund is split over the transaction's line items, each up to its total", async () => {
    stub.reply(
      { json: paddleData(fixtureData("transaction.completed")) },
      { json: paddleData(adjustment("approved", "partial")) },
    );
    const result = await provider.refunds!.create({
      paymentRef: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
      amount: 40000,
      currency: "USD",
      idempotencyKey: "idem_r2",
    });
    expect(sent(0).method).toBe("GET");
    expect(sent(0).path).toBe("/transactions/txn_01h8dzxgkvdwemdhbpcapj2tbj?include=adjustment");
    expect(sent(1).method).toBe("POST");
    expect(sent(1).path).toBe("/adjustments");
    expect(sent(1).body).toEqual({
      action: "refund",
      type: "partial",
      reason: "Refund requested",
      transaction_id: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
      items: [
        { item_id: "txnitm_01h8e18cjzkpvj81m223nvag50", type: "partial", amount: "32662" },
        { item_id: "txnitm_01h8e18cjzkpvj81m225yfzsdz", type: "partial", amount: "7338" },
      ],
    });
    expect(result).toEqual({ ref: "adj_01h8c6tbrkpdd7vx61w7b1r0ap", status: "succeeded" });
  });

  it("an amount equal to the transaction total is sent as a full refund", async () => {
    stub.reply(
      { json: paddleData(fixtureData("transaction.completed")) },
      { json: paddleData(adjustment("pending_approval")) },
    );
    await provider.refunds!.create({
      paymentRef: "txn_01h8dzxgkvdwemdhbpcapj2tbj",
      amount: 65215,
      idempotencyKey: "idem_r3",
    });
    expect((sent(1).body as Data).type).toBe("full");
    expect((sent(1).body as Data).items).toBeUndefined();
  });

  /** The completed transaction with earlier refund adjustments: [status, [item id, amount | "full"][]]. */
  const refundedBefore = (...adjustments: [string, [string, string][]][]) => ({
    ...fixtureData("transaction.completed"),
    adjustments: adjustments.map(([status, items], i) => ({
      ...fixtureData("adjustment.created"),
      id: `adj_before_${i}`,
      status,
      items: items.map(([itemId, amount]) => ({
        id: `adjitm_${i}_${itemId}`,
        item_id: itemId,
        type: amount === "full" ? "full" : "partial",
        amount: amount === "full" ? null : amount,
        totals: null,
        proration: null,
      })),
    })),
  });
  const ITEM = {
    a: "txnitm_01h8e18cjzkpvj81m223nvag50", // 32662
    b: "txnitm_01h8e18cjzkpvj81m225yfzsdz", // 10887
    c: "txnitm_01h8e18ck0g6b9r0247mdrh34r", // 21666
  };

  it("a partial refund takes only what earlier refunds (approved or awaiting approval) left on each item", async () => {
    const before = refundedBefore(
      ["approved", [[ITEM.a, "full"]]],
      ["pending_approval", [[ITEM.b, "7338"]]],
      ["rejected", [[ITEM.c, "21666"]]],
    );
    stub.reply({ json: paddleData(before) }, { json: paddleData(adjustment("approved", "partial")) });
    await provider.refunds!.create({ paymentRef: "txn_1", amount: 20000, idempotencyKey: "idem_r6" });
    expect((sent(1).body as Data).items).toEqual([
      { item_id: ITEM.b, type: "partial", amount: "3549" },
      { item_id: ITEM.c, type: "partial", amount: "16451" },
    ]);
    // without an amount, what is left (3549 + 21666), as a partial refund
    stub.reply({ json: paddleData(before) }, { json: paddleData(adjustment("approved", "partial")) });
    await provider.refunds!.create({ paymentRef: "txn_1", idempotencyKey: "idem_r7" });
    expect(sent(3).body).toMatchObject({
      type: "partial",
      items: [
        { item_id: ITEM.b, type: "partial", amount: "3549" },
        { item_id: ITEM.c, type: "partial", amount: "21666" },
      ],
    });
    // more than is left is refused before any adjustment is created
    stub.reply({ json: paddleData(before) });
    await expect(
      provider.refunds!.create({ paymentRef: "txn_1", amount: 25216, idempotencyKey: "idem_r8" }),
    ).rejects.toThrow(/has left/);
    expect(stub.requests.map((r) => r.method)).toEqual(["GET", "POST", "GET", "POST", "GET"]);
  });

  it("a transaction refunded in full already is refused without creating an adjustment", async () => {
    stub.reply({
      json: paddleData(
        refundedBefore([
          "approved",
          [
            [ITEM.a, "full"],
            [ITEM.b, "full"],
            [ITEM.c, "full"],
          ],
        ]),
      ),
    });
    await expect(
      provider.refunds!.create({ paymentRef: "txn_1", idempotencyKey: "idem_r9" }),
    ).rejects.toThrow(/refunded in full already/);
    expect(stub.requests.map((r) => r.method)).toEqual(["GET"]);
  });

  it("more than the transaction holds, or another currency, is refused without creating an adjustment", async () => {
    stub.reply({ json: paddleData(fixtureData("transaction.completed")) });
    await expect(
      provider.refunds!.create({ paymentRef: "txn_1", amount: 70000, idempotencyKey: "idem_r4" }),
    ).rejects.toBeInstanceOf(ProviderError);
    stub.reply({ json: paddleData(fixtureData("transaction.completed")) });
    await expect(
      provider.refunds!.create({
        paymentRef: "txn_1",
        amount: 100,
        currency: "EUR",
        idempotencyKey: "idem_r5",
      }),
    ).rejects.toThrow(/currency/);
    expect(stub.requests.map((r) => r.method)).toEqual(["GET", "GET"]);
  });
});

describe("checkout.create in subscription mode", () => {
  it("makes inline lines monthly when no line has a price id or an interval, so a subscription starts", async () => {
    stub.reply({ json: paddleData(readyTransaction()) });
    await provider.checkout!.create({
      checkoutId: "co_43",
      idempotencyKey: "idem_sub_inline",
      mode: "subscription",
      lines: [{ name: "Pro", amount: 1200, currency: "USD", quantity: 1 }],
      successUrl: "https://shop.example.com/thanks",
      cancelUrl: "https://shop.example.com/cart",
    });
    const item = (sent().body as { items: { price: Data }[] }).items[0]!;
    expect(item.price.billing_cycle).toEqual({ interval: "month", frequency: 1 });
  });
});

describe("subscriptions", () => {
  // Notification payloads omit price.quantity, which the API (and the SDK's entity classes) include.
  const apiShaped = (data: Data): Data => {
    for (const item of data.items as { price: Data }[]) item.price.quantity ??= { minimum: 1, maximum: 999 };
    return data;
  };
  const subscription = (patch: Data = {}) => apiShaped({ ...fixtureData("subscription.updated"), ...patch });
  const SUB = "sub_01h7ht5z5wdg9pz18jx1fagp8k";

  it("cancel at period end and now", async () => {
    for (const [atPeriodEnd, effective] of [
      [true, "next_billing_period"],
      [false, "immediately"],
    ] as const) {
      stub.reset();
      stub.reply({ json: paddleData(subscription()) });
      const result = await provider.subscriptions!.cancel({
        subscriptionRef: SUB,
        atPeriodEnd,
        idempotencyKey: "idem_s1",
      });
      expect(sent().method).toBe("POST");
      expect(sent().path).toBe(`/subscriptions/${SUB}/cancel`);
      expect(sent().body).toEqual({ effective_from: effective });
      expect(result).toEqual({ ref: SUB, status: "succeeded" });
    }
  });

  it("pause from the next billing period", async () => {
    stub.reply({ json: paddleData(subscription({ status: "active" })) });
    await provider.subscriptions!.pause!({ subscriptionRef: SUB, idempotencyKey: "idem_s2" });
    expect(sent().method).toBe("POST");
    expect(sent().path).toBe(`/subscriptions/${SUB}/pause`);
    expect(sent().body).toEqual({ effective_from: "next_billing_period" });
  });

  it("resume a paused subscription immediately", async () => {
    stub.reply(
      { json: paddleData(apiShaped(fixtureData("subscription.paused"))) },
      { json: paddleData(subscription()) },
    );
    await provider.subscriptions!.resume!({ subscriptionRef: SUB, idempotencyKey: "idem_s3" });
    expect(stub.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /subscriptions/${SUB}`,
      `POST /subscriptions/${SUB}/resume`,
    ]);
    expect(sent(1).body).toEqual({ effective_from: "immediately" });
  });

  it("resume undoes a scheduled cancellation by removing the scheduled change", async () => {
    stub.reply(
      {
        json: paddleData(
          subscription({
            scheduled_change: {
              action: "cancel",
              effective_at: "2023-10-11T08:07:35.449123Z",
              resume_at: null,
            },
          }),
        ),
      },
      { json: paddleData(subscription()) },
    );
    await provider.subscriptions!.resume!({ subscriptionRef: SUB, idempotencyKey: "idem_s4" });
    expect(sent(1).method).toBe("PATCH");
    expect(sent(1).path).toBe(`/subscriptions/${SUB}`);
    expect(sent(1).body).toEqual({ scheduled_change: null });
  });

  it("change puts the new price on the first item, keeps the other items and uses the chosen proration", async () => {
    stub.reply({ json: paddleData(subscription()) }, { json: paddleData(subscription()) });
    await provider.subscriptions!.change!({
      subscriptionRef: SUB,
      priceRef: "pri_new",
      quantity: 3,
      prorate: false,
      idempotencyKey: "idem_s5",
    });
    expect(stub.requests.map((r) => r.method)).toEqual(["GET", "PATCH"]);
    // Paddle removes every item the PATCH leaves out: the add-on must be sent back
    expect(sent(1).body).toEqual({
      items: [
        { price_id: "pri_new", quantity: 3 },
        { price_id: "pri_01h1vjfevh5etwq3rb416a23h2", quantity: 1 },
      ],
      proration_billing_mode: "full_next_billing_period",
    });
  });

  it("change without a quantity keeps the current one and prorates by default", async () => {
    stub.reply({ json: paddleData(subscription()) }, { json: paddleData(subscription()) });
    await provider.subscriptions!.change!({
      subscriptionRef: SUB,
      priceRef: "pri_new",
      idempotencyKey: "idem_s6",
    });
    expect(sent(0).method).toBe("GET");
    expect(sent(1).body).toEqual({
      items: [
        { price_id: "pri_new", quantity: 10 },
        { price_id: "pri_01h1vjfevh5etwq3rb416a23h2", quantity: 1 },
      ],
      proration_billing_mode: "prorated_immediately",
    });
  });
});

describe("portal", () => {
  it("creates a customer portal session and returns its overview URL", async () => {
    const overview =
      "https://customer-portal.paddle.com/cpl_01j7zbyqs3vah3aafp4jf62qaw?action=overview&token=t";
    stub.reply({
      json: paddleData({
        id: "cpls_01h4ge9r64c22exjsx0fy8b48b",
        customer_id: "ctm_01gysfvfy7vqhpzkq8rjmrq7an",
        urls: { general: { overview }, subscriptions: [] },
        created_at: "2024-10-25T06:53:58Z",
      }),
    });
    const result = await provider.portal!.create({
      customerRef: "ctm_01gysfvfy7vqhpzkq8rjmrq7an",
      returnUrl: "https://shop.example.com/account",
    });
    expect(sent().method).toBe("POST");
    expect(sent().path).toBe("/customers/ctm_01gysfvfy7vqhpzkq8rjmrq7an/portal-sessions");
    expect(sent().body).toEqual({ subscription_ids: [] });
    expect(result).toEqual({ url: overview });
  });
});

describe("Paddle errors become ProviderError (PROVIDER_FAILED), without secrets", () => {
  const retrieve = () => failure(provider.checkout!.retrieve("txn_missing"));
  const noSecret = (e: ProviderError) => {
    expect(e).toBeInstanceOf(ProviderError);
    expect(e.message).not.toContain(API_KEY);
    expect(e.message).not.toContain(SECRET);
  };

  it("404 not_found", async () => {
    stub.reply({ status: 404, json: paddleError("not_found", "Entity txn_missing not found") });
    const e = await retrieve();
    noSecret(e);
    expect(e).toMatchObject({ providerStatus: 404, providerCode: "not_found", retryable: false });
    expect(e.message).toContain("Entity txn_missing not found");
  });

  it("400 invalid_field lists the fields", async () => {
    stub.reply({
      status: 400,
      json: paddleError("invalid_field", "Invalid request.", "request_error", {
        errors: [{ field: "items[0].price_id", message: "does not exist" }],
      }),
    });
    const e = await failure(
      provider.checkout!.create({
        checkoutId: "co_9",
        idempotencyKey: "idem_e1",
        mode: "payment",
        lines: [{ priceRef: "pri_nope", quantity: 1 }],
        successUrl: "https://x.example/ok",
        cancelUrl: "https://x.example/no",
      }),
    );
    noSecret(e);
    expect(e).toMatchObject({ providerStatus: 400, providerCode: "invalid_field", retryable: false });
    expect(e.message).toContain("items[0].price_id: does not exist");
  });

  it("429 too_many_requests carries Retry-After", async () => {
    stub.reply({
      status: 429,
      headers: { "retry-after": "7" },
      json: paddleError("too_many_requests", "Too many requests."),
    });
    const e = await retrieve();
    noSecret(e);
    expect(e).toMatchObject({
      providerStatus: 429,
      providerCode: "too_many_requests",
      retryAfter: 7,
      retryable: true,
    });
  });

  it("500 internal_error is retryable", async () => {
    stub.reply({ status: 500, json: paddleError("internal_error", "Something went wrong.", "api_error") });
    const e = await retrieve();
    noSecret(e);
    expect(e).toMatchObject({ providerStatus: 500, providerCode: "internal_error", retryable: true });
  });

  it("a 502 HTML page (not JSON) is a retryable ProviderError", async () => {
    stub.reply({ status: 502, text: "<html><body>Bad gateway</body></html>" });
    const e = await retrieve();
    noSecret(e);
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/not JSON/);
  });

  it("a refund whose answer the SDK cannot read is NOT retryable (it may have been applied)", async () => {
    // 201 with an adjustment the SDK's entity classes choke on (no totals): Paddle may have refunded.
    stub.reply(
      { json: paddleData(fixtureData("transaction.completed")) },
      { status: 201, json: paddleData({ id: "adj_unreadable", action: "refund" }) },
    );
    const e = await failure(provider.refunds!.create({ paymentRef: "txn_1", idempotencyKey: "idem_e2" }));
    noSecret(e);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/check the transaction's adjustments in Paddle/);
    // The same unreadable answer on a read is retryable: retrying a GET is harmless.
    stub.reply({ json: paddleData({ id: "txn_1", details: { totals: null }, items: "x" }) });
    const read = await retrieve();
    expect(read.retryable).toBe(true);
  });

  it("an unreachable API is a retryable ProviderError", async () => {
    const down = await startPaddleStub();
    const client = down.client(API_KEY);
    await down.close();
    const offline = paddleProvider({ client, webhookSecret: SECRET });
    const e = await failure(offline.checkout!.retrieve("txn_1"));
    noSecret(e);
    expect(e.retryable).toBe(true);
    expect(e.providerStatus).toBeUndefined();
  });
});
