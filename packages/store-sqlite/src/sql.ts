/**
 * `@mika/store-sqlite/sql`: the dialect-neutral half of Mika's SQL stores, shared by `sqliteStore()` and
 * `@mika/store-postgres`. It turns {@link MIKA_SCHEMA} into DDL and a versioned migration list, and the
 * store port's table API ({@link StoreTx}) into Kysely queries, encoding and decoding values by column
 * type. A store supplies only what differs: how a compiled query runs, column types, booleans, locking.
 *
 * Not meant for applications; its shape follows the two stores.
 *
 * @packageDocumentation
 */
import {
  type ClaimOptions,
  type ColumnType,
  type FindOptions,
  type IndexSpec,
  MIKA_SCHEMA,
  type StoreTx,
  type TableName,
  type TableRows,
  type TableSpec,
} from "@mika/types";
import {
  type CompiledQuery,
  type DatabaseIntrospector,
  type DialectAdapter,
  DummyDriver,
  type Expression,
  type ExpressionBuilder,
  Kysely,
  type QueryCompiler,
  type SelectQueryBuilder,
  type SqlBool,
  sql,
} from "kysely";

/** A loosely typed database: the port's types live in `@mika/types`, the SQL values are encoded. */
export type SqlDb = Record<string, Record<string, unknown>>;

/** A raw result row. */
export type SqlRow = Record<string, unknown>;

/** Runs one compiled query inside the current transaction. */
export type SqlExec = (query: CompiledQuery) => Promise<{ rows: SqlRow[]; affected: number }>;

/** What differs between SQL dialects. */
export interface SqlDialect {
  /** `sqlite` or `postgres` (used in error messages). */
  readonly name: string;
  /** A query builder for the dialect; never executes (queries are compiled and handed to {@link SqlExec}). */
  readonly db: Kysely<SqlDb>;
  /** The SQL type of a column type (for example `jsonb` for `json` in Postgres). */
  columnType(type: ColumnType): "text" | "integer" | "bigint" | "boolean" | "jsonb";
  /** How a boolean is stored (`1`/`0` in SQLite, `true`/`false` in Postgres). */
  encodeBoolean(value: boolean): unknown;
  /** Whether `FOR UPDATE` and `SKIP LOCKED` exist (false in SQLite, whose write transactions are exclusive). */
  readonly rowLocks: boolean;
  /**
   * Whether text must be strict Unicode (Postgres): `text` and `jsonb` refuse U+0000, and `jsonb` a
   * lone UTF-16 surrogate. Such characters, in text and JSON columns, keys and conditions alike, are
   * written as U+FFFD.
   */
  readonly strictText?: boolean;
  /**
   * The collation that makes text compare by code point, where the database's default may not
   * (Postgres: `"C"`; a database created with ICU or glibc's `en_US` sorts `;` before `:`). Text
   * columns get it, so key ranges and `orderBy` mean the same in every store. Absent where text
   * already compares by bytes (SQLite's `BINARY`).
   */
  readonly codePointCollation?: string;
}

/**
 * A `\u0000` or lone-surrogate escape in JSON text (`JSON.stringify` escapes a surrogate only when it
 * is alone), and not the text `\\u0000` (an escaped backslash before "u0000").
 */
const JSON_UNSTORABLE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

/** A Kysely instance that only compiles (its driver never connects): queries go to a {@link SqlExec}. */
export function compileOnlyKysely(parts: {
  adapter: DialectAdapter;
  compiler: QueryCompiler;
  introspector: (db: Kysely<SqlDb>) => DatabaseIntrospector;
}): Kysely<SqlDb> {
  return new Kysely<SqlDb>({
    dialect: {
      createAdapter: () => parts.adapter,
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => parts.introspector(db as Kysely<SqlDb>),
      createQueryCompiler: () => parts.compiler,
    },
  });
}

/**
 * Runs `fn` once and shares its promise with every caller, until it fails: the next call then tries
 * again (used for "migrate on first use").
 */
export function onceUntilFailure<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= fn().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/**
 * A store's two ways to migrate, over one `migrateNow`: `migrate()` runs it on every call (the
 * explicit `MikaStore.migrate`), `ensure()` runs it before the first transaction, once until it
 * succeeds. A `migrate()` that succeeded counts for `ensure()`, so the first transaction after it does
 * not migrate again (for SQLite that would be one more fsync'd transaction).
 */
export function migrationGate<T>(migrateNow: () => Promise<T>): {
  migrate: () => Promise<T>;
  ensure: () => Promise<void>;
} {
  let done = false;
  const ensure = onceUntilFailure(async () => {
    if (!done) await migrateNow();
    done = true;
  });
  return {
    async migrate() {
      const result = await migrateNow();
      done = true;
      return result;
    },
    ensure,
  };
}

type Row = Record<string, unknown>;
type Eb = ExpressionBuilder<SqlDb, string>;

/** The table spec of a table, or a TypeError naming the unknown table. */
export function tableSpec(table: string): TableSpec {
  const spec = (MIKA_SCHEMA.tables as Record<string, TableSpec>)[table];
  if (!spec)
    throw new TypeError(
      `Unknown Mika table "${table}": use one of ${Object.keys(MIKA_SCHEMA.tables).join(", ")}.`,
    );
  return spec;
}

function columnTypeOf(spec: TableSpec, table: string, column: string): ColumnType {
  const type = spec.columns[column];
  if (!type) throw new TypeError(`Table "${table}" has no column "${column}".`);
  return type;
}

/**
 * U+0000 and lone surrogates: what strict text cannot hold (Postgres would store U+FFFD for the
 * latter, so a key written with one would not match the key it is read back as).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what it looks for
const TEXT_UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** A cheap first test for {@link TEXT_UNSTORABLE}: a NUL or any surrogate (emoji included). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what it looks for
const MAYBE_UNSTORABLE = /[\u0000\ud800-\udfff]/;

/** Encodes one value for a column of `type` (undefined → null). */
export function encodeValue(dialect: SqlDialect, type: ColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case "boolean":
      return dialect.encodeBoolean(Boolean(value));
    case "json": {
      const text = JSON.stringify(value);
      return dialect.strictText && text.includes("\\u") ? text.replace(JSON_UNSTORABLE, "$1\\ufffd") : text;
    }
    default:
      return dialect.strictText && typeof value === "string" && MAYBE_UNSTORABLE.test(value)
        ? value.replace(TEXT_UNSTORABLE, "\ufffd")
        : value;
  }
}

/** Decodes one stored value of a column of `type` into the port's value. */
export function decodeValue(type: ColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case "boolean":
      return value === true || value === 1 || value === 1n || value === "1" || value === "t";
    case "integer":
    case "timestamp":
      return typeof value === "number" ? value : Number(value);
    case "json":
      return typeof value === "string" ? JSON.parse(value) : value;
    default:
      return value;
  }
}

/** Encodes the given columns of a (partial) row. */
export function encodeRow(dialect: SqlDialect, table: string, row: Row): Row {
  const spec = tableSpec(table);
  const out: Row = {};
  for (const [column, value] of Object.entries(row)) {
    if (value === undefined) continue;
    out[column] = encodeValue(dialect, columnTypeOf(spec, table, column), value);
  }
  return out;
}

/** Decodes a stored row into a full port row (every schema column present, null when absent). */
export function decodeRow(table: string, row: SqlRow): Row {
  const spec = tableSpec(table);
  const out: Row = {};
  for (const column in spec.columns) out[column] = decodeValue(spec.columns[column]!, row[column]);
  return out;
}

/**
 * A table's columns in schema order with their types, and the SQL of its fixed-shape statements,
 * built once per dialect: the hot path (a webhook's inserts and updates) then encodes a row with one
 * loop and reuses the SQL text.
 */
interface TableCodec {
  readonly table: string;
  readonly primaryKey: string;
  readonly columns: readonly string[];
  readonly types: readonly ColumnType[];
  readonly typeOf: ReadonlyMap<string, ColumnType>;
  /** `INSERT … (every column) VALUES (…) ON CONFLICT DO NOTHING`. */
  insertSql: string | undefined;
  /** `UPDATE … SET <columns> WHERE pk = ?`, by the patched columns joined with commas. */
  readonly updateSql: Map<string, string>;
}

const codecs = new WeakMap<SqlDialect, Map<string, TableCodec>>();

function codecOf(dialect: SqlDialect, table: string): TableCodec {
  let byTable = codecs.get(dialect);
  if (!byTable) {
    byTable = new Map();
    codecs.set(dialect, byTable);
  }
  let codec = byTable.get(table);
  if (!codec) {
    const spec = tableSpec(table);
    const columns = Object.keys(spec.columns);
    codec = {
      table,
      primaryKey: spec.primaryKey,
      columns,
      types: columns.map((c) => spec.columns[c]!),
      typeOf: new Map(columns.map((c) => [c, spec.columns[c]!])),
      insertSql: undefined,
      updateSql: new Map(),
    };
    byTable.set(table, codec);
  }
  return codec;
}

const OPERATORS = ["in", "ne", "lt", "lte", "gt", "gte"] as const;

function isOperatorObject(condition: unknown): condition is Record<string, unknown> {
  if (typeof condition !== "object" || condition === null || Array.isArray(condition)) return false;
  const keys = Object.keys(condition);
  return keys.length > 0 && keys.every((k) => (OPERATORS as readonly string[]).includes(k));
}

/**
 * Translates a `Where` into one Kysely boolean expression. `ne` matches NULL too (`IS DISTINCT FROM`),
 * the range operators never match NULL, `{ in: [] }` matches nothing. Conditions on `json` columns
 * are refused (their stored text is not comparable).
 */
export function whereExpression(
  dialect: SqlDialect,
  table: string,
  eb: Eb,
  where: Record<string, unknown>,
): Expression<SqlBool> {
  const spec = tableSpec(table);
  const parts: Expression<SqlBool>[] = [];
  for (const [column, condition] of Object.entries(where)) {
    if (condition === undefined) continue;
    const type = columnTypeOf(spec, table, column);
    if (type === "json") throw new TypeError(`Cannot filter on the json column ${table}.${column}.`);
    const enc = (v: unknown) => encodeValue(dialect, type, v);
    const ref = eb.ref(column);
    if (condition === null) {
      parts.push(eb(ref, "is", null));
    } else if (isOperatorObject(condition)) {
      const c = condition as {
        in?: unknown[];
        ne?: unknown;
        lt?: unknown;
        lte?: unknown;
        gt?: unknown;
        gte?: unknown;
      };
      if ("in" in c) {
        const values = (c.in ?? []).map(enc);
        parts.push(values.length === 0 ? eb.lit(false) : eb(ref, "in", values));
      }
      if ("ne" in c) {
        parts.push(
          c.ne === null || c.ne === undefined
            ? eb(ref, "is not", null)
            : eb.or([eb(ref, "<>", enc(c.ne)), eb(ref, "is", null)]),
        );
      }
      for (const [key, op] of [
        ["lt", "<"],
        ["lte", "<="],
        ["gt", ">"],
        ["gte", ">="],
      ] as const) {
        if (c[key] !== undefined) parts.push(eb(ref, op, enc(c[key])));
      }
    } else {
      parts.push(eb(ref, "=", enc(condition)));
    }
  }
  return eb.and(parts);
}

type AnySelect = SelectQueryBuilder<SqlDb, string, SqlRow>;

/**
 * A row limit as an SQL literal. Bound as a parameter, SQLite treats it as a REAL and a `LIMIT ?` query
 * costs ~10 µs more per run than `LIMIT 1` (measured with better-sqlite3 12); limits are a handful of
 * constants, so each gets its own cached statement.
 */
function limitLiteral(limit: number) {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new TypeError(`A row limit must be a non-negative integer, not ${String(limit)}.`);
  }
  return sql.lit(limit);
}

function applyOrder(query: AnySelect, orderBy: FindOptions<Row>["orderBy"]): AnySelect {
  let q = query;
  for (const { column, direction } of orderBy ?? []) {
    // NULL sorts as the smallest value in both dialects.
    q = q.orderBy(column, (ob) => (direction === "desc" ? ob.desc().nullsLast() : ob.asc().nullsFirst()));
  }
  return q;
}

/**
 * SQL text of the hot, fixed-shape statements (get by key, insert, update by key), compiled by Kysely
 * once per dialect and shape (table + columns) and reused with fresh parameters: building and
 * compiling a query costs more than running it on SQLite.
 */
const shapes = new WeakMap<SqlDialect, Map<string, string | null>>();

/** Runs `build()` once per shape; afterwards the cached SQL with `parameters`. Shapes whose compiled parameters are not exactly `parameters` are never cached. */
function shaped(
  dialect: SqlDialect,
  shape: string,
  parameters: readonly unknown[],
  build: () => { compile(): CompiledQuery },
): CompiledQuery {
  const cache = shapes.get(dialect) ?? new Map<string, string | null>();
  shapes.set(dialect, cache);
  const sqlText = cache.get(shape);
  if (sqlText) return raw(sqlText, parameters);
  const compiled = build().compile();
  const same =
    compiled.parameters.length === parameters.length &&
    compiled.parameters.every((p, i) => p === parameters[i]);
  if (sqlText === undefined) cache.set(shape, same ? compiled.sql : null);
  return compiled;
}

/** A compiled query from SQL text and its parameters. */
function raw(sqlText: string, parameters: readonly unknown[]): CompiledQuery {
  return { sql: sqlText, parameters, query: undefined as never, queryId: undefined as never };
}

/** A transaction's table API over a dialect and an executor; `finish()` makes later calls throw. */
export function sqlTransaction(dialect: SqlDialect, exec: SqlExec): { tx: StoreTx; finish(): void } {
  const { db } = dialect;
  let finished = false;
  const runCompiled = (compiled: CompiledQuery) => {
    if (finished) {
      return Promise.reject(
        new Error(
          `This ${dialect.name} transaction has ended: use the tx only inside its transaction function.`,
        ),
      );
    }
    return exec(compiled);
  };
  const run = (query: { compile(): CompiledQuery }) => runCompiled(query.compile());
  const select = (table: string, where: Record<string, unknown>) =>
    db
      .selectFrom(table)
      .selectAll()
      .where((eb) => whereExpression(dialect, table, eb, where)) as AnySelect;
  const byKey = (table: string, key: string) => ({ [tableSpec(table).primaryKey]: key });
  /** A primary key as the store writes it (keys are text: U+0000 becomes U+FFFD where text needs it). */
  const keyOf = (key: string) => encodeValue(dialect, "text", key) as string;

  const tx: StoreTx = {
    async get(table, rawKey, options) {
      const key = keyOf(rawKey);
      const lock = Boolean(options?.lock && dialect.rowLocks);
      const compiled = shaped(dialect, `get:${table}:${lock}`, [key], () => {
        const q = select(table, byKey(table, key));
        return lock ? q.forUpdate() : q;
      });
      const { rows } = await runCompiled(compiled);
      return rows[0] ? (decodeRow(table, rows[0]) as never) : undefined;
    },
    async find(table, where, options) {
      const build = () => {
        let q = applyOrder(select(table, where as Row), options?.orderBy as FindOptions<Row>["orderBy"]);
        if (options?.limit !== undefined) q = q.limit(limitLiteral(options.limit));
        if (options?.lock && dialect.rowLocks) q = q.forUpdate();
        return q;
      };
      // Equality-only filters (the common case) have a fixed shape: cache their SQL like get/insert/update.
      const entries = Object.entries(where as Row).filter(([, v]) => v !== undefined);
      const scalar = entries.every(([, v]) => v !== null && typeof v !== "object");
      let compiled: CompiledQuery;
      if (scalar) {
        const spec = tableSpec(table);
        const params: unknown[] = entries.map(([c, v]) =>
          encodeValue(dialect, columnTypeOf(spec, table, c), v),
        );
        const order = (options?.orderBy ?? []).map((o) => `${String(o.column)} ${o.direction}`).join(",");
        const shape = `find:${table}:${entries.map(([c]) => c).join(",")}:${order}:${options?.limit ?? ""}:${Boolean(options?.lock && dialect.rowLocks)}`;
        compiled = shaped(dialect, shape, params, build);
      } else {
        compiled = build().compile();
      }
      const { rows } = await runCompiled(compiled);
      return rows.map((r) => decodeRow(table, r)) as never;
    },
    async count(table, where) {
      const q = db
        .selectFrom(table as string)
        .select((eb) => eb.fn.countAll().as("n"))
        .where((eb) => whereExpression(dialect, table, eb, where as Row));
      const { rows } = await run(q);
      return Number(rows[0]?.n ?? 0);
    },
    async insert(table, row) {
      // Every column, in schema order (undefined → NULL, as an omitted column would be): one SQL text per table.
      const codec = codecOf(dialect, table);
      const source = row as unknown as Row;
      const params = new Array<unknown>(codec.columns.length);
      for (let i = 0; i < params.length; i++) {
        params[i] = encodeValue(dialect, codec.types[i]!, source[codec.columns[i]!]);
      }
      if (codec.insertSql === undefined) {
        const values: Row = {};
        for (const [i, column] of codec.columns.entries()) values[column] = params[i];
        const compiled = db
          .insertInto(table as string)
          .values(values)
          .onConflict((oc) => oc.doNothing())
          .compile();
        if (compiled.parameters.length !== params.length) {
          throw new Error(`Could not compile the insert into ${table}: unexpected parameters.`);
        }
        codec.insertSql = compiled.sql;
      }
      const { affected } = await runCompiled(raw(codec.insertSql, params));
      return affected > 0;
    },
    async update(table, rawKey, patch) {
      const key = keyOf(rawKey);
      const codec = codecOf(dialect, table);
      const columns: string[] = [];
      const params: unknown[] = [];
      for (const column in patch as Row) {
        const value = (patch as Row)[column];
        if (value === undefined) continue;
        const type = codec.typeOf.get(column);
        if (!type) throw new TypeError(`Table "${table}" has no column "${column}".`);
        columns.push(column);
        params.push(encodeValue(dialect, type, value));
      }
      if (columns.length === 0) {
        const { rows } = await run(select(table, byKey(table, key)).clearSelect().select(codec.primaryKey));
        return rows.length > 0;
      }
      params.push(key);
      const shape = columns.join(",");
      let text = codec.updateSql.get(shape);
      if (text === undefined) {
        const values: Row = {};
        for (const [i, column] of columns.entries()) values[column] = params[i];
        const compiled = db
          .updateTable(table as string)
          .set(values)
          .where(codec.primaryKey, "=", key)
          .compile();
        if (compiled.parameters.length !== params.length) {
          throw new Error(`Could not compile the update of ${table}: unexpected parameters.`);
        }
        text = compiled.sql;
        codec.updateSql.set(shape, text);
      }
      const { affected } = await runCompiled(raw(text, params));
      return affected > 0;
    },
    async delete(table, rawKey) {
      const key = keyOf(rawKey);
      const pk = tableSpec(table).primaryKey;
      const { affected } = await run(db.deleteFrom(table as string).where(pk, "=", key));
      return affected > 0;
    },
    async claim<T extends TableName>(table: T, options: ClaimOptions<TableRows[T]>) {
      const spec = tableSpec(table);
      if (!spec.columns.lease_until)
        throw new TypeError(`Table "${table}" has no lease_until column to claim with.`);
      const due = String(options.dueColumn);
      const dueType = columnTypeOf(spec, table, due);
      if (dueType !== "timestamp") throw new TypeError(`claim: ${table}.${due} is not a timestamp column.`);
      let q = select(table, options.where as Row)
        .where((eb) =>
          eb.and([
            eb.or([eb(due, "is", null), eb(due, "<=", options.now)]),
            eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", options.now)]),
          ]),
        )
        .orderBy(due, (ob) => ob.asc().nullsFirst())
        .orderBy(spec.primaryKey)
        .limit(limitLiteral(options.limit));
      if (dialect.rowLocks) q = q.forUpdate().skipLocked();
      const { rows } = await run(q);
      if (rows.length === 0) return [];
      const leaseUntil = options.now + options.leaseMs;
      const keys = rows.map((r) => r[spec.primaryKey] as string);
      await run(
        db
          .updateTable(table as string)
          .set({ lease_until: leaseUntil })
          .where(spec.primaryKey, "in", keys),
      );
      return rows.map((r) => ({ ...decodeRow(table, r), lease_until: leaseUntil })) as never;
    },
  };
  return {
    tx,
    finish() {
      finished = true;
    },
  };
}

/** The table holding the schema version (one row, id `schema`). */
export const META_TABLE = "mika_meta";

/** DDL creating {@link META_TABLE} if it is missing. */
export function metaTableDdl(dialect: SqlDialect): CompiledQuery {
  return dialect.db.schema
    .createTable(META_TABLE)
    .ifNotExists()
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("version", "integer", (c) => c.notNull())
    .compile();
}

/** Reads the stored version (0 when no row). Run it after {@link metaTableDdl}. */
export async function readVersion(dialect: SqlDialect, exec: SqlExec): Promise<number> {
  const { rows } = await exec(
    dialect.db.selectFrom(META_TABLE).select("version").where("id", "=", "schema").compile(),
  );
  return rows[0] ? Number(rows[0].version) : 0;
}

/** One schema migration: the statements that take the schema from `version - 1` to `version`. */
export interface Migration {
  /** The version this migration produces. */
  readonly version: number;
  /** Its statements, compiled for the dialect. */
  statements(dialect: SqlDialect): CompiledQuery[];
}

/**
 * The secondary indexes of schema version 1, frozen: migration 1 creates them and migration 2 replaces
 * them, so a database created at any version ends up with exactly {@link MIKA_SCHEMA}'s indexes.
 */
const V1_INDEXES: Readonly<Record<string, readonly (readonly string[])[]>> = {
  events: [["status", "next_attempt_at"], ["received_at"], ["status", "parked_reason"]],
  orders: [
    ["provider", "payment_ref"],
    ["provider", "subscription_ref"],
    ["status", "updated_at"],
  ],
  subscriptions: [["status"]],
  payments: [["order_id"]],
  refunds: [["order_id"]],
  disputes: [["order_id"]],
  handler_runs: [["status", "next_attempt_at"], ["event_row_id"]],
  idempotency: [],
  stock: [],
  reservations: [["order_id"], ["status", "expires_at"], ["sellable_id", "status"]],
  locks: [],
};

/** The name of an index: `<table>_<columns>_idx`, with `_nn` for a partial (`whereNotNull`) one. */
export function indexName(table: string, index: IndexSpec): string {
  return `${table}_${index.columns.join("_")}${index.whereNotNull ? "_nn" : ""}_idx`;
}

const sameIndex = (a: IndexSpec, b: IndexSpec) =>
  a.columns.join() === b.columns.join() && (a.whereNotNull ?? "") === (b.whereNotNull ?? "");

function createIndexDdl(dialect: SqlDialect, table: string, index: IndexSpec): CompiledQuery {
  let create = dialect.db.schema
    .createIndex(indexName(table, index))
    .on(table)
    .columns([...index.columns]);
  if (index.whereNotNull) create = create.where(sql.ref(index.whereNotNull), "is not", null);
  return create.compile();
}

/** Migration 1: every table of {@link MIKA_SCHEMA} (columns, primary key, NOT NULLs, unique constraints) with the version-1 indexes. */
export function createTablesDdl(dialect: SqlDialect): CompiledQuery[] {
  const out: CompiledQuery[] = [];
  for (const [table, spec] of Object.entries(MIKA_SCHEMA.tables as Record<string, TableSpec>)) {
    let create = dialect.db.schema.createTable(table);
    for (const [column, type] of Object.entries(spec.columns)) {
      const primary = column === spec.primaryKey;
      const required = spec.required.includes(column);
      create = create.addColumn(column, dialect.columnType(type), (c) =>
        primary ? c.primaryKey().notNull() : required ? c.notNull() : c,
      );
    }
    for (const columns of spec.unique) {
      create = create.addUniqueConstraint(`${table}_${columns.join("_")}_key`, [...columns] as never[]);
    }
    out.push(create.compile());
    for (const columns of V1_INDEXES[table] ?? []) out.push(createIndexDdl(dialect, table, { columns }));
  }
  return out;
}

/**
 * Migration 2: the version-1 indexes that changed are dropped and {@link MIKA_SCHEMA}'s created.
 * Partial indexes keep the rows a processed webhook writes out of the indexes that serve due work,
 * parked events and open checkouts; the handler runs' `event_row_id` index goes (a primary-key range
 * serves it); orders gain an index on `provider_order_ref` (looked up by events that name only it).
 */
export function reindexDdl(dialect: SqlDialect): CompiledQuery[] {
  const out: CompiledQuery[] = [];
  for (const [table, spec] of Object.entries(MIKA_SCHEMA.tables as Record<string, TableSpec>)) {
    const before = (V1_INDEXES[table] ?? []).map((columns) => ({ columns }));
    for (const index of before) {
      if (spec.indexes.some((next) => sameIndex(next, index))) continue;
      out.push(dialect.db.schema.dropIndex(indexName(table, index)).ifExists().compile());
    }
    for (const index of spec.indexes) {
      if (before.some((old) => sameIndex(old, index))) continue;
      out.push(createIndexDdl(dialect, table, index));
    }
  }
  return out;
}

/**
 * Migration 3: every text column compares by code point ({@link SqlDialect.codePointCollation}), so
 * the handler runs' primary-key range and every `orderBy` on text hold whatever collation the
 * database was created with. Nothing to do in SQLite.
 */
export function codePointTextDdl(dialect: SqlDialect): CompiledQuery[] {
  const collation = dialect.codePointCollation;
  if (!collation) return [];
  const out: CompiledQuery[] = [];
  for (const [table, spec] of Object.entries(MIKA_SCHEMA.tables as Record<string, TableSpec>)) {
    const text = Object.entries(spec.columns).filter(([, type]) => dialect.columnType(type) === "text");
    if (text.length === 0) continue;
    const type = sql`text collate ${sql.id(collation)}`;
    // One ALTER per table: its indexes are rebuilt once.
    const [first, ...rest] = text.map(([column]) => column);
    let alter = dialect.db.schema.alterTable(table).alterColumn(first!, (c) => c.setDataType(type));
    for (const column of rest) alter = alter.alterColumn(column, (c) => c.setDataType(type));
    out.push(alter.compile());
  }
  return out;
}

/** The migrations, in order. The last one's version is {@link MIKA_SCHEMA}'s. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, statements: createTablesDdl },
  { version: 2, statements: reindexDdl },
  { version: 3, statements: codePointTextDdl },
];

/**
 * Runs every migration newer than the stored version and records the new version. Call it inside a
 * transaction that holds the dialect's migration lock (SQLite: `BEGIN IMMEDIATE`; Postgres:
 * `pg_advisory_xact_lock`).
 */
export async function migrateLocked(
  dialect: SqlDialect,
  exec: SqlExec,
): Promise<{ from: number; to: number }> {
  await exec(metaTableDdl(dialect));
  const from = await readVersion(dialect, exec);
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  if (latest !== MIKA_SCHEMA.version) {
    throw new Error(
      `Mika SQL migrations end at version ${latest} but MIKA_SCHEMA is version ${MIKA_SCHEMA.version}.`,
    );
  }
  if (from > latest) {
    throw new Error(
      `The ${dialect.name} database holds Mika schema version ${from}, newer than this package (${latest}): upgrade the package.`,
    );
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= from) continue;
    for (const statement of migration.statements(dialect)) await exec(statement);
  }
  if (from !== latest) {
    await exec(
      dialect.db
        .insertInto(META_TABLE)
        .values({ id: "schema", version: latest })
        .onConflict((oc) => oc.column("id").doUpdateSet({ version: latest }))
        .compile(),
    );
  }
  return { from, to: latest };
}
