/**
 * `@mika/testing`: conformance suites, webhook signing helpers, provider sandboxes and real payload
 * fixtures for Mika providers and stores. (Without vitest: `@mika/testing/kit`.)
 *
 * @packageDocumentation
 */
export * from "./kit.js";
export { runProviderConformance, runStoreConformance } from "./vitest.js";
