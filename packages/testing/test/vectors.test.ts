import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  lemonSqueezySigner,
  paddleSigner,
  signatureVectors,
  standardWebhooksSigner,
  stripeSigner,
} from "../src/index.js";

const vectors = signatureVectors();

describe("signing helpers reproduce every known-answer vector", () => {
  for (const [index, v] of vectors.paddle.entries()) {
    it(`paddle vector #${index + 1} (${v.expect})`, async () => {
      const ts = Number(/ts=(\d+)/.exec(v.header)![1]);
      const expected = /h1=([0-9a-f]+)/.exec(v.header)![1];
      const signed = await paddleSigner.sign({
        body: v.body,
        signatures: [{ secret: v.secret }],
        timestamp: ts,
      });
      const h1 = /h1=([0-9a-f]+)/.exec(signed.headers.get("paddle-signature")!)![1];
      if (v.expect.startsWith("invalid")) expect(h1).not.toBe(expected);
      else expect(h1).toBe(expected);
    });
  }

  for (const [index, v] of vectors.standard_webhooks.entries()) {
    it(`standard webhooks vector #${index + 1}`, async () => {
      const signed = await standardWebhooksSigner.sign({
        body: v.body,
        signatures: [{ secret: v.secret }],
        timestamp: Number(v["webhook-timestamp"]),
        messageId: v["webhook-id"],
      });
      expect(signed.headers.get("webhook-signature")).toBe(v["webhook-signature"]);
      expect(signed.headers.get("webhook-id")).toBe(v["webhook-id"]);
    });
  }

  for (const [index, v] of vectors.lemonsqueezy.entries()) {
    it(`lemon squeezy vector #${index + 1}: raw bytes sign, a re-serialized body signs differently`, async () => {
      const signed = await lemonSqueezySigner.sign({
        body: v.raw_body_with_escaped_slashes,
        signatures: [{ secret: v.secret }],
      });
      expect(signed.headers.get("x-signature")).toBe(v["x-signature"]);
      const reserialized = JSON.stringify(JSON.parse(v.raw_body_with_escaped_slashes));
      const again = await lemonSqueezySigner.sign({ body: reserialized, signatures: [{ secret: v.secret }] });
      expect(again.headers.get("x-signature")).toBe(v.reserialized_body_without_escapes_hash);
      expect(again.headers.get("x-signature")).not.toBe(v["x-signature"]);
    });
  }

  it("stripe signer matches Stripe's documented scheme (HMAC over timestamp.body)", async () => {
    const signed = await stripeSigner.sign({
      body: '{"id":"evt_1"}',
      signatures: [{ secret: "whsec_test" }, { raw: "deadbeef" }],
      timestamp: 1700000000,
    });
    const expected = createHmac("sha256", "whsec_test").update('1700000000.{"id":"evt_1"}').digest("hex");
    expect(signed.headers.get("stripe-signature")).toBe(`t=1700000000,v1=${expected},v1=deadbeef`);
  });
});
