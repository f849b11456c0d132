/**
 * A refund request whose answer never came may have been applied. Lemon Squeezy has no
 * idempotency key, so such a failure must not be reported as safe to retry (the Paddle adapter marks
 * the same case `retryable: false`).
 */
import { ProviderError } from "@mika/types";
import { type Dispatcher, getGlobalDispatcher, MockAgent, setGlobalDispatcher } from "undici";
import { afterEach, beforeEach, expect, it } from "vitest";
import { lemonSqueezyProvider } from "../src/index.js";

let original: Dispatcher;
let agent: MockAgent;
beforeEach(() => {
  original = getGlobalDispatcher();
  agent = new MockAgent();
  agent.disableNetConnect();
  setGlobalDispatcher(agent);
});
afterEach(async () => {
  setGlobalDispatcher(original);
  await agent.close();
});

it("a partial refund whose request got no answer is not retryable (it may have been applied)", async () => {
  const provider = lemonSqueezyProvider({ apiKey: "test-api-key-0123456789", webhookSecret: "s" });
  agent
    .get("https://api.lemonsqueezy.com")
    .intercept({ method: "POST", path: "/v1/orders/1001/refund" })
    .replyWithError(new Error("socket hang up"));
  const error = await provider
    .refunds!.create({ paymentRef: "1001", amount: 1200, idempotencyKey: "r-lost" })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(ProviderError);
  expect((error as ProviderError).providerStatus).toBeUndefined();
  // KEY ASSERTION
  expect((error as ProviderError).retryable).toBe(false);
});
