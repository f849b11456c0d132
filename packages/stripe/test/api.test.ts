/**
 * The API methods run the real `stripe` SDK against a loopback `node:http` stub that records what
 * arrived and answers with documented JSON (objects from fixtures/stripe/objects, Stripe's OpenAPI
 * fixtures; error bodies in Stripe's documented `{ error: { type, code, message } }` shape).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadFixtureJson } from "@mika/testing";
import { type PaymentProvider, type ProviderCheckoutInput, ProviderError } from "@mika/types";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stripeProvider } from "../src/index.js";

const API_KEY = "sk_test_51StubKeyForLoopbackTestsOnly0000";

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  headers: IncomingHttpHeaders;
}
interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

let server: Server;
let port: number;
const requests: Recorded[] = [];
const replies: Reply[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      requests.push({
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        form: new URLSearchParams(raw),
        headers: req.headers,
      });
      const reply = replies.shift() ?? {
        status: 500,
        body: { error: { type: "api_error", message: "stub: no reply queued" } },
      };
      res.writeHead(reply.status ?? 200, {
        "content-type": "application/json",
        "request-id": `req_stub_${requests.length}`,
        ...reply.headers,
      });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  requests.length = 0;
  replies.length = 0;
});

function makeProvider(atPort = port): PaymentProvider {
  const client = new Stripe(API_KEY, {
    host: "127.0.0.1",
    port: atPort,
    protocol: "http",
    maxNetworkRetries: 0,
  });
  return stripeProvider({ client, webhookSecret: "whsec_api_tests" });
}

const object = (name: string) => loadFixtureJson<Record<string, unknown>>(`stripe/objects/${name}`);
const only = () => {
  expect(requests).toHaveLength(1);
  return requests[0] as Recorded;
};

function expectStripeHeaders(r: Recorded, idempotencyKey?: string) {
  expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
  expect(r.headers["stripe-version"]).toBe(Stripe.API_VERSION);
  if (idempotencyKey) expect(r.headers["idempotency-key"]).toBe(idempotencyKey);
}

const baseInput: ProviderCheckoutInput = {
  checkoutId: "chk_01HZX",
  idempotencyKey: "idem-checkout-1",
  mode: "payment",
  lines: [
    { priceRef: "price_1PgafmB7WZ01zgkW6dKueIc5", quantity: 2 },
    { name: "Gift wrap", amount: 450, currency: "EUR", quantity: 1 },
  ],
  customer: { email: "buyer@example.com" },
  successUrl: "https://shop.example/success",
  cancelUrl: "https://shop.example/cancel",
  metadata: { cart: "c_42" },
};

describe("checkout", () => {
  it("create: Checkout Session with price ids and inline price_data, Mika's id, idempotency key", async () => {
    const session = {
      ...object("checkout.session"),
      client_reference_id: "chk_01HZX",
      amount_total: 4450,
      currency: "eur",
    };
    replies.push({ body: session });
    const now = Date.now();
    const result = await makeProvider().checkout!.create({
      ...baseInput,
      expiresAt: new Date(now + 2 * 60 * 60 * 1000),
    });
    const r = only();
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/v1/checkout/sessions");
    expectStripeHeaders(r, "idem-checkout-1");
    const f = Object.fromEntries(r.form);
    expect(f).toMatchObject({
      mode: "payment",
      "line_items[0][price]": "price_1PgafmB7WZ01zgkW6dKueIc5",
      "line_items[0][quantity]": "2",
      "line_items[1][price_data][currency]": "eur",
      "line_items[1][price_data][unit_amount]": "450",
      "line_items[1][price_data][product_data][name]": "Gift wrap",
      "line_items[1][quantity]": "1",
      success_url: "https://shop.example/success",
      cancel_url: "https://shop.example/cancel",
      client_reference_id: "chk_01HZX",
      "metadata[mika_checkout_id]": "chk_01HZX",
      "metadata[cart]": "c_42",
      "payment_intent_data[metadata][mika_checkout_id]": "chk_01HZX",
      customer_email: "buyer@example.com",
    });
    expect(f).not.toHaveProperty("line_items[1][price_data][recurring][interval]");
    expect(Math.abs(Number(f.expires_at) - Math.floor(now / 1000) - 7200)).toBeLessThanOrEqual(1);
    expect(result).toEqual({
      providerCheckoutId: object("checkout.session").id,
      url: object("checkout.session").url,
      status: "open",
      paymentStatus: "unpaid",
      checkoutRef: "chk_01HZX",
      amount: 4450,
      currency: "EUR",
      expiresAt: new Date(1234567890 * 1000),
      paymentRef: "pi_1PgafyB7WZ01zgkWSjxsAJo3",
      livemode: false,
    });
  });

  it("create: subscription mode sends recurring price_data, subscription metadata and the customer id", async () => {
    replies.push({ body: { ...object("checkout.session"), mode: "subscription" } });
    await makeProvider().checkout!.create({
      ...baseInput,
      mode: "subscription",
      lines: [{ name: "Pro plan", amount: 12000, currency: "USD", interval: "year", quantity: 1 }],
      customer: { email: "ignored@example.com", customerRef: "cus_QXg1o8vcGmoR32" },
    });
    const f = Object.fromEntries(only().form);
    expect(f).toMatchObject({
      mode: "subscription",
      "line_items[0][price_data][currency]": "usd",
      "line_items[0][price_data][recurring][interval]": "year",
      "subscription_data[metadata][mika_checkout_id]": "chk_01HZX",
      customer: "cus_QXg1o8vcGmoR32",
    });
    expect(f).not.toHaveProperty("customer_email");
    expect(f).not.toHaveProperty("payment_intent_data[metadata][mika_checkout_id]");
    expect(f).not.toHaveProperty("expires_at");
  });

  it.each([
    ["5 minutes", 5 * 60, 31 * 60],
    ["3 days", 3 * 86400, 86400 - 60],
  ])("create: an expiry of %s is clamped into Stripe's 30 min – 24 h window", async (_, wanted, sent) => {
    replies.push({ body: object("checkout.session") });
    const now = Math.floor(Date.now() / 1000);
    await makeProvider().checkout!.create({ ...baseInput, expiresAt: new Date((now + wanted) * 1000) });
    const expiresAt = Number(only().form.get("expires_at"));
    expect(Math.abs(expiresAt - now - sent)).toBeLessThanOrEqual(1);
  });

  it("create: a line with neither a price id nor an inline price is refused before any request", async () => {
    const error = await makeProvider()
      .checkout!.create({ ...baseInput, lines: [{ name: "No price", quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(false);
    expect(requests).toHaveLength(0);
  });

  it("retrieve: GET the session and map it", async () => {
    replies.push({
      body: {
        ...object("checkout.session"),
        status: "complete",
        payment_status: "paid",
        amount_total: 1099,
        currency: "usd",
        metadata: { mika_checkout_id: "chk_meta" },
        customer: { ...object("customer") },
        subscription: "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
      },
    });
    const result = await makeProvider().checkout!.retrieve("cs_test_abc");
    const r = only();
    expect(r.method).toBe("GET");
    expect(r.path).toBe("/v1/checkout/sessions/cs_test_abc");
    expectStripeHeaders(r);
    expect(result).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      checkoutRef: "chk_meta",
      amount: 1099,
      currency: "USD",
      customerRef: "cus_QXg1o8vcGmoR32",
      subscriptionRef: "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
    });
  });

  it("expire: POST …/expire", async () => {
    replies.push({ body: { ...object("checkout.session"), status: "expired" } });
    await makeProvider().checkout!.expire!("cs_test_abc");
    const r = only();
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/v1/checkout/sessions/cs_test_abc/expire");
  });

  it("expire: an already expired session is done; a completed one is an error", async () => {
    const refusal = {
      status: 400,
      body: {
        error: {
          type: "invalid_request_error",
          message: "Only Checkout Sessions with a status of open can be expired.",
        },
      },
    };
    replies.push(refusal, { body: { ...object("checkout.session"), status: "expired" } });
    await makeProvider().checkout!.expire!("cs_test_old");
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1/checkout/sessions/cs_test_old/expire",
      "GET /v1/checkout/sessions/cs_test_old",
    ]);
    replies.push(refusal, { body: { ...object("checkout.session"), status: "complete" } });
    const error = await makeProvider().checkout!.expire!("cs_test_done").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).providerStatus).toBe(400);
  });
});

describe("refunds", () => {
  it("partial: payment_intent, amount, metadata, idempotency key", async () => {
    replies.push({ body: { ...object("refund"), amount: 500, status: "pending" } });
    const result = await makeProvider().refunds!.create({
      paymentRef: "pi_1PgafyB7WZ01zgkWSjxsAJo3",
      amount: 500,
      idempotencyKey: "idem-refund-1",
      checkoutRef: "chk_01HZX",
      reason: "requested_by_customer",
    });
    const r = only();
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/v1/refunds");
    expectStripeHeaders(r, "idem-refund-1");
    expect(Object.fromEntries(r.form)).toEqual({
      payment_intent: "pi_1PgafyB7WZ01zgkWSjxsAJo3",
      amount: "500",
      "metadata[mika_checkout_id]": "chk_01HZX",
      reason: "requested_by_customer",
    });
    expect(result).toEqual({ ref: "re_1Pgc72B7WZ01zgkWqPvrRrPE", status: "pending" });
  });

  it("full: no amount; a free-text reason goes to metadata", async () => {
    replies.push({ body: object("refund") });
    const result = await makeProvider().refunds!.create({
      paymentRef: "pi_full",
      idempotencyKey: "idem-refund-2",
      reason: "damaged in transit",
    });
    const f = Object.fromEntries(only().form);
    expect(f).toEqual({ payment_intent: "pi_full", "metadata[mika_reason]": "damaged in transit" });
    expect(result.status).toBe("succeeded");
  });
});

describe("subscriptions", () => {
  const sub = object("subscription");
  const id = String(sub.id);

  it("cancel at period end: update cancel_at_period_end", async () => {
    replies.push({ body: { ...sub, cancel_at_period_end: true } });
    const result = await makeProvider().subscriptions!.cancel({
      subscriptionRef: id,
      atPeriodEnd: true,
      idempotencyKey: "idem-c1",
    });
    const r = only();
    expect(`${r.method} ${r.path}`).toBe(`POST /v1/subscriptions/${id}`);
    expectStripeHeaders(r, "idem-c1");
    expect(Object.fromEntries(r.form)).toEqual({ cancel_at_period_end: "true" });
    expect(result).toEqual({ ref: id, status: "succeeded" });
  });

  it("cancel now: DELETE the subscription", async () => {
    replies.push({ body: { ...sub, status: "canceled" } });
    await makeProvider().subscriptions!.cancel({
      subscriptionRef: id,
      atPeriodEnd: false,
      idempotencyKey: "idem-c2",
    });
    const r = only();
    expect(`${r.method} ${r.path}`).toBe(`DELETE /v1/subscriptions/${id}`);
    expectStripeHeaders(r, "idem-c2");
  });

  it("resume a scheduled cancellation: clear cancel_at_period_end", async () => {
    replies.push({ body: { ...sub, cancel_at_period_end: true, pause_collection: null } }, { body: sub });
    await makeProvider().subscriptions!.resume!({ subscriptionRef: id, idempotencyKey: "idem-r1" });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v1/subscriptions/${id}`,
      `POST /v1/subscriptions/${id}`,
    ]);
    expect(Object.fromEntries(requests[1]!.form)).toEqual({ cancel_at_period_end: "false" });
    expect(requests[1]!.headers["idempotency-key"]).toBe("idem-r1");
  });

  it("resume a paused subscription: POST …/resume", async () => {
    replies.push({ body: { ...sub, status: "paused" } }, { body: { ...sub, status: "active" } });
    await makeProvider().subscriptions!.resume!({ subscriptionRef: id, idempotencyKey: "idem-r2" });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v1/subscriptions/${id}`,
      `POST /v1/subscriptions/${id}/resume`,
    ]);
    expect(requests[1]!.headers["idempotency-key"]).toBe("idem-r2");
  });

  it("change: update the item's price, prorating unless told not to", async () => {
    replies.push({ body: sub }, { body: sub });
    await makeProvider().subscriptions!.change!({
      subscriptionRef: id,
      priceRef: "price_new",
      quantity: 3,
      idempotencyKey: "idem-ch1",
    });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v1/subscriptions/${id}`,
      `POST /v1/subscriptions/${id}`,
    ]);
    expect(Object.fromEntries(requests[1]!.form)).toEqual({
      "items[0][id]": "si_QXhVnC2h0Jczwc",
      "items[0][price]": "price_new",
      "items[0][quantity]": "3",
      proration_behavior: "create_prorations",
    });
    expect(requests[1]!.headers["idempotency-key"]).toBe("idem-ch1");
    requests.length = 0;
    replies.push({ body: sub }, { body: sub });
    await makeProvider().subscriptions!.change!({
      subscriptionRef: id,
      priceRef: "price_new",
      prorate: false,
      idempotencyKey: "idem-ch2",
    });
    expect(requests[1]!.form.get("proration_behavior")).toBe("none");
  });
});

describe("portal", () => {
  it("create: billing portal session", async () => {
    replies.push({
      body: {
        id: "bps_1",
        object: "billing_portal.session",
        customer: "cus_1",
        url: "https://billing.stripe.com/p/session/test_1",
      },
    });
    const result = await makeProvider().portal!.create({
      customerRef: "cus_1",
      returnUrl: "https://shop.example/account",
    });
    const r = only();
    expect(`${r.method} ${r.path}`).toBe("POST /v1/billing_portal/sessions");
    expect(Object.fromEntries(r.form)).toEqual({
      customer: "cus_1",
      return_url: "https://shop.example/account",
    });
    expect(result).toEqual({ url: "https://billing.stripe.com/p/session/test_1" });
  });
});

describe("SDK errors become ProviderError", () => {
  async function failWith(reply: Reply): Promise<ProviderError> {
    replies.push(reply);
    const error = await makeProvider()
      .refunds!.create({ paymentRef: "pi_x", idempotencyKey: "idem-err" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(String((error as Error).message)).not.toContain(API_KEY);
    expect(JSON.stringify(error)).not.toContain(API_KEY);
    return error as ProviderError;
  }

  it("402 card_error: status and code, not retryable", async () => {
    const error = await failWith({
      status: 402,
      body: {
        error: {
          type: "card_error",
          code: "card_declined",
          decline_code: "insufficient_funds",
          message: "Your card has insufficient funds.",
        },
      },
    });
    expect(error).toMatchObject({
      providerStatus: 402,
      providerCode: "card_declined",
      retryable: false,
      retryAfter: undefined,
    });
    expect(error.message).toMatch(/insufficient funds/);
  });

  it("429 with Retry-After: retryable with retryAfter", async () => {
    const error = await failWith({
      status: 429,
      headers: { "retry-after": "7" },
      body: { error: { type: "invalid_request_error", code: "rate_limit", message: "Too many requests." } },
    });
    expect(error).toMatchObject({
      providerStatus: 429,
      providerCode: "rate_limit",
      retryable: true,
      retryAfter: 7,
    });
  });

  it("409 idempotency_key_in_use (a concurrent request with the key): retryable", async () => {
    const error = await failWith({
      status: 409,
      body: {
        error: {
          type: "idempotency_error",
          code: "idempotency_key_in_use",
          message: "There is currently another in-progress request using this Idempotent Key.",
        },
      },
    });
    expect(error).toMatchObject({
      providerStatus: 409,
      providerCode: "idempotency_key_in_use",
      retryable: true,
    });
  });

  it("500: retryable, no retryAfter", async () => {
    const error = await failWith({
      status: 500,
      body: { error: { type: "api_error", message: "Something went wrong." } },
    });
    expect(error).toMatchObject({ providerStatus: 500, retryable: true, retryAfter: undefined });
    expect(error.message).toMatch(/req_stub_1/);
  });

  it("401 whose message echoes the key: the key is masked", async () => {
    const error = await failWith({
      status: 401,
      body: { error: { type: "invalid_request_error", message: `Invalid API Key provided: ${API_KEY}` } },
    });
    expect(error).toMatchObject({ providerStatus: 401, retryable: false });
    expect(error.message).toContain("sk_test_…");
  });

  it("nobody listening: a retryable connection failure without a status", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await makeProvider(deadPort)
      .refunds!.create({ paymentRef: "pi_x", idempotencyKey: "idem-conn" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ providerStatus: undefined, retryable: true });
    expect((error as Error).message).toMatch(/could not reach Stripe/);
  });
});

describe("capabilities", () => {
  it("with a client: every API capability; without: webhooks only", () => {
    expect([...makeProvider().capabilities].sort()).toEqual(
      [
        "checkout",
        "checkout.expire",
        "checkout.inline-prices",
        "portal",
        "refunds",
        "refunds.partial",
        "subscriptions",
        "subscriptions.change",
        "webhook.timestamp",
      ].sort(),
    );
    const verifyOnly = stripeProvider({ webhookSecret: "whsec_edge" });
    expect([...verifyOnly.capabilities]).toEqual(["webhook.timestamp"]);
    expect(verifyOnly.checkout).toBeUndefined();
  });
});
