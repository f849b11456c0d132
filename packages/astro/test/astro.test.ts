/**
 * The Astro binding with a real Mika (memory store, Stripe webhook verification), called the way Astro
 * calls API routes and middleware: routes reach Mika, and the raw body arrives byte for byte (a
 * signed webhook verifies).
 */
import { createMika, type Mika, memoryStore } from "@mika/backend";
import { stripeProvider } from "@mika/stripe";
import { signWebhook, stripeEventFromData, stripeSigner } from "@mika/testing";
import type { APIContext, APIRoute, MiddlewareHandler } from "astro";
import { describe, expect, it, vi } from "vitest";
import { createMikaRoutes, mikaMiddleware } from "../src/index.js";

const secret = "whsec_astro_binding_test";
const quiet = { info() {}, warn() {}, error() {} };
const origin = "https://shop.example";

function newMika() {
  return createMika({
    providers: [stripeProvider({ webhookSecret: secret })],
    store: memoryStore(),
    config: { logger: quiet },
  });
}

/** The parts of Astro's APIContext a route or middleware reads here. */
function context(request: Request): APIContext {
  const url = new URL(request.url);
  const path = url.pathname.replace(/^\/api\/mika\/?/, "");
  return { request, url, params: { path }, locals: {}, site: undefined } as unknown as APIContext;
}

function awkwardBody(): string {
  const event = JSON.parse(stripeEventFromData("checkout.session.completed"));
  event.id = "evt_astro_binding";
  event.data.object.metadata = { note: "Grüße 🍋 — «quoted»\r\nsecond line" };
  return `${JSON.stringify(event, null, 3).replace(/\n/g, "\r\n")}  \n`;
}

async function webhook(body: string, tamper = false): Promise<APIContext> {
  const signed = await signWebhook(stripeSigner, body, secret);
  return context(
    new Request(`${origin}/api/mika/webhooks/stripe`, {
      method: "POST",
      headers: signed.headers,
      body: new TextEncoder().encode(tamper ? body.replace("🍋", "🍊") : body),
    }),
  );
}

describe("createMikaRoutes", () => {
  it("has the APIRoute shape Astro expects", () => {
    const routes = createMikaRoutes(newMika());
    const typed: { GET: APIRoute; POST: APIRoute; ALL: APIRoute } = routes;
    expect(Object.keys(typed).sort()).toEqual(["ALL", "GET", "POST"]);
  });

  it("passes a signed webhook through byte for byte: 200 and stored once", async () => {
    const mika = newMika();
    const { POST } = createMikaRoutes(mika);
    const body = awkwardBody();
    const response = (await POST(await webhook(body))) as Response;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, data: { eventId: "evt_astro_binding" } });
    const again = (await POST(await webhook(body))) as Response;
    expect(((await again.json()) as { data: { status: string } }).data.status).toBe("duplicate");
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items.length).toBe(1);
  });

  it("answers 400 when one character of the signed body changed", async () => {
    const mika = newMika();
    const response = (await createMikaRoutes(mika).POST(await webhook(awkwardBody(), true))) as Response;
    expect(response.status).toBe(400);
    const stored = await mika.webhooks.list();
    expect(stored.ok && stored.data.items).toEqual([]);
  });

  it("routes GET and other methods (ALL) to Mika", async () => {
    const { GET, ALL } = createMikaRoutes(newMika());
    const status = (await GET(context(new Request(`${origin}/api/mika/checkout/chk_x?token=t`)))) as Response;
    expect(status.status).toBe(404);
    expect(await status.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    const put = (await ALL(
      context(new Request(`${origin}/api/mika/checkout`, { method: "PUT", body: "{}" })),
    )) as Response;
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("POST");
  });

  it("builds a lazy instance on the first request only, once", async () => {
    let calls = 0;
    const { GET } = createMikaRoutes(async () => {
      calls++;
      return newMika();
    });
    expect(calls).toBe(0);
    await GET(context(new Request(`${origin}/api/mika/checkout/a?token=t`)));
    await GET(context(new Request(`${origin}/api/mika/checkout/b?token=t`)));
    expect(calls).toBe(1);
  });
});

describe("mikaMiddleware", () => {
  it("puts the instance on locals and renders the page through next()", async () => {
    const mika = newMika();
    const onRequest: MiddlewareHandler = mikaMiddleware(() => mika);
    const ctx = context(new Request(`${origin}/orders`));
    let seen: Mika | undefined;
    const response = await onRequest(ctx, async () => {
      seen = (ctx.locals as { mika?: Mika }).mika;
      return new Response("page");
    });
    expect(seen).toBe(mika);
    expect(await (response as Response).text()).toBe("page");
  });

  it("never builds Mika for a prerendered page (astro build runs the middleware for those)", async () => {
    let built = 0;
    const onRequest = mikaMiddleware(() => {
      built++;
      return newMika();
    });
    const ctx = { ...context(new Request(`${origin}/about`)), isPrerendered: true } as APIContext;
    const response = await onRequest(ctx, async () => new Response("static page"));
    expect(await (response as Response).text()).toBe("static page");
    expect(built).toBe(0);
    expect((ctx.locals as { mika?: Mika }).mika).toBeUndefined();
  });

  it("a factory that throws: pages still render (without locals.mika), Mika's routes answer a 500 envelope", async () => {
    let calls = 0;
    const factory = () => {
      calls++;
      if (calls <= 2) throw new Error("MIKA_DB is not set");
      return newMika();
    };
    const onRequest = mikaMiddleware(factory);
    const { GET } = createMikaRoutes(factory);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const ctx = context(new Request(`${origin}/`));
      const page = await onRequest(ctx, async () => new Response("home"));
      expect(await (page as Response).text()).toBe("home");
      expect((ctx.locals as { mika?: Mika }).mika).toBeUndefined();
      const route = await GET(context(new Request(`${origin}/api/mika/checkout/x?token=t`)));
      expect(route.status).toBe(500);
      const body = await route.text();
      expect(JSON.parse(body)).toMatchObject({ ok: false, error: { code: "INTERNAL" } });
      expect(body).not.toContain("MIKA_DB");
      expect(errors).toHaveBeenCalledTimes(2);
      // the next request tries the factory again
      const again = await GET(context(new Request(`${origin}/api/mika/checkout/x?token=t`)));
      expect(again.status).toBe(404);
    } finally {
      errors.mockRestore();
    }
  });

  it("shares one instance with the routes when both are handed the same factory", async () => {
    let built = 0;
    const factory = () => {
      built++;
      return newMika();
    };
    const onRequest = mikaMiddleware(factory);
    const { GET } = createMikaRoutes(factory);
    const ctx = context(new Request(`${origin}/orders`));
    await onRequest(ctx, async () => new Response("page"));
    await GET(context(new Request(`${origin}/api/mika/checkout/x?token=t`)));
    expect(built).toBe(1);
  });
});
