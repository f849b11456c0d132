import { lemonSqueezySigner, providerFixtures, runProviderConformance } from "@mika/testing";
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
