/**
 * The public checkout route (anyone can call it) and checkout's stock: no price of the caller's
 * choosing, no redirect off the shop, bounded metadata, lines that are objects, and a cancel that
 * frees stock only when the provider's page can no longer be paid.
 */
import { describe, expect, it } from "vitest";
import type { Sellable } from "../src/index.js";
import { setup } from "./helpers.js";
import { shopProvider } from "./shop-provider.js";

const catalog: Sellable[] = [
  { id: "tee", name: "T-shirt", amount: 2500, currency: "USD", stock: 1 },
  { id: "mug", name: "Mug", amount: 1200, currency: "USD" },
];
const urls = { successUrl: "https://shop.test/success", cancelUrl: "https://shop.test/cancel" };

function shop(capabilities?: Parameters<typeof shopProvider>[0]) {
  const { provider, account } = shopProvider(capabilities);
  const env = setup({ providers: [provider], catalog });
  return { ...env, account };
}

const post = (mika: ReturnType<typeof setup>["mika"], body: unknown, key = "public-key-0001") =>
  mika.handler(
    new Request("http://shop.test/api/mika/checkout", {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "idempotency-key": key, "content-type": "application/json" },
    }),
  );

describe("the public POST /checkout route", () => {
  it("does not let an anonymous buyer set their own price when a catalog is configured", async () => {
    const { mika, account } = shop();
    const res = await post(mika, {
      provider: "acme",
      lines: [{ name: "T-shirt", amount: 1, currency: "USD", quantity: 1 }],
      ...urls,
    });
    expect(res.status).toBe(422);
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(0);
  });

  it("does not let an anonymous buyer start a subscription at a price of their choosing", async () => {
    const { mika, account } = shop();
    const res = await post(mika, {
      provider: "acme",
      lines: [{ name: "Pro plan", amount: 1, currency: "USD", interval: "year" }],
      ...urls,
    });
    expect(res.status).toBe(422);
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(0);
  });

  it("with redirectOrigins, refuses success/cancel URLs elsewhere (no open redirect from the pay page)", async () => {
    const { provider, account } = shopProvider();
    const { mika } = setup({
      providers: [provider],
      catalog,
      config: { publicCheckout: { redirectOrigins: ["https://shop.test"] } },
    });
    const res = await post(mika, {
      provider: "acme",
      lines: [{ sellableId: "mug" }],
      successUrl: "https://evil.example/login",
      cancelUrl: "https://shop.test/cancel",
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({
      error: { fields: { successUrl: "must be on https://shop.test" } },
    });
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(0);
    const ok = await post(
      mika,
      { provider: "acme", lines: [{ sellableId: "mug" }], ...urls },
      "public-key-0002",
    );
    expect(ok.status).toBe(200);
  });

  it("answers a line that is not an object with 422, not 500", async () => {
    const { mika, logs } = shop();
    const res = await post(mika, { provider: "acme", lines: ["tee"], ...urls });
    expect(res.status).toBe(422);
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
  });

  it("validates metadata (string values, bounded keys) before it reaches the provider", async () => {
    const { mika, account } = shop();
    const res = await post(mika, {
      provider: "acme",
      lines: [{ sellableId: "mug" }],
      ...urls,
      metadata: {
        nested: { a: 1 },
        ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, "v"])),
      },
    });
    expect(res.status).toBe(422);
    expect(account.calls.filter((c) => c.method === "checkout.create")).toHaveLength(0);
  });
});

describe("stock", () => {
  it("concurrent starts for the last unit: exactly one wins", async () => {
    const { mika } = shop();
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        mika.checkout.start(
          { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
          { idempotencyKey: `last-unit-race-${i}` },
        ),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.error.code === "OUT_OF_STOCK")).toHaveLength(3);
  });

  it("cancel without checkout.expire does not free stock the provider can still sell (no oversell)", async () => {
    const { mika, deliver, rows } = shop([
      "checkout",
      "checkout.inline-prices",
      "refunds",
      "webhook.timestamp",
    ]);
    const a = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "oversell-key-a" },
    );
    if (!a.ok) throw new Error(JSON.stringify(a));
    // Buyer A cancels: the provider session stays payable (no expire capability) but the unit is freed.
    const canceled = await mika.checkout.cancel({ checkoutId: a.data.checkoutId, token: a.data.token });
    // Buyer B takes the "free" last unit.
    const b = await mika.checkout.start(
      { provider: "acme", lines: [{ sellableId: "tee" }], ...urls },
      { idempotencyKey: "oversell-key-b" },
    );
    // A pays on the still-open hosted page, then B pays.
    const orders = await rows("orders");
    const pa = orders.find((o) => o.id === a.data.checkoutId)!;
    await deliver(
      {
        kind: "checkout.completed",
        paymentStatus: "paid",
        amount: 2500,
        currency: "USD",
        checkoutRef: a.data.checkoutId,
        providerCheckoutId: pa.provider_checkout_id!,
        paymentRef: "pi_a",
      },
      "evt_a",
    );
    if (b.ok) {
      const pb = (await rows("orders")).find((o) => o.id === b.data.checkoutId)!;
      await deliver(
        {
          kind: "checkout.completed",
          paymentStatus: "paid",
          amount: 2500,
          currency: "USD",
          checkoutRef: b.data.checkoutId,
          providerCheckoutId: pb.provider_checkout_id!,
          paymentRef: "pi_b",
        },
        "evt_b",
      );
    }
    const paid = (await rows("orders")).filter((o) => o.status === "paid");
    const stock = (await rows("stock")).find((s) => s.id === "tee")!;
    expect({ canceled: canceled.ok, paid: paid.length, onHand: stock.on_hand }).toMatchObject({
      paid: 1,
      onHand: 0,
    });
  });
});
