/**
 * The API methods against a wire-level stub. The SDK sends every request with the global `fetch` to
 * the fixed base URL https://api.lemonsqueezy.com (it has no base-URL option), so the seam is undici's
 * MockAgent installed as Node's global dispatcher: requests never leave the process, and each test
 * records exactly what the SDK put on the wire (method, path, headers, JSON:API body).
 */
import { lemonSqueezySetup } from "@lemonsqueezy/lemonsqueezy.js";
import { type PaymentProvider, ProviderError } from "@mika/types";
import { type Dispatcher, getGlobalDispatcher, MockAgent, setGlobalDispatcher } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { lemonSqueezyProvider } from "../src/index.js";

const ORIGIN = "https://api.lemonsqueezy.com";
const API_KEY = "test-api-key-0123456789";

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

let original: Dispatcher;
let agent: MockAgent;
let sent: Sent[];

function normalizeHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2)
      out[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
  } else if (headers && typeof headers === "object") {
    for (const [k, v] of Object.entries(headers as Record<string, unknown>)) out[k.toLowerCase()] = String(v);
  }
  return out;
}

/** Answers one request to `method path` with `status` and a JSON body, recording what was sent. */
function reply(
  method: string,
  path: string,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  agent
    .get(ORIGIN)
    .intercept({ method, path })
    .reply((options) => {
      sent.push({
        method: options.method,
        path: options.path,
        headers: normalizeHeaders(options.headers),
        body: typeof options.body === "string" && options.body ? JSON.parse(options.body) : undefined,
      });
      return {
        statusCode: status,
        data: typeof body === "string" ? body : JSON.stringify(body),
        responseOptions: { headers: { "content-type": "application/vnd.api+json", ...headers } },
      };
    });
}

const doc = (type: string, id: string, attributes: Record<string, unknown>) => ({
  jsonapi: { version: "1.0" },
  links: { self: `${ORIGIN}/v1/${type}/${id}` },
  data: { type, id, attributes, links: { self: `${ORIGIN}/v1/${type}/${id}` } },
});

const errorDoc = (status: number, detail: string) => ({
  jsonapi: { version: "1.0" },
  errors: [{ detail, status: String(status), title: "Error" }],
});

const order = (attributes: Record<string, unknown> = {}) =>
  doc("orders", "1001", {
    store_id: 7,
    customer_id: 55,
    currency: "EUR",
    status: "paid",
    total: 5000,
    refunded_amount: 0,
    test_mode: true,
    created_at: "2024-05-01T10:00:00.000000Z",
    updated_at: "2024-05-01T10:00:00.000000Z",
    ...attributes,
  });

const subscription = (attributes: Record<string, unknown> = {}) =>
  doc("subscriptions", "300", {
    status: "active",
    pause: null,
    cancelled: false,
    variant_id: 11,
    first_subscription_item: { id: 900, subscription_id: 300, price_id: 5, quantity: 1 },
    ...attributes,
  });

let provider: PaymentProvider;

beforeAll(() => {
  original = getGlobalDispatcher();
});
afterAll(() => {
  setGlobalDispatcher(original);
});
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  setGlobalDispatcher(agent);
  sent = [];
  provider = lemonSqueezyProvider({ apiKey: API_KEY, storeId: 7, webhookSecret: "whsec-ls" });
});
afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error("expected a ProviderError, but the call succeeded");
}

describe("capabilities", () => {
  it("declares checkout only with a storeId, and never webhook.timestamp", () => {
    expect([...provider.capabilities].sort()).toEqual(
      [
        "checkout",
        "portal",
        "refunds",
        "refunds.partial",
        "subscriptions",
        "subscriptions.change",
        "subscriptions.pause",
      ].sort(),
    );
    const webhookOnly = lemonSqueezyProvider({ webhookSecret: "s" });
    expect(webhookOnly.capabilities.has("checkout")).toBe(false);
    expect(webhookOnly.capabilities.has("webhook.timestamp")).toBe(false);
  });
});

describe("checkout.create", () => {
  it("creates a checkout for the variant with Mika's checkout id in custom data", async () => {
    reply(
      "POST",
      "/v1/checkouts",
      201,
      doc("checkouts", "5e0c7c0e-aaaa-bbbb-cccc-000000000001", {
        store_id: 7,
        variant_id: 11,
        checkout_data: { custom: { mika_checkout_id: "co_1" } },
        expires_at: "2030-01-01T00:00:00.000000Z",
        test_mode: true,
        url: "https://store.lemonsqueezy.com/checkout/custom/5e0c7c0e?signature=abc",
      }),
    );
    const result = await provider.checkout!.create({
      checkoutId: "co_1",
      idempotencyKey: "idem-1",
      mode: "payment",
      lines: [{ priceRef: "11", quantity: 2 }],
      customer: { email: "buyer@example.com", name: "Ada" },
      successUrl: "https://shop.example/success?c=co_1",
      cancelUrl: "https://shop.example/cancel",
      expiresAt: new Date("2030-01-01T00:00:00Z"),
      metadata: { plan: "pro", cartId: "c_42", userID: "u_7" },
    });
    expect(result).toEqual({
      providerCheckoutId: "5e0c7c0e-aaaa-bbbb-cccc-000000000001",
      url: "https://store.lemonsqueezy.com/checkout/custom/5e0c7c0e?signature=abc",
      status: "open",
      checkoutRef: "co_1",
      expiresAt: new Date("2030-01-01T00:00:00Z"),
      livemode: false,
    });
    expect(sent).toHaveLength(1);
    const request = sent[0]!;
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1/checkouts");
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request.headers["content-type"]).toBe("application/vnd.api+json");
    expect(request.body).toEqual({
      data: {
        type: "checkouts",
        attributes: {
          expires_at: "2030-01-01T00:00:00.000Z",
          product_options: { redirect_url: "https://shop.example/success?c=co_1", enabled_variants: [11] },
          checkout_data: {
            email: "buyer@example.com",
            name: "Ada",
            // the host's keys as given: the SDK would snake-case them (cartId → cart_id)
            custom: {
              plan: "pro",
              cartId: "c_42",
              userID: "u_7",
              mika_checkout_id: "co_1",
              mika_idempotency_key: "idem-1",
            },
            variant_quantities: [{ variant_id: 11, quantity: 2 }],
          },
        },
        relationships: {
          store: { data: { type: "stores", id: "7" } },
          variant: { data: { type: "variants", id: "11" } },
        },
      },
    });
  });

  it("refuses what Lemon Squeezy cannot sell before calling it", async () => {
    const base = {
      checkoutId: "co_2",
      idempotencyKey: "k",
      mode: "payment" as const,
      successUrl: "https://s",
      cancelUrl: "https://c",
    };
    for (const lines of [
      [],
      [
        { priceRef: "1", quantity: 1 },
        { priceRef: "2", quantity: 1 },
      ],
      [{ name: "Inline", amount: 100, currency: "EUR", quantity: 1 }],
      [{ priceRef: "pri_abc", quantity: 1 }],
    ]) {
      const error = await providerError(provider.checkout!.create({ ...base, lines }));
      expect(error.retryable).toBe(false);
    }
    const noStore = lemonSqueezyProvider({ apiKey: API_KEY, webhookSecret: "s" });
    const error = await providerError(
      noStore.checkout!.create({ ...base, lines: [{ priceRef: "1", quantity: 1 }] }),
    );
    expect(error.message).toContain("storeId");
    expect(sent).toHaveLength(0);
  });

  it("maps a 422 to a non-retryable ProviderError with the API's detail, never the key", async () => {
    reply("POST", "/v1/checkouts", 422, errorDoc(422, "The variant must belong to the store."));
    const error = await providerError(
      provider.checkout!.create({
        checkoutId: "co_3",
        idempotencyKey: "k",
        mode: "payment",
        lines: [{ priceRef: "99", quantity: 1 }],
        successUrl: "https://s",
        cancelUrl: "https://c",
      }),
    );
    expect(error.providerStatus).toBe(422);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("The variant must belong to the store.");
    expect(error.message).not.toContain(API_KEY);
  });
});

describe("checkout.retrieve", () => {
  it("reads a checkout: open even past expires_at (it may have been paid), Mika's id from custom data", async () => {
    const p = lemonSqueezyProvider({
      apiKey: API_KEY,
      webhookSecret: "s",
      now: () => new Date("2031-01-01T00:00:00Z"),
    });
    reply(
      "GET",
      "/v1/checkouts/abc-uuid",
      200,
      doc("checkouts", "abc-uuid", {
        checkout_data: { custom: { mika_checkout_id: "co_9" } },
        expires_at: "2030-01-01T00:00:00.000000Z",
        test_mode: false,
        url: "https://store/checkout/abc",
      }),
    );
    const result = await p.checkout!.retrieve("abc-uuid");
    expect(result).toMatchObject({
      providerCheckoutId: "abc-uuid",
      status: "open",
      checkoutRef: "co_9",
      expiresAt: new Date("2030-01-01T00:00:00Z"),
    });
    expect(result.livemode).toBe(true);
    expect(sent[0]).toMatchObject({ method: "GET", path: "/v1/checkouts/abc-uuid" });
  });

  it("reads through the order when given the order id (from order_created)", async () => {
    reply("GET", "/v1/orders/1001", 200, order());
    const result = await provider.checkout!.retrieve("1001");
    expect(result).toEqual({
      providerCheckoutId: "1001",
      status: "complete",
      paymentStatus: "paid",
      amount: 5000,
      currency: "EUR",
      orderRef: "1001",
      paymentRef: "1001",
      customerRef: "55",
      livemode: false,
    });
    reply("GET", "/v1/orders/1002", 200, order({ status: "pending" }));
    expect((await provider.checkout!.retrieve("orders/1002")).paymentStatus).toBe("unpaid");
  });

  it("maps a 404 to a non-retryable ProviderError", async () => {
    reply("GET", "/v1/checkouts/missing", 404, errorDoc(404, "Not found."));
    const error = await providerError(provider.checkout!.retrieve("missing"));
    expect(error.providerStatus).toBe(404);
    expect(error.retryable).toBe(false);
  });
});

describe("refunds.create", () => {
  it("refunds part of an order", async () => {
    reply("POST", "/v1/orders/1001/refund", 200, order({ refunded_amount: 1200 }));
    const result = await provider.refunds!.create({ paymentRef: "1001", amount: 1200, idempotencyKey: "r1" });
    expect(result).toEqual({ ref: "1001", status: "succeeded" });
    expect(sent).toEqual([
      expect.objectContaining({
        method: "POST",
        path: "/v1/orders/1001/refund",
        body: { data: { type: "orders", id: "1001", attributes: { amount: 1200 } } },
      }),
    ]);
  });

  it("refunds what is left of an order for a full refund", async () => {
    reply("GET", "/v1/orders/1001", 200, order({ refunded_amount: 1200 }));
    reply("POST", "/v1/orders/1001/refund", 200, order({ refunded_amount: 5000, status: "refunded" }));
    await provider.refunds!.create({ paymentRef: "1001", idempotencyKey: "r2" });
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      "GET /v1/orders/1001",
      "POST /v1/orders/1001/refund",
    ]);
    expect(sent[1]!.body).toEqual({ data: { type: "orders", id: "1001", attributes: { amount: 3800 } } });
  });

  it("does not call the refund endpoint when the order is already fully refunded", async () => {
    reply("GET", "/v1/orders/1001", 200, order({ refunded_amount: 5000, status: "refunded" }));
    expect(await provider.refunds!.create({ paymentRef: "1001", idempotencyKey: "r3" })).toEqual({
      ref: "1001",
      status: "succeeded",
    });
    expect(sent).toHaveLength(1);
  });

  it("refunds a subscription invoice by its paymentRef", async () => {
    reply(
      "POST",
      "/v1/subscription-invoices/77/refund",
      200,
      doc("subscription-invoices", "77", { total: 999, refunded_amount: 500, currency: "USD" }),
    );
    const result = await provider.refunds!.create({
      paymentRef: "subscription-invoices/77",
      amount: 500,
      idempotencyKey: "r4",
    });
    expect(result).toEqual({ ref: "subscription-invoices/77", status: "succeeded" });
    expect(sent[0]!.body).toEqual({
      data: { type: "subscription-invoices", id: "77", attributes: { amount: 500 } },
    });
  });

  it("checks the currency when one is given, and rejects bad input without calling", async () => {
    reply("GET", "/v1/orders/1001", 200, order());
    const mismatch = await providerError(
      provider.refunds!.create({ paymentRef: "1001", amount: 100, currency: "usd", idempotencyKey: "r5" }),
    );
    expect(mismatch.message).toContain("EUR");
    expect(sent).toHaveLength(1);
    for (const input of [
      { paymentRef: "pi_123", idempotencyKey: "r" },
      { paymentRef: "1001", amount: 0, idempotencyKey: "r" },
      { paymentRef: "1001", amount: 1.5, idempotencyKey: "r" },
    ]) {
      expect((await providerError(provider.refunds!.create(input))).retryable).toBe(false);
    }
    expect(sent).toHaveLength(1);
  });

  it("maps a 429 and a 500 to retryable ProviderErrors", async () => {
    reply("POST", "/v1/orders/1001/refund", 429, errorDoc(429, "Too Many Attempts."));
    const limited = await providerError(
      provider.refunds!.create({ paymentRef: "1001", amount: 1, idempotencyKey: "r" }),
    );
    expect(limited).toMatchObject({ providerStatus: 429, retryable: true });
    reply("POST", "/v1/orders/1001/refund", 500, errorDoc(500, "Server Error"));
    const failed = await providerError(
      provider.refunds!.create({ paymentRef: "1001", amount: 1, idempotencyKey: "r" }),
    );
    expect(failed).toMatchObject({ providerStatus: 500, retryable: true });
  });
});

describe("subscriptions", () => {
  it("cancel: DELETE at period end; immediate cancellation is refused", async () => {
    reply("DELETE", "/v1/subscriptions/300", 200, subscription({ status: "cancelled", cancelled: true }));
    expect(
      await provider.subscriptions!.cancel({
        subscriptionRef: "300",
        atPeriodEnd: true,
        idempotencyKey: "c",
      }),
    ).toEqual({ ref: "300", status: "succeeded" });
    expect(sent[0]).toMatchObject({ method: "DELETE", path: "/v1/subscriptions/300" });
    const now = await providerError(
      provider.subscriptions!.cancel({ subscriptionRef: "300", atPeriodEnd: false, idempotencyKey: "c" }),
    );
    expect(now).toMatchObject({ retryable: false, providerCode: "unsupported" });
    expect(sent).toHaveLength(1);
  });

  it("resume: un-cancels a cancelled subscription", async () => {
    reply("GET", "/v1/subscriptions/300", 200, subscription({ status: "cancelled", cancelled: true }));
    reply("PATCH", "/v1/subscriptions/300", 200, subscription());
    await provider.subscriptions!.resume!({ subscriptionRef: "300", idempotencyKey: "r" });
    expect(sent[1]).toMatchObject({
      method: "PATCH",
      path: "/v1/subscriptions/300",
      body: { data: { type: "subscriptions", id: "300", attributes: { cancelled: false } } },
    });
  });

  it("resume: unpauses a paused subscription", async () => {
    reply("GET", "/v1/subscriptions/300", 200, subscription({ status: "paused", pause: { mode: "void" } }));
    reply("PATCH", "/v1/subscriptions/300", 200, subscription());
    await provider.subscriptions!.resume!({ subscriptionRef: "300", idempotencyKey: "r" });
    expect(sent[1]!.body).toEqual({
      data: { type: "subscriptions", id: "300", attributes: { pause: null } },
    });
  });

  it("pause: voids collection by default", async () => {
    reply("PATCH", "/v1/subscriptions/300", 200, subscription({ status: "paused" }));
    await provider.subscriptions!.pause!({ subscriptionRef: "300", idempotencyKey: "p" });
    expect(sent[0]!.body).toEqual({
      data: { type: "subscriptions", id: "300", attributes: { pause: { mode: "void" } } },
    });
  });

  it("change: moves to the variant, without proration when asked, and sets the quantity", async () => {
    reply("PATCH", "/v1/subscriptions/300", 200, subscription({ variant_id: 12 }));
    reply("PATCH", "/v1/subscription-items/900", 200, doc("subscription-items", "900", { quantity: 3 }));
    await provider.subscriptions!.change!({
      subscriptionRef: "300",
      priceRef: "12",
      quantity: 3,
      prorate: false,
      idempotencyKey: "ch",
    });
    expect(sent[0]!.body).toEqual({
      data: { type: "subscriptions", id: "300", attributes: { variant_id: 12, disable_prorations: true } },
    });
    expect(sent[1]).toMatchObject({
      method: "PATCH",
      path: "/v1/subscription-items/900",
      body: {
        data: {
          type: "subscription-items",
          id: "900",
          attributes: { quantity: 3, disable_prorations: true },
        },
      },
    });
  });

  it("change: a non-numeric variant id is refused before calling", async () => {
    const error = await providerError(
      provider.subscriptions!.change!({ subscriptionRef: "300", priceRef: "price_x", idempotencyKey: "ch" }),
    );
    expect(error.retryable).toBe(false);
    expect(sent).toHaveLength(0);
  });
});

describe("portal.create", () => {
  it("returns the customer's signed portal URL", async () => {
    reply(
      "GET",
      "/v1/customers/55",
      200,
      doc("customers", "55", { urls: { customer_portal: "https://store.lemonsqueezy.com/billing?sig=1" } }),
    );
    expect(await provider.portal!.create({ customerRef: "55", returnUrl: "https://app/" })).toEqual({
      url: "https://store.lemonsqueezy.com/billing?sig=1",
    });
    expect(sent[0]).toMatchObject({ method: "GET", path: "/v1/customers/55" });
  });

  it("fails clearly when the customer has no portal", async () => {
    reply("GET", "/v1/customers/56", 200, doc("customers", "56", { urls: { customer_portal: null } }));
    const error = await providerError(
      provider.portal!.create({ customerRef: "56", returnUrl: "https://app/" }),
    );
    expect(error).toMatchObject({ retryable: false, providerCode: "no_customer_portal" });
  });
});

describe("the SDK's global configuration", () => {
  it("each provider sends its own key, even interleaved", async () => {
    const other = lemonSqueezyProvider({ apiKey: "other-key-abcdef", webhookSecret: "s" });
    reply("GET", "/v1/customers/1", 200, doc("customers", "1", { urls: { customer_portal: "https://a" } }));
    reply("GET", "/v1/customers/2", 200, doc("customers", "2", { urls: { customer_portal: "https://b" } }));
    await Promise.all([
      provider.portal!.create({ customerRef: "1", returnUrl: "https://x" }),
      other.portal!.create({ customerRef: "2", returnUrl: "https://x" }),
    ]);
    const byPath = Object.fromEntries(sent.map((s) => [s.path, s.headers.authorization]));
    expect(byPath).toEqual({
      "/v1/customers/1": `Bearer ${API_KEY}`,
      "/v1/customers/2": "Bearer other-key-abcdef",
    });
  });

  it("without apiKey, uses the host's lemonSqueezySetup, and says so when none is set", async () => {
    const keyless = lemonSqueezyProvider({ webhookSecret: "s" });
    lemonSqueezySetup({ apiKey: "" });
    const missing = await providerError(keyless.portal!.create({ customerRef: "1", returnUrl: "https://x" }));
    expect(missing).toMatchObject({ retryable: false, providerCode: "missing_api_key" });
    expect(sent).toHaveLength(0);
    lemonSqueezySetup({ apiKey: "host-key-123456" });
    reply("GET", "/v1/customers/1", 200, doc("customers", "1", { urls: { customer_portal: "https://a" } }));
    await keyless.portal!.create({ customerRef: "1", returnUrl: "https://x" });
    expect(sent[0]!.headers.authorization).toBe("Bearer host-key-123456");
  });

  it("a network failure is a retryable ProviderError without a status", async () => {
    agent
      .get(ORIGIN)
      .intercept({ method: "GET", path: "/v1/customers/9" })
      .replyWithError(new Error("socket hang up"));
    const error = await providerError(provider.portal!.create({ customerRef: "9", returnUrl: "https://x" }));
    expect(error.providerStatus).toBeUndefined();
    expect(error.retryable).toBe(true);
  });
});
