/**
 * Host handlers and notifications run after the ledger commit, at least once: each run is recorded in
 * the same transaction as the ledger change (`handler_runs`), executed right after the commit, and
 * retried with backoff by maintenance when it throws or when the process died before running it.
 */
import {
  type HandlerRunRow,
  type MikaEvent,
  reviveEvent,
  type SerializedEvent,
  type StoreTx,
} from "@mika/types";
import type { Engine } from "./engine.js";
import { renderNotification } from "./notifications.js";
import { type HandlerContext, type NotificationIntent, toOrder } from "./types.js";
import { backoffMs, errorMessage } from "./util.js";

/** Grace before maintenance may pick up a run the receiving process is about to execute itself. */
const INLINE_GRACE_MS = 60_000;

/** Records the runs an applied event needs (inside the ledger transaction); returns their ids. */
export async function recordRuns(
  engine: Engine,
  tx: StoreTx,
  eventRowId: string,
  event: MikaEvent,
  intents: readonly NotificationIntent[],
): Promise<string[]> {
  const now = engine.now();
  const runs: { handler: string; payload: unknown }[] = [];
  if (engine.handlers[event.kind]) runs.push({ handler: `on:${event.kind}`, payload: null });
  for (const intent of intents) {
    if (engine.notifications || intent.type === "order.paid")
      runs.push({ handler: `notify:${intent.type}`, payload: intent });
  }
  const ids: string[] = [];
  for (const [index, run] of runs.entries()) {
    const id = `${eventRowId}:${index}:${run.handler}`;
    const inserted = await tx.insert("handler_runs", {
      id,
      event_row_id: eventRowId,
      handler: run.handler,
      status: "pending",
      attempts: 0,
      next_attempt_at: now + INLINE_GRACE_MS,
      last_error: null,
      lease_until: null,
      payload: run.payload,
      updated_at: now,
    });
    if (inserted) ids.push(id);
  }
  return ids;
}

async function execute(engine: Engine, run: HandlerRunRow, event: MikaEvent | undefined): Promise<void> {
  if (run.handler.startsWith("on:")) {
    const handler = engine.handlers[run.handler.slice(3) as MikaEvent["kind"]] as
      | ((event: MikaEvent, context: HandlerContext) => Promise<void> | void)
      | undefined;
    if (!handler || !event) return;
    const orderRow = await findOrderFor(engine, event);
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

async function findOrderFor(engine: Engine, event: MikaEvent) {
  return engine.store.transaction(async (tx) => {
    if (event.checkoutRef) {
      const order = await tx.get("orders", event.checkoutRef);
      if (order) return order;
    }
    for (const [column, value] of [
      ["provider_checkout_id", event.providerCheckoutId],
      ["payment_ref", event.paymentRef],
    ] as const) {
      if (!value) continue;
      const [order] = await tx.find("orders", { provider: event.provider, [column]: value }, { limit: 1 });
      if (order) return order;
    }
    return undefined;
  });
}

/** Executes one recorded run and records its result. */
async function runOne(engine: Engine, run: HandlerRunRow): Promise<"succeeded" | "failed"> {
  const eventRow = await engine.store.transaction((tx) => tx.get("events", run.event_row_id));
  const event = eventRow?.event ? reviveEvent(eventRow.event as SerializedEvent) : undefined;
  const attempts = run.attempts + 1;
  try {
    await execute(engine, run, event);
    await engine.store.transaction((tx) =>
      tx.update("handler_runs", run.id, {
        status: "succeeded",
        attempts,
        last_error: null,
        next_attempt_at: null,
        lease_until: null,
        updated_at: engine.now(),
      }),
    );
    return "succeeded";
  } catch (error) {
    const message = errorMessage(error);
    engine.logger.warn(`handler ${run.handler} failed; it will be retried`, {
      eventRowId: run.event_row_id,
      attempts,
      error: message,
    });
    await engine.store.transaction((tx) =>
      tx.update("handler_runs", run.id, {
        status: "failed",
        attempts,
        last_error: message,
        next_attempt_at:
          attempts >= engine.retry.maxAttempts
            ? null
            : engine.now() + backoffMs(attempts, engine.retry.baseMs, engine.retry.maxMs),
        lease_until: null,
        updated_at: engine.now(),
      }),
    );
    return "failed";
  }
}

/** Runs the given recorded runs now (right after the commit that recorded them). */
export async function runRecordedRuns(engine: Engine, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    const run = await engine.store.transaction((tx) => tx.get("handler_runs", id));
    if (run && run.status === "pending") await runOne(engine, run);
  }
}

/** Retries due pending and failed runs (maintenance). Safe to run from several processes at once. */
export async function retryDueRuns(
  engine: Engine,
  limit = 100,
): Promise<{ succeeded: number; failed: number }> {
  const report = { succeeded: 0, failed: 0 };
  const claimed = await engine.store.transaction((tx) =>
    tx.claim("handler_runs", {
      where: { status: { in: ["pending", "failed"] }, next_attempt_at: { ne: null } },
      dueColumn: "next_attempt_at",
      now: engine.now(),
      leaseMs: 5 * 60 * 1000,
      limit,
    }),
  );
  for (const run of claimed) {
    report[await runOne(engine, run)]++;
  }
  return report;
}
