import { createHash, createHmac } from "node:crypto";
import { lemonSqueezySigner, loadFixture, signatureVectors } from "@mika/testing";
import { describe, expect, it } from "vitest";
import { lemonSqueezyEventId, lemonSqueezyProvider } from "../src/index.js";
import { fixture, handBuilt, provider, SECRETS, verified } from "./helpers.js";

const hex = (secret: string, body: string) => createHmac("sha256", secret).update(body).digest("hex");

describe("the known-answer vector (Lemon Squeezy escapes / as \\/)", () => {
  const vectors = signatureVectors().lemonsqueezy;

  it("has at least one vector", () => {
    expect(vectors.length).toBeGreaterThan(0);
  });

  for (const [index, v] of vectors.entries()) {
    const p = lemonSqueezyProvider({ webhookSecret: v.secret });
    const headers = () => new Headers({ "x-signature": v["x-signature"] });

    it.each(["auto", "web"] as const)(
      `vector #${index + 1}: the raw bytes verify (%s crypto)`,
      async (backend) => {
        const p = lemonSqueezyProvider({ webhookSecret: v.secret, cryptoBackend: backend });
        expect(v.raw_body_with_escaped_slashes).toContain("\\/");
        const result = await p.verifyWebhook({
          rawBody: v.raw_body_with_escaped_slashes,
          headers: headers(),
        });
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        const sha = createHash("sha256").update(v.raw_body_with_escaped_slashes).digest("hex");
        expect(result.webhook.payloadHash).toBe(`sha256:${sha}`);
        // No meta.event_name / data.id in this body: the id falls back to the raw body's hash.
        expect(result.webhook.eventId).toBe(`ls_body_${sha}`);
        expect(result.webhook.eventType).toBe("unknown");
      },
    );

    it(`vector #${index + 1}: the re-serialized body fails with SIGNATURE_INVALID`, async () => {
      const reserialized = JSON.stringify(JSON.parse(v.raw_body_with_escaped_slashes));
      expect(reserialized).not.toContain("\\/");
      // The vector's "hash" is the HMAC of the re-serialized bytes: a different MAC than the header's.
      expect(hex(v.secret, reserialized)).toBe(v.reserialized_body_without_escapes_hash);
      const result = await p.verifyWebhook({ rawBody: reserialized, headers: headers() });
      expect(result.ok ? "ok" : result.error.code).toBe("SIGNATURE_INVALID");
      // Only the bytes differ: signed as they are, the re-serialized bytes verify.
      const own = await p.verifyWebhook({
        rawBody: reserialized,
        headers: new Headers({ "x-signature": v.reserialized_body_without_escapes_hash }),
      });
      expect(own.ok).toBe(true);
    });
  }
});

describe("verifyWebhook", () => {
  it("accepts a signature made by any configured secret, and upper-case hex", async () => {
    const body = loadFixture("lemonsqueezy/order_created");
    for (const secret of SECRETS) {
      const upper = hex(secret, body).toUpperCase();
      const result = await provider.verifyWebhook({
        rawBody: body,
        headers: new Headers({ "x-signature": upper }),
      });
      expect(result.ok).toBe(true);
    }
  });

  it("rejects a wrong-length or non-hex signature as SIGNATURE_INVALID", async () => {
    const body = loadFixture("lemonsqueezy/order_created");
    const good = hex(SECRETS[0], body);
    for (const value of [good.slice(0, 62), `${good}ab`, `${good.slice(0, 63)}g`, `sha256=${good}`]) {
      const result = await provider.verifyWebhook({
        rawBody: body,
        headers: new Headers({ "x-signature": value }),
      });
      expect(result.ok ? "ok" : result.error.code).toBe("SIGNATURE_INVALID");
    }
  });

  it("reports a missing header, a parsed body and a bad secret with their own codes", async () => {
    const body = loadFixture("lemonsqueezy/order_created");
    const noHeader = await provider.verifyWebhook({ rawBody: body, headers: new Headers() });
    expect(noHeader.ok ? "ok" : noHeader.error.code).toBe("SIGNATURE_MISSING");

    const parsedBody = await provider.verifyWebhook({
      rawBody: JSON.parse(body) as unknown as string,
      headers: new Headers({ "x-signature": hex(SECRETS[0], body) }),
    });
    expect(parsedBody.ok ? "ok" : parsedBody.error.code).toBe("BODY_NOT_RAW");

    for (const webhookSecret of ["", " padded ", [], "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.x.y"]) {
      const p = lemonSqueezyProvider({ webhookSecret });
      const result = await p.verifyWebhook({
        rawBody: body,
        headers: new Headers({ "x-signature": hex("x", body) }),
      });
      expect(result.ok ? "ok" : result.error.code).toBe("SECRET_INVALID");
      if (!result.ok && typeof webhookSecret === "string" && webhookSecret.length > 3) {
        expect(result.error.message).not.toContain(webhookSecret);
      }
    }
  });

  it("gives PAYLOAD_INVALID when a correctly signed body is not a JSON object", async () => {
    for (const body of ["not json", "[1,2]", "null"]) {
      const result = await provider.verifyWebhook({
        rawBody: body,
        headers: new Headers({ "x-signature": hex(SECRETS[1], body) }),
      });
      expect(result.ok ? "ok" : result.error.code).toBe("PAYLOAD_INVALID");
    }
  });

  it("reads eventType, occurredAt and livemode from the body", async () => {
    const live = await verified(loadFixture("lemonsqueezy/subscription_updated"));
    expect(live.eventType).toBe("subscription_updated");
    expect(live.occurredAt?.toISOString()).toBe("2023-01-17T12:43:51.000Z");
    expect(live.livemode).toBe(true);
    const test = await verified(JSON.stringify(handBuilt.licenseKeyCreated()));
    expect(test.livemode).toBe(false);
    expect(test.eventType).toBe("license_key_created");
    const metaOnly = handBuilt.licenseKeyCreated();
    delete metaOnly.data.attributes.test_mode;
    metaOnly.meta.test_mode = true;
    expect((await verified(JSON.stringify(metaOnly))).livemode).toBe(false);
    delete metaOnly.meta.test_mode;
    expect((await verified(JSON.stringify(metaOnly))).livemode).toBeUndefined();
  });
});

describe("the derived event id", () => {
  it("is ls_ + a sha256 hex, the same as lemonSqueezyEventId()", async () => {
    const body = loadFixture("lemonsqueezy/subscription_created");
    const webhook = await verified(body);
    expect(webhook.eventId).toMatch(/^ls_[0-9a-f]{64}$/);
    expect(await lemonSqueezyEventId(JSON.parse(body))).toBe(webhook.eventId);
  });

  it("is the same for a redelivery of the same body, under either secret", async () => {
    const body = loadFixture("lemonsqueezy/subscription_payment_success");
    const first = await verified(body);
    const again = await lemonSqueezySigner.sign({ body, signatures: [{ secret: SECRETS[1] }] });
    const second = await provider.verifyWebhook(again);
    expect(second.ok && second.webhook.eventId).toBe(first.eventId);
  });

  it("ignores what a redelivery may re-render (signed URLs, whitespace, key order)", async () => {
    const original = fixture("subscription_updated");
    const rerendered = fixture("subscription_updated");
    rerendered.data.attributes.urls.customer_portal =
      "https://my-store.lemonsqueezy.com/billing?expires=1999999999";
    const reordered = { data: rerendered.data, meta: rerendered.meta };
    const a = await verified(JSON.stringify(original, null, 2));
    const b = await verified(JSON.stringify(reordered));
    expect(b.eventId).toBe(a.eventId);
    expect(b.payloadHash).not.toBe(a.payloadHash);
  });

  it("changes for a later update of the same subscription (updated_at moved)", async () => {
    const before = fixture("subscription_updated");
    const later = fixture("subscription_updated");
    later.data.attributes.updated_at = "2023-01-18T09:00:00.000000Z";
    const a = await verified(JSON.stringify(before));
    const b = await verified(JSON.stringify(later));
    expect(b.eventId).not.toBe(a.eventId);
  });

  it("changes when the state changes within the same second (status, refunded_amount)", async () => {
    const base = fixture("subscription_updated");
    const cancelled = fixture("subscription_updated");
    cancelled.data.attributes.status = "cancelled";
    expect((await verified(JSON.stringify(cancelled))).eventId).not.toBe(
      (await verified(JSON.stringify(base))).eventId,
    );
    const partial = handBuilt.orderPartiallyRefunded();
    const more = handBuilt.orderPartiallyRefunded();
    more.data.attributes.refunded_amount = 3000;
    expect((await verified(JSON.stringify(more))).eventId).not.toBe(
      (await verified(JSON.stringify(partial))).eventId,
    );
  });

  it("differs between two events about the same resource version", async () => {
    const created = fixture("subscription_created");
    const updated = fixture("subscription_created");
    updated.meta.event_name = "subscription_updated";
    expect((await verified(JSON.stringify(updated))).eventId).not.toBe(
      (await verified(JSON.stringify(created))).eventId,
    );
    // Same id and version, different resource type: order 1 vs subscription invoice 1.
    const order = fixture("order_created");
    const invoice = fixture("order_created");
    invoice.data.type = "subscription-invoices";
    expect((await verified(JSON.stringify(invoice))).eventId).not.toBe(
      (await verified(JSON.stringify(order))).eventId,
    );
  });
});
