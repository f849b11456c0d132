/**
 * The end-to-end harness of the example apps (Node, tests only): start a BUILT app on 127.0.0.1 on a
 * free port with its providers pointed at loopback sandboxes and a temporary SQLite file, launch
 * headless Chromium, and the suite every app runs (`describeExampleApp`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type LemonSqueezySandbox,
  lemonSqueezySigner,
  loadFixtureJson,
  type PaddleSandbox,
  paddleSigner,
  type StripeSandbox,
  startLemonSqueezySandbox,
  startPaddleSandbox,
  startStripeSandbox,
  stripeEventFromData,
  stripeSigner,
  type WebhookSigner,
} from "@mika/testing";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The monorepo root (screenshots go to `<root>/test-results`). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? ok(address.port) : fail(new Error("no port")),
      );
    });
  });
}

/** A running app process. */
export interface RunningApp {
  url: string;
  port: number;
  /** Everything it printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it exited. */
  stop(): Promise<void>;
}

/** How to start one app. */
export interface StartOptions {
  cwd: string;
  command: string;
  args: readonly string[];
  port: number;
  env: Record<string, string>;
  /** Path polled until it answers (any status below 500). Default `/`. */
  readyPath?: string;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a process and waits until it answers HTTP on `port`. */
export async function startApp(options: StartOptions): Promise<RunningApp> {
  const url = `http://127.0.0.1:${options.port}`;
  let log = "";
  const child: ChildProcess = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? tmpdir(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const app: RunningApp = {
    url,
    port: options.port,
    output: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`The app exited with ${child.exitCode} before listening:\n${log}`);
    try {
      const response = await fetch(`${url}${options.readyPath ?? "/"}`, { redirect: "manual" });
      await response.arrayBuffer();
      if (response.status < 500) return app;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  await app.stop();
  throw new Error(`The app did not answer on ${url} in time:\n${log}`);
}

/** Headless Debian Chromium through playwright-core (install it with `apt-get install -y chromium`). */
export function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`No Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  }
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** One example app, as the suite needs it. */
export interface ExampleApp {
  /** `next`, `astro`, `sveltekit`: names the screenshot `test-results/<name>-success.png`. */
  name: string;
  /** The app's folder. */
  dir: string;
  /** A file the build leaves behind (checked first, with a hint to build). */
  builtMarker: string;
  /** The command that serves the built app on 127.0.0.1:`port`. */
  command(port: number): { command: string; args: string[]; env?: Record<string, string> };
}

/** The secrets the suite configures the app and the sandboxes with. */
export const TEST_SECRETS = {
  stripeKey: "sk_test_example_app",
  stripeWebhook: "whsec_example_app_test",
  paddleKey: "pdl_sdbx_apikey_example_app",
  paddleWebhook: "pdl_ntfset_01example_app_secret",
  lemonSqueezyKey: "example-app-api-key",
  lemonSqueezyWebhook: "example-app-signing-secret",
} as const;

/** Lemon Squeezy variant ids the sandbox sells, per product. */
const LS_VARIANTS = { tee: "101", stickers: "102" } as const;

/** The orders page rows: `data-order` → `data-status`, in page order. */
export function orderRows(html: string): { id: string; status: string }[] {
  return [...html.matchAll(/data-order="([^"]+)"[^>]*data-status="([^"]+)"/g)].map((m) => ({
    id: m[1]!,
    status: m[2]!,
  }));
}

type Obj = Record<string, unknown>;

/** One wired provider, as the webhook test drives it. */
interface ProviderCase {
  name: "stripe" | "paddle" | "lemonsqueezy";
  signer: WebhookSigner;
  secret: string;
  /** The sandbox's hosted page URL prefix. */
  hosted(): string;
  /** A real fixture body, rewritten to complete the checkout the app started (`n` makes ids unique). */
  completedBody(checkoutId: string, n: number): string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function stripeCase(sandbox: () => StripeSandbox): ProviderCase {
  return {
    name: "stripe",
    signer: stripeSigner,
    secret: TEST_SECRETS.stripeWebhook,
    hosted: () => `${sandbox().url}/pay/`,
    completedBody(checkoutId, n) {
      const session = [...sandbox().sessions.values()].find((s) => s.client_reference_id === checkoutId);
      if (!session) throw new Error(`The Stripe sandbox holds no session for ${checkoutId}.`);
      const event = JSON.parse(stripeEventFromData("checkout.session.completed"));
      event.id = `evt_example_${n}_${checkoutId.slice(-10)}`;
      event.created = nowSeconds();
      event.livemode = false;
      Object.assign(event.data.object, {
        id: session.id,
        client_reference_id: session.client_reference_id,
        metadata: session.metadata,
        amount_total: session.amount_total,
        amount_subtotal: session.amount_subtotal,
        currency: session.currency,
        mode: session.mode,
        livemode: false,
        status: "complete",
        payment_status: "paid",
        payment_intent: `pi_example_${n}`,
      });
      return JSON.stringify(event, null, 2);
    },
  };
}

function paddleCase(sandbox: () => PaddleSandbox): ProviderCase {
  return {
    name: "paddle",
    signer: paddleSigner,
    secret: TEST_SECRETS.paddleWebhook,
    hosted: () => `${sandbox().url}/pay`,
    completedBody(checkoutId, n) {
      const txn = [...sandbox().transactions.values()].find(
        (t) => (t.custom_data as Obj | null)?.mika_checkout_id === checkoutId,
      );
      if (!txn) throw new Error(`The Paddle sandbox holds no transaction for ${checkoutId}.`);
      const event = loadFixtureJson<{ data: Obj } & Obj>("paddle/transaction.completed");
      event.event_id = `evt_example${n}${checkoutId.slice(-10)}`;
      event.notification_id = `ntf_example${n}${checkoutId.slice(-10)}`;
      event.occurred_at = new Date().toISOString();
      event.data = {
        ...event.data,
        id: txn.id,
        status: "completed",
        custom_data: txn.custom_data,
        currency_code: txn.currency_code,
        customer_id: txn.customer_id ?? (event.data as Obj).customer_id,
        details: { ...((event.data as Obj).details as Obj), totals: (txn.details as Obj).totals },
      };
      return JSON.stringify(event, null, 2);
    },
  };
}

function lemonSqueezyCase(sandbox: () => LemonSqueezySandbox): ProviderCase {
  return {
    name: "lemonsqueezy",
    signer: lemonSqueezySigner,
    secret: TEST_SECRETS.lemonSqueezyWebhook,
    hosted: () => `${sandbox().url}/`,
    completedBody(checkoutId, n) {
      const checkout = [...sandbox().checkouts.values()].find(
        (c) => ((c.attributes.checkout_data as Obj).custom as Obj)?.mika_checkout_id === checkoutId,
      );
      if (!checkout) throw new Error(`The Lemon Squeezy sandbox holds no checkout for ${checkoutId}.`);
      const event = loadFixtureJson<{ meta: Obj; data: { id: string; attributes: Obj } }>(
        "lemonsqueezy/order_created",
      );
      const variant = Number(checkout.attributes.variant_id ?? LS_VARIANTS.tee);
      const total = 2500;
      event.meta = { ...event.meta, custom_data: (checkout.attributes.checkout_data as Obj).custom };
      event.data.id = String(9000 + n);
      Object.assign(event.data.attributes, {
        store_id: Number(sandbox().storeId),
        identifier: crypto.randomUUID(),
        order_number: 9000 + n,
        status: "paid",
        currency: "USD",
        subtotal: total,
        total,
        test_mode: true,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
        first_order_item: {
          ...(event.data.attributes.first_order_item as Obj),
          order_id: 9000 + n,
          variant_id: variant,
          price: total,
          test_mode: true,
        },
      });
      return JSON.stringify(event, null, 2);
    },
  };
}

async function startCheckout(app: RunningApp, provider: string, productId: string) {
  const response = await fetch(`${app.url}/api/mika/checkout`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
    body: JSON.stringify({
      provider,
      lines: [{ sellableId: productId, quantity: 1 }],
      successUrl: `${app.url}/success`,
      cancelUrl: `${app.url}/cancel`,
    }),
  });
  const body = (await response.json()) as { data: { checkoutId: string; token: string; url: string } };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.data;
}

/** Changes one value inside the signed body (after signing), keeping it valid JSON. */
function tamper(body: string): string {
  const changed = body.replace(/("(?:total|amount_total|grand_total)": "?)(\d)/, (_m, head, digit) => {
    return `${head}${digit === "9" ? "1" : String(Number(digit) + 1)}`;
  });
  if (changed === body) throw new Error("nothing to tamper with in this body");
  return changed;
}

/** The suite every example app runs against its built server. */
export function describeExampleApp(example: ExampleApp): void {
  describe(`example app: ${example.name}`, () => {
    let stripe: StripeSandbox;
    let paddle: PaddleSandbox;
    let lemon: LemonSqueezySandbox;
    let app: RunningApp;
    let tmp: string;
    let browser: Browser | undefined;
    const providers = [stripeCase(() => stripe), paddleCase(() => paddle), lemonSqueezyCase(() => lemon)];

    beforeAll(async () => {
      if (!existsSync(join(example.dir, example.builtMarker))) {
        throw new Error(`${example.dir} is not built: run \`pnpm build\` (turbo) first.`);
      }
      tmp = mkdtempSync(join(tmpdir(), `mika-example-${example.name}-`));
      const port = await freePort();
      const hook = (provider: string) => `http://127.0.0.1:${port}/api/mika/webhooks/${provider}`;
      stripe = await startStripeSandbox({
        webhookUrl: hook("stripe"),
        webhookSecret: TEST_SECRETS.stripeWebhook,
      });
      paddle = await startPaddleSandbox({
        webhookUrl: hook("paddle"),
        webhookSecret: TEST_SECRETS.paddleWebhook,
        successUrl: `http://127.0.0.1:${port}/success`,
      });
      lemon = await startLemonSqueezySandbox({
        webhookUrl: hook("lemonsqueezy"),
        webhookSecret: TEST_SECRETS.lemonSqueezyWebhook,
        variants: {
          [LS_VARIANTS.tee]: { price: 2500, name: "Mika T-shirt" },
          [LS_VARIANTS.stickers]: { price: 500, name: "Sticker pack" },
        },
        routeFetch: false, // the app process routes its own fetch (test-preload)
      });
      const run = example.command(port);
      const preload = fileURLToPath(new URL("./test-preload.js", import.meta.url));
      app = await startApp({
        cwd: example.dir,
        command: run.command,
        args: run.args,
        port,
        env: {
          NODE_ENV: "production",
          NODE_OPTIONS: `--import=${preload}`,
          MIKA_DB: join(tmp, "mika.db"),
          STRIPE_SECRET_KEY: TEST_SECRETS.stripeKey,
          STRIPE_WEBHOOK_SECRET: TEST_SECRETS.stripeWebhook,
          STRIPE_API_HOST: stripe.host,
          STRIPE_API_PORT: String(stripe.port),
          STRIPE_API_PROTOCOL: "http",
          PADDLE_API_KEY: TEST_SECRETS.paddleKey,
          PADDLE_WEBHOOK_SECRET: TEST_SECRETS.paddleWebhook,
          PADDLE_ENVIRONMENT: paddle.url,
          LEMONSQUEEZY_API_KEY: TEST_SECRETS.lemonSqueezyKey,
          LEMONSQUEEZY_STORE_ID: lemon.storeId,
          LEMONSQUEEZY_WEBHOOK_SECRET: TEST_SECRETS.lemonSqueezyWebhook,
          LEMONSQUEEZY_VARIANT_TEE: LS_VARIANTS.tee,
          LEMONSQUEEZY_VARIANT_STICKERS: LS_VARIANTS.stickers,
          MIKA_TEST_LEMONSQUEEZY_API_URL: lemon.url,
          ...run.env,
        },
      });
    });

    afterAll(async () => {
      await browser?.close();
      await app?.stop();
      await Promise.all([stripe?.close(), paddle?.close(), lemon?.close()]);
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("renders the product page with a Buy button per provider and no missing keys", async () => {
      const html = await (await fetch(app.url)).text();
      expect(html).toContain("Mika T-shirt");
      for (const p of providers) expect(html).toMatch(new RegExp(`id="buy-${p.name}-tee"(?![^>]*disabled)`));
      expect(html).not.toContain("data-missing-key");
    });

    for (const [n, provider] of providers.entries()) {
      it(`${provider.name}: a signed webhook → 200 and the order is paid; a duplicate → one order; tampered → 400`, async () => {
        const started = await startCheckout(app, provider.name, "tee");
        const body = provider.completedBody(started.checkoutId, n);
        const post = async (sent: string) => {
          const signed = await provider.signer.sign({ body, signatures: [{ secret: provider.secret }] });
          return fetch(`${app.url}/api/mika/webhooks/${provider.name}`, {
            method: "POST",
            headers: signed.headers,
            body: sent,
          });
        };

        const tampered = await post(tamper(body));
        expect(tampered.status, await tampered.clone().text()).toBe(400);

        const first = await post(body);
        expect(first.status, await first.clone().text()).toBe(200);
        expect(((await first.json()) as { data: { status: string } }).data.status).toBe("processed");

        const again = await post(body);
        expect(again.status).toBe(200);
        expect(((await again.json()) as { data: { status: string } }).data.status).toBe("duplicate");

        const rows = orderRows(await (await fetch(`${app.url}/orders`)).text());
        expect(rows.filter((r) => r.id === started.checkoutId)).toEqual([
          { id: started.checkoutId, status: "paid" },
        ]);
      });
    }

    it("a signed 600 KiB webhook (over adapter-node's default body limit, within Mika's 1 MiB) → 200", async () => {
      const body = JSON.stringify({
        id: `evt_example_large_${nowSeconds()}`,
        object: "event",
        type: "customer.created",
        created: nowSeconds(),
        livemode: false,
        data: {
          object: { id: "cus_example_large", object: "customer", metadata: { pad: "x".repeat(600 * 1024) } },
        },
      });
      const signed = await stripeSigner.sign({ body, signatures: [{ secret: TEST_SECRETS.stripeWebhook }] });
      const response = await fetch(`${app.url}/api/mika/webhooks/stripe`, {
        method: "POST",
        headers: signed.headers,
        body,
      });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      expect((JSON.parse(text) as { ok: boolean }).ok).toBe(true);
    });

    for (const provider of providers) {
      it(`browser (${provider.name}): Buy → the sandbox's hosted page → Pay → the success page shows paid, read from status`, async () => {
        browser ??= await launchChromium();
        const page = await browser.newPage();
        try {
          await page.goto(app.url);
          // wait for hydration: the shared browser code marks each button it wired
          await page.click(`#buy-${provider.name}-tee[data-mika-mounted]`);
          await page.waitForURL(`${provider.hosted()}**`);
          await page.click("#pay");
          await page.waitForURL(`${app.url}/success**`);
          const outcome = page.locator('[data-mika-outcome="success"]');
          await outcome.locator('[data-field="status"]', { hasText: "paid" }).waitFor({ timeout: 15_000 });
          expect(await outcome.getAttribute("data-status")).toBe("paid");
          expect(await outcome.locator('[data-field="paid"]').textContent()).toBe("yes");
          const checkoutId = await outcome.locator('[data-field="checkout"]').textContent();
          expect(checkoutId).toMatch(/^chk_/);
          if (provider.name === "stripe") {
            mkdirSync(join(repoRoot, "test-results"), { recursive: true });
            await page.screenshot({
              path: join(repoRoot, "test-results", `${example.name}-success.png`),
              fullPage: true,
            });
          }
          const rows = orderRows(await (await fetch(`${app.url}/orders`)).text());
          expect(rows).toContainEqual({ id: checkoutId, status: "paid" });
        } finally {
          await page.close();
        }
      }, 60_000);
    }

    it("browser: Buy → Cancel on the hosted page → the cancel page cancels the checkout", async () => {
      browser ??= await launchChromium();
      const page = await browser.newPage();
      try {
        await page.goto(app.url);
        await page.click("#buy-stripe-stickers[data-mika-mounted]");
        await page.waitForURL(`${stripe.url}/pay/**`);
        await page.click("#cancel");
        await page.waitForURL(`${app.url}/cancel**`);
        const outcome = page.locator('[data-mika-outcome="cancel"]');
        await outcome.locator('[data-field="status"]', { hasText: "canceled" }).waitFor({ timeout: 15_000 });
        const checkoutId = await outcome.locator('[data-field="checkout"]').textContent();
        const rows = orderRows(await (await fetch(`${app.url}/orders`)).text());
        expect(rows).toContainEqual({ id: checkoutId, status: "canceled" });
      } finally {
        await page.close();
      }
    }, 60_000);

    it("browser: Buy whose answer is lost → Buy again sends the same Idempotency-Key, one provider checkout", async () => {
      browser ??= await launchChromium();
      const page = await browser.newPage();
      try {
        const keys: string[] = [];
        let loseAnswer = true;
        await page.route("**/api/mika/checkout", async (route) => {
          keys.push(route.request().headers()["idempotency-key"] ?? "");
          if (!loseAnswer) return route.continue();
          loseAnswer = false;
          await route.fetch(); // the app starts the checkout at the provider…
          await route.abort("connectionreset"); // …and its answer never reaches the browser
        });
        const before = stripe.sessions.size;
        await page.goto(app.url);
        await page.click("#buy-stripe-tee[data-mika-mounted]");
        await page.locator("[data-mika-error]", { hasText: "NETWORK" }).waitFor({ timeout: 15_000 });
        expect(stripe.sessions.size).toBe(before + 1);
        await page.click("#buy-stripe-tee[data-mika-mounted]:not([disabled])");
        await page.waitForURL(`${stripe.url}/pay/**`);
        expect(keys).toHaveLength(2);
        expect(keys[1]).toBe(keys[0]);
        expect(stripe.sessions.size).toBe(before + 1);
      } finally {
        await page.close();
      }
    }, 60_000);

    it("reports missing keys by name on the page and in the log, without crashing", async () => {
      const port = await freePort();
      const run = example.command(port);
      const bare = await startApp({
        cwd: example.dir,
        command: run.command,
        args: run.args,
        port,
        env: { NODE_ENV: "production", MIKA_DB: join(tmp, "bare.db"), ...run.env },
      });
      try {
        const response = await fetch(bare.url);
        expect(response.status).toBe(200);
        const html = await response.text();
        expect(html).toContain('data-missing-key="STRIPE_SECRET_KEY"');
        expect(html).toContain('data-missing-key="STRIPE_WEBHOOK_SECRET"');
        expect(bare.output()).toContain("missing STRIPE_SECRET_KEY");
        expect((await fetch(`${bare.url}/orders`)).status).toBe(200);
      } finally {
        await bare.stop();
      }
    }, 60_000);
  });
}
