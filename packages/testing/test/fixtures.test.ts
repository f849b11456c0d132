import { describe, expect, it } from "vitest";
import { loadFixture, providerFixtures, stripeEventFromData } from "../src/index.js";

describe("fixtures", () => {
  it("loads every provider's payloads by name", () => {
    expect(providerFixtures("paddle").length).toBeGreaterThanOrEqual(20);
    expect(providerFixtures("lemonsqueezy").map((f) => f.name)).toContain("lemonsqueezy/order_created");
    expect(JSON.parse(loadFixture("paddle/transaction.completed")).event_type).toBe("transaction.completed");
  });
  it("wraps Stripe data-only fixtures into full events", () => {
    const event = JSON.parse(stripeEventFromData("subscription.updated"));
    expect(event).toMatchObject({ object: "event", type: "customer.subscription.updated" });
    expect(event.data.object.object).toBe("subscription");
    const names = providerFixtures("stripe").map((f) => f.name);
    expect(names).toContain("stripe/checkout.session.completed");
    expect(names).toContain("stripe/charge.refunded");
    expect(names.some((n) => n.includes("objects"))).toBe(false);
  });
  it("explains an unknown fixture name", () => {
    expect(() => loadFixture("stripe/nope")).toThrow(/No fixture named/);
  });
});
