/**
 * `@mika/store-postgres`: `postgresStore()`, for many app instances on one database. Unique
 * constraints deduplicate, `INSERT … ON CONFLICT DO NOTHING` answers duplicates, and claims use
 * `SELECT … FOR UPDATE SKIP LOCKED`, so N instances never work on the same row. Concurrent
 * transactions of one process are coalesced into shared batches (see `batch.ts`).
 *
 * @packageDocumentation
 */
import type { Socket } from "node:net";
import {
  compileOnlyKysely,
  META_TABLE,
  migrateLocked,
  migrationGate,
  readVersion,
  type SqlDialect,
  type SqlExec,
  sqlTransaction,
} from "@mika/store-sqlite/sql";
import { type MikaStore, StoreClosedError, type StoreTx } from "@mika/types";
import { CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import pg from "pg";
import {
  createBatcher,
  emptyStats,
  type PostgresStoreStats,
  RETRYABLE_CODES,
  sqlState,
  type TxFn,
} from "./batch.js";
import {
  type Borrowed,
  borrow,
  CLOSE_GRACE_MS,
  ConnectionLost,
  closeSockets,
  type Deadlines,
  isConnectionError,
  lostBeforeCommit,
  lostDuringCommit,
  socketOf,
} from "./connection.js";

export type { PostgresStoreStats } from "./batch.js";

/** Options of {@link postgresStore}: give a `pool` or a `connectionString`. */
export interface PostgresStoreOptions {
  /** A pg pool; the store borrows clients from it and never ends it. */
  pool?: pg.Pool;
  /** A connection string; the store creates a pool and ends it on `close()`. */
  connectionString?: string;
  /** Size of a pool the store creates (default 10). */
  max?: number;
  /** The schema holding Mika's tables (created if missing). Default: the connection's `search_path`. */
  schema?: string;
  /**
   * Coalesce concurrent transactions of this process into shared batches (default true). `false`:
   * every transaction runs alone on its own pooled client.
   */
  batching?: boolean;
  /**
   * How long a batch waits for a row lock another transaction holds before it is rolled back and its
   * transactions re-run one by one (`SET LOCAL lock_timeout`, ms, default 200). Solo transactions wait
   * up to `queryTimeoutMs`.
   */
  lockTimeoutMs?: number;
  /**
   * How long to wait for a connection from the pool, a new one included (ms, default 10000; 0: no
   * limit). Past it, the transaction fails with an error saying the database is unreachable.
   */
  connectTimeoutMs?: number;
  /**
   * How long to wait for Postgres to answer a statement (ms, default 30000; 0: no limit). A connection
   * silent for longer is treated as lost and closed: before COMMIT, the transaction re-runs on a new
   * connection; during COMMIT, its outcome is unknown. Without it, a database host that vanishes
   * mid-statement keeps the transaction waiting for the operating system's TCP timeout (about 15
   * minutes on Linux). A migration's statements are not limited.
   */
  queryTimeoutMs?: number;
  /** At most this many transactions share one batch (default 128). */
  maxBatch?: number;
  /**
   * At most this many batches run at once (default 1): transactions that arrive while they run form
   * the next batch. When no batch has started for `lockTimeoutMs`, another one starts anyway.
   */
  maxConcurrentBatches?: number;
  /**
   * When fewer transactions are waiting than recent batches held, wait up to this long for more
   * before starting a batch (ms, default 1; 0: never wait).
   */
  lingerMs?: number;
}

/** Pools already checked for an `'error'` listener (each is warned about at most once). */
const checkedPools = new WeakSet<pg.Pool>();

/**
 * Warns once (a process warning, code `MIKA_PG_POOL_UNHEARD`) when a pool passed in has no `'error'`
 * listener by the next turn of the event loop: node-postgres emits an idle connection's end there, and
 * unheard it ends the process. The store does not listen for the caller (that would hide the caller's
 * own handling), and checks after a tick so a listener attached right after `postgresStore()` counts.
 */
function warnUnheardPool(pool: pg.Pool) {
  if (checkedPools.has(pool)) return;
  checkedPools.add(pool);
  setImmediate(() => {
    if (pool.listenerCount("error") > 0) return;
    process.emitWarning(
      "postgresStore: the pg pool passed in has no 'error' listener. When the database ends an idle " +
        "connection (a restart, a failover, an idle timeout), node-postgres emits 'error' on the pool, " +
        "and unheard that ends the process: attach pool.on('error', …) (to log it; the pool drops the connection itself).",
      { code: "MIKA_PG_POOL_UNHEARD" },
    );
  }).unref?.();
}

/** A Postgres {@link MikaStore}, with counters of how its transactions ran. */
export interface PostgresStore extends MikaStore {
  /** Counters since the store was created: batches, their sizes and statements, rollbacks, re-runs. */
  stats(): PostgresStoreStats;
}

/** How many times a solo transaction is tried when Postgres aborts it for a deadlock, a serialization failure or a lock timeout. */
const SOLO_ATTEMPTS = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const INT8_OID = 20;
const JSON_OID = 114;
const JSONB_OID = 3802;

/**
 * Type parsers for this store's queries only (the global pg parsers are left alone): BIGINT → number
 * (timestamps are epoch ms, integers are safe), json stays text and is parsed by column type.
 */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === JSON_OID || oid === JSONB_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format ?? "text");
  },
} as pg.CustomTypesConfig;

/** The Postgres dialect of the shared SQL layer; `schema` qualifies every table. */
export function postgresDialect(schema?: string): SqlDialect {
  const base = compileOnlyKysely({
    adapter: new PostgresAdapter(),
    compiler: new PostgresQueryCompiler(),
    introspector: (db) => new PostgresIntrospector(db),
  });
  return {
    name: "postgres",
    db: schema ? base.withSchema(schema) : base,
    columnType: (type) =>
      type === "integer" || type === "timestamp"
        ? "bigint"
        : type === "boolean"
          ? "boolean"
          : type === "json"
            ? "jsonb"
            : "text",
    encodeBoolean: (value) => value,
    rowLocks: true,
    strictText: true,
    codePointCollation: "C",
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates a Postgres store. Transactions run at READ COMMITTED; `get`/`find` with `lock: true` take
 * `FOR UPDATE` row locks; `claim` selects with `FOR UPDATE SKIP LOCKED` and sets `lease_until`;
 * `insert` is `INSERT … ON CONFLICT DO NOTHING` (a concurrent duplicate waits for the first
 * transaction and then returns false). Migrations take a transaction-scoped advisory lock, so any
 * number of instances may start at once.
 *
 * Batching (default): concurrent `transaction()` calls share one Postgres transaction, their
 * operations coalesced into one statement per shape. Two of them touching the same row, a function
 * that throws, a failed statement or a lock wait longer than `lockTimeoutMs` roll the batch back and
 * re-run its functions one by one, so a transaction function may run more than once. Do not call
 * `transaction()` from inside a transaction function.
 *
 * @example
 * ```ts
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL, schema: "mika" });
 * const mika = createMika({ providers, store });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const {
    schema,
    batching = true,
    lockTimeoutMs = 200,
    maxBatch = 128,
    maxConcurrentBatches = 1,
    lingerMs = 1,
    connectTimeoutMs = 10_000,
    queryTimeoutMs = 30_000,
  } = options;
  if (!(connectTimeoutMs >= 0)) throw new TypeError("postgresStore: connectTimeoutMs must be 0 or more.");
  if (!(queryTimeoutMs >= 0)) throw new TypeError("postgresStore: queryTimeoutMs must be 0 or more.");
  const deadlines: Deadlines = { connectMs: connectTimeoutMs, queryMs: queryTimeoutMs };
  if (!(lockTimeoutMs > 0)) throw new TypeError("postgresStore: lockTimeoutMs must be a positive number.");
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1))
    throw new TypeError("postgresStore: maxBatch must be a positive integer.");
  if (!(Number.isInteger(maxConcurrentBatches) && maxConcurrentBatches >= 1))
    throw new TypeError("postgresStore: maxConcurrentBatches must be a positive integer.");
  if (!(lingerMs >= 0)) throw new TypeError("postgresStore: lingerMs must be 0 or more.");
  if (!options.pool && !options.connectionString) {
    throw new TypeError("postgresStore needs a `pool` or a `connectionString`.");
  }
  const owned = !options.pool;
  const pool =
    options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 10 });
  const dialect = postgresDialect(schema);
  let closed = false;
  const stats = emptyStats();
  const connectionLost = () => {
    stats.connectionsLost++;
  };
  // pg reports an idle client whose connection ended on the pool (it has already dropped the client).
  // Unheard, that event would end the process; a pool the caller gave is the caller's to listen to.
  if (owned) pool.on("error", connectionLost);
  else warnUnheardPool(pool);
  /** The sockets of the store's own pool not closed yet (`close()` sees that they close). */
  const sockets = new Set<Socket>();
  if (owned) {
    pool.on("connect", (client) => {
      const socket = socketOf(client);
      if (!socket || socket.closed) return;
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
  }
  /** Transactions not settled yet (`close()` waits for them). */
  let running = 0;
  let drained: (() => void) | undefined;

  /**
   * Runs a transaction's statements on `client` one after another. StoreTx calls may overlap
   * (`Promise.all` of writes); pg 8 would queue a query given while another runs, but it deprecates
   * that (a warning in the app's log) and pg 9 drops it, so each waits for the one before.
   * `settled()` waits until every statement given so far has answered.
   */
  const execOn = (held: Borrowed): { exec: SqlExec; settled: () => Promise<unknown> } => {
    let tail: Promise<unknown> = Promise.resolve();
    const exec: SqlExec = (query) => {
      const run = tail.then(() =>
        held.query({ text: query.sql, values: query.parameters as unknown[], types }),
      );
      tail = run.catch(() => undefined);
      return run.then((result) => ({
        rows: result.rows as Record<string, unknown>[],
        affected: result.rowCount ?? 0,
      }));
    };
    return { exec, settled: () => tail };
  };

  /** Runs `fn` in a READ COMMITTED transaction on one pooled client, waiting at most `limits`. */
  const inTransaction = async <T>(fn: (exec: SqlExec) => Promise<T>, limits = deadlines): Promise<T> => {
    const held = await borrow(pool, connectionLost, limits);
    let broken: unknown;
    let committing = false;
    const { exec, settled } = execOn(held);
    try {
      try {
        await held.query("BEGIN ISOLATION LEVEL READ COMMITTED");
        const value = await fn(exec);
        await settled(); // a statement `fn` did not wait for still goes before COMMIT
        if (held.lost()) throw held.lost();
        committing = true;
        const committed = await held.query("COMMIT");
        if (committed.command !== "COMMIT") {
          // A statement failed and the function went on regardless: Postgres rolled back.
          throw new Error(
            "postgresStore: the transaction was rolled back because one of its statements failed.",
          );
        }
        return value;
      } catch (error) {
        try {
          await settled();
          await held.query("ROLLBACK");
        } catch (rollbackError) {
          broken = rollbackError;
        }
        if (!(held.lost() || isConnectionError(error))) throw error;
        // An error Postgres sent in answer to COMMIT means it did not commit; a dropped connection does not say.
        const cause = held.lost() ?? error;
        throw committing && !sqlState(error) ? lostDuringCommit(cause) : lostBeforeCommit(cause);
      }
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
      held.release(broken instanceof Error ? broken : undefined);
    }
  };

  // A migration (an index on a large table, say) may take long: its statements are not cut short.
  const migrationLimits: Deadlines = { ...deadlines, queryMs: 0 };
  const migrateNow = () =>
    inTransaction(async (exec) => {
      const key = `mika.migrate:${schema ?? ""}`;
      await exec(CompiledQuery.raw("SELECT pg_advisory_xact_lock(hashtext($1))", [key]));
      if (schema) await exec(CompiledQuery.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
      return migrateLocked(dialect, exec);
    }, migrationLimits);

  const migration = migrationGate(migrateNow);
  const ensureMigrated = migration.ensure;

  /**
   * One function in its own transaction (today's path, and the fallback of a rolled-back batch).
   * Tried again when Postgres aborts it for a deadlock, a serialization failure or a lock timeout, and
   * when its connection ends before COMMIT.
   */
  const solo = async (fn: TxFn): Promise<unknown> => {
    for (let attempt = 1; ; attempt++) {
      let retryable = false;
      try {
        return await inTransaction(async (exec) => {
          const watched: SqlExec = (query) =>
            exec(query).catch((error: unknown) => {
              if (RETRYABLE_CODES.has(sqlState(error) ?? "")) retryable = true;
              throw error;
            });
          const { tx, finish } = sqlTransaction(dialect, watched);
          try {
            return await fn(tx);
          } finally {
            finish();
          }
        });
      } catch (error) {
        // A connection lost before COMMIT kept nothing: the next attempt gets a new connection.
        const lostUncommitted = error instanceof ConnectionLost && error.outcome === "not-committed";
        if (
          !(retryable || lostUncommitted || RETRYABLE_CODES.has(sqlState(error) ?? "")) ||
          attempt >= SOLO_ATTEMPTS
        )
          throw error;
        stats.retries++;
        await sleep(Math.random() * 10 * attempt);
      }
    }
  };

  const batcher = createBatcher({
    pool,
    dialect,
    schema,
    types,
    lockTimeoutMs,
    maxBatch,
    maxLanes: maxConcurrentBatches,
    // A batch that has not finished within a lock timeout is probably waiting on something: let
    // another lane serve the queue meanwhile.
    stallMs: lockTimeoutMs,
    lingerMs,
    solo,
    stats,
    connectionLost,
    deadlines,
  });

  /**
   * Runs `work` unless the store is closed. Work admitted before `close()` runs to its end (a migration
   * it needs, a solo re-run included): `close()` waits for it before it ends the pool.
   */
  const admitted = async <T>(work: () => Promise<T>): Promise<T> => {
    if (closed) throw new StoreClosedError("postgres");
    running++;
    try {
      return await work();
    } finally {
      if (--running === 0) drained?.();
    }
  };

  return {
    name: "postgres",
    migrate: () => admitted(() => migration.migrate()),
    schemaVersion: () =>
      admitted(async () => {
        const held = await borrow(pool, connectionLost, deadlines);
        try {
          const found = await held.query({
            text: "SELECT 1 FROM information_schema.tables WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2",
            values: [schema ?? null, META_TABLE],
          });
          return found.rowCount ? await readVersion(dialect, execOn(held).exec) : 0;
        } finally {
          held.release();
        }
      }),
    transaction: <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> =>
      admitted(async () => {
        try {
          await ensureMigrated();
          if (!batching) {
            stats.solo++;
            return (await solo(fn)) as T;
          }
          return (await batcher.run(fn)) as T;
        } finally {
          stats.transactions++;
        }
      }),
    stats() {
      return structuredClone(stats);
    },
    async close() {
      if (closed) return;
      closed = true;
      // Work admitted before (a transaction that may still re-run solo, a migration) ends first.
      if (running > 0) await new Promise<void>((resolve) => (drained = resolve));
      if (!owned) return;
      await pool.end();
      await closeSockets(sockets, CLOSE_GRACE_MS);
    },
  };
}
