import { loadFixtureJson, providerFixtures, runProviderConformance, stripeSigner } from "@mika/testing";
import Stripe from "stripe";
import { describe } from "vitest";
import { stripeProvider } from "../src/index.js";

const secrets = ["whsec_conformance_primary_0123456789", "whsec_conformance_rotated_9876543210"];

// An event type the adapter does not map: `customer.created`, wrapping the real API object from
// fixtures/stripe/objects/customer.json into an Event envelope.
const unknownEvent = JSON.stringify({
  id: "evt_conformance_customer_created",
  object: "event",
  api_version: "2020-08-27",
  created: 1_700_000_000,
  livemode: false,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  type: "customer.created",
  data: { object: loadFixtureJson("stripe/objects/customer") },
});

runProviderConformance({
  // A real SDK client (never called here) so every API capability is declared and checked.
  provider: stripeProvider({
    client: new Stripe("sk_test_conformance", { maxNetworkRetries: 0 }),
    webhookSecret: secrets,
    toleranceSeconds: 300,
  }),
  sign: stripeSigner,
  fixtures: providerFixtures("stripe"),
  secrets,
  toleranceSeconds: 300,
  unknownEvent,
});

// The same suite on the Web Crypto path alone, as on an edge runtime (eager payload hash, async HMAC).
describe('cryptoBackend "web" (Web Crypto only, as on edge runtimes)', () => {
  runProviderConformance({
    provider: stripeProvider({ webhookSecret: secrets, toleranceSeconds: 300, cryptoBackend: "web" }),
    sign: stripeSigner,
    fixtures: providerFixtures("stripe"),
    secrets,
    toleranceSeconds: 300,
    unknownEvent,
  });
});
