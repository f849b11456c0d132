/**
 * `pnpm demo`: a Mika server on a fresh SQLite file (plain node:http over `mika.handler`), the three real
 * adapters with their official SDKs pointed at loopback provider sandboxes, and one scripted story per
 * provider: checkout started → signed completion webhook → duplicate → tampered → out-of-order
 * subscription update → partial refund. Prints the ledger and the ops view; exits 0 only when every
 * step had the expected outcome. Offline. `--json` prints the same as JSON.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMika, type Mika, type Order, type Subscription, type WebhookRecord } from "@mika/backend";
import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { paddleProvider } from "@mika/paddle";
import { sqliteStore } from "@mika/store-sqlite";
import { stripeProvider } from "@mika/stripe";
import {
  type LemonSqueezySandbox,
  type PaddleSandbox,
  type SandboxDelivery,
  type StripeSandbox,
  startLemonSqueezySandbox,
  startPaddleSandbox,
  startStripeSandbox,
} from "@mika/testing/kit";
import { Paddle } from "@paddle/paddle-node-sdk";
import Stripe from "stripe";
import { colors, json, processOutput } from "./output.js";
import { eventsTable, ordersTable, subscriptionsTable } from "./program.js";
import { serveHandler } from "./serve.js";
import { deliver, outcomeOf, signBody, type TriggerProvider, tamperBody } from "./trigger.js";

type Obj = Record<string, unknown>;

const SECRETS: Record<TriggerProvider, string> = {
  stripe: "whsec_mika_demo_2f9c41e7",
  paddle: "pdl_ntfset_mika_demo_7a1d0b",
  lemonsqueezy: "mika_demo_ls_5c3e8f",
};
const PROVIDERS: readonly TriggerProvider[] = ["stripe", "paddle", "lemonsqueezy"];
const REFUND = 1000;

/** One step of a provider's story: what should happen and what did. */
interface Step {
  step: string;
  expected: string;
  actual: string;
  ok: boolean;
}

/** What the demo prints with `--json`. */
export interface DemoReport {
  ok: boolean;
  database: string;
  seconds: number;
  stories: Record<TriggerProvider, { steps: Step[]; orderId?: string; subscriptionRef?: string }>;
  orders: Order[];
  subscriptions: Subscription[];
  events: WebhookRecord[];
  /** What the backend warned about: one `webhook rejected` per provider (the tampered delivery). */
  warnings: string[];
}

const asJson = process.argv.includes("--json");
const keep = process.argv.includes("--keep");
const say = (text: string) => {
  if (!asJson) processOutput.out(text);
};
const fail = (message: string): never => {
  throw new Error(message);
};

async function main(): Promise<number> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "mika-demo-"));
  const database = join(dir, "mika.db");
  const store = sqliteStore({ file: database });
  let mika: Mika | undefined;
  const served = await serveHandler((request) =>
    mika ? mika.handler(request) : Promise.resolve(new Response("starting", { status: 503 })),
  );
  const webhookUrl = (provider: TriggerProvider) => `${served.url}/api/mika/webhooks/${provider}`;
  const sandboxes: { close(): Promise<void> }[] = [];
  try {
    const stripe: StripeSandbox<Stripe> = await startStripeSandbox<Stripe>({
      webhookUrl: webhookUrl("stripe"),
      webhookSecret: SECRETS.stripe,
      sdk: Stripe as never,
      prices: {
        price_tee: { unit_amount: 2500, currency: "usd", product_name: "T-shirt" },
        price_pro: {
          unit_amount: 1900,
          currency: "usd",
          recurring: { interval: "month" },
          product_name: "Pro",
        },
      },
    });
    sandboxes.push(stripe);
    const paddle: PaddleSandbox<Paddle> = await startPaddleSandbox<Paddle>({
      webhookUrl: webhookUrl("paddle"),
      webhookSecret: SECRETS.paddle,
      sdk: Paddle as never,
      prices: {
        pri_tee: { amount: 2500, currency: "USD", name: "T-shirt" },
        pri_pro: { amount: 1900, currency: "USD", interval: "month", name: "Pro" },
      },
    });
    sandboxes.push(paddle);
    const lemon: LemonSqueezySandbox = await startLemonSqueezySandbox({
      webhookUrl: webhookUrl("lemonsqueezy"),
      webhookSecret: SECRETS.lemonsqueezy,
      variants: {
        "11": { price: 2500, name: "T-shirt" },
        "21": { price: 1900, name: "Pro", interval: "month" },
      },
    });
    sandboxes.push(lemon);

    const warnings: string[] = [];
    mika = createMika({
      providers: [
        stripeProvider({ client: stripe.client(), webhookSecret: SECRETS.stripe }),
        paddleProvider({ client: paddle.client(), webhookSecret: SECRETS.paddle, environment: "sandbox" }),
        lemonSqueezyProvider({ apiKey: "demo", storeId: lemon.storeId, webhookSecret: SECRETS.lemonsqueezy }),
      ],
      store,
      catalog: [
        {
          id: "tee",
          name: "T-shirt",
          amount: 2500,
          currency: "USD",
          prices: { stripe: "price_tee", paddle: "pri_tee", lemonsqueezy: "11" },
          stock: 100,
        },
        {
          id: "pro",
          name: "Pro plan",
          amount: 1900,
          currency: "USD",
          mode: "subscription",
          interval: "month",
          prices: { stripe: "price_pro", paddle: "pri_pro", lemonsqueezy: "21" },
        },
      ],
      config: {
        logger: {
          info() {},
          warn: (message) => warnings.push(message),
          error: (message) => warnings.push(message),
        },
      },
    });
    const app = mika;

    say(colors.bold(`Mika demo: server ${served.url}, SQLite ${database}`));
    say(
      colors.dim(
        "Stripe, Paddle and Lemon Squeezy are loopback sandboxes driven through their official SDKs.\n",
      ),
    );

    const lastDelivery = (sandbox: { deliveries: SandboxDelivery[] }) =>
      sandbox.deliveries.at(-1) ?? fail("the sandbox delivered nothing");

    const stories = {} as DemoReport["stories"];
    for (const provider of PROVIDERS) {
      const steps: Step[] = [];
      const check = (step: string, expected: string, actual: string) => {
        const ok = actual === expected;
        steps.push({ step, expected, actual, ok });
        say(
          `  ${ok ? colors.green("✓") : colors.red("✗")} ${step.padEnd(34)} ${ok ? actual : `${actual} (expected ${expected})`}`,
        );
      };
      stories[provider] = { steps };
      say(colors.bold(colors.cyan(provider)));
      const orderStatus = async (id: string) => {
        const order = await app.orders.get(id);
        return order.ok ? order.data : fail(`order ${id}: ${order.error.message}`);
      };

      // 1. checkout started: Mika calls the provider's API (the sandbox) through its SDK
      const started = await app.checkout.start(
        {
          provider,
          lines: [{ sellableId: "tee", quantity: 1 }],
          successUrl: `${served.url}/thanks`,
          cancelUrl: `${served.url}/cart`,
          customer: { email: `buyer+${provider}@example.com`, name: "Ada Buyer" },
        },
        { idempotencyKey: globalThis.crypto.randomUUID() },
      );
      if (!started.ok) return fail(`${provider} checkout.start: ${started.error.message}`);
      const orderId = started.data.checkoutId;
      stories[provider].orderId = orderId;
      const opened = await orderStatus(orderId);
      check("checkout started", "pending", opened.status);
      const providerCheckoutId = opened.providerCheckoutId ?? fail(`${provider}: no provider checkout id`);

      // 2. the buyer pays on the hosted page: the sandbox delivers the signed completion webhook
      const completed = await complete(provider, { stripe, paddle, lemon }, providerCheckoutId);
      check("signed completion webhook", "200", String(completed));
      check("order after payment", "paid", (await orderStatus(orderId)).status);

      // 3. the provider delivers the same event again (re-signed, same body)
      const original = lastDelivery(sandboxFor(provider, { stripe, paddle, lemon }));
      const again = await deliver(
        webhookUrl(provider),
        await signBody(provider, original.body, SECRETS[provider]),
      );
      check("duplicate delivery", "200 duplicate", outcomeOf(again));

      // 4. someone replays the body with one byte changed
      const signed = await signBody(provider, original.body, SECRETS[provider]);
      const tampered = await deliver(webhookUrl(provider), {
        ...signed,
        rawBody: tamperBody(signed.rawBody),
      });
      check("tampered delivery", "400 WEBHOOK_INVALID", outcomeOf(tampered));

      // 5. a subscription: its newer snapshot arrives before an older one
      const subStarted = await app.checkout.start(
        {
          provider,
          lines: [{ sellableId: "pro", quantity: 1 }],
          successUrl: `${served.url}/thanks`,
          cancelUrl: `${served.url}/cart`,
          customer: { email: `subscriber+${provider}@example.com` },
        },
        { idempotencyKey: globalThis.crypto.randomUUID() },
      );
      if (!subStarted.ok) return fail(`${provider} subscription checkout: ${subStarted.error.message}`);
      const subOrder = await orderStatus(subStarted.data.checkoutId);
      const subCompleted = await complete(
        provider,
        { stripe, paddle, lemon },
        subOrder.providerCheckoutId ?? fail("no checkout id"),
      );
      check("subscription checkout completed", "200", String(subCompleted));
      check(
        "subscription order after payment",
        "paid",
        (await orderStatus(subStarted.data.checkoutId)).status,
      );
      const [newer, older] = await outOfOrderSubscription(
        provider,
        { stripe, paddle, lemon },
        webhookUrl(provider),
      );
      check("newer subscription snapshot", "200 processed", newer.outcome);
      check("older snapshot, delivered late", "200 ignored", older.outcome);
      const subs = await app.subscriptions.list({ provider });
      const subscription = subs.ok ? subs.data.items.find((x) => x.subscriptionRef === newer.ref) : undefined;
      stories[provider].subscriptionRef = newer.ref;
      check("subscription keeps the newer state", "past_due", subscription?.status ?? "missing");

      // 6. a partial refund: asked through Mika, confirmed by the provider's refund event
      const refund = await app.refunds.create(
        { orderId, amount: REFUND, reason: "demo: one size too small" },
        { idempotencyKey: globalThis.crypto.randomUUID() },
      );
      if (!refund.ok) return fail(`${provider} refund: ${refund.error.message}`);
      const confirmed = await confirmRefund(
        provider,
        { stripe, paddle, lemon },
        refund.data.refundRef,
        orderId,
      );
      check("refund event", "200", String(confirmed));
      const refunded = await orderStatus(orderId);
      check(
        "order after the refund",
        `partially_refunded ${REFUND}`,
        `${refunded.status} ${refunded.refundedAmount}`,
      );
      say("");
    }

    const orders = await listAll(app, "orders");
    const subscriptions = await listAll(app, "subscriptions");
    const events = await listAll(app, "events");
    // The backend warns once per tampered delivery (one per provider); anything else it logged means a
    // step misbehaved behind an answer that looked right.
    const unexpected = warnings.filter((w) => w !== "webhook rejected");
    const rejected = warnings.length - unexpected.length;
    const quiet = unexpected.length === 0 && rejected === PROVIDERS.length;
    if (!quiet && !asJson) {
      say(colors.red(`✗ backend warnings: ${rejected} rejected deliveries (expected ${PROVIDERS.length})`));
      for (const w of unexpected) say(colors.red(`  ✗ ${w}`));
    }
    const ok = quiet && PROVIDERS.every((p) => stories[p].steps.every((s) => s.ok));
    const report: DemoReport = {
      ok,
      database,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      stories,
      orders: orders as Order[],
      subscriptions: subscriptions as Subscription[],
      events: [...(events as WebhookRecord[])].reverse(),
      warnings,
    };
    if (asJson) processOutput.out(json(report));
    else {
      say(ordersTable(report.orders, "Ledger: orders"));
      say(subscriptionsTable(report.subscriptions, "\nLedger: subscriptions"));
      say(eventsTable(report.events, "\nOps view: webhook events (oldest first)"));
      const counts = new Map<string, number>();
      for (const w of warnings) counts.set(w, (counts.get(w) ?? 0) + 1);
      const log = [...counts].map(([message, n]) => `${n}× ${message}`).join(", ");
      if (log)
        say(colors.dim(`\nbackend warnings: ${log} (the tampered deliveries are rejected, never stored)`));
      say(
        ok
          ? colors.green(
              `\n✓ every step behaved (${report.seconds} s). Database: ${keep ? database : "removed"}`,
            )
          : colors.red("\n✗ some steps did not behave as expected (see ✗ above)"),
      );
    }
    return ok ? 0 : 1;
  } finally {
    await Promise.allSettled(sandboxes.map((s) => s.close()));
    await served.close();
    await store.close();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

type Sandboxes = { stripe: StripeSandbox<Stripe>; paddle: PaddleSandbox<Paddle>; lemon: LemonSqueezySandbox };

function sandboxFor(provider: TriggerProvider, s: Sandboxes): { deliveries: SandboxDelivery[] } {
  return provider === "stripe" ? s.stripe : provider === "paddle" ? s.paddle : s.lemon;
}

/** The hosted page's Pay button. */
function complete(provider: TriggerProvider, s: Sandboxes, providerCheckoutId: string) {
  if (provider === "stripe") return s.stripe.complete(providerCheckoutId);
  if (provider === "paddle") return s.paddle.complete(providerCheckoutId);
  return s.lemon.complete(providerCheckoutId);
}

async function listAll(app: Mika, what: "orders" | "subscriptions" | "events"): Promise<unknown[]> {
  const result =
    what === "orders"
      ? await app.orders.list({ limit: 500 })
      : what === "subscriptions"
        ? await app.subscriptions.list({ limit: 500 })
        : await app.webhooks.list({ limit: 500 });
  return result.ok ? result.data.items : [];
}

const lastValue = <V>(map: ReadonlyMap<string, V>): V | undefined => [...map.values()].at(-1);

/**
 * Sends two snapshots of the sandbox's newest subscription, the newer (past_due, now) first and the
 * older (active, two minutes earlier) second, each in the provider's envelope and signed with its scheme.
 */
async function outOfOrderSubscription(
  provider: TriggerProvider,
  s: Sandboxes,
  url: string,
): Promise<[{ outcome: string; ref: string }, { outcome: string; ref: string }]> {
  const now = Date.now();
  const snapshots = [
    { at: now, status: "past_due" },
    { at: now - 120_000, status: "active" },
  ];
  const randomId = (length: number) => globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, length);
  let ref: string;
  let bodies: string[];
  if (provider === "stripe") {
    const sub = lastValue(s.stripe.subscriptions) ?? fail("the Stripe sandbox made no subscription");
    ref = sub.id;
    bodies = snapshots.map(({ at, status }) =>
      JSON.stringify({
        id: `evt_${randomId(24)}`,
        object: "event",
        api_version: "2025-10-29.clover",
        created: Math.floor(at / 1000),
        data: { object: { ...sub, status } },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type: "customer.subscription.updated",
      }),
    );
  } else if (provider === "paddle") {
    const sub = lastValue(s.paddle.subscriptions) ?? fail("the Paddle sandbox made no subscription");
    ref = sub.id;
    bodies = snapshots.map(({ at, status }) =>
      JSON.stringify({
        event_id: `evt_${randomId(26)}`,
        event_type: "subscription.updated",
        occurred_at: new Date(at).toISOString(),
        notification_id: `ntf_${randomId(26)}`,
        data: { ...sub, status, updated_at: new Date(at).toISOString() },
      }),
    );
  } else {
    const sub = lastValue(s.lemon.subscriptions) ?? fail("the Lemon Squeezy sandbox made no subscription");
    ref = String(sub.id);
    bodies = snapshots.map(({ at, status }) =>
      JSON.stringify({
        meta: { event_name: "subscription_updated" },
        data: {
          ...sub,
          attributes: { ...(sub.attributes as Obj), status, updated_at: new Date(at).toISOString() },
        },
      }),
    );
  }
  const out: { outcome: string; ref: string }[] = [];
  for (const body of bodies) {
    out.push({
      outcome: outcomeOf(await deliver(url, await signBody(provider, body, SECRETS[provider]))),
      ref,
    });
  }
  return [out[0]!, out[1]!];
}

/** The provider's own refund event for a refund Mika asked for. */
async function confirmRefund(
  provider: TriggerProvider,
  s: Sandboxes,
  refundRef: string,
  orderId: string,
): Promise<number | undefined> {
  if (provider === "stripe") {
    const refund = s.stripe.refunds.get(refundRef) ?? fail(`no Stripe refund ${refundRef}`);
    return s.stripe.sendEvent("refund.updated", refund);
  }
  if (provider === "paddle") {
    const adjustment = s.paddle.adjustments.get(refundRef) ?? fail(`no Paddle adjustment ${refundRef}`);
    return s.paddle.sendEvent("adjustment.updated", {
      ...adjustment,
      status: "approved",
      updated_at: new Date().toISOString(),
    });
  }
  const order = s.lemon.orders.get(refundRef) ?? lastValue(s.lemon.orders) ?? fail("no Lemon Squeezy order");
  return s.lemon.sendEvent("order_refunded", order, { mika_checkout_id: orderId });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
