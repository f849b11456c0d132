/**
 * The shared keyring must never verify anything under an empty secret. The adapters
 * guard with normalizeSecrets, but hmacKeyring is public API that docs/custom-provider.md tells custom
 * provider authors to call directly ("hmacKeyring(secrets).verify(message, candidates) … does both"); an
 * unset env var (`process.env.X ?? ""`) then makes every delivery forgeable by anyone on native crypto.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { hmacKeyring, utf8 } from "../src/index.js";

describe("hmacKeyring with an empty secret", () => {
  const message = '1700000000.{"id":"evt_forged"}';
  const forgedHex = createHmac("sha256", "").update(message).digest("hex"); // anyone can compute this

  it.each(["auto", "web"] as const)("verifyHex never matches (%s crypto)", async (backend) => {
    const keyring = hmacKeyring([""], { backend });
    // (HMAC under a zero-length key is public: native crypto would compute it, Web Crypto refuses it)
    await expect(Promise.resolve().then(() => keyring.verifyHex(message, [forgedHex]))).resolves.toBe(false);
  });

  it.each(["auto", "web"] as const)("verify never matches (%s crypto)", async (backend) => {
    const keyring = hmacKeyring([new Uint8Array(0)], { backend });
    const forged = new Uint8Array(createHmac("sha256", "").update(message).digest());
    await expect(keyring.verify(utf8(message), [forged])).resolves.toBe(false);
  });

  it("an empty secret beside a real one does not open the keyring", async () => {
    const keyring = hmacKeyring(["whsec_real", ""]);
    expect(await keyring.verifyHex(message, [forgedHex])).toBe(false);
  });
});

describe("hmacKeyring on Web Crypto", () => {
  it("tries a failed key import again on the next message", async () => {
    const message = "1700000000.{}";
    const mac = createHmac("sha256", "whsec_real").update(message).digest("hex");
    const keyring = hmacKeyring(["whsec_real"], { backend: "web" });
    const spy = vi.spyOn(globalThis.crypto.subtle, "importKey").mockRejectedValueOnce(new Error("busy"));
    try {
      await expect(keyring.verifyHex(message, [mac])).rejects.toThrow("busy");
      expect(await keyring.verifyHex(message, [mac])).toBe(true);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });
});
