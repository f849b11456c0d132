/**
 * `@mika/types`: the contract every Mika provider, store and binding is written against.
 *
 * @packageDocumentation
 */
export * from "./errors.js";
export * from "./events.js";
export * from "./provider.js";
export * from "./store.js";
export * from "./webhook.js";
