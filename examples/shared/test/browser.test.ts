/**
 * The Buy button's Idempotency-Key: one per purchase attempt, and the same one again while the last
 * attempt's outcome is unknown (a network error or a 5xx: the server may have started the checkout).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startCheckout } from "../src/browser";

type Reply = "network" | { status: number; body: unknown };

/** A fetch that answers `POST /api/mika/checkout` from `replies`, in order, and records each key sent. */
function fakeShop(replies: Reply[]) {
  const keys: string[] = [];
  const fetch = vi.fn(async (_url: string, init?: RequestInit) => {
    keys.push(new Headers(init?.headers).get("idempotency-key") ?? "");
    const reply = replies.shift();
    if (!reply) throw new Error("no reply left");
    if (reply === "network") throw new TypeError("Failed to fetch");
    if (typeof reply.body === "string") return new Response(reply.body, { status: reply.status });
    return Response.json(reply.body, { status: reply.status });
  });
  vi.stubGlobal("fetch", fetch);
  return keys;
}

const started = (n: number): Reply => ({
  status: 200,
  body: { ok: true, data: { checkoutId: `chk_${n}`, token: `tok_${n}`, url: `https://pay.test/${n}` } },
});
const refused = (status: number, code: string): Reply => ({
  status,
  body: { ok: false, error: { code, message: code } },
});

const tee = { provider: "stripe", productId: "tee" };

describe("startCheckout's Idempotency-Key", () => {
  let assign: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    const storage = new Map<string, string>();
    vi.stubGlobal("sessionStorage", {
      getItem: (name: string) => storage.get(name) ?? null,
      setItem: (name: string, value: string) => void storage.set(name, String(value)),
      removeItem: (name: string) => void storage.delete(name),
    });
    assign = vi.fn();
    vi.stubGlobal("window", { location: { origin: "http://shop.test", assign } });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("is sent again after a network error, and is fresh after the success that follows", async () => {
    const keys = fakeShop(["network", started(1), started(2)]);
    expect(await startCheckout(tee)).toContain("(NETWORK)");
    expect(await startCheckout(tee)).toBe("");
    expect(assign).toHaveBeenCalledWith("https://pay.test/1");
    expect(await startCheckout(tee)).toBe("");
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[1]);
  });

  it("is sent again after a 5xx (readable or not) and a 409 CONFLICT (still in progress)", async () => {
    const keys = fakeShop([
      refused(502, "PROVIDER_FAILED"),
      refused(500, "INTERNAL"),
      { status: 503, body: "<html>Service Unavailable</html>" },
      { status: 504, body: { message: "upstream timed out" } },
      refused(409, "CONFLICT"),
      started(1),
    ]);
    for (let n = 0; n < 5; n++) expect(await startCheckout(tee)).not.toBe("");
    expect(await startCheckout(tee)).toBe("");
    expect(keys).toHaveLength(6);
    expect(new Set(keys).size).toBe(1);
  });

  it("is fresh after a 4xx: the request was refused, the next click is a new attempt", async () => {
    const keys = fakeShop([
      refused(422, "VALIDATION_FAILED"),
      refused(409, "OUT_OF_STOCK"),
      refused(409, "IDEMPOTENCY_MISMATCH"),
      started(1),
    ]);
    for (let n = 0; n < 3; n++) expect(await startCheckout(tee)).not.toBe("");
    expect(await startCheckout(tee)).toBe("");
    expect(new Set(keys).size).toBe(4);
  });

  it("is kept per provider and product", async () => {
    const keys = fakeShop(["network", "network", "network", started(1), started(2)]);
    await startCheckout(tee);
    await startCheckout({ provider: "stripe", productId: "stickers" });
    await startCheckout({ provider: "paddle", productId: "tee" });
    await startCheckout({ provider: "stripe", productId: "stickers" });
    await startCheckout(tee);
    expect(new Set(keys.slice(0, 3)).size).toBe(3);
    expect(keys[3]).toBe(keys[1]);
    expect(keys[4]).toBe(keys[0]);
  });

  it("is fresh on every attempt when sessionStorage is unavailable", async () => {
    vi.stubGlobal("sessionStorage", {
      getItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
      setItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
      removeItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
    });
    const keys = fakeShop(["network", "network"]);
    expect(await startCheckout(tee)).toContain("(NETWORK)");
    expect(await startCheckout(tee)).toContain("(NETWORK)");
    expect(keys[1]).not.toBe(keys[0]);
  });
});
