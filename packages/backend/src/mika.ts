/** `createMika()`: composes providers, a store and the host's hooks into one API and one handler. */
import { err, type MikaResult, type OrderStatus, ok } from "@mika/types";
import {
  type Catalog,
  type CheckoutStarted,
  type CheckoutStartInput,
  type CheckoutStatus,
  createCommerce,
} from "./checkout.js";
import { createEngine, guarded } from "./engine.js";
import { createHandler } from "./http.js";
import { createMaintenance, type MaintenanceReport } from "./maintenance.js";
import {
  type CreateMikaOptions,
  type Order,
  type Page,
  type ReceiveResult,
  type Subscription,
  toOrder,
  toSubscription,
  type WebhookDetail,
  type WebhookRecord,
} from "./types.js";
import * as webhooks from "./webhooks.js";

/** Options of {@link createMika}: the pipeline's options plus the catalog and checkout TTL. */
export interface MikaOptions extends CreateMikaOptions {
  /** What the shop sells (a list or a loader). */
  catalog?: Catalog;
  /** Minutes a checkout stays payable. Default 30. */
  checkoutTtlMinutes?: number;
}

/** The Mika API. Every method returns an envelope; expected failures never throw. */
export interface Mika {
  /** The one Web-standard entry: mount it at `config.basePath` (default `/api/mika`). */
  handler(request: Request): Promise<Response>;
  webhooks: {
    /** Verifies, stores and applies one webhook request. */
    receive(input: { provider: string; request: Request }): Promise<MikaResult<ReceiveResult>>;
    /** Stored events, newest first. */
    list(query?: {
      status?: WebhookRecord["status"];
      provider?: string;
      limit?: number;
      cursor?: string;
    }): Promise<MikaResult<Page<WebhookRecord>>>;
    /** One stored event with its raw body, normalized event and handler runs. */
    get(id: string): Promise<MikaResult<WebhookDetail>>;
    /** Processes a stored event now; a processed event is not applied twice. */
    replay(id: string): Promise<MikaResult<{ id: string; status: string }>>;
    /** Processes due deferred, parked and failed events. */
    drain(options?: {
      limit?: number;
    }): Promise<MikaResult<{ processed: number; ignored: number; parked: number; failed: number }>>;
  };
  checkout: {
    /** Starts a hosted checkout (idempotent per key). */
    start(
      input: CheckoutStartInput,
      options: { idempotencyKey: string },
    ): Promise<MikaResult<CheckoutStarted>>;
    /** The ledger's view of a checkout; asks the provider while it is pending. */
    status(input: { checkoutId: string; token: string }): Promise<MikaResult<CheckoutStatus>>;
    /** Cancels an unpaid checkout and releases its stock. */
    cancel(input: { checkoutId: string; token: string }): Promise<MikaResult<CheckoutStatus>>;
  };
  orders: {
    get(id: string): Promise<MikaResult<Order>>;
    list(query?: {
      status?: OrderStatus;
      provider?: string;
      limit?: number;
      cursor?: string;
    }): Promise<MikaResult<Page<Order>>>;
  };
  subscriptions: {
    get(id: string): Promise<MikaResult<Subscription>>;
    list(query?: {
      status?: string;
      provider?: string;
      limit?: number;
      cursor?: string;
    }): Promise<MikaResult<Page<Subscription>>>;
    cancel(
      input: { subscriptionId: string; atPeriodEnd?: boolean },
      options: { idempotencyKey: string },
    ): Promise<MikaResult<{ subscriptionRef: string; status: string }>>;
    resume(
      input: { subscriptionId: string },
      options: { idempotencyKey: string },
    ): Promise<MikaResult<{ subscriptionRef: string; status: string }>>;
    pause(
      input: { subscriptionId: string },
      options: { idempotencyKey: string },
    ): Promise<MikaResult<{ subscriptionRef: string; status: string }>>;
    change(
      input: { subscriptionId: string; priceRef: string; quantity?: number },
      options: { idempotencyKey: string },
    ): Promise<MikaResult<{ subscriptionRef: string; status: string }>>;
  };
  refunds: {
    /** Asks the provider to refund (all, or `amount` minor units); the ledger changes when its webhook confirms. */
    create(
      input: { orderId: string; amount?: number; reason?: string },
      options: { idempotencyKey: string },
    ): Promise<MikaResult<{ refundRef: string; status: string; orderId: string }>>;
  };
  portal: {
    create(input: {
      provider: string;
      customerRef: string;
      returnUrl: string;
    }): Promise<MikaResult<{ url: string }>>;
  };
  stock: {
    /** Sets the units on hand of a tracked sellable. */
    set(sellableId: string, onHand: number): Promise<MikaResult<{ sellableId: string; onHand: number }>>;
  };
  maintenance: {
    /** Releases expired holds, retries due events and handlers, reconciles stale checkouts, purges old raw payloads. */
    run(): Promise<MikaResult<MaintenanceReport>>;
  };
  /** Lists what is missing for production (secrets, capabilities the catalog needs, migrations). */
  assertWired(): Promise<MikaResult<{ ok: boolean; problems: string[] }>>;
}

/**
 * Creates a Mika instance.
 *
 * @example
 * const mika = createMika({ providers: [stripeProvider({ client, webhookSecret })], store: sqliteStore({ file: "mika.db" }) });
 * export const POST = (request: Request) => mika.handler(request);
 */
export function createMika(options: MikaOptions): Mika {
  const engine = createEngine(options);
  const commerce = createCommerce(engine, {
    ...(options.catalog ? { catalog: options.catalog } : {}),
    ...(options.checkoutTtlMinutes ? { checkoutTtlMinutes: options.checkoutTtlMinutes } : {}),
  });
  const maintenance = createMaintenance(engine, commerce.reconcile);

  const page = async <Row, T>(
    what: string,
    table: "orders" | "subscriptions",
    where: Record<string, unknown>,
    query: { limit?: number; cursor?: string },
    map: (row: Row) => T,
  ): Promise<MikaResult<Page<T>>> => {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
    const rows = await guarded(engine, what, () =>
      engine.store.transaction((tx) =>
        tx.find(table, { ...where, ...(query.cursor ? { id: { lt: query.cursor } } : {}) } as never, {
          orderBy: [{ column: "id", direction: "desc" }],
          limit: limit + 1,
        }),
      ),
    );
    if (!Array.isArray(rows)) return rows;
    const items = rows.slice(0, limit).map((r) => map(r as Row));
    const last = rows[limit - 1] as { id: string } | undefined;
    return ok(rows.length > limit && last ? { items, nextCursor: last.id } : { items });
  };
  /** A commerce method whose store failures come back as envelopes (never thrown), like every other's. */
  const enveloped =
    <A extends unknown[], T>(what: string, fn: (...args: A) => Promise<MikaResult<T>>) =>
    (...args: A): Promise<MikaResult<T>> =>
      guarded(engine, what, () => fn(...args));
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

  const mika: Mika = {
    handler: (request) => handler(request),
    webhooks: {
      receive: (input) => webhooks.receive(engine, input),
      list: (query) => webhooks.list(engine, query),
      get: (id) => webhooks.get(engine, id),
      replay: (id) => webhooks.replay(engine, id),
      drain: async (opts) => {
        const result = await guarded(engine, "Draining events", () => webhooks.drain(engine, opts));
        return "ok" in result ? result : ok(result);
      },
    },
    checkout: {
      start: enveloped("Starting a checkout", commerce.start),
      status: enveloped("Reading a checkout's status", commerce.status),
      cancel: enveloped("Canceling a checkout", commerce.cancel),
    },
    orders: {
      async get(id) {
        const row = await guarded(engine, "Reading an order", () =>
          engine.store.transaction((tx) => tx.get("orders", String(id))),
        );
        if (row && "ok" in row) return row;
        return row ? ok(toOrder(row)) : err("NOT_FOUND", `No order ${id}.`);
      },
      list: (query = {}) =>
        page(
          "Listing orders",
          "orders",
          defined({ status: query.status, provider: query.provider }),
          query,
          toOrder,
        ),
    },
    subscriptions: {
      async get(id) {
        const row = await guarded(engine, "Reading a subscription", () =>
          engine.store.transaction((tx) => tx.get("subscriptions", String(id))),
        );
        if (row && "ok" in row) return row;
        return row ? ok(toSubscription(row)) : err("NOT_FOUND", `No subscription ${id}.`);
      },
      list: (query = {}) =>
        page(
          "Listing subscriptions",
          "subscriptions",
          defined({ status: query.status, provider: query.provider }),
          query,
          toSubscription,
        ),
      cancel: enveloped("Canceling a subscription", (input, opts) =>
        commerce.subscriptionAction("cancel", input, opts),
      ),
      resume: enveloped("Resuming a subscription", (input, opts) =>
        commerce.subscriptionAction("resume", input, opts),
      ),
      pause: enveloped("Pausing a subscription", (input, opts) =>
        commerce.subscriptionAction("pause", input, opts),
      ),
      change: enveloped("Changing a subscription", (input, opts) =>
        commerce.subscriptionAction("change", input, opts),
      ),
    },
    refunds: { create: enveloped("Creating a refund", commerce.refund) },
    portal: { create: enveloped("Opening the billing portal", commerce.portal) },
    stock: {
      async set(sellableId, onHand) {
        if (!Number.isSafeInteger(onHand) || onHand < 0) {
          return err("VALIDATION_FAILED", "onHand must be a whole number ≥ 0.", {
            fields: { onHand: "integer ≥ 0" },
          });
        }
        const done = await guarded(engine, "Setting stock", () =>
          engine.store.transaction(async (tx) => {
            const exists = await tx.get("stock", sellableId, { lock: true });
            if (exists) await tx.update("stock", sellableId, { on_hand: onHand, updated_at: engine.now() });
            else await tx.insert("stock", { id: sellableId, on_hand: onHand, updated_at: engine.now() });
            return true;
          }),
        );
        return done === true ? ok({ sellableId, onHand }) : (done as MikaResult<never>);
      },
    },
    maintenance: { run: () => maintenance.run() },
    assertWired: () =>
      maintenance.assertWired(async () => {
        const catalog = await commerce.loadCatalog();
        const missing: { sellable: string; provider: string }[] = [];
        for (const provider of engine.providers.values()) {
          if (!provider.capabilities.has("checkout") || provider.capabilities.has("checkout.inline-prices"))
            continue;
          for (const s of catalog)
            if (!s.prices?.[provider.name]) missing.push({ sellable: s.id, provider: provider.name });
        }
        return missing;
      }),
  };
  const handler = createHandler(engine, mika);
  return mika;
}
