/**
 * The provider conformance suite: one call that any adapter's tests make. Each check is also
 * available as data ({@link providerConformanceChecks}) so the suite can be shown to fail against
 * broken providers.
 */
import { ok as assert, deepStrictEqual, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type Capability,
  EVENT_KINDS,
  type MikaEvent,
  type PaymentProvider,
  type VerifiedWebhook,
  type VerifyResult,
  WEBHOOK_ERROR_CODES,
  type WebhookErrorCode,
  type WebhookInput,
} from "@mika/types";
import type { Fixture } from "./fixtures.js";
import type { SignatureSpec, SignedWebhook, WebhookSigner } from "./sign.js";

/** Options of {@link runProviderConformance}. */
export interface ProviderConformanceOptions {
  /** The provider under test, configured with every secret in `secrets`. */
  provider: PaymentProvider;
  /** The provider's signing scheme. */
  sign: WebhookSigner;
  /** Real webhook bodies the provider must verify and parse (at least one). */
  fixtures: readonly Fixture[];
  /** The secrets the provider is configured with, in order. Give two or more to test rotation. */
  secrets: readonly string[];
  /** The provider's timestamp tolerance in seconds (required with the `webhook.timestamp` capability). */
  toleranceSeconds?: number;
  /** "Now" for signing and `receivedAt`. Defaults to the real clock. */
  clock?: () => Date;
  /** A signed body of an event type the provider does not map: it must parse to `unknown`. */
  unknownEvent?: string;
  /** Checks to skip, each with the reason (shown in the test title). */
  skip?: Readonly<Record<string, string>>;
}

/** One named check of the suite. */
export interface ConformanceCheck {
  /** The check's name (also the key for `skip`). */
  name: string;
  /** Runs it; throws an assertion error when the provider does not conform. */
  run(): Promise<void>;
}

/** Secrets no provider under test is configured with (valid for every scheme, base64 after whsec_). */
const OTHER_SECRET = "whsec_bm90LWEtY29uZmlndXJlZC1zZWNyZXQtYXQtYWxs";
const OTHER_SECRET_2 = "whsec_YW5vdGhlci11bmtub3duLXNlY3JldA==";

/**
 * Multibyte UTF-8 as it reaches a header: HTTP header values are bytes, which the Fetch API exposes as
 * Latin-1 characters.
 */
const MULTIBYTE = String.fromCharCode(...new TextEncoder().encode("ü€𝄞-ünïcødé"));

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function describeResult(result: VerifyResult): string {
  return result.ok ? "ok" : `${result.error.code}: ${result.error.message}`;
}

/** Builds the list of checks for a provider. */
export function providerConformanceChecks(options: ProviderConformanceOptions): ConformanceCheck[] {
  const { provider, sign, fixtures, secrets } = options;
  const clock = options.clock ?? (() => new Date());
  const nowSeconds = () => Math.floor(clock().getTime() / 1000);
  const timestamped = provider.capabilities.has("webhook.timestamp");
  if (fixtures.length === 0) throw new TypeError("runProviderConformance needs at least one fixture.");
  if (secrets.length === 0) throw new TypeError("runProviderConformance needs the provider's secrets.");
  if (timestamped && options.toleranceSeconds === undefined) {
    throw new TypeError(
      "A provider with the webhook.timestamp capability needs toleranceSeconds in the suite options.",
    );
  }
  const first = fixtures[0]!;
  const secret = secrets[0]!;

  const signed = (body: string, signatures: SignatureSpec[] = [{ secret }], timestamp = nowSeconds()) =>
    sign.sign({ body, signatures, timestamp });
  const verify = async (input: WebhookInput): Promise<VerifyResult> => {
    let result: VerifyResult;
    try {
      result = await provider.verifyWebhook({ receivedAt: clock(), ...input });
    } catch (error) {
      throw new Error(`verifyWebhook threw instead of returning an error result: ${String(error)}`);
    }
    assert(result && typeof result.ok === "boolean", "verifyWebhook must return { ok, … }");
    if (!result.ok) {
      assert(WEBHOOK_ERROR_CODES.includes(result.error.code), `unknown error code ${result.error.code}`);
      assert(result.error.message.length > 10, "error messages must say what to do");
    }
    return result;
  };
  const expectOk = async (input: WebhookInput, what: string): Promise<VerifiedWebhook> => {
    const result = await verify(input);
    assert(result.ok, `${what}: expected a verified webhook, got ${describeResult(result)}`);
    return result.webhook;
  };
  const expectError = async (input: WebhookInput, what: string, code?: WebhookErrorCode) => {
    const result = await verify(input);
    assert(!result.ok, `${what}: expected an error result, but it verified`);
    if (code)
      strictEqual(result.error.code, code, `${what}: expected ${code}, got ${describeResult(result)}`);
  };
  const withHeader = (delivery: SignedWebhook, value: string | null): WebhookInput => {
    const headers = new Headers(delivery.headers);
    if (value === null) headers.delete(sign.signatureHeader);
    else headers.set(sign.signatureHeader, value);
    return { rawBody: delivery.rawBody, headers };
  };
  /** A real signature value as the scheme writes it, made with a given secret, for mixing into headers. */
  const signatureValue = async (body: string, timestamp: number, withSecret: string) => {
    const header = (await signed(body, [{ secret: withSecret }], timestamp)).headers.get(
      sign.signatureHeader,
    )!;
    return header;
  };

  const checks: ConformanceCheck[] = [
    {
      name: "verifies every fixture's valid raw body",
      async run() {
        for (const fixture of fixtures) {
          const webhook = await expectOk(await signed(fixture.body), fixture.name);
          strictEqual(webhook.provider, provider.name, `${fixture.name}: provider`);
          assert(
            typeof webhook.eventId === "string" && webhook.eventId.length > 0,
            `${fixture.name}: eventId`,
          );
          assert(
            typeof webhook.eventType === "string" && webhook.eventType.length > 0,
            `${fixture.name}: eventType`,
          );
          deepStrictEqual(
            webhook.payload,
            JSON.parse(fixture.body),
            `${fixture.name}: payload is the parsed body`,
          );
        }
      },
    },
    {
      name: "accepts the body as bytes as well as a string",
      async run() {
        const delivery = await signed(first.body);
        await expectOk(
          { rawBody: new TextEncoder().encode(delivery.rawBody), headers: delivery.headers },
          "bytes",
        );
      },
    },
    {
      name: "payloadHash is the sha256 of the raw bytes",
      async run() {
        for (const fixture of fixtures) {
          const webhook = await expectOk(await signed(fixture.body), fixture.name);
          strictEqual(webhook.payloadHash, sha256(new TextEncoder().encode(fixture.body)), fixture.name);
        }
      },
    },
    {
      name: "one flipped byte gives SIGNATURE_INVALID",
      async run() {
        const delivery = await signed(first.body);
        const bytes = new TextEncoder().encode(delivery.rawBody);
        for (const at of [0, Math.floor(bytes.length / 2), bytes.length - 1]) {
          const tampered = bytes.slice();
          tampered[at] = (tampered[at] as number) ^ 0x01;
          await expectError(
            { rawBody: tampered, headers: delivery.headers },
            `byte ${at} flipped`,
            "SIGNATURE_INVALID",
          );
        }
      },
    },
    {
      name: "a re-serialized body gives SIGNATURE_INVALID",
      async run() {
        const delivery = await signed(first.body);
        const parsed = JSON.parse(first.body);
        let reserialized = JSON.stringify(parsed);
        if (reserialized === first.body) reserialized = JSON.stringify(parsed, null, 1);
        await expectError(
          { rawBody: reserialized, headers: delivery.headers },
          "JSON.stringify(JSON.parse(body))",
          "SIGNATURE_INVALID",
        );
      },
    },
    {
      name: "a missing signature header gives SIGNATURE_MISSING",
      async run() {
        await expectError(withHeader(await signed(first.body), null), "no header", "SIGNATURE_MISSING");
      },
    },
    {
      name: "malformed signature values give an error result and never throw",
      async run() {
        const ts = nowSeconds();
        const delivery = await signed(first.body, [{ secret }], ts);
        const valid = await signatureValue(first.body, ts, secret);
        const validRaw = valid.match(/[A-Za-z0-9+/=]{32,}$/)?.[0] ?? valid;
        const raws = [
          "",
          "garbage",
          MULTIBYTE,
          "abcd",
          "00",
          validRaw.slice(0, 16),
          validRaw.slice(0, -2),
          `${validRaw}00`,
          `${validRaw.slice(0, -1)}${validRaw.endsWith("a") ? "b" : "a"}`,
          "f".repeat(64),
          "x".repeat(5000),
        ];
        for (const raw of raws) {
          const d = await signed(first.body, [{ raw }], ts);
          await expectError(d, `signature ${JSON.stringify(raw.slice(0, 24))}`);
        }
        if (sign.multipleSignatures) {
          await expectError(
            await signed(first.body, [{ raw: "abcd" }, { raw: "abcd" }], ts),
            "duplicated invalid",
          );
          await expectOk(
            await signed(first.body, [{ secret }, { secret }], ts),
            "duplicated valid signature",
          );
        }
        for (const header of [
          "",
          ",",
          ";;;",
          "=",
          "t=,v1=",
          "ts=;h1=",
          "v1",
          MULTIBYTE,
          "a".repeat(20_000),
        ]) {
          await expectError(withHeader(delivery, header), `header ${JSON.stringify(header.slice(0, 24))}`);
        }
      },
    },
    {
      name: "every configured secret verifies (rotation)",
      async run() {
        for (const [index, s] of secrets.entries()) {
          await expectOk(await signed(first.body, [{ secret: s }]), `secret #${index + 1}`);
        }
      },
    },
    {
      name: "an unknown secret gives SIGNATURE_INVALID",
      async run() {
        await expectError(
          await signed(first.body, [{ secret: OTHER_SECRET }]),
          "unknown secret",
          "SIGNATURE_INVALID",
        );
      },
    },
    {
      name: "with several signatures in one header any valid one suffices, in every position",
      async run() {
        if (!sign.multipleSignatures) return;
        const ts = nowSeconds();
        const wrong: SignatureSpec[] = [{ secret: OTHER_SECRET }, { secret: OTHER_SECRET_2 }];
        for (const good of secrets) {
          for (let position = 0; position <= wrong.length; position++) {
            const specs = [...wrong];
            specs.splice(position, 0, { secret: good });
            await expectOk(await signed(first.body, specs, ts), `valid signature at position ${position}`);
          }
        }
        await expectError(
          await signed(first.body, wrong, ts),
          "only invalid signatures",
          "SIGNATURE_INVALID",
        );
      },
    },
    {
      name: "timestamps beyond the tolerance are rejected both ways, inside accepted",
      async run() {
        if (!timestamped) return;
        const tolerance = options.toleranceSeconds!;
        const now = nowSeconds();
        const cases: [number, boolean][] = [
          [now - tolerance - 30, false],
          [now + tolerance + 30, false],
          [now - tolerance + 5, true],
          [now + tolerance - 5, true],
          [now, true],
        ];
        for (const [ts, accepted] of cases) {
          const d = await signed(first.body, [{ secret }], ts);
          if (accepted) await expectOk(d, `timestamp ${ts - now}s from now`);
          else await expectError(d, `timestamp ${ts - now}s from now`, "TIMESTAMP_OUT_OF_TOLERANCE");
        }
        // "now" is `receivedAt`, not the machine's clock: a delivery signed and received 3 hours ago
        // verifies, and one signed now but received 3 hours ago does not
        const earlier = now - 3 * 3600;
        const old = await signed(first.body, [{ secret }], earlier);
        await expectOk({ ...old, receivedAt: new Date(earlier * 1000) }, "signed and received 3 h ago");
        const fresh = await signed(first.body, [{ secret }], now);
        await expectError(
          { ...fresh, receivedAt: new Date(earlier * 1000) },
          "signed now, received 3 h ago",
          "TIMESTAMP_OUT_OF_TOLERANCE",
        );
      },
    },
    {
      name: "a parsed object passed as the body gives BODY_NOT_RAW",
      async run() {
        const d = await signed(first.body);
        await expectError(
          { rawBody: JSON.parse(d.rawBody) as unknown as string, headers: d.headers },
          "parsed body",
          "BODY_NOT_RAW",
        );
      },
    },
    {
      name: "a signed body that is not JSON gives PAYLOAD_INVALID",
      async run() {
        await expectError(await signed("this is not json {"), "non-JSON body", "PAYLOAD_INVALID");
      },
    },
    {
      name: "parseWebhookEvent is total over every fixture",
      async run() {
        for (const fixture of fixtures) {
          const webhook = await expectOk(await signed(fixture.body), fixture.name);
          const event = parseOrFail(provider, webhook, fixture.name);
          checkEventShape(event, webhook, fixture.name);
        }
      },
    },
    {
      name: "parseWebhookEvent never throws on odd verified payloads (unmapped → unknown)",
      async run() {
        const types = new Set<string>(["an.event.nobody.sends"]);
        for (const fixture of fixtures)
          types.add((await expectOk(await signed(fixture.body), fixture.name)).eventType);
        const payloads: unknown[] = [
          {},
          { data: null },
          { data: {} },
          { data: { object: {} } },
          { data: { attributes: {} } },
          { data: { object: { id: 1, amount: "x", metadata: null } }, meta: {} },
          { meta: { event_name: "an_event_nobody_sends" }, data: { attributes: null } },
        ];
        for (const eventType of types) {
          for (const payload of payloads) {
            const webhook: VerifiedWebhook = {
              provider: provider.name,
              payloadHash: "sha256:00",
              eventId: "evt_conformance",
              eventType,
              occurredAt: clock(),
              livemode: false,
              payload,
            };
            const event = parseOrFail(provider, webhook, `${eventType} with ${JSON.stringify(payload)}`);
            assert(EVENT_KINDS.includes(event.kind), `${eventType}: kind ${event.kind}`);
          }
        }
        if (options.unknownEvent) {
          const webhook = await expectOk(await signed(options.unknownEvent), "unknown event");
          strictEqual(
            parseOrFail(provider, webhook, "unknown event").kind,
            "unknown",
            "an unmapped type is unknown",
          );
        }
      },
    },
    {
      name: "eventId is stable across redelivery",
      async run() {
        for (const fixture of fixtures) {
          const now = nowSeconds();
          const a = await expectOk(await signed(fixture.body, [{ secret }], now - 60), fixture.name);
          const b = await expectOk(await signed(fixture.body, [{ secret }], now), fixture.name);
          strictEqual(a.eventId, b.eventId, `${fixture.name}: eventId changed on redelivery`);
          strictEqual(a.payloadHash, b.payloadHash, `${fixture.name}: payloadHash`);
        }
      },
    },
    {
      name: "every declared capability has its methods",
      async run() {
        const needs: Record<Capability, [string, string][]> = {
          checkout: [
            ["checkout", "create"],
            ["checkout", "retrieve"],
          ],
          "checkout.expire": [["checkout", "expire"]],
          "checkout.inline-prices": [["checkout", "create"]],
          subscriptions: [
            ["subscriptions", "cancel"],
            ["subscriptions", "resume"],
          ],
          "subscriptions.change": [["subscriptions", "change"]],
          "subscriptions.pause": [["subscriptions", "pause"]],
          refunds: [["refunds", "create"]],
          "refunds.partial": [["refunds", "create"]],
          portal: [["portal", "create"]],
          "webhook.timestamp": [],
        };
        for (const capability of provider.capabilities) {
          const required = needs[capability];
          assert(required, `unknown capability ${capability}`);
          for (const [group, method] of required) {
            const fn = (provider as unknown as Record<string, Record<string, unknown> | undefined>)[group]?.[
              method
            ];
            strictEqual(typeof fn, "function", `capability ${capability} needs ${group}.${method}()`);
          }
        }
      },
    },
  ];
  return checks;
}

function parseOrFail(provider: PaymentProvider, webhook: VerifiedWebhook, what: string): MikaEvent {
  try {
    return provider.parseWebhookEvent(webhook);
  } catch (error) {
    throw new Error(
      `${what}: parseWebhookEvent threw (${String(error)}); it must map what it cannot read to "unknown"`,
    );
  }
}

function checkEventShape(event: MikaEvent, webhook: VerifiedWebhook, what: string) {
  assert(EVENT_KINDS.includes(event.kind), `${what}: unknown kind ${String(event.kind)}`);
  strictEqual(event.provider, webhook.provider, `${what}: provider`);
  strictEqual(event.eventId, webhook.eventId, `${what}: eventId`);
  strictEqual(event.eventType, webhook.eventType, `${what}: eventType`);
  assert(
    event.occurredAt instanceof Date && !Number.isNaN(event.occurredAt.getTime()),
    `${what}: occurredAt`,
  );
  if (webhook.occurredAt) {
    strictEqual(
      event.occurredAt.getTime(),
      webhook.occurredAt.getTime(),
      `${what}: occurredAt is the verified webhook's (when the provider says the event happened)`,
    );
  }
  strictEqual(typeof event.livemode, "boolean", `${what}: livemode`);
  if (webhook.livemode !== undefined)
    strictEqual(event.livemode, webhook.livemode, `${what}: livemode is the verified webhook's`);
  const record = event as unknown as Record<string, unknown>;
  for (const field of ["amount", "refundedAmount"]) {
    if (record[field] !== undefined)
      assert(Number.isSafeInteger(record[field]), `${what}: ${field} is minor units`);
  }
  if (record.currency !== undefined) {
    assert(
      /^[A-Z]{3}$/.test(String(record.currency)),
      `${what}: currency ${String(record.currency)} is ISO upper case`,
    );
  }
  if (event.kind === "subscription.updated") {
    assert(event.updatedAt instanceof Date && !Number.isNaN(event.updatedAt.getTime()), `${what}: updatedAt`);
    assert(event.subscriptionRef, `${what}: subscriptionRef`);
  }
}
