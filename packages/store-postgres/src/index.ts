/**
 * `@mika/store-postgres`: `postgresStore()`, for many app instances on one database. Unique
 * constraints deduplicate, `INSERT … ON CONFLICT DO NOTHING` answers duplicates, and claims use
 * `SELECT … FOR UPDATE SKIP LOCKED`, so N instances never work on the same row.
 *
 * @packageDocumentation
 */
import {
  compileOnlyKysely,
  META_TABLE,
  migrateLocked,
  onceUntilFailure,
  readVersion,
  type SqlDialect,
  type SqlExec,
  sqlTransaction,
} from "@mika/store-sqlite/sql";
import type { MikaStore, StoreTx } from "@mika/types";
import { CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import pg from "pg";

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
}

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
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates a Postgres store. Every transaction runs on one pooled client at READ COMMITTED; `get`/`find`
 * with `lock: true` take `FOR UPDATE` row locks; `claim` selects with `FOR UPDATE SKIP LOCKED` and sets
 * `lease_until`; `insert` is `INSERT … ON CONFLICT DO NOTHING` (a concurrent duplicate waits for the
 * first transaction and then returns false). Migrations take a transaction-scoped advisory lock, so
 * any number of instances may start at once.
 *
 * @example
 * ```ts
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL, schema: "mika" });
 * const mika = createMika({ providers, store });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): MikaStore {
  const { schema } = options;
  if (!options.pool && !options.connectionString) {
    throw new TypeError("postgresStore needs a `pool` or a `connectionString`.");
  }
  const owned = !options.pool;
  const pool =
    options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 10 });
  const dialect = postgresDialect(schema);
  let closed = false;

  const execOn =
    (client: pg.PoolClient): SqlExec =>
    async (query) => {
      const result = await client.query({
        text: query.sql,
        values: query.parameters as unknown[],
        types,
      });
      return { rows: result.rows as Record<string, unknown>[], affected: result.rowCount ?? 0 };
    };

  /** Runs `fn` in a READ COMMITTED transaction on one pooled client. */
  const inTransaction = async <T>(fn: (exec: SqlExec) => Promise<T>): Promise<T> => {
    if (closed) throw new Error("postgresStore: the store is closed.");
    const client = await pool.connect();
    let broken: unknown;
    try {
      await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
      try {
        const value = await fn(execOn(client));
        await client.query("COMMIT");
        return value;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken = rollbackError;
        }
        throw error;
      }
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
      client.release(broken instanceof Error ? broken : undefined);
    }
  };

  const migrateNow = () =>
    inTransaction(async (exec) => {
      const key = `mika.migrate:${schema ?? ""}`;
      await exec(CompiledQuery.raw("SELECT pg_advisory_xact_lock(hashtext($1))", [key]));
      if (schema) await exec(CompiledQuery.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
      return migrateLocked(dialect, exec);
    });

  const ensureMigrated = onceUntilFailure(migrateNow);

  return {
    name: "postgres",
    async migrate() {
      return migrateNow();
    },
    async schemaVersion() {
      if (closed) throw new Error("postgresStore: the store is closed.");
      const client = await pool.connect();
      try {
        const found = await client.query(
          "SELECT 1 FROM information_schema.tables WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2",
          [schema ?? null, META_TABLE],
        );
        return found.rowCount ? await readVersion(dialect, execOn(client)) : 0;
      } finally {
        client.release();
      }
    },
    async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
      await ensureMigrated();
      return inTransaction(async (exec) => {
        const { tx, finish } = sqlTransaction(dialect, exec);
        try {
          return await fn(tx);
        } finally {
          finish();
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}
