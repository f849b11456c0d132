/**
 * The webhook pipeline: read the raw body once (capped) → verify → parse → in ONE transaction insert
 * the inbox row (unique on provider + event id) and apply the ledger → answer. Failures are recorded
 * and retried; nothing acknowledged is lost.
 */
import {
  type EventRow,
  err,
  fromUtf8,
  type HandlerRunRow,
  isStoreClosedError,
  type MikaEvent,
  type MikaResult,
  type OrderRow,
  ok,
  payloadHash,
  reviveEvent,
  type SerializedEvent,
  type StoreTx,
  serializeEvent,
} from "@mika/types";
import { type Engine, guarded, storeClosed } from "./engine.js";
import {
  flushRunResults,
  logIntents,
  recordRuns,
  requeueRunResults,
  runRecordedRuns,
  takeRunResults,
  writeRunResults,
} from "./handlers.js";
import { applyEvent, awaitingOrder } from "./ledger.js";
import {
  type NotificationIntent,
  type Page,
  type ReceiveResult,
  toWebhookRecord,
  type WebhookDetail,
  type WebhookRecord,
} from "./types.js";
import { backoffMs, errorMessage, readCapped } from "./util.js";

/** What one processing attempt of a stored event came to. */
type ProcessResult =
  | {
      status: "processed" | "ignored" | "parked";
      runs: HandlerRunRow[];
      intents: NotificationIntent[];
      event?: MikaEvent;
      orderId?: string;
      /** The order as the event left it. */
      order?: OrderRow;
      /** Events that were parked waiting for the order this one created: they get another go now. */
      unparked?: string[];
    }
  | { status: "failed"; error: string };

const NOTHING = { runs: [] as HandlerRunRow[], intents: [] as NotificationIntent[] };

/** What happens after the commit of an applied event: default notifications, handlers, parked events. */
async function afterCommit(engine: Engine, _provider: string, result: ProcessResult): Promise<void> {
  if (result.status !== "processed") return;
  logIntents(engine, result.intents);
  if (engine.runHandlers && result.runs.length && result.event) {
    await runRecordedRuns(engine, result.runs, result.event, result.order ?? result.orderId);
  }
  for (const id of result.unparked ?? []) {
    // This event is committed: a store error on a parked one leaves that one pending, still due.
    await processStored(engine, id).catch((error: unknown) =>
      engine.logger.warn("retrying a parked event failed; maintenance will try again", {
        id,
        error: errorMessage(error),
      }),
    );
  }
}

/**
 * Applies a stored event inside `tx` and records the outcome on its row (and the handler runs it
 * needs). Throws when the ledger throws, so the caller's transaction rolls back. A row inserted by
 * this same transaction already says `processed` (the common outcome, written in one go); it is
 * rewritten only when the outcome differs.
 */
async function applyAndRecord(
  engine: Engine,
  tx: StoreTx,
  row: EventRow,
  event: MikaEvent,
): Promise<ProcessResult> {
  const now = engine.now();
  if (engine.livemode !== undefined && event.livemode !== engine.livemode) {
    await tx.update("events", row.id, {
      status: "ignored",
      parked_reason: `${event.livemode ? "live" : "test"}-mode event; this deployment takes ${engine.livemode ? "live" : "test"} payments only`,
      processed_at: null,
      next_attempt_at: null,
      updated_at: now,
    });
    return { status: "ignored", ...NOTHING };
  }
  // Writes the ledger only checks (a new order's insert) go out with the handler runs below.
  const pending: Promise<void>[] = [];
  const outcome = await applyEvent(tx, event, { now, createId: engine.createId, pending });
  if (outcome.result !== "applied") await Promise.all(pending);
  if (outcome.result === "parked") {
    const attempts = row.attempts + 1;
    await tx.update("events", row.id, {
      status: "pending",
      parked_reason: outcome.reason,
      attempts,
      next_attempt_at: now + backoffMs(attempts, engine.retry.baseMs, engine.retry.maxMs),
      // a drain's claim ends here, so the next try comes when the backoff says, not when the lease ends
      lease_until: null,
      processed_at: null,
      updated_at: now,
    });
    return { status: "parked", ...NOTHING };
  }
  if (outcome.result === "ignored") {
    await tx.update("events", row.id, {
      status: "ignored",
      parked_reason: outcome.reason,
      next_attempt_at: null,
      last_error: null,
      processed_at: null,
      updated_at: now,
    });
    return { status: "ignored", ...NOTHING };
  }
  if (row.status !== "processed") {
    await tx.update("events", row.id, {
      status: "processed",
      processed_at: now,
      parked_reason: null,
      next_attempt_at: null,
      last_error: null,
      updated_at: now,
    });
  }
  const [runs] = await Promise.all([recordRuns(engine, tx, row.id, event, outcome.intents), ...pending]);
  const result: Extract<ProcessResult, { runs: unknown }> = {
    status: "processed",
    runs,
    intents: outcome.intents,
    event,
  };
  if (outcome.orderId) result.orderId = outcome.orderId;
  if (outcome.order) result.order = outcome.order;
  if (outcome.createdOrder && outcome.orderId) {
    result.unparked = await parkedFor(tx, event);
  }
  return result;
}

/**
 * Marks a stored event failed after a processing error (in its own transaction); returns the failed
 * row's id (another delivery's, when that one stored the event first) and attempts, or `null` when
 * the event turned out to be stored as processed or ignored after all (a store whose COMMIT lost its
 * answer: it did commit), which leaves nothing to retry.
 */
async function recordFailure(
  engine: Engine,
  row: EventRow,
  error: unknown,
): Promise<{ id: string; attempts: number } | null> {
  const now = engine.now();
  const message = errorMessage(error);
  // Everything is decided inside the transaction and returned (a store may run `fn` more than once).
  const recorded = await engine.store.transaction(async (tx) => {
    const settled = (current: EventRow) => current.status === "processed" || current.status === "ignored";
    const patchFor = (current: EventRow | undefined) => {
      const before = current ?? row;
      // Waiting while parked is not failing: a parked event's first failure is attempt 1.
      const parked = before.status === "pending" && before.parked_reason !== null;
      const attempts = (parked ? 0 : before.attempts) + 1;
      return {
        status: "failed" as const,
        attempts,
        last_error: message,
        next_attempt_at:
          attempts >= engine.retry.maxAttempts
            ? null
            : now + backoffMs(attempts, engine.retry.baseMs, engine.retry.maxMs),
        lease_until: null,
        processed_at: null,
        updated_at: now,
      };
    };
    const current = await tx.get("events", row.id, { lock: true });
    if (current) {
      if (settled(current)) return null;
      const patch = patchFor(current);
      await tx.update("events", row.id, patch);
      return { id: row.id, attempts: patch.attempts };
    }
    const patch = patchFor(undefined);
    if (await tx.insert("events", { ...row, ...patch })) return { id: row.id, attempts: patch.attempts };
    // The insert conflicted: the event landed meanwhile (this receive's lost-answer COMMIT, still in
    // flight when this transaction began, or a concurrent redelivery). Decide on what is there now.
    const [landed] = await tx.find(
      "events",
      { provider: row.provider, event_id: row.event_id },
      { limit: 1, lock: true },
    );
    if (!landed || settled(landed)) return null;
    const landedPatch = patchFor(landed);
    await tx.update("events", landed.id, landedPatch);
    return { id: landed.id, attempts: landedPatch.attempts };
  });
  if (recorded === null) {
    engine.logger.warn("the event was stored after all (processed or ignored): nothing to retry", {
      id: row.id,
      provider: row.provider,
      eventType: row.event_type,
      error: message,
    });
    return null;
  }
  const { id, attempts } = recorded;
  engine.logger.error("webhook processing failed; recorded as failed and will be retried", {
    id,
    provider: row.provider,
    eventType: row.event_type,
    attempts,
    error: message,
  });
  await notifyOps(engine, {
    type: "ops.webhook_failed",
    eventRowId: id,
    provider: row.provider,
    eventType: row.event_type,
    error: message,
    attempts,
  });
  return recorded;
}

async function notifyOps(engine: Engine, intent: NotificationIntent) {
  try {
    await engine.notifications?.handle(intent, () => undefined);
  } catch (error) {
    engine.logger.warn("the notifications hook threw", { error: errorMessage(error) });
  }
}

/**
 * Inside the transaction that created an order from `event`: the events parked waiting for it. They
 * wait by the checkout id they name (the new order's id when the event names one; an id Mika made up
 * just now cannot be waited for) or by the payment ref (the new order carries the event's).
 */
async function parkedFor(tx: StoreTx, event: MikaEvent): Promise<string[]> {
  const reasons: string[] = [];
  if (event.checkoutRef) reasons.push(awaitingOrder({ checkoutRef: event.checkoutRef }));
  if (event.paymentRef) reasons.push(awaitingOrder({ paymentRef: event.paymentRef }));
  const provider = event.provider as string;
  const ids: string[] = [];
  for (const reason of reasons) {
    const rows = await tx.find("events", { status: "pending", parked_reason: reason }, { limit: 50 });
    for (const row of rows) if (row.provider === provider) ids.push(row.id);
  }
  return ids;
}

/** A new inbox row for `event`. */
function inboxRow(
  engine: Engine,
  event: MikaEvent,
  from: {
    eventId: string;
    eventType: string;
    payloadHash: string;
    raw: string | null;
    receivedAt: number;
    deferred: boolean;
  },
): EventRow {
  const { receivedAt, deferred } = from;
  return {
    id: engine.createId("evt"),
    provider: event.provider,
    event_id: from.eventId,
    event_type: from.eventType,
    kind: event.kind,
    livemode: event.livemode,
    payload_hash: from.payloadHash,
    occurred_at: event.occurredAt.getTime(),
    received_at: receivedAt,
    // Deferred: stored pending, due at once. Inline: written as processed, in the transaction that
    // applies it; applyAndRecord rewrites it only for another outcome (parked, ignored), and a
    // processing error rolls the insert back with everything else.
    status: deferred ? "pending" : "processed",
    attempts: 0,
    next_attempt_at: deferred ? receivedAt : null,
    last_error: null,
    parked_reason: null,
    event: serializeEvent(event),
    raw: from.raw,
    processed_at: deferred ? null : receivedAt,
    lease_until: null,
    duplicates: 0,
    updated_at: receivedAt,
  };
}

/**
 * Applies an event Mika made itself (a checkout it reconciled with the provider's API) the way a
 * webhook's event is applied: stored in the inbox (ops shows it, `raw` empty), applied in the same
 * transaction, its handler and notification runs recorded there and run after the commit. So a
 * checkout paid before (or without) its webhook still gets its `order.paid` notification and its
 * host handlers. Returns the order as the event left it. Throws what the store throws (nothing is
 * then applied).
 */
export async function applyMadeEvent(engine: Engine, event: MikaEvent): Promise<OrderRow | undefined> {
  const now = engine.now();
  const row = inboxRow(engine, event, {
    eventId: event.eventId,
    eventType: event.eventType,
    payloadHash: `mika:${event.eventType}`,
    raw: null,
    receivedAt: now,
    deferred: false,
  });
  const result = await engine.store.transaction(async (tx) => {
    if (!(await tx.insert("events", row))) return undefined; // made twice in one millisecond: applied
    return applyAndRecord(engine, tx, row, event);
  });
  if (!result) return undefined;
  await afterCommit(engine, event.provider, result);
  return result.status === "processed" ? result.order : undefined;
}

/**
 * Processes a stored event (deferred, parked, failed, or replayed). Idempotent: an event already
 * processed or ignored is left as it is.
 */
export async function processStored(
  engine: Engine,
  rowId: string,
): Promise<ProcessResult | { status: "missing" }> {
  let row: EventRow | undefined;
  let result: ProcessResult;
  try {
    result = await engine.store.transaction(async (tx) => {
      row = await tx.get("events", rowId, { lock: true });
      if (!row) return { status: "failed", error: "missing" } as ProcessResult;
      if (row.status === "processed" || row.status === "ignored" || row.status === "poison") {
        // already applied: nothing runs again (handlers were recorded with the first application)
        return { status: row.status === "processed" ? "processed" : "ignored", ...NOTHING } as ProcessResult;
      }
      const event = reviveEvent(row.event as SerializedEvent);
      return applyAndRecord(engine, tx, { ...row }, event);
    });
  } catch (error) {
    if (!row) throw error;
    // Stored as processed or ignored after all (the COMMIT's answer was lost): read back which.
    if ((await recordFailure(engine, row, error)) === null) return processStored(engine, rowId);
    return { status: "failed", error: errorMessage(error) };
  }
  if (!row) return { status: "missing" };
  await afterCommit(engine, row.provider, result);
  return result;
}

/** `mika.webhooks.receive`: the whole pipeline for one request. */
export async function receive(
  engine: Engine,
  input: { provider: string; request: Request },
): Promise<MikaResult<ReceiveResult>> {
  const provider = engine.providers.get(input.provider);
  if (!provider) {
    return err(
      "PROVIDER_UNKNOWN",
      `No provider named "${input.provider}" is configured: the webhook URL must end in one of ${[...engine.providers.keys()].map((n) => `/webhooks/${n}`).join(", ") || "(none configured)"}.`,
    );
  }
  const receivedAt = engine.now();
  const body = await readCapped(input.request, engine.maxBodyBytes);
  if (body === "too-large") {
    return err(
      "PAYLOAD_TOO_LARGE",
      `The webhook body is larger than ${engine.maxBodyBytes} bytes: raise config.maxBodyBytes if this sender really sends such events.`,
    );
  }
  if (body === "used") {
    return err(
      "WEBHOOK_INVALID",
      "The request body was read before Mika got it: hand Mika the untouched Request (no body parser on the webhook route).",
      { detail: "BODY_NOT_RAW" },
    );
  }
  if (body === "unreadable") {
    // Also what a framework's own body limit under maxBodyBytes looks like (SvelteKit's BODY_SIZE_LIMIT).
    engine.logger.warn("webhook body unreadable", {
      provider: provider.name,
      hint: "the connection broke off, or a body size limit in front of Mika (framework, proxy) cut the stream",
    });
    return err(
      "WEBHOOK_INVALID",
      "The webhook body could not be read (the connection broke off, or a body size limit in front of Mika cut it): nothing was stored, so the sender delivers it again.",
      { detail: "PAYLOAD_INVALID" },
    );
  }
  if (body.length === 0) {
    return err(
      "WEBHOOK_INVALID",
      "The webhook body is empty: send the provider's event JSON as the request body.",
      {
        detail: "PAYLOAD_INVALID",
      },
    );
  }

  let verified: Awaited<ReturnType<typeof provider.verifyWebhook>>;
  try {
    verified = await provider.verifyWebhook({
      rawBody: body,
      headers: input.request.headers,
      receivedAt: new Date(receivedAt),
    });
  } catch (error) {
    engine.logger.error("verifyWebhook threw (a provider bug): answering 500 so the sender retries", {
      provider: provider.name,
      error: errorMessage(error),
    });
    return err("INTERNAL", "The provider adapter failed while verifying; the sender will retry.");
  }
  if (!verified.ok) {
    const { code, message } = verified.error;
    if (code === "SECRET_INVALID") {
      engine.logger.error("webhook secret misconfigured: answering 500 so the provider keeps retrying", {
        provider: provider.name,
        problem: message,
      });
      return err(
        "INTERNAL",
        `Mika's ${provider.name} webhook secret is misconfigured; fix the configuration (the server log says how).`,
      );
    }
    if (code === "PAYLOAD_INVALID") {
      await recordPoison(engine, provider.name, body, receivedAt, message);
    }
    engine.logger.warn("webhook rejected", { provider: provider.name, code });
    return err("WEBHOOK_INVALID", message, { detail: code });
  }

  const webhook = verified.webhook;
  let event: MikaEvent;
  try {
    event = provider.parseWebhookEvent(webhook);
  } catch (error) {
    engine.logger.error("parseWebhookEvent threw (a provider bug); storing the event as unknown", {
      provider: provider.name,
      error: errorMessage(error),
    });
    event = {
      kind: "unknown",
      provider: webhook.provider,
      eventId: webhook.eventId,
      eventType: webhook.eventType,
      occurredAt: webhook.occurredAt ?? new Date(receivedAt),
      livemode: webhook.livemode ?? true,
    };
  }

  const deferred = engine.processing === "deferred";
  const row = inboxRow(engine, event, {
    eventId: webhook.eventId,
    eventType: webhook.eventType,
    payloadHash: webhook.payloadHash,
    raw: fromUtf8(body),
    receivedAt,
    deferred,
  });
  const answer = (status: ReceiveResult["status"], id = row.id) =>
    ok<ReceiveResult>({ status, id, eventId: row.event_id, kind: row.kind });

  // Results of earlier handler runs ride along with this transaction (see RunResultQueue).
  const carried = takeRunResults(engine);
  let outcome: ProcessResult | "duplicate" | "accepted";
  try {
    outcome = await engine.store.transaction(async (tx) => {
      // One burst of writes to distinct rows, issued together: a store that batches concurrent
      // transactions sends them in one round trip, and every receive's first step stays alike.
      const [inserted] = await Promise.all([
        tx.insert("events", row),
        carried.length ? writeRunResults(tx, carried, receivedAt) : undefined,
      ]);
      if (!inserted) return "duplicate" as const;
      if (deferred) return "accepted" as const;
      return applyAndRecord(engine, tx, row, event);
    });
  } catch (error) {
    requeueRunResults(engine, carried);
    if (isStoreClosedError(error)) {
      engine.logger.warn("webhook not stored: the store is closed; the provider will deliver it again", {
        provider: row.provider,
        eventType: row.event_type,
      });
      return storeClosed(
        `Storing ${row.event_type}`,
        "nothing was stored or acknowledged, so the provider will deliver it again",
      );
    }
    let recorded: Awaited<ReturnType<typeof recordFailure>>;
    try {
      recorded = await recordFailure(engine, row, error);
    } catch (storeError) {
      engine.logger.error("could not record the failure either", { error: errorMessage(storeError) });
      return err(
        "INTERNAL",
        `Processing ${row.event_type} failed and the store could not record the failure either; nothing was acknowledged, so the provider's retry will deliver it again.`,
      );
    }
    if (recorded === null) {
      return err(
        "INTERNAL",
        `Storing ${row.event_type} reported an error, yet the event turned out stored and processed (the store lost its commit's answer); the provider's retry will be answered as a duplicate.`,
      );
    }
    return err(
      "INTERNAL",
      `Processing ${row.event_type} failed and was recorded as failed (attempt ${recorded.attempts}); the provider's retry, mika.webhooks.replay("${recorded.id}") or maintenance will try again.`,
    );
  }

  if (outcome === "duplicate") return guarded(engine, "Counting a redelivery", () => duplicate(engine, row));
  if (outcome === "accepted") return answer("accepted");
  if (outcome.status === "failed") return err("INTERNAL", outcome.error);
  await afterCommit(engine, row.provider, outcome);
  return answer(outcome.status);
}

/** A redelivery: count it; if the stored event failed, this is its retry. */
async function duplicate(engine: Engine, row: EventRow): Promise<MikaResult<ReceiveResult>> {
  const existing = await engine.store.transaction(async (tx) => {
    const [found] = await tx.find(
      "events",
      { provider: row.provider, event_id: row.event_id },
      { limit: 1, lock: true },
    );
    if (found)
      await tx.update("events", found.id, { duplicates: found.duplicates + 1, updated_at: engine.now() });
    return found;
  });
  if (!existing) return err("CONFLICT", "The event was stored concurrently and then vanished; retry.");
  if (existing.payload_hash !== row.payload_hash) {
    engine.logger.warn(
      "redelivery with the same event id but a different body; the first body stays authoritative",
      {
        provider: row.provider,
        eventId: row.event_id,
      },
    );
  }
  if (existing.status === "failed") {
    const result = await processStored(engine, existing.id);
    if (result.status === "failed") {
      return err("INTERNAL", `Retrying ${existing.event_type} failed again; it stays recorded as failed.`);
    }
    if (result.status !== "missing") {
      return ok<ReceiveResult>({
        status: result.status,
        id: existing.id,
        eventId: existing.event_id,
        kind: existing.kind,
      });
    }
  }
  return ok<ReceiveResult>({
    status: "duplicate",
    id: existing.id,
    eventId: existing.event_id,
    kind: existing.kind,
  });
}

/** Stores a signed-but-unreadable body once, as `poison`: visible in ops, never retried. */
async function recordPoison(
  engine: Engine,
  provider: string,
  body: Uint8Array,
  receivedAt: number,
  message: string,
) {
  try {
    const hash = await payloadHash(body);
    await engine.store.transaction((tx) =>
      tx.insert("events", {
        id: engine.createId("evt"),
        provider,
        event_id: `invalid:${hash.slice(7, 39)}`,
        event_type: "invalid",
        kind: "unknown",
        livemode: true,
        payload_hash: hash,
        occurred_at: receivedAt,
        received_at: receivedAt,
        status: "poison",
        attempts: 0,
        next_attempt_at: null,
        last_error: message,
        parked_reason: null,
        event: null,
        raw: fromUtf8(body),
        processed_at: null,
        lease_until: null,
        duplicates: 0,
        updated_at: receivedAt,
      }),
    );
  } catch (error) {
    if (isStoreClosedError(error)) engine.logger.warn("poison record not stored: the store is closed");
    else engine.logger.error("could not store a poison record", { error: errorMessage(error) });
  }
}

/** Processes due deferred, parked and failed events. Safe to run from several processes at once. */
export async function drain(
  engine: Engine,
  options: { limit?: number } = {},
): Promise<{ processed: number; ignored: number; parked: number; failed: number }> {
  const report = { processed: 0, ignored: 0, parked: 0, failed: 0 };
  const limit = options.limit ?? 100;
  const claimed = await engine.store.transaction((tx) =>
    tx.claim("events", {
      where: { status: { in: ["pending", "failed"] }, next_attempt_at: { ne: null } },
      dueColumn: "next_attempt_at",
      now: engine.now(),
      leaseMs: 5 * 60 * 1000,
      limit,
    }),
  );
  for (const row of claimed) {
    try {
      const result = await processStored(engine, row.id);
      if (result.status !== "missing") report[result.status]++;
    } catch (error) {
      report.failed++;
      engine.logger.error("draining an event failed", { id: row.id, error: errorMessage(error) });
    }
  }
  return report;
}

/** `mika.webhooks.list`. */
export async function list(
  engine: Engine,
  query: { status?: EventRow["status"]; provider?: string; limit?: number; cursor?: string } = {},
): Promise<MikaResult<Page<WebhookRecord>>> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const result = await guarded(engine, "Listing webhook events", () =>
    engine.store.transaction((tx) =>
      tx.find(
        "events",
        {
          ...(query.status ? { status: query.status } : {}),
          ...(query.provider ? { provider: query.provider } : {}),
          ...(query.cursor ? { id: { lt: query.cursor } } : {}),
        },
        { orderBy: [{ column: "id", direction: "desc" }], limit: limit + 1 },
      ),
    ),
  );
  if (!Array.isArray(result)) return result;
  const items = result.slice(0, limit).map(toWebhookRecord);
  return ok(result.length > limit ? { items, nextCursor: items[items.length - 1]!.id } : { items });
}

/** `mika.webhooks.get`. */
export async function get(engine: Engine, id: string): Promise<MikaResult<WebhookDetail>> {
  await flushRunResults(engine);
  const result = await guarded(engine, "Reading a webhook event", () =>
    engine.store.transaction(async (tx) => {
      const row = await tx.get("events", id);
      if (!row) return undefined;
      // Run ids start with the event row's id (see recordRuns): a primary-key range, no index needed.
      const runs = await tx.find(
        "handler_runs",
        { id: { gte: `${id}:`, lt: `${id};` }, event_row_id: id },
        { orderBy: [{ column: "id", direction: "asc" }] },
      );
      return { row, runs };
    }),
  );
  if (result && "ok" in result) return result;
  if (!result) return err("NOT_FOUND", `No webhook event ${id}: list them with mika.webhooks.list().`);
  return ok({
    ...toWebhookRecord(result.row),
    event: result.row.event ? reviveEvent(result.row.event as SerializedEvent) : null,
    raw: result.row.raw,
    handlers: result.runs.map((r) => ({
      handler: r.handler,
      status: r.status,
      attempts: r.attempts,
      lastError: r.last_error,
      nextAttemptAt: r.next_attempt_at === null ? null : new Date(r.next_attempt_at).toISOString(),
    })),
  });
}

/** `mika.webhooks.replay`: processes a stored event now. A processed event is not applied twice. */
export async function replay(
  engine: Engine,
  id: string,
): Promise<MikaResult<{ id: string; status: string }>> {
  const existing = await guarded(engine, "Reading a webhook event", () =>
    engine.store.transaction((tx) => tx.get("events", id)),
  );
  if (existing && "ok" in existing) return existing;
  if (!existing) return err("NOT_FOUND", `No webhook event ${id}: list them with mika.webhooks.list().`);
  if (existing.status === "poison") {
    return err(
      "CONFLICT",
      "This delivery's body was not valid JSON; it cannot be processed. Fix the sender and resend.",
    );
  }
  const result = await guarded(engine, "Replaying a webhook event", () => processStored(engine, id));
  if ("ok" in result) return result;
  if (result.status === "failed") return err("INTERNAL", `The replay failed: ${result.error}`);
  if (result.status === "missing") return err("NOT_FOUND", `No webhook event ${id}.`);
  return ok({ id, status: result.status });
}
