/**
 * PAYLOAD_INVALID means "the signature holds but the body is not an event" (see
 * WebhookErrorCode); the backend stores PAYLOAD_INVALID bodies as poison rows. A failure before the
 * signature was checked must not be reported with that code.
 */
import { describe, expect, it, vi } from "vitest";
import { lemonSqueezyProvider } from "../src/index.js";

describe("verifyWebhook when verification itself fails", () => {
  it("an unverified delivery is never PAYLOAD_INVALID", async () => {
    const spy = vi.spyOn(globalThis.crypto.subtle, "importKey").mockRejectedValue(new Error("no HMAC"));
    try {
      const p = lemonSqueezyProvider({ webhookSecret: "ls_signing_secret", cryptoBackend: "web" });
      const result = await p.verifyWebhook({
        rawBody: '{"forged":true}',
        headers: new Headers({ "x-signature": "0".repeat(64) }),
      });
      expect(result.ok).toBe(false);
      // as Stripe and Paddle answer from the same catch
      expect(result.ok ? "ok" : result.error.code).toBe("SIGNATURE_INVALID");
    } finally {
      spy.mockRestore();
    }
  });
});
