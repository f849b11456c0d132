/**
 * The Next binding with a real Mika (memory store, Stripe webhook verification) and Next's own
 * `NextRequest`: routes reach Mika, and the raw body arrives byte for byte (a signed webhook verifies).
 */
import { createMika, memoryStore } from "@mika/backend";
import { stripeProvider } from "@mika/stripe";
import { signWebhook, stripeEventFromData, stripeSigner } from "@mika/testing";
import { NextRequest } from "next/server";
import { describe, expect, it, vi } from "vitest";
import { createMikaHandler, lazyMika } from "../src/index.js";

const secret = "whsec_next_binding_test";
const quiet = { info() {}, warn() {}, error() {} };
const origin = "https://shop.example";

function newMika() {
  return createMika({
    providers: [stripeProvider({ webhookSecret: secret })],
    store: memoryStore(),
    config: { logger: quiet },
  });
}

/** A real fixture with bytes a re-serialization would change: non-ASCII, CRLF, odd spacing. */
function awkwardBody(): string {
  const event = JSON.parse(stripeEventFromData("checkout.session.completed"));
  event.id = "evt_next_binding";
  event.data.object.metadata = { note: "Grüße 🍋 — «quoted»\r\nsecond line" };
  return `${JSON.stringify(event, null, 3).replace(/\n/g, "\r\n")}  \n`;
}

async function webhookRequest(body: string, tamper = false) {
  const signed = await signWebhook(stripeSigner, body, secret);
  const sent = tamper ? body.replace("Grüße", "Grüsse") : body;
  return new NextRequest(`${origin}/api/mika/webhooks/stripe`, {
    method: "POST",
    headers: signed.headers,
    body: new TextEncoder().encode(sent),
  });
}

describe("createMikaHandler", () => {
  it("passes a signed webhook through byte for byte: 200, stored once, duplicate answered as such", async () => {
    const mika = newMika();
    const { POST } = createMikaHandler(mika);
    const body = awkwardBody();

    const first = await POST(await webhookRequest(body));
    expect(first.status).toBe(200);
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items.map((w) => w.eventId)).toEqual(["evt_next_binding"]);

    const again = await POST(await webhookRequest(body));
    expect(again.status).toBe(200);
    expect(((await again.json()) as { data: { status: string } }).data.status).toBe("duplicate");
  });

  it("answers 400 when one byte of the signed body changed", async () => {
    const mika = newMika();
    const { POST } = createMikaHandler(mika);
    const response = await POST(await webhookRequest(awkwardBody(), true));
    expect(response.status).toBe(400);
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items).toEqual([]);
  });

  it("routes GET to Mika (checkout status of an unknown checkout is Mika's 404 envelope)", async () => {
    const { GET } = createMikaHandler(newMika());
    const response = await GET(new NextRequest(`${origin}/api/mika/checkout/chk_missing?token=t`));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });

  it("answers the wrong method on a route with Mika's 405 and Allow", async () => {
    const { GET } = createMikaHandler(newMika());
    const response = await GET(new NextRequest(`${origin}/api/mika/webhooks/stripe`));
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("builds a lazy instance on the first request only, once, and retries a factory that failed", async () => {
    let calls = 0;
    const { GET, POST } = createMikaHandler(() => {
      calls++;
      if (calls === 1) throw new Error("store not ready");
      return newMika();
    });
    expect(calls).toBe(0);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      // the failed start is a JSON envelope (not the framework's error page); its reason goes to the log only
      const failed = await GET(new NextRequest(`${origin}/api/mika/checkout/x?token=t`));
      expect(failed.status).toBe(500);
      const body = await failed.text();
      expect(JSON.parse(body)).toMatchObject({ ok: false, error: { code: "INTERNAL" } });
      expect(body).not.toContain("store not ready");
      expect(errors.mock.calls.join(" ")).toContain("store not ready");
    } finally {
      errors.mockRestore();
    }
    const [a, b] = await Promise.all([
      GET(new NextRequest(`${origin}/api/mika/checkout/x?token=t`)),
      POST(await webhookRequest(awkwardBody())),
    ]);
    expect([a.status, b.status]).toEqual([404, 200]);
    expect(calls).toBe(2);
  });

  it("lazyMika returns the same instance for an async factory", async () => {
    const mika = newMika();
    const get = lazyMika(async () => mika);
    expect(await get()).toBe(mika);
    expect(await get()).toBe(await get());
  });
});
