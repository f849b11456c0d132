/**
 * Webhook verification and its error reporting, as an attacker meets them: the body cap, what is
 * stored for a delivery that was never verified, and what the sender learns of our configuration.
 */
import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { stripeProvider } from "@mika/stripe";
import { describe, expect, it, vi } from "vitest";
import { setup } from "./helpers.js";

describe("webhook body cap", () => {
  it("never buffers more than maxBodyBytes (+ one chunk), even when Content-Length understates the body", async () => {
    const max = 64 * 1024;
    const { mika } = setup({ config: { maxBodyBytes: max } });
    const chunk = new Uint8Array(256 * 1024).fill(0x20);
    let pulled = 0;
    let chunks = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (chunks++ >= 40) return controller.close(); // 10 MB in all
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const res = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/acme", {
        method: "POST",
        // A Request's Content-Length is only a header: nothing ties it to the stream behind the body
        // (a decompressing proxy or framework, a hand-built Request, a custom adapter).
        headers: { "content-length": "100" },
        body,
        duplex: "half",
      } as RequestInit),
    );
    expect(res.status).toBe(413);
    // (the body is counted as it is read, not trusted to be as long as its header says)
    expect(pulled).toBeLessThanOrEqual(max + chunk.byteLength);
  });
});

describe("rejected deliveries", () => {
  it("an unsigned Lemon Squeezy delivery is never stored, even when verification throws", async () => {
    // Web Crypto failing (a runtime without HMAC import, a polyfill bug) makes the verify throw before
    // the signature is checked. PAYLOAD_INVALID would mean "the signature holds" (the backend keeps
    // such bodies as poison rows), so the adapter must answer a signature failure.
    const spy = vi.spyOn(globalThis.crypto.subtle, "importKey").mockRejectedValue(new Error("no HMAC here"));
    try {
      const ls = lemonSqueezyProvider({ webhookSecret: "ls_signing_secret", cryptoBackend: "web" });
      const { mika, rows } = setup({ providers: [ls] });
      const res = await mika.handler(
        new Request("http://shop.test/api/mika/webhooks/lemonsqueezy", {
          method: "POST",
          headers: { "x-signature": "0".repeat(64) }, // forged
          body: JSON.stringify({ attacker: "controlled" }),
        }),
      );
      // a verify that fails for its own reasons is a signature failure: nothing unverified is kept
      expect(await rows("events")).toHaveLength(0);
      const json = (await res.json()) as { error: { detail?: string } };
      expect(json.error.detail).not.toBe("PAYLOAD_INVALID");
    } finally {
      spy.mockRestore();
    }
  });

  it("a misconfigured secret is reported in the log, not to the unauthenticated sender", async () => {
    const broken = stripeProvider({ webhookSecret: "sk_live_not_a_webhook_secret" } as never);
    const { mika, logs } = setup({ providers: [broken] });
    const res = await mika.handler(
      new Request("http://shop.test/api/mika/webhooks/stripe", {
        method: "POST",
        headers: { "stripe-signature": "t=1,v1=00" },
        body: "{}",
      }),
    );
    expect(res.status).toBe(500);
    expect(logs.some((l) => l.level === "error" && /misconfigured/.test(l.message))).toBe(true);
    // the log says what is wrong with the secret; the public envelope never describes it
    const text = JSON.stringify(await res.json());
    expect(text).not.toContain("sk_");
    expect(text).not.toMatch(/looks like an API key/);
  });
});
