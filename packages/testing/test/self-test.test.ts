/**
 * The suite must FAIL against deliberately broken providers. Each broken provider below has exactly
 * one flaw; the control (no flaw) must pass every check, and each flaw must fail the check named.
 */

import {
  type Capability,
  checkTimestamp,
  concatBytes,
  createProviderName,
  eventBase,
  fromBase64,
  hmacKeyring,
  type PaymentProvider,
  parseJsonObject,
  payloadHash,
  rawBodyBytes,
  timingSafeEqual,
  utf8,
  webhookFailure,
} from "@mika/types";
import { describe, expect, it } from "vitest";
import { providerConformanceChecks, standardWebhooksSigner } from "../src/index.js";
import { SW_SECRETS, standardFixtures } from "./helpers.js";

type Flaw = "none" | "any-timestamp" | "last-signature-only" | "truncated-compare" | "throws-on-unknown";

/** A Standard Webhooks provider with one chosen flaw. */
function flawedProvider(flaw: Flaw): PaymentProvider {
  const name = createProviderName("flawed");
  const keys = SW_SECRETS.map((s) => fromBase64(s.slice(6))!);
  const ring = hmacKeyring(keys);
  return {
    name,
    capabilities: new Set<Capability>(["webhook.timestamp"]),
    async verifyWebhook(input) {
      const body = rawBodyBytes(input.rawBody);
      if (!body.ok) return body;
      const id = input.headers.get("webhook-id");
      const ts = input.headers.get("webhook-timestamp");
      const header = input.headers.get("webhook-signature");
      if (!id || !ts || !header) return webhookFailure("SIGNATURE_MISSING", "signature header missing here");
      let candidates = header
        .split(" ")
        .map((p) => p.split(",", 2))
        .filter(([v, s]) => v === "v1" && s)
        .map(([, s]) => fromBase64(s!))
        .filter((b): b is Uint8Array => b !== undefined);
      if (candidates.length === 0)
        return webhookFailure("SIGNATURE_MISSING", "no v1 signature in the header");
      if (flaw === "last-signature-only") candidates = candidates.slice(-1);
      const message = concatBytes(utf8(`${id}.${ts}.`), body.bytes);
      let valid: boolean;
      if (flaw === "truncated-compare") {
        const macs = await ring.macs(message);
        valid = macs.some((mac) =>
          candidates.some((c) => c.length >= 8 && timingSafeEqual(mac.slice(0, 8), c.slice(0, 8))),
        );
      } else {
        valid = await ring.verify(message, candidates);
      }
      if (!valid) return webhookFailure("SIGNATURE_INVALID", "no signature matches the secret");
      if (flaw !== "any-timestamp") {
        const stale = checkTimestamp(Number(ts), input.receivedAt ?? new Date(), 300);
        if (stale) return stale;
      }
      const json = parseJsonObject(body.bytes);
      if (!json.ok) return json;
      return {
        ok: true,
        webhook: {
          provider: name,
          payloadHash: await payloadHash(body.bytes),
          eventId: id,
          eventType: String(json.value.type ?? "unknown"),
          payload: json.value,
        },
      };
    },
    parseWebhookEvent(webhook) {
      if (flaw === "throws-on-unknown" && webhook.eventType !== "order.paid") {
        throw new Error(`unhandled event type ${webhook.eventType}`);
      }
      return eventBase(webhook, "unknown");
    },
  };
}

async function failingChecks(flaw: Flaw): Promise<string[]> {
  const checks = providerConformanceChecks({
    provider: flawedProvider(flaw),
    sign: standardWebhooksSigner,
    fixtures: standardFixtures,
    secrets: SW_SECRETS,
    toleranceSeconds: 300,
  });
  const failed: string[] = [];
  for (const check of checks) {
    try {
      await check.run();
    } catch {
      failed.push(check.name);
    }
  }
  return failed;
}

describe("the provider conformance suite can fail", () => {
  it("passes a provider without flaws (the control)", async () => {
    expect(await failingChecks("none")).toEqual([]);
  });
  it("fails a provider that accepts any timestamp", async () => {
    expect(await failingChecks("any-timestamp")).toEqual([
      "timestamps beyond the tolerance are rejected both ways, inside accepted",
    ]);
  });
  it("fails a provider that checks only the last signature", async () => {
    expect(await failingChecks("last-signature-only")).toEqual([
      "with several signatures in one header any valid one suffices, in every position",
    ]);
  });
  it("fails a provider that compares a truncated signature", async () => {
    expect(await failingChecks("truncated-compare")).toContain(
      "malformed signature values give an error result and never throw",
    );
  });
  it("fails a provider that throws on an unknown event", async () => {
    expect(await failingChecks("throws-on-unknown")).toContain(
      "parseWebhookEvent is total over every fixture",
    );
  });
});
