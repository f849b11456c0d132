import { lemonSqueezySigner, providerFixtures, runProviderConformance } from "@mika/testing";
import { describe } from "vitest";
import { lemonSqueezyProvider } from "../src/index.js";
import { handBuilt, provider, SECRETS } from "./helpers.js";

// Real bodies from fixtures/lemonsqueezy plus the hand-built ones (see helpers.ts) so every mapped
// kind goes through the whole suite.
const fixtures = [
  ...providerFixtures("lemonsqueezy"),
  ...Object.entries(handBuilt)
    .filter(([name]) => name !== "licenseKeyCreated")
    .map(([name, build]) => ({ name: `hand-built/${name}`, body: JSON.stringify(build()) })),
];

runProviderConformance({
  provider,
  sign: lemonSqueezySigner,
  fixtures,
  secrets: SECRETS,
  unknownEvent: JSON.stringify(handBuilt.licenseKeyCreated()),
});

// The same suite on the Web Crypto path alone, as on an edge runtime (eager payload hash, async HMAC
// and event-id digest).
describe('cryptoBackend "web" (Web Crypto only, as on edge runtimes)', () => {
  runProviderConformance({
    provider: lemonSqueezyProvider({ webhookSecret: SECRETS, cryptoBackend: "web" }),
    sign: lemonSqueezySigner,
    fixtures,
    secrets: SECRETS,
    unknownEvent: JSON.stringify(handBuilt.licenseKeyCreated()),
  });
});
