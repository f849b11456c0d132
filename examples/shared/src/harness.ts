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
import { type StripeSandbox, startStripeSandbox, stripeEventFromData, stripeSigner } from "@mika/testing";
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
} as const;

/** The orders page rows: `data-order` → `data-status`, in page order. */
export function orderRows(html: string): { id: string; status: string }[] {
  return [...html.matchAll(/data-order="([^"]+)"[^>]*data-status="([^"]+)"/g)].map((m) => ({
    id: m[1]!,
    status: m[2]!,
  }));
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
  const body = (await response.json()) as {
    ok: boolean;
    data: { checkoutId: string; token: string; url: string };
  };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.data;
}

/** A real `checkout.session.completed` fixture, rewritten to complete one sandbox session. */
function completedSessionBody(session: Record<string, unknown>, eventId: string): string {
  const event = JSON.parse(stripeEventFromData("checkout.session.completed"));
  event.id = eventId;
  event.created = Math.floor(Date.now() / 1000);
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
    payment_intent: `pi_${eventId.slice(-12)}`,
  });
  return JSON.stringify(event, null, 2);
}

/** The suite every example app runs against its built server. */
export function describeExampleApp(example: ExampleApp): void {
  describe(`example app: ${example.name}`, () => {
    let stripe: StripeSandbox;
    let app: RunningApp;
    let tmp: string;
    let browser: Browser | undefined;

    beforeAll(async () => {
      if (!existsSync(join(example.dir, example.builtMarker))) {
        throw new Error(`${example.dir} is not built: run \`pnpm build\` (turbo) first.`);
      }
      tmp = mkdtempSync(join(tmpdir(), `mika-example-${example.name}-`));
      const port = await freePort();
      stripe = await startStripeSandbox({
        webhookUrl: `http://127.0.0.1:${port}/api/mika/webhooks/stripe`,
        webhookSecret: TEST_SECRETS.stripeWebhook,
      });
      const run = example.command(port);
      app = await startApp({
        cwd: example.dir,
        command: run.command,
        args: run.args,
        port,
        env: {
          NODE_ENV: "production",
          MIKA_DB: join(tmp, "mika.db"),
          STRIPE_SECRET_KEY: TEST_SECRETS.stripeKey,
          STRIPE_WEBHOOK_SECRET: TEST_SECRETS.stripeWebhook,
          STRIPE_API_HOST: stripe.host,
          STRIPE_API_PORT: String(stripe.port),
          STRIPE_API_PROTOCOL: "http",
          ...run.env,
        },
      });
    });

    afterAll(async () => {
      await browser?.close();
      await app?.stop();
      await stripe?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("renders the product page with Buy buttons and no missing keys", async () => {
      const html = await (await fetch(app.url)).text();
      expect(html).toContain("Mika T-shirt");
      expect(html).toContain('id="buy-stripe-tee"');
      expect(html).not.toContain("data-missing-key");
    });

    it("stripe: a signed webhook → 200 and the order is paid; a duplicate → one order; tampered → 400", async () => {
      const started = await startCheckout(app, "stripe", "tee");
      const session = [...stripe.sessions.values()].find((s) => s.client_reference_id === started.checkoutId);
      expect(session, "the sandbox holds the session the app created").toBeDefined();
      const body = completedSessionBody(session!, `evt_${started.checkoutId.slice(-16)}`);
      const post = async (raw: string, signedBody = raw) => {
        const signed = await stripeSigner.sign({
          body: signedBody,
          signatures: [{ secret: TEST_SECRETS.stripeWebhook }],
        });
        return fetch(`${app.url}/api/mika/webhooks/stripe`, {
          method: "POST",
          headers: signed.headers,
          body: raw,
        });
      };

      const tampered = await post(body.replace(`"amount_total": 2500`, `"amount_total": 1`), body);
      expect(tampered.status).toBe(400);

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

    it("browser: Buy → the sandbox's hosted page → Pay → the success page shows paid, read from status", async () => {
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(app.url);
      await page.click("#buy-stripe-tee");
      await page.waitForURL(`${stripe.url}/pay/**`);
      await page.click("#pay");
      await page.waitForURL(`${app.url}/success**`);
      const outcome = page.locator('[data-mika-outcome="success"]');
      await outcome.locator('[data-field="status"]', { hasText: "paid" }).waitFor({ timeout: 15_000 });
      expect(await outcome.getAttribute("data-status")).toBe("paid");
      expect(await outcome.locator('[data-field="paid"]').textContent()).toBe("yes");
      const checkoutId = await outcome.locator('[data-field="checkout"]').textContent();
      expect(checkoutId).toMatch(/\S/);
      mkdirSync(join(repoRoot, "test-results"), { recursive: true });
      await page.screenshot({
        path: join(repoRoot, "test-results", `${example.name}-success.png`),
        fullPage: true,
      });

      const rows = orderRows(await (await fetch(`${app.url}/orders`)).text());
      expect(rows).toContainEqual({ id: checkoutId, status: "paid" });
      await page.close();
    }, 60_000);

    it("browser: Buy → Cancel on the hosted page → the cancel page cancels the checkout", async () => {
      browser ??= await launchChromium();
      const page = await browser.newPage();
      await page.goto(app.url);
      await page.click("#buy-stripe-stickers");
      await page.waitForURL(`${stripe.url}/pay/**`);
      await page.click("#cancel");
      await page.waitForURL(`${app.url}/cancel**`);
      const outcome = page.locator('[data-mika-outcome="cancel"]');
      await outcome.locator('[data-field="status"]', { hasText: "canceled" }).waitFor({ timeout: 15_000 });
      const checkoutId = await outcome.locator('[data-field="checkout"]').textContent();
      const rows = orderRows(await (await fetch(`${app.url}/orders`)).text());
      expect(rows).toContainEqual({ id: checkoutId, status: "canceled" });
      await page.close();
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
        const orders = await fetch(`${bare.url}/orders`);
        expect(orders.status).toBe(200);
      } finally {
        await bare.stop();
      }
    }, 60_000);
  });
}
