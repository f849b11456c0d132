/** readConfig: which providers are wired from which variables, and which keys are reported missing. */
import { describe, expect, it } from "vitest";
import { lemonSqueezyVariantKey, readConfig } from "../src/index";

const names = (env: Record<string, string>) => readConfig(env).missing.map((m) => m.name);

describe("readConfig", () => {
  it("reports Stripe's two keys by name when nothing is set, and wires nothing", () => {
    const config = readConfig({});
    expect(config.missing.map((m) => m.name)).toEqual(["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]);
    expect(config.providers).toEqual([]);
    expect(config.dbFile).toBe("./mika.db");
  });

  it("wires Stripe for webhooks only when the secret key is missing (Buy disabled)", () => {
    const config = readConfig({ STRIPE_WEBHOOK_SECRET: "whsec_x", MIKA_DB: "/tmp/x.db" });
    expect(config.missing.map((m) => m.name)).toEqual(["STRIPE_SECRET_KEY"]);
    expect(config.wired).toEqual([
      { name: "stripe", label: "Stripe", checkout: { tee: false, stickers: false } },
    ]);
    expect(config.providers[0]!.capabilities.has("checkout")).toBe(false);
    expect(config.dbFile).toBe("/tmp/x.db");
  });

  it("wires Stripe with checkout when both keys are set", () => {
    const config = readConfig({ STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: "whsec_x" });
    expect(config.missing).toEqual([]);
    expect(config.providers[0]!.capabilities.has("checkout")).toBe(true);
  });

  it("wires Paddle once any of its keys is set and names the ones still missing", () => {
    const stripe = { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: "whsec_x" };
    expect(names({ ...stripe, PADDLE_WEBHOOK_SECRET: "pdl_ntfset_x" })).toEqual(["PADDLE_API_KEY"]);
    const both = readConfig({ ...stripe, PADDLE_API_KEY: "pdl_sdbx_apikey_x", PADDLE_WEBHOOK_SECRET: "s" });
    expect(both.wired.map((w) => w.name)).toEqual(["stripe", "paddle"]);
    expect(both.providers[1]!.capabilities.has("checkout")).toBe(true);
  });

  it("asks Lemon Squeezy for a variant per product and prices the catalog with it", () => {
    const env = {
      STRIPE_SECRET_KEY: "sk_test_x",
      STRIPE_WEBHOOK_SECRET: "whsec_x",
      LEMONSQUEEZY_API_KEY: "key",
      LEMONSQUEEZY_STORE_ID: "1",
      LEMONSQUEEZY_WEBHOOK_SECRET: "secret",
      [lemonSqueezyVariantKey("tee")]: "42",
    };
    const config = readConfig(env);
    expect(config.missing.map((m) => m.name)).toEqual(["LEMONSQUEEZY_VARIANT_STICKERS"]);
    expect(config.wired[1]).toEqual({
      name: "lemonsqueezy",
      label: "Lemon Squeezy",
      checkout: { tee: true, stickers: false },
    });
    expect(config.catalog.find((s) => s.id === "tee")!.prices).toEqual({ lemonsqueezy: "42" });
  });
});
