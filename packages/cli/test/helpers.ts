/** Test helpers: run the BUILT `mika` bin as a child process; serve a Mika over node:http. */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMika, type MikaOptions } from "@mika/backend";
import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { paddleProvider } from "@mika/paddle";
import { sqliteStore } from "@mika/store-sqlite";
import { stripeProvider } from "@mika/stripe";
import { serveHandler } from "../src/serve.js";

/**
 * Per-test timeout of these files: each test spawns Node processes, which take seconds each on a
 * loaded two-core machine. (A limit against hangs, not a speed assertion.)
 */
export const SLOW_MACHINE_TIMEOUT = 180_000;

export const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
export const DEMO = fileURLToPath(new URL("../dist/demo.js", import.meta.url));

/** Fails with a clear message when the package was not built (the tests run the built files). */
export function assertBuilt(file: string): void {
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: build first with \`pnpm --filter @mika/cli... build\`.`);
  }
}

/** What a child process did. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a node script with arguments, without blocking the event loop (servers in this process keep answering). */
export function runNode(
  script: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `mika …`. */
export const mika = (args: readonly string[], options?: { env?: Record<string, string> }) =>
  runNode(CLI, args, options);

export const SECRETS = {
  stripe: "whsec_cli_test_8f3a1c",
  paddle: "pdl_ntfset_cli_test_2b7d9e",
  lemonsqueezy: "ls_cli_test_5e6f0a",
} as const;

/** A temp folder, removed by the returned function. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "mika-cli-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A Mika on a SQLite file with the three real adapters (webhooks only), served over node:http. */
export async function startMikaServer(file: string, options: Partial<MikaOptions> = {}) {
  const { config, ...rest } = options;
  const store = sqliteStore({ file });
  const instance = createMika({
    providers: [
      stripeProvider({ webhookSecret: SECRETS.stripe }),
      paddleProvider({ webhookSecret: SECRETS.paddle }),
      lemonSqueezyProvider({ webhookSecret: SECRETS.lemonsqueezy }),
    ],
    store,
    config: { logger: { info() {}, warn() {}, error() {} }, ...config },
    ...rest,
  });
  const served = await serveHandler((request) => instance.handler(request));
  return {
    mika: instance,
    store,
    url: (provider: string) => `${served.url}/api/mika/webhooks/${provider}`,
    close: async () => {
      await served.close();
      await store.close();
    },
  };
}

/** The envelope a webhook delivery got back, as the tests read it. */
export interface DeliveryEnvelope {
  ok: boolean;
  status: number;
  data: { status: string; id: string; eventId: string; kind: string };
  error: { code: string; message: string; detail?: string };
}

/** Parses a command's JSON output as `T` (the assertions check it). */
export const parseJson = <T>(text: string): T => JSON.parse(text) as T;

/** The envelope of a delivery in a trigger report. */
export const envelopeOf = (delivery: { body: unknown }): DeliveryEnvelope =>
  delivery.body as DeliveryEnvelope;
