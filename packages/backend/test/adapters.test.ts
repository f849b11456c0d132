/**
 * The pipeline with each real adapter (webhook side), on every real fixture: signed with the
 * provider's real scheme, verified and parsed by the adapter, applied by the ledger.
 */

import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { paddleProvider } from "@mika/paddle";
import { stripeProvider } from "@mika/stripe";
import {
  type Fixture,
  lemonSqueezySigner,
  paddleSigner,
  providerFixtures,
  stripeSigner,
  type WebhookSigner,
} from "@mika/testing";
import type { PaymentProvider } from "@mika/types";
import { describe, expect, it } from "vitest";
import { createMika, memoryStore } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };

interface Case {
  provider: PaymentProvider;
  signer: WebhookSigner;
  secret: string;
  fixtures: Fixture[];
  paidFixture: string;
  paidAmount: number;
}

/** Stripe's full-envelope fixtures share one zeroed event id; give each its own, as real events have. */
function uniqueStripeIds(fixtures: Fixture[]): Fixture[] {
  return fixtures.map((f, i) => {
    const json = JSON.parse(f.body);
    json.id = `evt_fixture_${i}_${json.type}`;
    return { name: f.name, body: JSON.stringify(json, null, 2) };
  });
}

const cases: Record<string, Case> = {
  stripe: {
    provider: stripeProvider({ webhookSecret: "whsec_backend_adapters" }),
    signer: stripeSigner,
    secret: "whsec_backend_adapters",
    fixtures: uniqueStripeIds(providerFixtures("stripe")),
    paidFixture: "stripe/checkout.session.completed",
    paidAmount: 1900,
  },
  paddle: {
    provider: paddleProvider({ webhookSecret: "pdl_ntfset_backend_adapters" }),
    signer: paddleSigner,
    secret: "pdl_ntfset_backend_adapters",
    fixtures: providerFixtures("paddle"),
    paidFixture: "paddle/transaction.completed",
    paidAmount: -1,
  },
  lemonsqueezy: {
    provider: lemonSqueezyProvider({ webhookSecret: "ls_backend_adapters" }),
    signer: lemonSqueezySigner,
    secret: "ls_backend_adapters",
    fixtures: providerFixtures("lemonsqueezy"),
    paidFixture: "lemonsqueezy/order_created",
    paidAmount: -1,
  },
};

for (const [name, c] of Object.entries(cases)) {
  describe(`pipeline with the real ${name} adapter`, () => {
    const send = async (mika: ReturnType<typeof createMika>, body: string) => {
      const signed = await c.signer.sign({ body, signatures: [{ secret: c.secret }] });
      const res = await mika.handler(
        new Request(`http://shop.test/api/mika/webhooks/${c.provider.name}`, {
          method: "POST",
          headers: signed.headers,
          body: signed.rawBody,
        }),
      );
      return { status: res.status, body: (await res.json()) as any };
    };

    it("accepts every fixture (processed, ignored or parked — never an error) and answers redeliveries as duplicates", async () => {
      const mika = createMika({ providers: [c.provider], store: memoryStore(), config: { logger: quiet } });
      for (const fixture of c.fixtures) {
        const first = await send(mika, fixture.body);
        expect(first.status, `${fixture.name}: ${JSON.stringify(first.body)}`).toBe(200);
        expect(["processed", "ignored", "parked"]).toContain(first.body.data.status);
      }
      for (const fixture of c.fixtures) {
        const again = await send(mika, fixture.body);
        expect(again.body.data.status, fixture.name).toBe("duplicate");
      }
      const events = await mika.webhooks.list({ limit: 500 });
      expect(events.ok && events.data.items).toHaveLength(c.fixtures.length);
    });

    it("turns the completion fixture into a paid order", async () => {
      const mika = createMika({ providers: [c.provider], store: memoryStore(), config: { logger: quiet } });
      const fixture = c.fixtures.find((f) => f.name === c.paidFixture)!;
      const res = await send(mika, fixture.body);
      expect(res.body.data).toMatchObject({ status: "processed", kind: "checkout.completed" });
      const orders = await mika.orders.list();
      const order = orders.ok ? orders.data.items[0] : undefined;
      expect(order?.status).toBe("paid");
      expect(Number.isInteger(order?.amount)).toBe(true);
      if (c.paidAmount > 0) expect(order?.amount).toBe(c.paidAmount);
      expect(order?.currency).toMatch(/^[A-Z]{3}$/);
    });

    it("rejects the fixture signed with another secret (400, nothing stored)", async () => {
      const mika = createMika({ providers: [c.provider], store: memoryStore(), config: { logger: quiet } });
      const fixture = c.fixtures[0]!;
      const signed = await c.signer.sign({
        body: fixture.body,
        signatures: [{ secret: `${c.secret}_other` }],
      });
      const res = await mika.handler(
        new Request(`http://shop.test/api/mika/webhooks/${c.provider.name}`, {
          method: "POST",
          headers: signed.headers,
          body: signed.rawBody,
        }),
      );
      expect(res.status).toBe(400);
      const events = await mika.webhooks.list();
      expect(events.ok && events.data.items).toHaveLength(0);
    });
  });
}
