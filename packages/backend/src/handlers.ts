/**
 * Host handlers and notifications run after the ledger commit, at least once: each run is recorded in
 * the same transaction as the ledger change (`handler_runs`), executed right after the commit, and
 * retried with backoff by maintenance when it throws or when the process died before running it.
 * Without a notifications hook, intents are only rendered and logged (nothing to retry).
 */
import {
  type HandlerRunRow,
  type MikaEvent,
  type OrderRow,
  reviveEvent,
  type SerializedEvent,
  type StoreTx,
} from "@mika/types";
import type { Engine } from "./engine.js";
import { findOrder } from "./ledger.js";
import { renderNotification } from "./notifications.js";
import { type HandlerContext, type NotificationIntent, toOrder } from "./types.js";
import { backoffMs, errorMessage } from "./util.js";

/** Grace before maintenance may pick up a run the receiving process is about to execute itself. */
const INLINE_GRACE_MS = 60_000;

/** Records the runs an applied event needs (inside the ledger transaction); returns them. */
export async function recordRuns(
  engine: Engine,
  tx: StoreTx,
  eventRowId: string,
  event: MikaEvent,
  intents: readonly NotificationIntent[],
): Promise<HandlerRunRow[]> {
  const now = engine.now();
  const runs: { handler: string; payload: unknown }[] = [];
  if (engine.handlers[event.kind]) runs.push({ handler: `on:${event.kind}`, payload: null });
  if (engine.notifications) {
    for (const intent of intents) runs.push({ handler: `notify:${intent.type}`, payload: intent });
  }
  const rows = runs.map(
    (run, index): HandlerRunRow => ({
      id: `${eventRowId}:${index}:${run.handler}`,
      event_row_id: eventRowId,
      handler: run.handler,
      status: "pending",
      attempts: 0,
      next_attempt_at: now + INLINE_GRACE_MS,
      last_error: null,
      lease_until: null,
      payload: run.payload,
      updated_at: now,
    }),
  );
  // Issued together (distinct rows): a store that batches writes them in one statement.
  const inserted = await Promise.all(rows.map((row) => tx.insert("handler_runs", row)));
  return rows.filter((_, i) => inserted[i]);
}

/** Renders and logs intents when the host has no notifications hook (the default behaviour). */
export function logIntents(engine: Engine, intents: readonly NotificationIntent[]): void {
  if (engine.notifications) return;
  for (const intent of intents) {
    const message = renderNotification(intent);
    if (message) engine.logger.info(`notification: ${message.subject}`, { text: message.text });
  }
}

/** The order a run's handler sees: the row the ledger just wrote (inline), or its id to read it by. */
type OrderHint = OrderRow | string | undefined;

async function execute(
  engine: Engine,
  run: HandlerRunRow,
  event: MikaEvent | undefined,
  order: OrderHint,
): Promise<void> {
  if (run.handler.startsWith("on:")) {
    const handler = engine.handlers[run.handler.slice(3) as MikaEvent["kind"]] as
      | ((event: MikaEvent, context: HandlerContext) => Promise<void> | void)
      | undefined;
    if (!handler || !event) return;
    const orderRow = typeof order === "object" ? order : await findOrderFor(engine, event, order);
    await handler(event, {
      eventRowId: run.event_row_id,
      attempt: run.attempts + 1,
      ...(orderRow ? { order: toOrder(orderRow) } : {}),
    });
    return;
  }
  const intent = run.payload as NotificationIntent;
  const result = await engine.notifications?.handle(intent, renderNotification);
  if (result?.handled) return;
  const message = renderNotification(intent);
  if (message) engine.logger.info(`notification: ${message.subject}`, { text: message.text });
}

/**
 * The order a run's handler sees when the ledger's row is not at hand: the one the ledger gave (by
 * id), or the one the ledger's own matching finds, so an event whose `checkoutRef` was refused (see
 * `findOrder`) never shows the handler the order it named.
 */
async function findOrderFor(engine: Engine, event: MikaEvent, orderId?: string) {
  return engine.store.transaction(async (tx) => {
    const order = orderId ? await tx.get("orders", orderId) : undefined;
    return order ?? findOrder(tx, event, undefined, false);
  });
}

/** One handler run's outcome, waiting to be written to its `handler_runs` row. */
export type RunResult = readonly [id: string, patch: Partial<HandlerRunRow>];

/**
 * Results of inline runs not written yet. They ride along with the next webhook transaction (so a
 * steady stream of webhooks pays no commit of its own for them) or are flushed by a short timer.
 * Losing them (a crash before the write) only means maintenance runs those handlers again after
 * their grace period: the at-least-once contract.
 */
export interface RunResultQueue {
  pending: RunResult[];
  timer: ReturnType<typeof setTimeout> | undefined;
  flushing: Promise<void> | undefined;
}

/** A new, empty queue (one per engine). */
export function runResultQueue(): RunResultQueue {
  return { pending: [], timer: undefined, flushing: undefined };
}

/** How long a result may wait for a webhook transaction to carry it before it gets its own. */
const RESULT_FLUSH_DELAY_MS = 25;

/** Takes every queued result; the caller writes them ({@link writeRunResults}) or gives them back ({@link requeueRunResults}). */
export function takeRunResults(engine: Engine): readonly RunResult[] {
  const queue = engine.runResults;
  // Never hand out the live queue: results queued later would ride along twice.
  if (queue.pending.length === 0) return NO_RESULTS;
  const taken = queue.pending;
  queue.pending = [];
  return taken;
}

const NO_RESULTS: readonly RunResult[] = Object.freeze([]);

/** Puts results back after the transaction that was to write them rolled back. */
export function requeueRunResults(engine: Engine, results: readonly RunResult[]): void {
  if (results.length === 0) return;
  engine.runResults.pending.unshift(...results);
  scheduleFlush(engine);
}

/** Writes results inside `tx`. Idempotent, so a transaction that is re-run may write them again. */
export async function writeRunResults(
  tx: StoreTx,
  results: readonly RunResult[],
  now: number,
): Promise<void> {
  // Issued together: a store that batches can write them in one statement.
  await Promise.all(
    results.map(([id, patch]) => tx.update("handler_runs", id, { ...patch, updated_at: now })),
  );
}

function scheduleFlush(engine: Engine): void {
  const queue = engine.runResults;
  if (queue.timer !== undefined || queue.pending.length === 0) return;
  queue.timer = setTimeout(() => {
    queue.timer = undefined;
    void flushRunResults(engine);
  }, RESULT_FLUSH_DELAY_MS);
}

/**
 * Writes every queued result now, in one transaction. Read paths that show handler runs, and
 * maintenance, call it first so they see this process's latest results.
 */
export async function flushRunResults(engine: Engine): Promise<void> {
  const queue = engine.runResults;
  if (queue.timer !== undefined) {
    clearTimeout(queue.timer);
    queue.timer = undefined;
  }
  if (queue.flushing) await queue.flushing;
  const results = takeRunResults(engine);
  if (results.length === 0) return;
  const now = engine.now();
  queue.flushing = engine.store
    .transaction((tx) => writeRunResults(tx, results, now))
    .then(
      () => undefined,
      (error: unknown) => {
        // Not lost: handed back and retried; if this process ends first, maintenance re-runs the handlers.
        engine.logger.warn("could not record handler results yet; will retry", {
          count: results.length,
          error: errorMessage(error),
        });
        engine.runResults.pending.unshift(...results);
      },
    )
    .finally(() => {
      queue.flushing = undefined;
    });
  await queue.flushing;
}

/**
 * Executes runs. Their results are written in one transaction before this returns (`record: "now"`),
 * or queued for the next webhook transaction (`record: "deferred"`, the inline path after a receive).
 */
async function executeAll(
  engine: Engine,
  runs: readonly HandlerRunRow[],
  eventFor: (run: HandlerRunRow) => Promise<MikaEvent | undefined>,
  record: "now" | "deferred",
  order?: OrderHint,
): Promise<{ succeeded: number; failed: number }> {
  const report = { succeeded: 0, failed: 0 };
  const results: RunResult[] = [];
  for (const run of runs) {
    const attempts = run.attempts + 1;
    try {
      await execute(engine, run, await eventFor(run), order);
      results.push([
        run.id,
        { status: "succeeded", attempts, last_error: null, next_attempt_at: null, lease_until: null },
      ]);
      report.succeeded++;
    } catch (error) {
      const message = errorMessage(error);
      engine.logger.warn(`handler ${run.handler} failed; it will be retried`, {
        eventRowId: run.event_row_id,
        attempts,
        error: message,
      });
      results.push([
        run.id,
        {
          status: "failed",
          attempts,
          last_error: message,
          next_attempt_at:
            attempts >= engine.retry.maxAttempts
              ? null
              : engine.now() + backoffMs(attempts, engine.retry.baseMs, engine.retry.maxMs),
          lease_until: null,
        },
      ]);
      report.failed++;
    }
  }
  if (results.length === 0) return report;
  if (record === "deferred") {
    engine.runResults.pending.push(...results);
    scheduleFlush(engine);
    return report;
  }
  const now = engine.now();
  try {
    await engine.store.transaction((tx) => writeRunResults(tx, results, now));
  } catch (error) {
    // Kept, and written later like the inline path's (the runs stay claimed meanwhile): a handler that
    // succeeded is not run again, and the rest of maintenance goes ahead.
    engine.logger.warn("could not record handler results yet; they are written later", {
      count: results.length,
      error: errorMessage(error),
    });
    requeueRunResults(engine, results);
  }
  return report;
}

/**
 * Runs freshly recorded runs right after the commit that recorded them (the event is in memory). Their
 * results are queued (see {@link RunResultQueue}), so the webhook's answer does not wait for a second commit.
 */
export async function runRecordedRuns(
  engine: Engine,
  runs: readonly HandlerRunRow[],
  event: MikaEvent,
  order?: OrderHint,
): Promise<void> {
  await executeAll(engine, runs, async () => event, "deferred", order);
}

/** Retries due pending and failed runs (maintenance). Safe to run from several processes at once. */
export async function retryDueRuns(
  engine: Engine,
  limit = 100,
): Promise<{ succeeded: number; failed: number }> {
  if (!engine.runHandlers) return { succeeded: 0, failed: 0 };
  await flushRunResults(engine);
  // Outcomes this process still holds (their write failed just now) are known: running those runs
  // again would be a second run, and the held outcome, written later, would overwrite the newer one.
  const held = new Set(engine.runResults.pending.map(([id]) => id));
  const claimed = await engine.store.transaction((tx) =>
    tx.claim("handler_runs", {
      where: { status: { in: ["pending", "failed"] }, next_attempt_at: { ne: null } },
      dueColumn: "next_attempt_at",
      now: engine.now(),
      leaseMs: 5 * 60 * 1000,
      limit,
    }),
  );
  const due = claimed.filter((run) => !held.has(run.id));
  if (!due.length) return { succeeded: 0, failed: 0 };
  const events = new Map<string, MikaEvent | undefined>();
  return executeAll(
    engine,
    due,
    async (run) => {
      if (!events.has(run.event_row_id)) {
        const row = await engine.store.transaction((tx) => tx.get("events", run.event_row_id));
        events.set(run.event_row_id, row?.event ? reviveEvent(row.event as SerializedEvent) : undefined);
      }
      return events.get(run.event_row_id);
    },
    "now",
  );
}
