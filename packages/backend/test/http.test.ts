import { describe, expect, it } from "vitest";
import { completed, setup } from "./helpers.js";

const url = (path: string) => `http://shop.test/api/mika${path}`;

describe("mika.handler routes", () => {
  it("answers unknown routes with a 404 envelope and wrong methods with 405 + Allow", async () => {
    const { mika } = setup();
    const missing = await mika.handler(new Request(url("/nope")));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    const outside = await mika.handler(new Request("http://shop.test/other"));
    expect(outside.status).toBe(404);
    const wrong = await mika.handler(new Request(url("/webhooks/acme")));
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect(wrong.headers.get("content-type")).toMatch(/application\/json/);
  });

  it("denies ops routes by default and allows them through authorize()", async () => {
    const denied = setup();
    const res = await denied.mika.handler(new Request(url("/ops/events")));
    expect(res.status).toBe(401);
    const allowed = setup({ config: { authorize: (r) => r.headers.get("authorization") === "Bearer ops" } });
    await allowed.deliver(completed(), "msg_ops");
    const list = await allowed.mika.handler(
      new Request(url("/ops/events?limit=10"), { headers: { authorization: "Bearer ops" } }),
    );
    expect(list.status).toBe(200);
    const body = (await list.json()) as any;
    expect(body.data.items).toMatchObject([{ eventId: "msg_ops", status: "processed" }]);
    const detail = await allowed.mika.handler(
      new Request(url(`/ops/events/${body.data.items[0].id}`), { headers: { authorization: "Bearer ops" } }),
    );
    expect(((await detail.json()) as any).data.raw).toContain("checkout.completed");
    const replay = await allowed.mika.handler(
      new Request(url(`/ops/events/${body.data.items[0].id}/replay`), {
        method: "POST",
        headers: { authorization: "Bearer ops" },
      }),
    );
    expect(await replay.json()).toMatchObject({ ok: true, data: { status: "processed" } });
    const orders = await allowed.mika.handler(
      new Request(url("/ops/orders"), { headers: { authorization: "Bearer ops" } }),
    );
    expect(((await orders.json()) as any).data.items).toHaveLength(1);
  });

  it("honours a custom base path", async () => {
    const { mika } = setup({ config: { basePath: "/pay/" } });
    const res = await mika.handler(new Request("http://shop.test/pay/webhooks/acme"));
    expect(res.status).toBe(405);
  });

  it("pages webhook events with a cursor", async () => {
    const { deliver, mika } = setup();
    for (let i = 0; i < 5; i++)
      await deliver(completed({ providerCheckoutId: `cs_${i}`, paymentRef: `pi_${i}` }), `msg_page_${i}`);
    const first = await mika.webhooks.list({ limit: 2 });
    expect(first.ok && first.data.items).toHaveLength(2);
    const second = await mika.webhooks.list({ limit: 2, cursor: first.ok ? first.data.nextCursor! : "" });
    const third = await mika.webhooks.list({ limit: 2, cursor: second.ok ? second.data.nextCursor! : "" });
    const ids = [first, second, third].flatMap((p) => (p.ok ? p.data.items.map((i) => i.eventId) : []));
    expect(new Set(ids).size).toBe(5);
    expect(third.ok && third.data.nextCursor).toBeUndefined();
  });
});
