/**
 * Test kit for the backend: a real Standard Webhooks provider (from @mika/testing) whose mapper reads a
 * normalized event straight from the payload, so each test can deliver exactly the event it needs,
 * signed and verified for real.
 */

import { standardWebhooksProvider, standardWebhooksSigner } from "@mika/testing";
import {
  type MikaEvent,
  type MikaStore,
  type PaymentProvider,
  reviveEvent,
  type SerializedEvent,
  type StoreTx,
  type TableName,
} from "@mika/types";
import { createMika, type MikaOptions, memoryStore } from "../src/index.js";

export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
export const T0 = Date.parse("2025-03-01T12:00:00Z");

/** A provider named `acme` that maps `{ event: {...} }` payloads to that event. */
export function acmeProvider(name = "acme"): PaymentProvider {
  return standardWebhooksProvider({
    name,
    webhookSecret: SECRET,
    mapEvent: (webhook) => {
      const body = webhook.payload as { event?: Record<string, unknown> };
      if (!body.event) return undefined;
      return reviveEvent({
        livemode: true,
        ...body.event,
        provider: webhook.provider,
        eventId: webhook.eventId,
        eventType: webhook.eventType,
        occurredAt: (body.event.occurredAt as string | undefined) ?? webhook.occurredAt?.toISOString(),
      } as unknown as SerializedEvent);
    },
  });
}

/** A mutable clock. */
export function testClock(start = T0) {
  let now = start;
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
    get ms() {
      return now;
    },
  };
}

export type EventSpec = Partial<Omit<MikaEvent, "occurredAt">> & {
  kind: MikaEvent["kind"];
  [key: string]: unknown;
};

/** Builds a signed webhook request for an event. */
export async function webhookRequest(
  event: EventSpec | string,
  options: { id: string; nowMs: number; provider?: string; type?: string; timestamp?: number; body?: string },
): Promise<Request> {
  const body =
    options.body ??
    (typeof event === "string"
      ? event
      : JSON.stringify({ type: options.type ?? `test.${event.kind}`, event }));
  const signed = await standardWebhooksSigner.sign({
    body,
    signatures: [{ secret: SECRET }],
    timestamp: options.timestamp ?? Math.floor(options.nowMs / 1000),
    messageId: options.id,
  });
  return new Request(`http://shop.test/api/mika/webhooks/${options.provider ?? "acme"}`, {
    method: "POST",
    headers: signed.headers,
    body: signed.rawBody,
  });
}

/** A Mika on a memory store with the acme provider and a test clock. */
export function setup(overrides: Partial<MikaOptions> = {}) {
  const clock = testClock();
  const store = overrides.store ?? memoryStore();
  const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const logger = {
    info: (message: string, fields?: Record<string, unknown>) =>
      logs.push({ level: "info", message, ...(fields ? { fields } : {}) }),
    warn: (message: string, fields?: Record<string, unknown>) =>
      logs.push({ level: "warn", message, ...(fields ? { fields } : {}) }),
    error: (message: string, fields?: Record<string, unknown>) =>
      logs.push({ level: "error", message, ...(fields ? { fields } : {}) }),
  };
  const mika = createMika({
    providers: [acmeProvider()],
    now: clock.now,
    ...overrides,
    store,
    config: { logger, retry: { baseMs: 1000, maxMs: 60_000 }, ...overrides.config },
  });
  const deliver = async (
    event: EventSpec | string,
    id: string,
    extra: { type?: string; timestamp?: number } = {},
  ) => {
    const response = await mika.handler(await webhookRequest(event, { id, nowMs: clock.ms, ...extra }));
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const rows = <T extends TableName>(table: T) => store.transaction((tx) => tx.find(table, {}));
  return { mika, store, clock, deliver, logs, rows };
}

/** A checkout.completed event for an external (not Mika-started) checkout. */
export const completed = (over: Record<string, unknown> = {}): EventSpec => ({
  kind: "checkout.completed",
  paymentStatus: "paid",
  amount: 1500,
  currency: "USD",
  providerCheckoutId: "cs_1",
  paymentRef: "pi_1",
  ...over,
});

/** A succeeded refund.updated event (a full refund of `completed()`'s payment). */
export const refunded = (over: Record<string, unknown> = {}): EventSpec => ({
  kind: "refund.updated",
  paymentRef: "pi_1",
  refundedAmount: 1500,
  amount: 1500,
  currency: "USD",
  full: true,
  status: "succeeded",
  ...over,
});

/**
 * A memory store whose transactions get `override(tx)`'s methods in place of their own: a test
 * makes one method fail (or watch it) and the rest behave. Returns the inner store too, to read back
 * what was really stored.
 */
export function storeWithTx(override: (tx: StoreTx) => Partial<StoreTx>): {
  store: MikaStore;
  inner: MikaStore;
} {
  const inner = memoryStore();
  const store: MikaStore = {
    ...inner,
    transaction: (fn) => inner.transaction((tx) => fn({ ...tx, ...override(tx) })),
  };
  return { store, inner };
}
