import { createHash, createHmac } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import {
  CAPABILITIES,
  checkTimestamp,
  createProviderName,
  ERROR_STATUS,
  EVENT_KINDS,
  err,
  fromBase64,
  fromHex,
  hmacKeyring,
  type IndexSpec,
  isErrorCode,
  MIKA_SCHEMA,
  nativeCryptoAvailable,
  normalizeSecrets,
  ok,
  payloadHash,
  rawBodyBytes,
  reviveEvent,
  type SubscriptionUpdatedEvent,
  serializeEvent,
  timingSafeEqual,
  toBase64,
  toHex,
} from "../src/index.js";

describe("createProviderName", () => {
  it("accepts lowercase names and brands them", () => {
    expect(createProviderName("stripe")).toBe("stripe");
    expect(createProviderName("acme-pay2")).toBe("acme-pay2");
  });
  it.each(["", "Stripe", "1pay", "a b", "x".repeat(33), "stripe/"])(
    "rejects %j with a clear error",
    (bad) => {
      expect(() => createProviderName(bad)).toThrow(/lowercase letters, digits or dashes/);
    },
  );
});

describe("envelope", () => {
  it("ok() defaults to 200 and err() takes the status from the code map", () => {
    expect(ok({ a: 1 })).toEqual({ ok: true, status: 200, data: { a: 1 } });
    expect(err("PAYLOAD_TOO_LARGE", "too big")).toEqual({
      ok: false,
      status: 413,
      error: { code: "PAYLOAD_TOO_LARGE", message: "too big" },
    });
    expect(err("WEBHOOK_INVALID", "bad", { detail: "SIGNATURE_INVALID" }).error.detail).toBe(
      "SIGNATURE_INVALID",
    );
  });
  it("maps every DESIGN §7 code to its status", () => {
    expect(ERROR_STATUS).toMatchObject({
      VALIDATION_FAILED: 422,
      NOT_FOUND: 404,
      PROVIDER_UNKNOWN: 404,
      PROVIDER_UNSUPPORTED: 409,
      PROVIDER_FAILED: 502,
      WEBHOOK_INVALID: 400,
      PAYLOAD_TOO_LARGE: 413,
      CONFLICT: 409,
      IDEMPOTENCY_MISMATCH: 409,
      CHECKOUT_EXPIRED: 409,
      OUT_OF_STOCK: 409,
      TOKEN_INVALID: 403,
      INTERNAL: 500,
      NOT_IMPLEMENTED: 501,
    });
    expect(isErrorCode("CONFLICT")).toBe(true);
    expect(isErrorCode("toString")).toBe(false);
  });
});

describe("events", () => {
  it("lists every kind and capability", () => {
    expect(EVENT_KINDS).toHaveLength(9);
    expect(CAPABILITIES).toContain("webhook.timestamp");
  });
  it("serializes dates to ISO strings and revives them", () => {
    const event: SubscriptionUpdatedEvent = {
      kind: "subscription.updated",
      provider: createProviderName("stripe"),
      eventId: "evt_1",
      eventType: "customer.subscription.updated",
      occurredAt: new Date("2024-01-01T00:00:00Z"),
      livemode: false,
      subscriptionRef: "sub_1",
      status: "active",
      change: "updated",
      cancelAtPeriodEnd: false,
      currentPeriodEnd: new Date("2024-02-01T00:00:00Z"),
      updatedAt: new Date("2024-01-01T00:00:01Z"),
    };
    const json = JSON.parse(JSON.stringify(serializeEvent(event)));
    expect(json.updatedAt).toBe("2024-01-01T00:00:01.000Z");
    expect(reviveEvent(json)).toEqual(event);
  });
});

describe("webhook crypto helpers", () => {
  it("hex and base64 round-trip and reject garbage", () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    expect(toHex(bytes)).toBe("00017f80ff");
    expect(fromHex("00017F80ff")).toEqual(bytes);
    expect(fromHex("abc")).toBeUndefined();
    expect(fromHex("zz")).toBeUndefined();
    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
    expect(fromBase64("%%%")).toBeUndefined();
  });
  it("timingSafeEqual compares content and length", () => {
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
  it.each(["auto", "web"] as const)(
    "hmacKeyring (%s backend) matches node:crypto and checks every candidate against every key",
    async (backend) => {
      const message = new TextEncoder().encode("hello");
      const ring = hmacKeyring(["k1", "k2"], { backend });
      const [m1, m2] = await ring.macs(message);
      expect(toHex(m1!)).toBe(createHmac("sha256", "k1").update("hello").digest("hex"));
      expect(toHex(m2!)).toBe(createHmac("sha256", "k2").update("hello").digest("hex"));
      expect(await ring.verify(message, [new Uint8Array(32), m2!])).toBe(true);
      expect(await ring.verify(message, [m1!.slice(0, 16)])).toBe(false);
      expect(await ring.verify(message, [])).toBe(false);
    },
  );
  it.each(["auto", "web"] as const)("payloadHash (%s backend) is sha256 over the bytes", async (backend) => {
    const bytes = new TextEncoder().encode('{"a":1}');
    expect(await payloadHash(bytes, { backend })).toBe(
      `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    );
  });
  it("imports each Web Crypto key once, however many messages it signs", async () => {
    const importKey = vi.spyOn(crypto.subtle, "importKey");
    const ring = hmacKeyring(["k1", "k2"], { backend: "web" });
    for (let i = 0; i < 5; i++) await ring.verify(new Uint8Array([i]), [new Uint8Array(32)]);
    expect(importKey).toHaveBeenCalledTimes(2);
    importKey.mockRestore();
  });
  it("uses native crypto on Node (process.getBuiltinModule) and returns plain Uint8Arrays", async () => {
    expect(nativeCryptoAvailable).toBe(true);
    const [mac] = await hmacKeyring(["k"]).macs(new Uint8Array([1]));
    expect(mac).toBeInstanceOf(Uint8Array);
  });
  it("rawBodyBytes rejects parsed bodies with BODY_NOT_RAW", () => {
    expect(rawBodyBytes({ a: 1 })).toMatchObject({ ok: false, error: { code: "BODY_NOT_RAW" } });
    expect(rawBodyBytes("x")).toMatchObject({ ok: true });
  });
  it("checkTimestamp rejects both directions", () => {
    const now = new Date(1_000_000_000);
    expect(checkTimestamp(1_000_000 - 301, now, 300)?.error.code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
    expect(checkTimestamp(1_000_000 + 301, now, 300)?.error.message).toMatch(/future/);
    expect(checkTimestamp(1_000_000 + 299, now, 300)).toBeUndefined();
    expect(checkTimestamp(1_000_000, new Date(Number.NaN), 300)?.error.code).toBe(
      "TIMESTAMP_OUT_OF_TOLERANCE",
    );
  });
  it("normalizeSecrets explains bad secrets without echoing them", () => {
    expect(normalizeSecrets(" whsec_x\n", { provider: "stripe" }).problem).toMatch(/whitespace/);
    const apiKey = normalizeSecrets("sk_live_abcdef", {
      provider: "stripe",
      expectedPrefix: "whsec_",
      apiKeyPrefixes: ["sk_", "rk_"],
    }).problem;
    expect(apiKey).toMatch(/looks like an API key/);
    expect(apiKey).not.toContain("abcdef");
    expect(normalizeSecrets(undefined, { provider: "paddle" }).problem).toMatch(/No paddle webhook secret/);
    expect(normalizeSecrets(["a", "b"], { provider: "x" })).toEqual({ secrets: ["a", "b"] });
  });
});

describe("store schema", () => {
  it("declares each table's primary key and required columns among its columns", () => {
    for (const [name, spec] of Object.entries(MIKA_SCHEMA.tables)) {
      const columns = Object.keys(spec.columns);
      expect(columns, name).toContain(spec.primaryKey);
      const indexed = spec.indexes.flatMap((index: IndexSpec) => [
        ...index.columns,
        ...(index.whereNotNull ? [index.whereNotNull] : []),
      ]);
      for (const c of [...spec.required, ...spec.unique.flat(), ...indexed]) {
        expect(columns, `${name}.${c}`).toContain(c);
      }
    }
  });
});
