import type { Fixture } from "../src/index.js";

/** Two Standard Webhooks secrets (rotation). */
export const SW_SECRETS = [
  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=",
];

/** Standard Webhooks bodies in the shape Polar sends (type + timestamp + data). */
export const standardFixtures: Fixture[] = [
  {
    name: "polar/order.paid",
    body: JSON.stringify(
      {
        type: "order.paid",
        timestamp: "2025-01-01T10:00:00Z",
        data: { id: "ord_1", amount: 2500, currency: "usd", customer: { email: "a@example.com" } },
      },
      null,
      2,
    ),
  },
  {
    name: "polar/subscription.updated",
    body: JSON.stringify({
      type: "subscription.updated",
      timestamp: "2025-01-01T10:00:00Z",
      data: { id: "sub_1" },
    }),
  },
];
