import { paddleSigner, providerFixtures, runProviderConformance, signatureVectors } from "@mika/testing";
import { Paddle } from "@paddle/paddle-node-sdk";
import { describe, expect, it } from "vitest";
import { PADDLE_DEFAULT_TOLERANCE_SECONDS, paddleProvider, parsePaddleSignature } from "../src/index.js";

const SECRETS = [
  "pdl_ntfset_01hv8wptq8987qeep44cyrewp9_currentSecretValue0123456789",
  "pdl_ntfset_01hv8wptq8987qeep44cyrewp9_previousSecretValue987654321",
];
const TOLERANCE = 300;

/** A real Paddle event type this adapter does not map (customer.created), in Paddle's envelope. */
const UNKNOWN_EVENT = JSON.stringify({
  event_id: "evt_01hv8x2axb33yr5y238zfwcn00",
  event_type: "customer.created",
  occurred_at: "2024-04-12T10:18:50.155553Z",
  notification_id: "ntf_01hv8x2b0m1y2z3x4w5v6u7t8s",
  data: { id: "ctm_01hv6y1jedq4p1n0yqn5ba3ky4", email: "buyer@example.com", status: "active" },
});

const provider = paddleProvider({
  webhookSecret: SECRETS,
  toleranceSeconds: TOLERANCE,
  environment: "sandbox",
});

runProviderConformance({
  provider,
  sign: paddleSigner,
  fixtures: providerFixtures("paddle"),
  secrets: SECRETS,
  toleranceSeconds: TOLERANCE,
  unknownEvent: UNKNOWN_EVENT,
});

// The same suite on the Web Crypto path alone, as on an edge runtime (eager payload hash, async HMAC).
describe('cryptoBackend "web" (Web Crypto only, as on edge runtimes)', () => {
  runProviderConformance({
    provider: paddleProvider({
      webhookSecret: SECRETS,
      toleranceSeconds: TOLERANCE,
      environment: "sandbox",
      cryptoBackend: "web",
    }),
    sign: paddleSigner,
    fixtures: providerFixtures("paddle"),
    secrets: SECRETS,
    toleranceSeconds: TOLERANCE,
    unknownEvent: UNKNOWN_EVENT,
  });
});

const body = providerFixtures("paddle").find((f) => f.name === "paddle/transaction.completed")!.body;
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe("several h1 signatures: the case Paddle's own SDK gets wrong", () => {
  const header = async (order: "valid-first" | "valid-last") => {
    const ts = nowSeconds();
    const specs =
      order === "valid-first"
        ? [{ secret: SECRETS[0]! }, { raw: "0".repeat(64) }]
        : [{ raw: "0".repeat(64) }, { secret: SECRETS[0]! }];
    return paddleSigner.sign({ body, signatures: specs, timestamp: ts });
  };
  const sdk = new Paddle("pdl_sdbx_apikey_unused_in_this_test");

  it("the SDK's webhooks.unmarshal rejects a valid h1 followed by an invalid one (it keeps only the last h1)", async () => {
    const d = await header("valid-first");
    await expect(
      sdk.webhooks.unmarshal(d.rawBody, SECRETS[0]!, d.headers.get("paddle-signature")!),
    ).rejects.toThrow(/signature verification failed/);
  });

  it("control: the SDK accepts the same signatures when the valid h1 is last", async () => {
    const d = await header("valid-last");
    const event = await sdk.webhooks.unmarshal(d.rawBody, SECRETS[0]!, d.headers.get("paddle-signature")!);
    expect(event.eventId).toBe("evt_01h8e1jxjnw9ra6zarhnz1a7y1");
  });

  it("paddleProvider accepts a valid h1 in either position", async () => {
    for (const order of ["valid-first", "valid-last"] as const) {
      const d = await header(order);
      const result = await provider.verifyWebhook({ rawBody: d.rawBody, headers: d.headers });
      expect(result.ok, order).toBe(true);
    }
  });

  it("a valid h1 for the second (rotated) secret is found among invalid ones", async () => {
    const d = await paddleSigner.sign({
      body,
      signatures: [{ raw: "f".repeat(64) }, { secret: SECRETS[1]! }, { raw: "e".repeat(64) }],
    });
    expect((await provider.verifyWebhook({ rawBody: d.rawBody, headers: d.headers })).ok).toBe(true);
  });
});

describe("h1 values that are not hex", () => {
  const ts = () => Math.floor(Date.now() / 1000);
  const verify = (headerValue: string) =>
    provider.verifyWebhook({ rawBody: body, headers: new Headers({ "paddle-signature": headerValue }) });

  it("only non-hex h1 values (of the right length) are SIGNATURE_MISSING, as no h1 at all is", async () => {
    const result = await verify(`ts=${ts()};h1=${"z".repeat(64)};h1=${"g".repeat(64)}`);
    expect(result.ok ? "ok" : result.error.code).toBe("SIGNATURE_MISSING");
    const none = await verify(`ts=${ts()}`);
    expect(none.ok ? "ok" : none.error.code).toBe("SIGNATURE_MISSING");
  });

  it("a non-hex h1 beside a wrong hex one is SIGNATURE_INVALID; beside the right one it verifies", async () => {
    const wrong = await verify(`ts=${ts()};h1=${"z".repeat(64)};h1=${"0".repeat(64)}`);
    expect(wrong.ok ? "ok" : wrong.error.code).toBe("SIGNATURE_INVALID");
    const signed = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
    const valid = signed.headers.get("paddle-signature")!;
    const right = await verify(`${valid};h1=${"z".repeat(64)}`);
    expect(right.ok).toBe(true);
  });
});

describe("Paddle's published signature vectors", () => {
  const vectors = signatureVectors().paddle;

  it("the vectors are the three expected ones", () => {
    expect(vectors.map((v) => v.expect.split(" ")[0])).toEqual(["valid", "valid", "invalid"]);
  });

  it("valid vectors verify at their own timestamp (the signature and ts hold; the body is no notification)", async () => {
    for (const v of vectors.filter((x) => x.expect.startsWith("valid"))) {
      const ts = Number(parsePaddleSignature(v.header)!.ts);
      const p = paddleProvider({ webhookSecret: v.secret });
      const result = await p.verifyWebhook({
        rawBody: v.body,
        headers: new Headers({ "paddle-signature": v.header }),
        receivedAt: new Date((v.valid_at_unix ?? ts) * 1000),
      });
      // These test bodies have no event_id: PAYLOAD_INVALID is only reached after the signature and
      // the timestamp were both accepted.
      expect(result.ok ? "ok" : result.error.code, v.header).toBe("PAYLOAD_INVALID");
    }
  });

  it("the same valid vector is rejected as stale past the default tolerance, and early before it", async () => {
    const v = vectors[0]!;
    const p = paddleProvider({ webhookSecret: v.secret });
    const headers = new Headers({ "paddle-signature": v.header });
    const ts = v.valid_at_unix!;
    for (const offset of [PADDLE_DEFAULT_TOLERANCE_SECONDS + 1, -(PADDLE_DEFAULT_TOLERANCE_SECONDS + 1)]) {
      const result = await p.verifyWebhook({
        rawBody: v.body,
        headers,
        receivedAt: new Date((ts + offset) * 1000),
      });
      expect(result.ok ? "ok" : result.error.code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
    }
    const inside = await p.verifyWebhook({
      rawBody: v.body,
      headers,
      receivedAt: new Date((ts + PADDLE_DEFAULT_TOLERANCE_SECONDS - 1) * 1000),
    });
    expect(inside.ok ? "ok" : inside.error.code).toBe("PAYLOAD_INVALID");
  });

  it("the whitespace-mutated body is SIGNATURE_INVALID", async () => {
    const v = vectors[2]!;
    const result = await paddleProvider({ webhookSecret: v.secret }).verifyWebhook({
      rawBody: v.body,
      headers: new Headers({ "paddle-signature": v.header }),
      receivedAt: new Date(1698796800 * 1000),
    });
    expect(result.ok ? "ok" : result.error.code).toBe("SIGNATURE_INVALID");
  });
});

describe("verifyWebhook details", () => {
  it("takes event_id (not notification_id), event_type, occurred_at, and livemode from the environment", async () => {
    const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
    const sandbox = await provider.verifyWebhook({ rawBody: d.rawBody, headers: d.headers });
    const live = await paddleProvider({ webhookSecret: SECRETS }).verifyWebhook({
      rawBody: d.rawBody,
      headers: d.headers,
    });
    if (!sandbox.ok || !live.ok) throw new Error("expected both to verify");
    expect(sandbox.webhook.eventId).toBe("evt_01h8e1jxjnw9ra6zarhnz1a7y1");
    expect(sandbox.webhook.eventType).toBe("transaction.completed");
    expect(sandbox.webhook.occurredAt?.toISOString()).toBe("2023-08-22T07:15:45.366Z");
    expect(sandbox.webhook.livemode).toBe(false);
    expect(live.webhook.livemode).toBe(true);
  });

  it("the default tolerance accepts 60 s of clock skew that the SDK's 5 s window rejects", async () => {
    const p = paddleProvider({ webhookSecret: SECRETS });
    const ts = nowSeconds() - 60;
    const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }], timestamp: ts });
    expect((await p.verifyWebhook({ rawBody: d.rawBody, headers: d.headers })).ok).toBe(true);
    const sdk = new Paddle("pdl_sdbx_apikey_unused_in_this_test");
    expect(
      await sdk.webhooks.isSignatureValid(d.rawBody, SECRETS[0]!, d.headers.get("paddle-signature")!),
    ).toBe(false);
  });

  it("toleranceSeconds is configurable", async () => {
    const strict = paddleProvider({ webhookSecret: SECRETS, toleranceSeconds: 10 });
    const d = await paddleSigner.sign({
      body,
      signatures: [{ secret: SECRETS[0]! }],
      timestamp: nowSeconds() - 30,
    });
    const result = await strict.verifyWebhook({ rawBody: d.rawBody, headers: d.headers });
    expect(result.ok ? "ok" : result.error.code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
    expect(() => paddleProvider({ webhookSecret: SECRETS, toleranceSeconds: 0 })).toThrow(TypeError);
    expect(() => paddleProvider({ webhookSecret: SECRETS, toleranceSeconds: Number.NaN })).toThrow(TypeError);
  });

  it("an API key or an empty secret gives SECRET_INVALID without echoing it", async () => {
    const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
    for (const secret of ["pdl_live_apikey_01abcdefsecretvalue", "", " pdl_ntfset_x"]) {
      const result = await paddleProvider({ webhookSecret: secret }).verifyWebhook({
        rawBody: d.rawBody,
        headers: d.headers,
      });
      if (result.ok) throw new Error("expected SECRET_INVALID");
      expect(result.error.code).toBe("SECRET_INVALID");
      if (secret.length > 3) expect(result.error.message).not.toContain(secret.trim());
    }
  });

  it("a signed body without event_id is PAYLOAD_INVALID", async () => {
    const d = await paddleSigner.sign({
      body: JSON.stringify({ event_type: "transaction.paid", data: {} }),
      signatures: [{ secret: SECRETS[0]! }],
    });
    const result = await provider.verifyWebhook({ rawBody: d.rawBody, headers: d.headers });
    expect(result.ok ? "ok" : result.error.code).toBe("PAYLOAD_INVALID");
  });

  it("a header with two different ts values is rejected", async () => {
    const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
    const headers = new Headers(d.headers);
    headers.set("paddle-signature", `${d.headers.get("paddle-signature")};ts=1`);
    const result = await provider.verifyWebhook({ rawBody: d.rawBody, headers });
    expect(result.ok).toBe(false);
  });

  it("without a client only webhook.timestamp is declared and no API group exists", () => {
    expect([...provider.capabilities]).toEqual(["webhook.timestamp"]);
    expect(provider.checkout).toBeUndefined();
    expect(provider.refunds).toBeUndefined();
  });
});

describe("verifyWebhook never throws on inputs outside the types", () => {
  it("plain-object headers and a missing input give error results", async () => {
    const d = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
    const plain = { "paddle-signature": d.headers.get("paddle-signature") } as unknown as Headers;
    const cases: unknown[] = [
      { rawBody: d.rawBody, headers: plain },
      { rawBody: d.rawBody },
      undefined,
      null,
    ];
    for (const input of cases) {
      const result = await provider.verifyWebhook(input as Parameters<typeof provider.verifyWebhook>[0]);
      expect(result.ok, JSON.stringify(input)).toBe(false);
    }
  });
});

it("an invalid receivedAt falls back to the clock instead of accepting any timestamp", async () => {
  const stale = await paddleSigner.sign({
    body,
    signatures: [{ secret: SECRETS[0]! }],
    timestamp: nowSeconds() - 10 * TOLERANCE,
  });
  const result = await provider.verifyWebhook({ ...stale, receivedAt: new Date(Number.NaN) });
  expect(result.ok ? "ok" : result.error.code).toBe("TIMESTAMP_OUT_OF_TOLERANCE");
  const fresh = await paddleSigner.sign({ body, signatures: [{ secret: SECRETS[0]! }] });
  expect((await provider.verifyWebhook({ ...fresh, receivedAt: new Date(Number.NaN) })).ok).toBe(true);
});
