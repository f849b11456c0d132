/**
 * `@mika/store-sqlite`: `sqliteStore()`, Mika's embedded default store on better-sqlite3: WAL,
 * `synchronous = FULL` by default, and group commit (concurrent transactions in one process share one
 * SQLite transaction and one fsync).
 *
 * @packageDocumentation
 */
import { type MikaStore, StoreClosedError, type StoreTx } from "@mika/types";
import Database from "better-sqlite3";
import { type CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from "kysely";
import {
  compileOnlyKysely,
  META_TABLE,
  migrateLocked,
  migrationGate,
  readVersion,
  type SqlDialect,
  type SqlExec,
  sqlTransaction,
} from "./sql.js";

/** How hard SQLite pushes a commit to the disk (`PRAGMA synchronous`, in WAL mode). */
export type SqliteSynchronous = "FULL" | "NORMAL" | "OFF";

/** Options of {@link sqliteStore}: give a `file` path or an open better-sqlite3 `database`. */
export interface SqliteStoreOptions {
  /** The database file (created if missing). `":memory:"` works for throwaway stores. */
  file?: string;
  /** An open better-sqlite3 connection; the store sets its pragmas and does not close it. */
  database?: Database.Database;
  /**
   * `FULL` (default): every acknowledged transaction survives a power cut. `NORMAL`: survives a crash
   * of the process, but the last commits can be lost on power loss. `OFF`: the OS decides when to
   * write; a power loss can lose recent commits and, rarely, corrupt the file.
   */
  synchronous?: SqliteSynchronous;
  /**
   * How long a transaction waits for another connection's write lock before failing with SQLITE_BUSY
   * (ms, default 10000). The wait is asynchronous (short retries), so the event loop keeps serving
   * requests, which join the next group commit.
   */
  busyTimeoutMs?: number;
  /** At most this many transactions share one commit (default 256). */
  maxBatch?: number;
}

interface Job {
  fn: (tx: StoreTx) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /**
   * Set when a batch this job ran in was rolled back for another job's error: its next batch gives
   * every job a savepoint, so the same job cannot roll it back twice.
   */
  isolate?: boolean;
}

/** The longest SQLite may block the thread waiting for a lock (ms). */
const SYNC_BUSY_MS = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT" || code === "SQLITE_LOCKED";
}

/** The SQLite dialect of the shared SQL layer: queries are compiled by Kysely, run by better-sqlite3. */
export function sqliteDialect(): SqlDialect {
  return {
    name: "sqlite",
    db: compileOnlyKysely({
      adapter: new SqliteAdapter(),
      compiler: new SqliteQueryCompiler(),
      introspector: (db) => new SqliteIntrospector(db),
    }),
    columnType: (type) =>
      type === "integer" || type === "timestamp" || type === "boolean" ? "integer" : "text",
    encodeBoolean: (value) => (value ? 1 : 0),
    rowLocks: false,
  };
}

/** The error for work that finds its write transaction ended by SQLite (its writes rolled back). */
function transactionEnded(): Error {
  return new Error(
    "SQLite ended the write transaction after an error (a full disk, for example): its writes were rolled back and nothing more runs in it; retry once the cause is fixed.",
  );
}

/**
 * Creates a SQLite store. Concurrent `transaction()` calls in this process are queued and run one
 * after another inside ONE SQLite write transaction (`BEGIN IMMEDIATE`), each in its own savepoint: a
 * function that throws rolls back only its savepoint and its caller gets the error. One COMMIT then
 * settles the batch, and no caller's promise settles before it. Do not call `transaction()` from
 * inside a transaction function: it waits for the batch it is part of.
 *
 * @example
 * ```ts
 * const store = sqliteStore({ file: "mika.db" });
 * const mika = createMika({ providers, store });
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): MikaStore {
  const { file, synchronous = "FULL", busyTimeoutMs = 10_000, maxBatch = 256 } = options;
  if (!options.database && !file)
    throw new TypeError("sqliteStore needs a `file` path or an open `database`.");
  if (!["FULL", "NORMAL", "OFF"].includes(synchronous)) {
    throw new TypeError(
      `sqliteStore: synchronous must be "FULL", "NORMAL" or "OFF", not ${String(synchronous)}.`,
    );
  }
  const owned = !options.database;
  const conn = options.database ?? new Database(file!);
  // SQLite's own busy wait blocks the thread, so it stays short; `begin` retries asynchronously.
  conn.pragma(`busy_timeout = ${Math.min(SYNC_BUSY_MS, Math.max(0, Math.floor(busyTimeoutMs)))}`);
  if (conn.name !== ":memory:" && !conn.memory) conn.pragma("journal_mode = WAL");
  conn.pragma(`synchronous = ${synchronous}`);
  conn.pragma("temp_store = MEMORY");

  const dialect = sqliteDialect();
  const statements = new Map<string, Database.Statement>();
  const prepare = (text: string) => {
    let statement = statements.get(text);
    if (!statement) {
      statement = conn.prepare(text);
      statements.set(text, statement);
    }
    return statement;
  };
  /** True while a batch or a migration holds the write transaction. */
  let writing = false;
  const execSync = (query: CompiledQuery) => {
    // SQLite ends a transaction itself on some errors (a full disk): a statement run after that would
    // run in autocommit and stick, though its transaction is about to be reported failed.
    if (writing && !conn.inTransaction) throw transactionEnded();
    const statement = prepare(query.sql);
    const params = query.parameters as unknown[];
    if (statement.reader) return { rows: statement.all(...params) as Record<string, unknown>[], affected: 0 };
    return { rows: [], affected: statement.run(...params).changes };
  };
  const exec: SqlExec = async (query) => execSync(query);
  const command = (text: string) => prepare(text).run();

  /** Starts a write transaction, retrying while another process holds the lock. */
  const begin = async () => {
    const deadline = Date.now() + busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        command("BEGIN IMMEDIATE");
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() > deadline) throw error;
        await sleep(Math.min(5 * 2 ** attempt, 100) * (0.5 + Math.random()));
      }
    }
  };
  const rollbackQuietly = () => {
    if (conn.inTransaction) {
      try {
        command("ROLLBACK");
      } catch {
        // The connection already ended the transaction.
      }
    }
  };

  // One user of the connection at a time: batches, migrations and version reads.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn, fn);
    tail = result.catch(() => undefined);
    return result;
  };

  const migrateNow = async () => {
    await begin();
    writing = true;
    try {
      const result = await migrateLocked(dialect, exec);
      command("COMMIT");
      return result;
    } catch (error) {
      rollbackQuietly();
      throw error;
    } finally {
      writing = false;
    }
  };
  const migration = migrationGate(migrateNow);
  const ensureMigrated = migration.ensure;

  let queue: Job[] = [];
  let scheduled = false;
  let closed = false;

  const runBatch = async () => {
    const jobs = queue.splice(0, maxBatch);
    if (jobs.length === 0) return;
    try {
      await ensureMigrated();
      await begin();
    } catch (error) {
      for (const job of jobs) job.reject(error);
      return;
    }
    writing = true;
    try {
      await runJobs(jobs);
    } finally {
      writing = false;
    }
  };

  const runJobs = async (jobs: Job[]) => {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let lost: unknown;
    // Optimistic: jobs run without savepoints (two statements each), since a transaction function rarely
    // throws. When one does, the whole batch rolls back, that job gets its error, and the others run
    // again in a batch where every job has a savepoint (MikaStore.transaction: `fn` may be re-run).
    // A batch of one needs no savepoint either way: its rollback is the transaction's.
    const savepoints = jobs.length > 1 && jobs.some((job) => job.isolate);
    for (const [index, job] of jobs.entries()) {
      // SQLite may have ended the transaction under the previous job (which caught the error)
      if (lost === undefined && !conn.inTransaction) lost = transactionEnded();
      if (lost !== undefined) {
        // The whole transaction ended (a lone failing job, or SQLite aborted it, for example on a
        // full disk): the jobs not run yet go to the next batch.
        queue.unshift(...jobs.slice(index));
        break;
      }
      const { tx, finish } = sqlTransaction(dialect, exec);
      let inSavepoint = false;
      try {
        if (savepoints) {
          command("SAVEPOINT mika_tx");
          inSavepoint = true;
        }
        const value = await job.fn(tx);
        finish();
        if (savepoints) command("RELEASE mika_tx");
        outcomes.push({ ok: true, value });
      } catch (error) {
        finish();
        if (!savepoints && jobs.length > 1) {
          rollbackQuietly();
          job.reject(error);
          const others = jobs.filter((other) => other !== job);
          for (const other of others) other.isolate = true;
          queue.unshift(...others);
          return;
        }
        try {
          if (!(inSavepoint && conn.inTransaction)) throw error;
          command("ROLLBACK TO mika_tx");
          command("RELEASE mika_tx");
        } catch (ended) {
          // No savepoint to return to (SAVEPOINT itself failed, or SQLite ended the transaction, as on
          // a full disk), or returning to it failed: the whole transaction goes.
          rollbackQuietly();
          lost = ended;
        }
        outcomes.push({ ok: false, error });
      }
    }
    let commitError: unknown = lost ?? (conn.inTransaction ? undefined : transactionEnded());
    if (commitError === undefined) {
      try {
        command("COMMIT");
      } catch (error) {
        commitError = error;
        rollbackQuietly();
      }
    }
    for (const [index, outcome] of outcomes.entries()) {
      const job = jobs[index]!;
      if (!outcome.ok) job.reject(outcome.error);
      else if (commitError !== undefined) job.reject(commitError);
      else job.resolve(outcome.value);
    }
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // Yield to the event loop first, so that callers whose I/O is ready join this batch.
    setImmediate(() => {
      scheduled = false;
      void exclusive(runBatch).then(() => {
        if (queue.length > 0) schedule();
      });
    });
  };

  return {
    name: "sqlite",
    migrate() {
      if (closed) return Promise.reject(new StoreClosedError("sqlite"));
      return exclusive(migration.migrate);
    },
    schemaVersion() {
      if (closed) return Promise.reject(new StoreClosedError("sqlite"));
      return exclusive(async () => {
        const meta = conn
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
          .get(META_TABLE);
        return meta ? readVersion(dialect, exec) : 0;
      });
    },
    transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new StoreClosedError("sqlite"));
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await exclusive(async () => {
        while (queue.length > 0) await runBatch();
      });
      if (owned) conn.close();
      queue = [];
    },
  };
}
