import { eventBase } from "@mika/types";
import { describe, expect, it } from "vitest";
import { runProviderConformance, standardWebhooksProvider, standardWebhooksSigner } from "../src/index.js";
import { SW_SECRETS, standardFixtures } from "./helpers.js";

const provider = standardWebhooksProvider({
  name: "polar",
  webhookSecret: SW_SECRETS,
  mapEvent: (webhook) => {
    const payload = webhook.payload as {
      type: string;
      data: { id: string; amount: number; currency: string };
    };
    if (payload.type !== "order.paid") return undefined;
    return {
      ...eventBase(webhook, "payment.succeeded"),
      paymentRef: payload.data.id,
      amount: payload.data.amount,
      currency: payload.data.currency.toUpperCase(),
    };
  },
});

runProviderConformance({
  provider,
  sign: standardWebhooksSigner,
  fixtures: standardFixtures,
  secrets: SW_SECRETS,
  toleranceSeconds: 300,
  unknownEvent: JSON.stringify({ type: "benefit.granted", data: { id: "b_1" } }),
});

describe("standardWebhooksProvider", () => {
  it("maps with the host's mapper and keeps unmapped events as unknown", async () => {
    const signed = await standardWebhooksSigner.sign({
      body: standardFixtures[0]!.body,
      signatures: [{ secret: SW_SECRETS[0]! }],
    });
    const result = await provider.verifyWebhook(signed);
    if (!result.ok) throw new Error(result.error.message);
    expect(provider.parseWebhookEvent(result.webhook)).toMatchObject({
      kind: "payment.succeeded",
      amount: 2500,
      currency: "USD",
      paymentRef: "ord_1",
    });
  });
  it("treats a throwing mapper as unknown, never as an error", async () => {
    const throwing = standardWebhooksProvider({
      name: "polar",
      webhookSecret: SW_SECRETS[0]!,
      mapEvent: () => {
        throw new Error("mapper bug");
      },
    });
    const signed = await standardWebhooksSigner.sign({
      body: standardFixtures[0]!.body,
      signatures: [{ secret: SW_SECRETS[0]! }],
    });
    const result = await throwing.verifyWebhook(signed);
    if (!result.ok) throw new Error(result.error.message);
    expect(throwing.parseWebhookEvent(result.webhook).kind).toBe("unknown");
  });
  it("reports a secret that is not whsec_ base64 as SECRET_INVALID without echoing it", async () => {
    const bad = standardWebhooksProvider({ name: "polar", webhookSecret: "whsec_%%%not-base64" });
    const signed = await standardWebhooksSigner.sign({
      body: "{}",
      signatures: [{ secret: SW_SECRETS[0]! }],
    });
    const result = await bad.verifyWebhook(signed);
    expect(result).toMatchObject({ ok: false, error: { code: "SECRET_INVALID" } });
    expect(JSON.stringify(result)).not.toContain("not-base64");
  });
});
