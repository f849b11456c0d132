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

/** A request body that counts how many chunks were pulled from it. */
function countedBody(chunks: number, chunkBytes: number, fill = 0x20) {
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (counter.pulled === chunks) return controller.close();
        counter.pulled++;
        controller.enqueue(new Uint8Array(chunkBytes).fill(fill));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

describe("mika.handler on bad requests to its API routes", () => {
  const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    new Request(url(path), {
      method: "POST",
      body,
      headers: { "idempotency-key": "key-1", ...headers },
      duplex: "half",
    } as RequestInit);

  it("stops reading a JSON body at 64 KiB instead of buffering all of it", async () => {
    const { mika } = setup();
    for (const path of ["/checkout", "/checkout/chk_1/cancel"]) {
      const { stream, counter } = countedBody(64, 16 * 1024);
      const res = await mika.handler(post(path, stream));
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ ok: false, error: { code: "PAYLOAD_TOO_LARGE" } });
      // 64 KiB is four chunks; the reader may pull one or two more before it stops, never all 64.
      expect(counter.pulled).toBeLessThan(8);
    }
  });

  it("refuses a declared Content-Length over the cap without reading the body", async () => {
    const { mika } = setup();
    const { stream, counter } = countedBody(4, 1024);
    const res = await mika.handler(post("/checkout", stream, { "content-length": String(10 * 1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(counter.pulled).toBe(0);
  });

  it("counts the cap in bytes, not characters", async () => {
    const { mika } = setup();
    // 30 000 "€" are 30 000 UTF-16 units but 90 000 UTF-8 bytes.
    const body = JSON.stringify({ note: "€".repeat(30_000) });
    const res = await mika.handler(post("/checkout", body));
    expect(res.status).toBe(413);
  });

  it("answers a JSON body that is not an object with 422, not a 500", async () => {
    const { mika, logs } = setup();
    for (const body of ["null", "[]", '"token"', "42"]) {
      for (const path of ["/checkout", "/checkout/chk_1/cancel"]) {
        const res = await mika.handler(post(path, body));
        expect(res.status, `${path} ${body}`).toBe(422);
        expect(await res.json()).toMatchObject({
          ok: false,
          error: { code: "VALIDATION_FAILED", message: expect.stringMatching(/JSON object/) },
        });
      }
    }
    const numeric = await mika.handler(post("/checkout/chk_1/cancel", '{"token":42}'));
    expect(numeric.status).toBe(422);
    expect(await numeric.json()).toMatchObject({ error: { fields: { token: "a string" } } });
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
  });

  it("answers a body that breaks off mid-stream, or was already read, with an envelope", async () => {
    const { mika, rows, logs } = setup();
    const broken = () =>
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new Error("socket hang up"));
        },
      });
    const received = await mika.webhooks.receive({
      provider: "acme",
      request: new Request(url("/webhooks/acme"), {
        method: "POST",
        body: broken(),
        duplex: "half",
      } as RequestInit),
    });
    expect(received).toMatchObject({
      ok: false,
      status: 400,
      error: {
        code: "WEBHOOK_INVALID",
        detail: "PAYLOAD_INVALID",
        message: expect.stringMatching(/nothing was stored/),
      },
    });
    // the operator learns of it (a framework's body limit under maxBodyBytes looks just like this)
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "warn", message: "webhook body unreadable" }),
    );
    const used = new Request(url("/webhooks/acme"), { method: "POST", body: "{}" });
    await used.text();
    expect(await mika.webhooks.receive({ provider: "acme", request: used })).toMatchObject({
      ok: false,
      error: { code: "WEBHOOK_INVALID", detail: "BODY_NOT_RAW" },
    });
    const api = await mika.handler(post("/checkout", broken()));
    expect(api.status).toBe(422);
    expect(await api.json()).toMatchObject({ error: { code: "VALIDATION_FAILED" } });
    expect(await rows("events")).toEqual([]);
  });

  it("answers a path with broken percent-encoding with a 404 envelope instead of throwing", async () => {
    const { mika } = setup();
    const res = await mika.handler(new Request(url("/checkout/%E0%A4%A")));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      ok: false,
      error: { code: "NOT_FOUND", message: expect.stringMatching(/percent-encoding/) },
    });
  });

  it("matches route names as sent: a percent-encoded name is no route, an encoded id is decoded", async () => {
    const { mika } = setup({ config: { authorize: () => true } });
    // a proxy rule guarding /api/mika/ops would not see these as ops requests
    for (const path of ["/%6Fps/orders", "/ops/%6Frders", "/%63heckout/x?token=t"]) {
      const res = await mika.handler(new Request(url(path)));
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({
        error: { code: "NOT_FOUND", message: expect.stringMatching(/No Mika route/) },
      });
    }
    const plain = await mika.handler(new Request(url("/ops/orders")));
    expect(plain.status).toBe(200);
    const encodedId = await mika.handler(new Request(url("/ops/orders/ord%5Fnone")));
    expect(await encodedId.json()).toMatchObject({
      error: { code: "NOT_FOUND", message: expect.stringContaining("ord_none") },
    });
  });

  it("denies an ops route with a 500 envelope when config.authorize throws, and logs it", async () => {
    for (const authorize of [
      () => {
        throw new Error("auth backend down");
      },
      () => Promise.reject(new Error("auth backend down")),
    ]) {
      const { mika, logs } = setup({ config: { authorize } });
      const res = await mika.handler(new Request(url("/ops/events")));
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({
        ok: false,
        error: { code: "INTERNAL", message: expect.stringMatching(/config\.authorize/) },
      });
      expect(logs).toContainEqual(
        expect.objectContaining({ level: "error", message: expect.stringMatching(/authorize/) }),
      );
    }
  });
});

describe("mika.handler ops list routes", () => {
  const ops = { authorize: () => true };
  const get = async (mika: ReturnType<typeof setup>["mika"], path: string) => {
    const res = await mika.handler(new Request(url(path)));
    return { status: res.status, body: (await res.json()) as any };
  };
  const subscription = (ref: string, status: string) => ({
    kind: "subscription.updated" as const,
    subscriptionRef: ref,
    status,
    change: "created",
    cancelAtPeriodEnd: false,
    updatedAt: "2025-03-01T10:00:00Z",
    priceRef: "price_basic",
  });

  it("pages and filters subscriptions, and reads one by id", async () => {
    const { mika, deliver } = setup({ config: ops });
    for (const [i, status] of ["active", "active", "past_due"].entries())
      await deliver(subscription(`sub_${i}`, status), `msg_sub_${i}`);
    const first = await get(mika, "/ops/subscriptions?limit=2");
    expect(first.body.data.items).toHaveLength(2);
    const rest = await get(mika, `/ops/subscriptions?limit=2&cursor=${first.body.data.nextCursor}`);
    expect(rest.body.data.items).toHaveLength(1);
    expect(rest.body.data.nextCursor).toBeUndefined();
    const pastDue = await get(mika, "/ops/subscriptions?status=past_due");
    expect(pastDue.body.data.items).toMatchObject([{ subscriptionRef: "sub_2", status: "past_due" }]);
    const one = await get(mika, `/ops/subscriptions/${pastDue.body.data.items[0].id}`);
    expect(one.body).toMatchObject({ ok: true, data: { subscriptionRef: "sub_2" } });
  });

  it("filters orders by provider", async () => {
    const { mika, deliver } = setup({ config: ops });
    await deliver(completed(), "msg_order");
    expect((await get(mika, "/ops/orders?provider=acme")).body.data.items).toHaveLength(1);
    expect((await get(mika, "/ops/orders?provider=other")).body.data.items).toHaveLength(0);
  });

  it("rejects a limit that is not a positive integer with 422", async () => {
    const { mika } = setup({ config: ops });
    for (const path of ["/ops/events", "/ops/orders", "/ops/subscriptions"]) {
      for (const limit of ["abc", "0", "-3", "2.5", ""]) {
        const res = await get(mika, `${path}?limit=${limit}`);
        expect(res.status, `${path}?limit=${limit}`).toBe(422);
        expect(res.body.error).toMatchObject({
          code: "VALIDATION_FAILED",
          fields: { limit: expect.any(String) },
        });
      }
    }
  });
});
