/**
 * The SvelteKit binding with a real Mika (memory store, Stripe webhook verification), called with
 * SvelteKit's RequestEvent shape: routes reach Mika, the raw body arrives byte for byte (a signed
 * webhook verifies), and the hook sets locals and (optionally) answers Mika's routes.
 */
import { createMika, type Mika, memoryStore } from "@mika/backend";
import { stripeProvider } from "@mika/stripe";
import { signWebhook, stripeEventFromData, stripeSigner } from "@mika/testing";
import type { Handle, RequestEvent, RequestHandler } from "@sveltejs/kit";
import { describe, expect, it, vi } from "vitest";
import { createMikaHandlers, mikaHandle } from "../src/index.js";

const secret = "whsec_sveltekit_binding_test";
const quiet = { info() {}, warn() {}, error() {} };
const origin = "https://shop.example";

function newMika() {
  return createMika({
    providers: [stripeProvider({ webhookSecret: secret })],
    store: memoryStore(),
    config: { logger: quiet },
  });
}

/** The parts of SvelteKit's RequestEvent a handler or hook reads here. */
function event(request: Request): RequestEvent {
  const url = new URL(request.url);
  return {
    request,
    url,
    params: { path: url.pathname.replace(/^\/api\/mika\/?/, "") },
    locals: {},
    route: { id: "/api/mika/[...path]" },
    setHeaders() {},
    getClientAddress: () => "127.0.0.1",
    isDataRequest: false,
    isSubRequest: false,
    fetch,
    cookies: {},
    platform: undefined,
  } as unknown as RequestEvent;
}

function awkwardBody(): string {
  const event = JSON.parse(stripeEventFromData("checkout.session.completed"));
  event.id = "evt_sveltekit_binding";
  event.data.object.metadata = { note: "Grüße 🍋 — «quoted»\r\nsecond line" };
  return `${JSON.stringify(event, null, 3).replace(/\n/g, "\r\n")}  \n`;
}

async function webhook(body: string, tamper = false): Promise<Request> {
  const signed = await signWebhook(stripeSigner, body, secret);
  return new Request(`${origin}/api/mika/webhooks/stripe`, {
    method: "POST",
    headers: signed.headers,
    body: new TextEncoder().encode(tamper ? body.replace("«", "<") : body),
  });
}

describe("createMikaHandlers", () => {
  it("has the RequestHandler shape SvelteKit expects", () => {
    const handlers: { GET: RequestHandler; POST: RequestHandler; fallback: RequestHandler } =
      createMikaHandlers(newMika());
    expect(Object.keys(handlers).sort()).toEqual(["GET", "POST", "fallback"]);
  });

  it("passes a signed webhook through byte for byte: 200 and stored once", async () => {
    const mika = newMika();
    const { POST } = createMikaHandlers(mika);
    const body = awkwardBody();
    const response = await POST(event(await webhook(body)));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, data: { eventId: "evt_sveltekit_binding" } });
    const again = await POST(event(await webhook(body)));
    expect(((await again.json()) as { data: { status: string } }).data.status).toBe("duplicate");
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items.length).toBe(1);
  });

  it("answers 400 when one character of the signed body changed", async () => {
    const mika = newMika();
    const response = await createMikaHandlers(mika).POST(event(await webhook(awkwardBody(), true)));
    expect(response.status).toBe(400);
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items).toEqual([]);
  });

  it("routes GET and other methods (fallback) to Mika", async () => {
    const { GET, fallback } = createMikaHandlers(newMika());
    const status = await GET(event(new Request(`${origin}/api/mika/checkout/chk_x?token=t`)));
    expect(status.status).toBe(404);
    const del = await fallback(event(new Request(`${origin}/api/mika/checkout`, { method: "DELETE" })));
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")).toBe("POST");
  });
});

describe("mikaHandle", () => {
  it("shares one instance with the routes when both are handed the same factory", async () => {
    let built = 0;
    const factory = () => {
      built++;
      return newMika();
    };
    const handle: Handle = mikaHandle(factory);
    const { GET } = createMikaHandlers(factory);
    await handle({
      event: event(new Request(`${origin}/orders`)),
      resolve: async () => new Response("page"),
    });
    await GET(event(new Request(`${origin}/api/mika/checkout/x?token=t`)));
    expect(built).toBe(1);
  });

  it("a factory that throws: pages still resolve (without locals.mika), Mika's routes answer a 500 envelope", async () => {
    let calls = 0;
    const handle = mikaHandle(
      () => {
        calls++;
        if (calls <= 2) throw new Error("STRIPE_SECRET_KEY is not set");
        return newMika();
      },
      { basePath: "/api/mika" },
    );
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const page = event(new Request(`${origin}/`));
      const home = await handle({ event: page, resolve: async () => new Response("home") });
      expect(await home.text()).toBe("home");
      expect((page.locals as { mika?: Mika }).mika).toBeUndefined();
      const route = await handle({
        event: event(new Request(`${origin}/api/mika/checkout/x?token=t`)),
        resolve: async () => new Response("not Mika"),
      });
      expect(route.status).toBe(500);
      const body = await route.text();
      expect(JSON.parse(body)).toMatchObject({ ok: false, error: { code: "INTERNAL" } });
      expect(body).not.toContain("STRIPE_SECRET_KEY");
      expect(errors).toHaveBeenCalledTimes(2);
      const again = await handle({
        event: event(new Request(`${origin}/api/mika/checkout/x?token=t`)),
        resolve: async () => new Response("not Mika"),
      });
      expect(again.status).toBe(404);
    } finally {
      errors.mockRestore();
    }
  });

  it("sets locals.mika and resolves the page when only locals are asked for", async () => {
    const mika = newMika();
    const handle: Handle = mikaHandle(mika);
    const ev = event(new Request(`${origin}/api/mika/checkout/x?token=t`));
    let resolved = 0;
    const response = await handle({
      event: ev,
      resolve: async () => {
        resolved++;
        return new Response("route");
      },
    });
    expect(resolved).toBe(1);
    expect(await response.text()).toBe("route");
    expect((ev.locals as { mika?: Mika }).mika).toBe(mika);
  });

  it("answers Mika's routes from the hook with basePath (a signed webhook verifies), other paths resolve", async () => {
    let built = 0;
    const mika = newMika();
    const handle = mikaHandle(
      () => {
        built++;
        return mika;
      },
      { basePath: "/api/mika/" },
    );
    const resolve = async () => new Response("page");
    const hook = await handle({ event: event(await webhook(awkwardBody())), resolve });
    expect(hook.status).toBe(200);
    const page = await handle({ event: event(new Request(`${origin}/api/mikado`)), resolve });
    expect(await page.text()).toBe("page");
    expect(built).toBe(1);
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items.length).toBe(1);
  });
});
