/**
 * Checkout, status reconciliation, cancel and refunds through the REAL Stripe adapter and the real
 * `stripe` SDK, against the loopback Stripe sandbox of @mika/testing (it speaks Stripe's wire format and
 * delivers signed webhooks to a node:http server wrapping mika.handler).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { stripeProvider } from "@mika/stripe";
import { type StripeSandbox, startStripeSandbox } from "@mika/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMika, type Mika, memoryStore } from "../src/index.js";

const SECRET = "whsec_backend_stripe_checkout";
const quiet = { info() {}, warn() {}, error() {} };
const urls = {
  successUrl: "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
  cancelUrl: "https://shop.test/cancel",
};

let server: Server;
let mika: Mika;
let sandbox: StripeSandbox;
let silent: StripeSandbox; // never delivers webhooks: the "lost webhook" case

/** Serves mika.handler over node:http, as a framework would. */
function serve(handler: (request: Request) => Promise<Response>): Promise<Server> {
  const s = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [key, value] of Object.entries(req.headers))
      if (typeof value === "string") headers.set(key, value);
    const response = await handler(
      new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers,
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}

function makeMika(client: ReturnType<StripeSandbox["client"]>) {
  return createMika({
    providers: [stripeProvider({ client: client as never, webhookSecret: SECRET })],
    store: memoryStore(),
    catalog: [{ id: "tee", name: "T-shirt", amount: 2500, currency: "USD", stock: 10 }],
    config: { logger: quiet },
  });
}

beforeAll(async () => {
  let target: Mika | undefined;
  server = await serve((request) => target!.handler(request));
  const port = (server.address() as AddressInfo).port;
  sandbox = await startStripeSandbox({
    webhookSecret: SECRET,
    webhookUrl: `http://127.0.0.1:${port}/api/mika/webhooks/stripe`,
  });
  silent = await startStripeSandbox({ webhookSecret: SECRET });
  mika = makeMika(sandbox.client());
  target = mika;
});
afterAll(async () => {
  await sandbox.close();
  await silent.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("checkout through the real Stripe adapter and SDK", () => {
  it("creates a Checkout Session carrying Mika's checkout id and the provider idempotency key", async () => {
    const started = await mika.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "stripe-key-1" },
    );
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    expect(started.data.url).toMatch(new RegExp(`^${sandbox.url}/pay/`));
    const session = [...sandbox.sessions.values()].find(
      (s) => s.client_reference_id === started.data.checkoutId,
    )!;
    expect(session).toMatchObject({
      amount_total: 5000,
      currency: "usd",
      mode: "payment",
      metadata: { mika_checkout_id: started.data.checkoutId },
    });
    const create = sandbox.requests.find((r) => r.method === "POST" && r.path === "/v1/checkout/sessions")!;
    expect(create.headers["idempotency-key"]).toBe(`mika_${started.data.checkoutId}`);
    const again = await mika.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "tee", quantity: 2 }], ...urls },
      { idempotencyKey: "stripe-key-1" },
    );
    expect(again).toEqual(started);
    expect(
      sandbox.requests.filter((r) => r.method === "POST" && r.path === "/v1/checkout/sessions"),
    ).toHaveLength(1);
  });

  it("the completion webhook marks the order paid; cancel is then refused; a partial refund reaches Stripe", async () => {
    const started = await mika.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "stripe-key-2" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const order = await mika.orders.get(started.data.checkoutId);
    const sessionId = order.ok ? order.data.providerCheckoutId! : "";
    expect(await sandbox.complete(sessionId)).toBe(200);
    const status = await mika.checkout.status(started.data);
    expect(status.ok && status.data).toMatchObject({ status: "paid", paid: true, amount: 2500 });
    expect(await mika.checkout.cancel(started.data)).toMatchObject({
      status: 409,
      error: { code: "CONFLICT" },
    });
    const refundCalls = () =>
      sandbox.requests.filter((r) => r.method === "POST" && r.path === "/v1/refunds").length;
    const refund = await mika.refunds.create(
      { orderId: started.data.checkoutId, amount: 1000 },
      { idempotencyKey: "stripe-refund-1" },
    );
    expect(refund).toMatchObject({ ok: true, data: { orderId: started.data.checkoutId } });
    expect(refundCalls()).toBe(1);
    // more than was paid: refused by Mika before Stripe is asked
    expect(
      await mika.refunds.create(
        { orderId: started.data.checkoutId, amount: 2501 },
        { idempotencyKey: "stripe-refund-2" },
      ),
    ).toMatchObject({ status: 422, error: { code: "VALIDATION_FAILED" } });
    expect(refundCalls()).toBe(1);
    // within the paid amount but over what is left at Stripe (the refund webhook has not come yet):
    // Stripe refuses, and Mika says so as PROVIDER_FAILED
    expect(
      await mika.refunds.create(
        { orderId: started.data.checkoutId, amount: 2000 },
        { idempotencyKey: "stripe-refund-3" },
      ),
    ).toMatchObject({ status: 502, error: { code: "PROVIDER_FAILED" } });
  });

  it("cancel expires the Stripe session and releases the stock", async () => {
    const started = await mika.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "stripe-key-3" },
    );
    if (!started.ok) throw new Error(started.error.message);
    const canceled = await mika.checkout.cancel(started.data);
    expect(canceled.ok && canceled.data.status).toBe("canceled");
    const order = await mika.orders.get(started.data.checkoutId);
    const sessionId = order.ok ? order.data.providerCheckoutId! : "";
    expect(sandbox.sessions.get(sessionId)?.status).toBe("expired");
  });

  it("status reconciles a checkout whose webhook never came, by asking Stripe", async () => {
    const lost = makeMika(silent.client());
    const started = await lost.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "stripe-key-4" },
    );
    if (!started.ok) throw new Error(started.error.message);
    expect(
      (await lost.checkout.status(started.data)).ok &&
        ((await lost.orders.get(started.data.checkoutId)) as { data: { status: string } }).data.status,
    ).toBe("pending");
    const order = await lost.orders.get(started.data.checkoutId);
    await silent.complete(order.ok ? order.data.providerCheckoutId! : "");
    await new Promise((resolve) => setTimeout(resolve, 5_100)); // status asks the provider at most every 5 s
    const status = await lost.checkout.status(started.data);
    expect(status.ok && status.data).toMatchObject({ status: "paid", paid: true });
  });

  it("a provider refusal is 502 PROVIDER_FAILED and holds nothing", async () => {
    const refused = createMika({
      providers: [stripeProvider({ client: sandbox.client() as never, webhookSecret: SECRET })],
      store: memoryStore(),
      catalog: [
        {
          id: "ghost",
          name: "Ghost",
          amount: 100,
          currency: "USD",
          stock: 1,
          prices: { stripe: "price_does_not_exist" },
        },
      ],
      config: { logger: quiet },
    });
    const res = await refused.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "ghost" }], ...urls },
      { idempotencyKey: "stripe-key-5" },
    );
    expect(res).toMatchObject({ ok: false, status: 502, error: { code: "PROVIDER_FAILED" } });
    const again = await refused.checkout.start(
      { provider: "stripe", lines: [{ sellableId: "ghost" }], ...urls },
      { idempotencyKey: "stripe-key-6" },
    );
    expect(again).toMatchObject({ status: 502 }); // still failing at Stripe, but not OUT_OF_STOCK: the first hold was released
  });
});
