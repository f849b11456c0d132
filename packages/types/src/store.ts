/**
 * The store port. A store is a small, schema-driven table API with a transaction primitive; the
 * backend owns every ledger rule and speaks to any store through it. The schema ({@link MIKA_SCHEMA})
 * is data, so a SQL store creates its tables from it and a conformance suite can check every column.
 *
 * Values: `text` → string, `integer` → number (safe integer), `boolean` → boolean, `timestamp` →
 * epoch milliseconds (number), `json` → any JSON value. Every column may be `null` unless it is the
 * primary key or listed in `required`.
 *
 * @packageDocumentation
 */

/** A column's value type. */
export type ColumnType = "text" | "integer" | "boolean" | "timestamp" | "json";

/**
 * A secondary index. With `whereNotNull` it is partial: only rows whose `whereNotNull` column is not
 * null are in it. Each query it serves constrains that column (an equality or a range), so the rows it
 * leaves out can never match, and writing them touches no index page — the common rows of a webhook
 * receive (a processed event, a paid order without a subscription) stay out of most indexes.
 */
export interface IndexSpec {
  /** The indexed columns, in order. */
  readonly columns: readonly string[];
  /** A column that must be non-null for a row to be in the index. */
  readonly whereNotNull?: string;
}

/** One table: its columns, primary key, unique constraints and indexes. */
export interface TableSpec {
  /** The primary-key column (always `text`). */
  readonly primaryKey: string;
  /** Column name → type. */
  readonly columns: Readonly<Record<string, ColumnType>>;
  /** Columns that may not be null (besides the primary key). */
  readonly required: readonly string[];
  /** Unique constraints over one or more columns; `insert` returns false when one conflicts. */
  readonly unique: readonly (readonly string[])[];
  /** Secondary indexes the backend's queries rely on. */
  readonly indexes: readonly IndexSpec[];
}

/** Inbox statuses. `pending`: stored, not applied yet (deferred, or parked until its order exists). */
export type EventStatus = "pending" | "processed" | "ignored" | "failed" | "poison";

/** An inbox row: one per (provider, event_id). */
export interface EventRow {
  id: string;
  provider: string;
  event_id: string;
  event_type: string;
  kind: string;
  livemode: boolean;
  payload_hash: string;
  occurred_at: number;
  received_at: number;
  status: EventStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
  /** Why a pending event waits (`awaiting-order:<checkout id>` / `awaiting-order:payment:<ref>`), or why it was ignored. */
  parked_reason: string | null;
  /** The normalized event (serialized). */
  event: unknown;
  /** The raw body as received (UTF-8), until retention purges it. */
  raw: string | null;
  processed_at: number | null;
  lease_until: number | null;
  /** How many redeliveries were answered as duplicates. */
  duplicates: number;
  updated_at: number;
}

/** Order states; a checkout is an order from its start. */
export type OrderStatus =
  | "pending"
  | "awaiting_payment"
  | "paid"
  | "partially_refunded"
  | "refunded"
  | "failed"
  | "expired"
  | "canceled";

/** An order (one per checkout, or per completed provider checkout Mika did not start). */
export interface OrderRow {
  id: string;
  provider: string;
  status: OrderStatus;
  mode: "payment" | "subscription";
  livemode: boolean;
  amount: number | null;
  currency: string | null;
  refunded_amount: number;
  dispute_status: string | null;
  provider_checkout_id: string | null;
  payment_ref: string | null;
  provider_order_ref: string | null;
  subscription_ref: string | null;
  customer_ref: string | null;
  customer_email: string | null;
  customer_name: string | null;
  /** sha256 hex of the status token handed to the buyer's browser. */
  token_hash: string | null;
  url: string | null;
  expires_at: number | null;
  lines: unknown;
  metadata: unknown;
  failure_reason: string | null;
  paid_at: number | null;
  /** Last time the provider was asked for this checkout's state. */
  checked_at: number | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

/** A subscription snapshot: the newest the ledger has applied. */
export interface SubscriptionRow {
  id: string;
  provider: string;
  subscription_ref: string;
  status: string;
  price_ref: string | null;
  current_period_start: number | null;
  current_period_end: number | null;
  cancel_at_period_end: boolean;
  customer_ref: string | null;
  order_id: string | null;
  livemode: boolean;
  /** The provider's time of the applied snapshot: the ordering key. */
  provider_updated_at: number;
  last_event_id: string | null;
  created_at: number;
  updated_at: number;
}

/** A payment (initial or renewal) or a failed attempt, one per event. */
export interface PaymentRow {
  id: string;
  provider: string;
  event_id: string;
  order_id: string | null;
  payment_ref: string | null;
  subscription_ref: string | null;
  invoice_ref: string | null;
  status: "succeeded" | "failed" | "uncollectible";
  amount: number | null;
  currency: string | null;
  reason: string | null;
  occurred_at: number;
}

/** A refund as the provider reported it. */
export interface RefundRow {
  id: string;
  provider: string;
  refund_ref: string;
  order_id: string | null;
  payment_ref: string | null;
  status: string;
  refunded_amount: number;
  currency: string | null;
  updated_at: number;
}

/** A dispute (chargeback). */
export interface DisputeRow {
  id: string;
  provider: string;
  dispute_ref: string;
  order_id: string | null;
  payment_ref: string | null;
  status: string;
  amount: number;
  currency: string;
  updated_at: number;
}

/** One host handler's run for one event. */
export interface HandlerRunRow {
  /** `<event row id>:<n>:<handler name>`: an event's runs are the keys that start with its row id. */
  id: string;
  event_row_id: string;
  handler: string;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
  lease_until: number | null;
  /** What the run needs besides the event (for notification runs: the intent). */
  payload: unknown;
  updated_at: number;
}

/** An idempotency record for an API call. */
export interface IdempotencyRow {
  /** `<scope>:<key>`. */
  id: string;
  request_hash: string;
  status: "in_progress" | "done";
  response: unknown;
  created_at: number;
  lease_until: number | null;
}

/** Stock of one tracked sellable. */
export interface StockRow {
  id: string;
  on_hand: number;
  updated_at: number;
}

/** Units held for an order until it is paid or the hold expires. */
export interface ReservationRow {
  id: string;
  order_id: string;
  sellable_id: string;
  quantity: number;
  status: "held" | "committed" | "released";
  expires_at: number;
  updated_at: number;
}

/** A named lease, so only one process runs a piece of maintenance at a time. */
export interface LockRow {
  id: string;
  holder: string | null;
  lease_until: number | null;
}

/** Table name → row type. */
export interface TableRows {
  events: EventRow;
  orders: OrderRow;
  subscriptions: SubscriptionRow;
  payments: PaymentRow;
  refunds: RefundRow;
  disputes: DisputeRow;
  handler_runs: HandlerRunRow;
  idempotency: IdempotencyRow;
  stock: StockRow;
  reservations: ReservationRow;
  locks: LockRow;
}

/** The name of a table. */
export type TableName = keyof TableRows;

/** The schema every store creates. Bump `version` and add a migration when it changes. */
export const MIKA_SCHEMA = {
  version: 3,
  tables: {
    events: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        event_id: "text",
        event_type: "text",
        kind: "text",
        livemode: "boolean",
        payload_hash: "text",
        occurred_at: "timestamp",
        received_at: "timestamp",
        status: "text",
        attempts: "integer",
        next_attempt_at: "timestamp",
        last_error: "text",
        parked_reason: "text",
        event: "json",
        raw: "text",
        processed_at: "timestamp",
        lease_until: "timestamp",
        duplicates: "integer",
        updated_at: "timestamp",
      },
      required: [
        "provider",
        "event_id",
        "event_type",
        "kind",
        "livemode",
        "payload_hash",
        "occurred_at",
        "received_at",
        "status",
        "attempts",
        "duplicates",
        "updated_at",
      ],
      unique: [["provider", "event_id"]],
      indexes: [
        // due work (deferred, parked, failed): claimed by next_attempt_at; processed rows have none
        { columns: ["next_attempt_at"], whereNotNull: "next_attempt_at" },
        // raw-payload retention
        { columns: ["received_at"] },
        // events parked until their order appears (and the reason an event was ignored)
        { columns: ["parked_reason"], whereNotNull: "parked_reason" },
      ],
    },
    orders: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        status: "text",
        mode: "text",
        livemode: "boolean",
        amount: "integer",
        currency: "text",
        refunded_amount: "integer",
        dispute_status: "text",
        provider_checkout_id: "text",
        payment_ref: "text",
        provider_order_ref: "text",
        subscription_ref: "text",
        customer_ref: "text",
        customer_email: "text",
        customer_name: "text",
        token_hash: "text",
        url: "text",
        expires_at: "timestamp",
        lines: "json",
        metadata: "json",
        failure_reason: "text",
        paid_at: "timestamp",
        checked_at: "timestamp",
        lease_until: "timestamp",
        created_at: "timestamp",
        updated_at: "timestamp",
      },
      required: ["provider", "status", "mode", "livemode", "refunded_amount", "created_at", "updated_at"],
      unique: [["provider", "provider_checkout_id"]],
      indexes: [
        { columns: ["provider", "payment_ref"], whereNotNull: "payment_ref" },
        { columns: ["provider", "subscription_ref"], whereNotNull: "subscription_ref" },
        { columns: ["provider", "provider_order_ref"], whereNotNull: "provider_order_ref" },
        // checkouts Mika started (they expire), by state: maintenance finds the stale ones
        { columns: ["status", "expires_at"], whereNotNull: "expires_at" },
      ],
    },
    subscriptions: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        subscription_ref: "text",
        status: "text",
        price_ref: "text",
        current_period_start: "timestamp",
        current_period_end: "timestamp",
        cancel_at_period_end: "boolean",
        customer_ref: "text",
        order_id: "text",
        livemode: "boolean",
        provider_updated_at: "timestamp",
        last_event_id: "text",
        created_at: "timestamp",
        updated_at: "timestamp",
      },
      required: [
        "provider",
        "subscription_ref",
        "status",
        "cancel_at_period_end",
        "livemode",
        "provider_updated_at",
        "created_at",
        "updated_at",
      ],
      unique: [["provider", "subscription_ref"]],
      indexes: [{ columns: ["status"] }],
    },
    payments: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        event_id: "text",
        order_id: "text",
        payment_ref: "text",
        subscription_ref: "text",
        invoice_ref: "text",
        status: "text",
        amount: "integer",
        currency: "text",
        reason: "text",
        occurred_at: "timestamp",
      },
      required: ["provider", "event_id", "status", "occurred_at"],
      unique: [["provider", "event_id"]],
      indexes: [{ columns: ["order_id"] }],
    },
    refunds: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        refund_ref: "text",
        order_id: "text",
        payment_ref: "text",
        status: "text",
        refunded_amount: "integer",
        currency: "text",
        updated_at: "timestamp",
      },
      required: ["provider", "refund_ref", "status", "refunded_amount", "updated_at"],
      unique: [["provider", "refund_ref"]],
      indexes: [{ columns: ["order_id"] }],
    },
    disputes: {
      primaryKey: "id",
      columns: {
        id: "text",
        provider: "text",
        dispute_ref: "text",
        order_id: "text",
        payment_ref: "text",
        status: "text",
        amount: "integer",
        currency: "text",
        updated_at: "timestamp",
      },
      required: ["provider", "dispute_ref", "status", "amount", "currency", "updated_at"],
      unique: [["provider", "dispute_ref"]],
      indexes: [{ columns: ["order_id"] }],
    },
    handler_runs: {
      primaryKey: "id",
      columns: {
        id: "text",
        event_row_id: "text",
        handler: "text",
        status: "text",
        attempts: "integer",
        next_attempt_at: "timestamp",
        last_error: "text",
        lease_until: "timestamp",
        payload: "json",
        updated_at: "timestamp",
      },
      required: ["event_row_id", "handler", "status", "attempts", "updated_at"],
      unique: [],
      // A run's id starts with its event row's id (`<event row id>:<n>:<handler>`), so an event's runs
      // are a primary-key range and need no index of their own.
      indexes: [{ columns: ["next_attempt_at"], whereNotNull: "next_attempt_at" }],
    },
    idempotency: {
      primaryKey: "id",
      columns: {
        id: "text",
        request_hash: "text",
        status: "text",
        response: "json",
        created_at: "timestamp",
        lease_until: "timestamp",
      },
      required: ["request_hash", "status", "created_at"],
      unique: [],
      indexes: [],
    },
    stock: {
      primaryKey: "id",
      columns: { id: "text", on_hand: "integer", updated_at: "timestamp" },
      required: ["on_hand", "updated_at"],
      unique: [],
      indexes: [],
    },
    reservations: {
      primaryKey: "id",
      columns: {
        id: "text",
        order_id: "text",
        sellable_id: "text",
        quantity: "integer",
        status: "text",
        expires_at: "timestamp",
        updated_at: "timestamp",
      },
      required: ["order_id", "sellable_id", "quantity", "status", "expires_at", "updated_at"],
      unique: [],
      indexes: [
        { columns: ["order_id"] },
        { columns: ["status", "expires_at"] },
        { columns: ["sellable_id", "status"] },
      ],
    },
    locks: {
      primaryKey: "id",
      columns: { id: "text", holder: "text", lease_until: "timestamp" },
      required: [],
      unique: [],
      indexes: [],
    },
  },
} as const satisfies { version: number; tables: Record<TableName, TableSpec> };

/**
 * A comparison on one column. `null` matches SQL NULL. Text compares by code point (as UTF-8 bytes
 * do) in ranges and in `orderBy`, whatever the database's collation: `"a;"` sorts after `"a:"`.
 */
export type Condition<V> =
  | V
  | null
  | { in: readonly V[] }
  | { ne: V | null }
  | { lt?: V; lte?: V; gt?: V; gte?: V };

/** Column → condition; all conditions must hold (AND). */
export type Where<Row> = { [K in keyof Row]?: Condition<NonNullable<Row[K]>> };

/** Sorting, paging and locking for {@link StoreTx.find}. */
export interface FindOptions<Row> {
  /** Sort keys, first one first. Without it the order is unspecified. */
  orderBy?: readonly { column: keyof Row & string; direction: "asc" | "desc" }[];
  /** At most this many rows. */
  limit?: number;
  /** Lock the rows for the rest of the transaction (`FOR UPDATE` in SQL stores). */
  lock?: boolean;
}

/** Options of {@link StoreTx.claim}. */
export interface ClaimOptions<Row> {
  /** Which rows are work (for example `{ status: { in: ["failed"] } }`). */
  where: Where<Row>;
  /** A timestamp column: only rows whose value is null or ≤ `now` are due; the earliest go first. */
  dueColumn: keyof Row & string;
  /** The current time, epoch ms. */
  now: number;
  /** How long the claim lasts (sets `lease_until` = now + leaseMs). */
  leaseMs: number;
  /** At most this many rows. */
  limit: number;
}

/**
 * What a transaction can do. Every method runs inside the surrounding transaction: if the function
 * given to {@link MikaStore.transaction} throws, nothing it wrote is kept. Calls may overlap (several
 * issued before the first is awaited, as with `Promise.all`): a store runs them as if in call order,
 * and a batching store may send writes to distinct rows together.
 */
export interface StoreTx {
  /** The row with this primary key. */
  get<T extends TableName>(
    table: T,
    key: string,
    options?: { lock?: boolean },
  ): Promise<TableRows[T] | undefined>;
  /** The rows matching `where`. */
  find<T extends TableName>(
    table: T,
    where: Where<TableRows[T]>,
    options?: FindOptions<TableRows[T]>,
  ): Promise<TableRows[T][]>;
  /** How many rows match `where`. */
  count<T extends TableName>(table: T, where: Where<TableRows[T]>): Promise<number>;
  /**
   * Inserts a full row. Returns `false`, and writes nothing, when the primary key or a unique constraint
   * conflicts (also against a concurrent transaction that commits first).
   */
  insert<T extends TableName>(table: T, row: TableRows[T]): Promise<boolean>;
  /**
   * Updates some columns of one row; `false` when there is no such row. Setting a required column to
   * null throws (as inserting a row without it does).
   */
  update<T extends TableName>(table: T, key: string, patch: Partial<TableRows[T]>): Promise<boolean>;
  /** Deletes one row; `false` when there is no such row. */
  delete<T extends TableName>(table: T, key: string): Promise<boolean>;
  /**
   * Claims due work: rows matching `where`, due (`dueColumn` null or ≤ now) and not leased by anyone
   * else (`lease_until` null or ≤ now), earliest first; sets their `lease_until`. Concurrent claims
   * from other transactions or processes never return the same row (SQL stores: `FOR UPDATE SKIP LOCKED`).
   * The table must have a `lease_until` column.
   */
  claim<T extends TableName>(table: T, options: ClaimOptions<TableRows[T]>): Promise<TableRows[T][]>;
}

/**
 * A durable (or in-memory) home for the inbox and the ledger. Every string it is given is stored;
 * a store whose text must be strict Unicode (Postgres) stores U+FFFD for U+0000 and for a lone
 * surrogate, in keys and conditions too.
 */
export interface MikaStore {
  /** A short name for logs and `assertWired` (`memory`, `sqlite`, `postgres`). */
  readonly name: string;
  /** Creates or upgrades the tables to {@link MIKA_SCHEMA}. Safe to call concurrently and repeatedly. */
  migrate(): Promise<{ from: number; to: number }>;
  /** The schema version the store holds now (0 before the first migration). */
  schemaVersion(): Promise<number>;
  /**
   * Runs `fn` in one transaction: all of its writes commit together, or none when it throws (the
   * error is rethrown). The returned promise settles only after the commit (or the definitive
   * failure). Stores migrate on first use.
   *
   * `fn` may be re-run after a rollback: a store may run it again when the transaction is rolled back
   * for a reason that is not `fn`'s own (a conflict with a concurrent transaction it was batched with,
   * a deadlock, a lock timeout), and only the run that commits counts. So `fn` must have no effects
   * outside the transaction (no HTTP calls, no messages, no writes to outer state that a second run
   * would not overwrite); do those after `transaction()` resolves. Do not call `transaction()` from
   * inside `fn`.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Lets the transactions already begun settle, then releases connections and file handles. After
   * `close()`, `migrate`, `schemaVersion` and `transaction` reject with a {@link StoreClosedError};
   * calling `close()` again does nothing.
   */
  close(): Promise<void>;
}

/**
 * What a {@link MikaStore} rejects with when it is used after `close()`. The backend answers it as a
 * retryable failure: nothing was stored, so a webhook's sender delivers the event again (to another
 * instance, or to this app once it has restarted).
 */
export class StoreClosedError extends Error {
  /** @param store - the store's {@link MikaStore.name}, for the message. */
  constructor(store: string) {
    super(
      `${store} store: the store is closed, so nothing was read or written. Close it only after the app has stopped taking requests, or make a new store.`,
    );
    this.name = "StoreClosedError";
  }
}

/**
 * Whether `error` is a {@link StoreClosedError}: by its `name`, so one thrown by another copy of
 * `@mika/types` counts as well.
 */
export function isStoreClosedError(error: unknown): error is StoreClosedError {
  return error instanceof Error && error.name === "StoreClosedError";
}

/** A store factory, the type every store export satisfies. */
export type StoreFactory<Options> = (options: Options) => MikaStore;
