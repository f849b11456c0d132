/**
 * `@mika/testing`: conformance suites, webhook signing helpers and real payload fixtures for Mika
 * providers and stores.
 *
 * @packageDocumentation
 */
export * from "./fixtures.js";
export * from "./provider-conformance.js";
export * from "./sandbox/index.js";
export * from "./sign.js";
export * from "./standard-webhooks.js";
export * from "./store-conformance.js";
