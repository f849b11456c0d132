import { loadFixture, providerFixtures, stripeSigner } from "@mika/testing";
import type { VerifyResult } from "@mika/types";
import Stripe from "stripe";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stripeProvider } from "../src/index.js";

const SECRET = "whsec_differential_0123456789abcdef";
const OTHER = "whsec_not_configured_here_00000000";
const sdk = new Stripe("sk_test_differential", { maxNetworkRetries: 0 });
const now = new Date("2025-06-01T12:00:00Z");
const nowSeconds = Math.floor(now.getTime() / 1000);
const provider = stripeProvider({ webhookSecret: SECRET });

const sign = (body: string, timestamp = nowSeconds, secret = SECRET) =>
  stripeSigner.sign({ body, signatures: [{ secret }], timestamp });

/** The SDK's verdict on the same delivery: the Event, or the error it threw. */
function sdkVerdict(body: string | Uint8Array, header: string | null, secret = SECRET) {
  try {
    return {
      ok: true as const,
      event: sdk.webhooks.constructEvent(body, header ?? "", secret, 300, undefined, now.getTime()),
    };
  } catch (error) {
    return { ok: false as const, error };
  }
}

async function ours(body: string | Uint8Array, headers: Headers): Promise<VerifyResult> {
  return provider.verifyWebhook({ rawBody: body, headers, receivedAt: now });
}

function failure(result: VerifyResult) {
  if (result.ok) throw new Error("expected a failure");
  return result.error;
}

describe("differential against stripe.webhooks.constructEvent", () => {
  const fixtures = providerFixtures("stripe");

  it.each(fixtures.map((f) => [f.name, f.body] as const))("%s: same payload as the SDK", async (_, body) => {
    const delivery = await sign(body);
    const header = delivery.headers.get("stripe-signature");
    const expected = sdkVerdict(body, header);
    expect(expected.ok).toBe(true);
    const result = await ours(delivery.rawBody, delivery.headers);
    expect(result.ok).toBe(true);
    if (!result.ok || !expected.ok) return;
    expect(result.webhook.payload).toEqual(expected.event);
    expect(result.webhook.eventId).toBe(expected.event.id);
    expect(result.webhook.eventType).toBe(expected.event.type);
    expect(result.webhook.occurredAt).toEqual(new Date(expected.event.created * 1000));
    expect(result.webhook.livemode).toBe(expected.event.livemode);
  });

  it("a header made by the SDK's own generateTestHeaderString verifies", async () => {
    const body = loadFixture("stripe/charge.refunded");
    const header = sdk.webhooks.generateTestHeaderString({
      payload: body,
      secret: SECRET,
      timestamp: nowSeconds,
    });
    const result = await ours(new TextEncoder().encode(body), new Headers({ "stripe-signature": header }));
    expect(result.ok).toBe(true);
  });

  const body = loadFixture("stripe/invoice.paid");
  const cases: [string, () => Promise<{ body: string | Uint8Array; header: string | null }>, string][] = [
    [
      "a flipped byte",
      async () => {
        const d = await sign(body);
        const bytes = new TextEncoder().encode(body);
        bytes[10] = (bytes[10] as number) ^ 1;
        return { body: bytes, header: d.headers.get("stripe-signature") };
      },
      "SIGNATURE_INVALID",
    ],
    [
      "a re-serialized body",
      async () => ({
        body: JSON.stringify(JSON.parse(body)),
        header: (await sign(body)).headers.get("stripe-signature"),
      }),
      "SIGNATURE_INVALID",
    ],
    [
      "an unknown secret",
      async () => ({ body, header: (await sign(body, nowSeconds, OTHER)).headers.get("stripe-signature") }),
      "SIGNATURE_INVALID",
    ],
    [
      "a timestamp 301 s old",
      async () => ({ body, header: (await sign(body, nowSeconds - 301)).headers.get("stripe-signature") }),
      "TIMESTAMP_OUT_OF_TOLERANCE",
    ],
    [
      "the signed timestamp swapped for a fresh one",
      async () => ({
        body,
        header: (await sign(body, nowSeconds - 1000)).headers
          .get("stripe-signature")!
          .replace(`t=${nowSeconds - 1000}`, `t=${nowSeconds}`),
      }),
      "SIGNATURE_INVALID",
    ],
    ["no header", async () => ({ body, header: null }), "SIGNATURE_MISSING"],
    [
      "only a v0 signature",
      async () => ({
        body,
        header: (await sign(body)).headers.get("stripe-signature")!.replace("v1=", "v0="),
      }),
      "SIGNATURE_MISSING",
    ],
  ];

  it.each(cases)("%s: both reject", async (_, make, code) => {
    const { body: raw, header } = await make();
    expect(sdkVerdict(raw, header).ok).toBe(false);
    const headers = new Headers(header === null ? {} : { "stripe-signature": header });
    expect(failure(await ours(raw, headers)).code).toBe(code);
  });

  it("a timestamp from the future: only the SDK accepts it (it checks age only; Mika checks both ways)", async () => {
    const d = await sign(body, nowSeconds + 301);
    expect(sdkVerdict(body, d.headers.get("stripe-signature")).ok).toBe(true);
    expect(failure(await ours(body, d.headers)).code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
    const near = await sign(body, nowSeconds + 299);
    expect((await ours(body, near.headers)).ok).toBe(true);
  });
});

describe("verifyWebhook details", () => {
  const body = loadFixture("stripe/charge.dispute.created");

  it("accepts any v1 among several, and ignores v0 and unknown schemes", async () => {
    const good = (await sign(body)).headers.get("stripe-signature")!.split(",")[1]!;
    const header = `t=${nowSeconds},v0=${"0".repeat(64)},v9=zz,v1=${"a".repeat(64)},${good}`;
    expect((await ours(body, new Headers({ "stripe-signature": header }))).ok).toBe(true);
  });

  it("checks every v1 against every secret (rotation)", async () => {
    const rotating = stripeProvider({ webhookSecret: [OTHER, SECRET] });
    for (const secret of [SECRET, OTHER]) {
      const d = await stripeSigner.sign({
        body,
        signatures: [{ raw: "b".repeat(64) }, { secret }],
        timestamp: nowSeconds,
      });
      const result = await rotating.verifyWebhook({ rawBody: body, headers: d.headers, receivedAt: now });
      expect(result.ok).toBe(true);
    }
  });

  it("tolerance is configurable", async () => {
    const strict = stripeProvider({ webhookSecret: SECRET, toleranceSeconds: 10 });
    const d = await sign(body, nowSeconds - 11);
    const result = await strict.verifyWebhook({ rawBody: body, headers: d.headers, receivedAt: now });
    expect(failure(result).code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
    expect(failure(result).message).toMatch(/tolerance 10s/);
    expect(() => stripeProvider({ webhookSecret: SECRET, toleranceSeconds: 0 })).toThrow(TypeError);
  });

  it("uses the real clock when receivedAt is not given", async () => {
    const fresh = await stripeSigner.sign({ body, signatures: [{ secret: SECRET }] });
    expect((await provider.verifyWebhook({ rawBody: body, headers: fresh.headers })).ok).toBe(true);
    const stale = await sign(body, Math.floor(Date.now() / 1000) - 3600);
    const result = await provider.verifyWebhook({ rawBody: body, headers: stale.headers });
    expect(failure(result).code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
  });

  it("a parsed body gives BODY_NOT_RAW with what to do", async () => {
    const d = await sign(body);
    const result = await provider.verifyWebhook({
      rawBody: JSON.parse(body) as unknown as string,
      headers: d.headers,
      receivedAt: now,
    });
    expect(failure(result).code).toBe("BODY_NOT_RAW");
    expect(failure(result).message).toMatch(/raw request body/);
  });

  it.each([
    ["sk_test_123", /API key \(sk_…\).*whsec_/],
    ["rk_live_123", /API key \(rk_…\)/],
    ["pk_test_123", /API key \(pk_…\)/],
    [`${SECRET}\n`, /whitespace/],
    ["", /empty|No Stripe webhook secret/],
  ])("secret %j gives SECRET_INVALID", async (secret, message) => {
    const bad = stripeProvider({ webhookSecret: secret });
    const d = await sign(body);
    const error = failure(await bad.verifyWebhook({ rawBody: body, headers: d.headers, receivedAt: now }));
    expect(error.code).toBe("SECRET_INVALID");
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(secret.trim() || "\u0000");
  });

  it("one bad secret in a rotation list is reported", async () => {
    const bad = stripeProvider({ webhookSecret: [SECRET, "sk_live_abc"] });
    const d = await sign(body);
    const error = failure(await bad.verifyWebhook({ rawBody: body, headers: d.headers, receivedAt: now }));
    expect(error.code).toBe("SECRET_INVALID");
    expect(error.message).toMatch(/secret #2/);
  });

  it("thin events give PAYLOAD_INVALID saying to use a snapshot destination", async () => {
    const thin = JSON.stringify({
      id: "evt_test_65R9Ijk8dD4vVjdTZQb16Sd2eRH0Xd4zUYo6vSHiJYTgQi",
      object: "v2.core.event",
      type: "v1.billing.meter.error_report_triggered",
      livemode: false,
      created: "2024-09-17T06:20:52.246Z",
      related_object: {
        id: "mtr_test_61R9IeFzr6ZnRqXck41Ijbd8",
        type: "billing.meter",
        url: "/v1/billing/meters/mtr_test_61R9IeFzr6ZnRqXck41Ijbd8",
      },
    });
    const d = await sign(thin);
    const error = failure(await ours(thin, d.headers));
    expect(error.code).toBe("PAYLOAD_INVALID");
    expect(error.message).toMatch(/thin events are not supported.*snapshot/i);
  });

  it("a signed body that is not an event gives PAYLOAD_INVALID", async () => {
    for (const text of ["not json", "[1,2]", JSON.stringify({ object: "event", type: "x" })]) {
      const d = await sign(text);
      expect(failure(await ours(text, d.headers)).code).toBe("PAYLOAD_INVALID");
    }
  });

  it("a header past 8192 characters is rejected unread", async () => {
    const good = (await sign(body)).headers.get("stripe-signature")!;
    const header = `${good},x=${"y".repeat(8200)}`;
    const error = failure(await ours(body, new Headers({ "stripe-signature": header })));
    expect(error.code).toBe("SIGNATURE_INVALID");
    expect(error.message).toMatch(/8192/);
  });

  it("a header without t= is SIGNATURE_INVALID", async () => {
    const good = (await sign(body)).headers.get("stripe-signature")!.split(",")[1]!;
    expect(failure(await ours(body, new Headers({ "stripe-signature": good }))).code).toBe(
      "SIGNATURE_INVALID",
    );
  });
});

describe("the HMAC keys are imported once per provider instance", () => {
  afterEach(() => vi.restoreAllMocks());

  it("many deliveries, one importKey per secret", async () => {
    const body = loadFixture("stripe/invoice.paid");
    const d = await sign(body); // the signer imports its own key: sign before spying
    const importKey = vi.spyOn(crypto.subtle, "importKey");
    const instance = stripeProvider({ webhookSecret: [SECRET, OTHER] });
    for (let i = 0; i < 5; i++) {
      expect((await instance.verifyWebhook({ rawBody: body, headers: d.headers, receivedAt: now })).ok).toBe(
        true,
      );
    }
    // native node:crypto needs no import at all; the Web Crypto path imports each secret once
    expect(importKey.mock.calls.length).toBeLessThanOrEqual(2);
  });
});
