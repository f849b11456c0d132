/**
 * `@mika/stripe`: the Stripe adapter for Mika, on the official `stripe` SDK.
 *
 * @packageDocumentation
 */
export type { StripeClient, StripeObject, StripeRequestOptions } from "./client.js";
export { type StripeProviderOptions, stripeProvider } from "./provider.js";
