/**
 * `@mika/testing/kit`: everything in `@mika/testing` that does not need vitest — signers, fixtures,
 * provider sandboxes, `standardWebhooksProvider` and the conformance checks as data. Import this from
 * tools and scripts (the `mika` CLI, `pnpm demo`); import `@mika/testing` from test files.
 *
 * @packageDocumentation
 */
export * from "./fixtures.js";
export * from "./provider-conformance.js";
export * from "./sandbox/index.js";
export * from "./sign.js";
export * from "./standard-webhooks.js";
export * from "./store-conformance.js";
