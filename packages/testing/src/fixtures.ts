/**
 * The real webhook payloads of `fixtures/` (provenance in fixtures/SOURCES.md), loadable by name.
 * Node only (reads files).
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The providers with fixtures. */
export type FixtureProvider = "stripe" | "paddle" | "lemonsqueezy";

/** A named webhook body. */
export interface Fixture {
  /** `<provider>/<name>` without `.json`. */
  name: string;
  /** The exact body text. */
  body: string;
}

/** Absolute path of the fixtures folder. */
export const fixturesDir: string = fileURLToPath(new URL("../fixtures/", import.meta.url));

/** The text of one fixture, by `<provider>/<name>` (with or without `.json`). */
export function loadFixture(name: string): string {
  const file = name.endsWith(".json") ? name : `${name}.json`;
  try {
    return readFileSync(`${fixturesDir}${file}`, "utf8");
  } catch {
    throw new Error(`No fixture named ${JSON.stringify(name)}: see ${fixturesDir} for the list.`);
  }
}

/** A fixture parsed as JSON. */
export function loadFixtureJson<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(loadFixture(name)) as T;
}

/**
 * Wraps a Stripe `*.data.json` fixture (the Event's `data` member only) into a full Event envelope,
 * as SOURCES.md says to. `subscription.*` files are `customer.subscription.*` events.
 */
export function stripeEventFromData(
  name: string,
  envelope: { id?: string; created?: number; livemode?: boolean } = {},
): string {
  const base = name.replace(/^stripe\//, "").replace(/\.data(\.json)?$/, "");
  const data = loadFixtureJson<{ object: { created?: number; livemode?: boolean } }>(`stripe/${base}.data`);
  const type = base.startsWith("subscription.") ? `customer.${base}` : base;
  return JSON.stringify(
    {
      id: envelope.id ?? `evt_fixture_${base.replace(/\W/g, "_")}`,
      object: "event",
      api_version: "2020-08-27",
      created: envelope.created ?? data.object.created ?? 1_600_000_000,
      livemode: envelope.livemode ?? data.object.livemode ?? false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data,
    },
    null,
    2,
  );
}

/**
 * Every webhook body for a provider, ready to sign: Paddle and Lemon Squeezy files as they are,
 * Stripe's full envelopes plus its `*.data.json` files wrapped by {@link stripeEventFromData}.
 * (Stripe's `objects/` are API objects, not events, and are not included.)
 */
export function providerFixtures(provider: FixtureProvider): Fixture[] {
  const files = readdirSync(`${fixturesDir}${provider}`)
    .filter((f) => f.endsWith(".json"))
    .sort();
  return files.map((file) => {
    const name = `${provider}/${file.replace(/\.json$/, "")}`;
    if (provider === "stripe" && file.endsWith(".data.json")) {
      return { name: name.replace(/\.data$/, ""), body: stripeEventFromData(file) };
    }
    return { name, body: loadFixture(name) };
  });
}

/** The known-answer signature vectors (fixtures/signature-vectors.json). */
export interface SignatureVectors {
  paddle: { secret: string; body: string; header: string; valid_at_unix?: number; expect: string }[];
  standard_webhooks: {
    secret: string;
    "webhook-id": string;
    "webhook-timestamp": string;
    body: string;
    "webhook-signature": string;
    expect: string;
  }[];
  lemonsqueezy: {
    secret: string;
    raw_body_with_escaped_slashes: string;
    "x-signature": string;
    reserialized_body_without_escapes_hash: string;
    expect: string;
  }[];
}

/** Loads the known-answer signature vectors. */
export function signatureVectors(): SignatureVectors {
  return loadFixtureJson<SignatureVectors>("signature-vectors");
}
