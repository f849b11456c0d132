import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { standardWebhooksSigner } from "@mika/testing";

/** The Standard Webhooks secret every worker is configured with. */
export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const workerPath = fileURLToPath(new URL("./receive-worker.mjs", import.meta.url));

/** What a worker answers for one delivery. */
export interface Answer {
  ok: boolean;
  httpStatus?: number;
  status: string;
  error?: string;
}

/** A Mika app instance in a child process. */
export interface Instance {
  send(message: Record<string, unknown>): Promise<Answer>;
  /** Resolves with the exit signal when the process ends. */
  exited: Promise<NodeJS.Signals | null>;
  child: ChildProcess;
}

/** Where a store factory lives, and its options. */
export interface StoreSpec {
  storeModule: string;
  exportName: string;
  storeOptions: Record<string, unknown>;
}

/** Starts one instance; `crashAt` makes it SIGKILL itself at that point of the receive path. */
export async function startInstance(spec: StoreSpec, crashAt?: string): Promise<Instance> {
  const child = fork(workerPath, [JSON.stringify({ ...spec, secret: SECRET, crashAt })], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (answer: Answer) => void>();
  let next = 0;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  void exited.then(() => {
    for (const resolve of waiting.values()) resolve({ ok: false, status: "DIED" });
    waiting.clear();
  });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
  child.on("message", (message: { id: number } & Answer) => {
    waiting.get(message.id)?.(message);
    waiting.delete(message.id);
  });
  return {
    child,
    exited,
    send(message) {
      const id = next++;
      return new Promise<Answer>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null)
          return resolve({ ok: false, status: "DIED" });
        waiting.set(id, resolve);
        child.send({ ...message, id });
      });
    },
  };
}

/** A signed delivery of event `i` (the same bytes and webhook-id every time it is signed). */
export async function delivery(i: number): Promise<{ body: string; headers: Record<string, string> }> {
  const body = JSON.stringify({ type: "checkout.completed", data: { id: `cs_${i}`, amount: 100 + i } });
  const signed = await standardWebhooksSigner.sign({
    body,
    signatures: [{ secret: SECRET }],
    messageId: `msg_${i}`,
  });
  return { body, headers: Object.fromEntries(signed.headers) };
}

/**
 * Delivers `events` distinct events `copies` times each, all copies of one event at once and spread
 * over the instances, with at most `concurrency` deliveries in flight per instance. Returns the answers.
 */
export async function deliverAll(
  instances: readonly Instance[],
  events: number,
  copies: number,
  concurrency = 16,
): Promise<Answer[]> {
  const answers: Answer[] = [];
  let nextEvent = 0;
  const lanes = Math.max(1, Math.floor((concurrency * instances.length) / copies));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (nextEvent < events) {
        const i = nextEvent++;
        const d = await delivery(i);
        const sent = await Promise.all(
          Array.from({ length: copies }, (_, c) =>
            instances[(i + c) % instances.length]!.send({ type: "receive", ...d }),
          ),
        );
        answers.push(...sent);
      }
    }),
  );
  return answers;
}

/** Counts answers by status. */
export function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}

/** Where the crash tests kill the worker. */
export const CRASH_POINTS = ["after-inbox-insert", "mid-ledger", "after-commit"] as const;

/**
 * Crash scenario: an instance that SIGKILLs itself at `crashAt` receives events 0..n-1 (it dies on
 * the first); a fresh instance then gets every event redelivered and runs maintenance. Returns the
 * answers of the redelivery and the worker's exit signal.
 */
export async function crashAndRecover(
  spec: StoreSpec,
  crashAt: (typeof CRASH_POINTS)[number],
  n: number,
): Promise<{ signal: NodeJS.Signals | null; first: Answer[]; redelivered: Answer[] }> {
  const doomed = await startInstance(spec, crashAt);
  const first = await Promise.all(
    Array.from({ length: n }, async (_, i) => doomed.send({ type: "receive", ...(await delivery(i)) })),
  );
  const signal = await doomed.exited;
  const healthy = await startInstance(spec);
  const redelivered: Answer[] = [];
  for (let i = 0; i < n; i++)
    redelivered.push(await healthy.send({ type: "receive", ...(await delivery(i)) }));
  await healthy.send({ type: "maintenance" });
  await healthy.send({ type: "close" });
  healthy.child.kill();
  return { signal, first, redelivered };
}
