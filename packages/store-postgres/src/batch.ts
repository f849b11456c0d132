/**
 * Coalescing group transactions. Concurrent `transaction(fn)` calls of one store share one Postgres
 * transaction on one pooled client (a batch). Their functions run interleaved; the operations they
 * issue are flushed on the next turn of the event loop (once pending microtasks, such as an async
 * function resuming its caller, have run), together, one statement per shape:
 *
 * - `get` → `SELECT … WHERE pk IN (…) [FOR UPDATE]`;
 * - equality-only `find` → `(VALUES …) CROSS JOIN LATERAL (SELECT … LIMIT n [FOR UPDATE])`;
 * - `insert` → one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING pk`, rows in unique-key order;
 * - `update` by key → `UPDATE … FROM (VALUES …)`;
 * - `count`, `delete`, `claim`, other finds: their own statement inside the batch.
 *
 * A flush runs in rounds (round r holds each job's r-th queued operation, so a job's own operations
 * keep their order), and all coalesced statements of a round travel in ONE simple-protocol query:
 * one round trip per round, the batch's BEGIN riding on its first round. Values are written as
 * escaped, typed literals (see `literal.ts`).
 *
 * Isolation between the jobs of a batch is enforced by a {@link Tracker}. A conflict, a function that
 * throws, a failed statement (a lock timeout or deadlock between two processes' batches included) or
 * a failed COMMIT rolls the batch back, and its jobs run again one by one in solo transactions. A
 * caller's promise settles only after its work is committed or has definitively failed.
 */
import {
  decodeRow,
  encodeValue,
  type SqlDialect,
  type SqlRow,
  sqlTransaction,
  tableSpec,
} from "@mika/store-sqlite/sql";
import type { ClaimOptions, ColumnType, StoreTx, TableName, TableRows, TableSpec } from "@mika/types";
import type { CompiledQuery } from "kysely";
import type pg from "pg";
import { claimQuery } from "./claim.js";
import { type Borrowed, borrow, type Deadlines, lostDuringCommit } from "./connection.js";
import { sqlLiteral, valueLiteral } from "./literal.js";
import { keyColumns, Tracker, uniqueKeys } from "./tracker.js";

/** A transaction function as the store receives it. */
export type TxFn = (tx: StoreTx) => Promise<unknown>;

/** What the store counts about its transactions (see `PostgresStore.stats`). */
export interface PostgresStoreStats {
  /** `transaction()` calls that settled (committed or failed). */
  transactions: number;
  /** Batches run (committed or rolled back). */
  batches: number;
  /** Transactions committed as part of a batch. */
  batched: number;
  /** The largest batch so far (transactions). */
  largestBatch: number;
  /** Queries batches sent (round trips, BEGIN and COMMIT included). */
  roundTrips: number;
  /** SQL statements batches sent (several travel in one round trip). */
  statements: number;
  /** Batches rolled back, by cause. */
  rollbacks: {
    /** Two transactions of the batch touched the same row (or one read what another wrote). */
    conflict: number;
    /** A transaction function threw. */
    throw: number;
    /** Waiting for a row another transaction held took longer than `lockTimeoutMs`. */
    lockTimeout: number;
    /** Postgres reported a deadlock. */
    deadlock: number;
    /** Any other failed statement, COMMIT included. */
    error: number;
  };
  /** Transactions re-run solo after their batch rolled back. */
  fallbacks: number;
  /** Transactions run solo from the start (`batching: false`). */
  solo: number;
  /** Solo attempts tried again after a serialization failure, deadlock or lock timeout. */
  retries: number;
  /**
   * Connections that ended under the store (a database restart, a failover, an administrator): while
   * a transaction held them (it failed or ran again) or while idle in a pool the store created.
   */
  connectionsLost: number;
}

/** Fresh, zeroed stats. */
export function emptyStats(): PostgresStoreStats {
  return {
    transactions: 0,
    batches: 0,
    batched: 0,
    largestBatch: 0,
    roundTrips: 0,
    statements: 0,
    rollbacks: { conflict: 0, throw: 0, lockTimeout: 0, deadlock: 0, error: 0 },
    fallbacks: 0,
    solo: 0,
    retries: 0,
    connectionsLost: 0,
  };
}

/** What the batcher needs from the store. */
export interface BatcherOptions {
  pool: pg.Pool;
  dialect: SqlDialect;
  schema: string | undefined;
  types: pg.CustomTypesConfig;
  /** `SET LOCAL lock_timeout` of every batch (ms). */
  lockTimeoutMs: number;
  /** At most this many jobs per batch. */
  maxBatch: number;
  /** At most this many batches at once, unless they stall. */
  maxLanes: number;
  /** After this long without a new batch starting, waiting jobs get a lane beyond `maxLanes` (ms). */
  stallMs: number;
  /**
   * How long a lane may wait for more jobs when fewer are queued than recent batches held (ms; 0:
   * never wait).
   */
  lingerMs: number;
  /** Runs one function in its own transaction (the fallback). */
  solo: (fn: TxFn) => Promise<unknown>;
  stats: PostgresStoreStats;
  /** Called when a client a lane holds loses its connection. */
  connectionLost: () => void;
  /** How long to wait for a connection and for each round trip's answer. */
  deadlines: Deadlines;
}

interface Job {
  fn: TxFn;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What a job's pending operations reject with when its batch rolls back; the job then re-runs solo. */
export class BatchRolledBack extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      `postgresStore: this transaction's batch was rolled back (${reason}); it runs again on its own.`,
      options,
    );
    this.name = "BatchRolledBack";
  }
}

type Cause = keyof PostgresStoreStats["rollbacks"];

/** A job running inside a batch. */
interface Member {
  readonly job: Job;
  settled: boolean;
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

/** What a coalesced statement does. */
type ShapeKind = "get" | "find" | "insert" | "update";

/**
 * One shape of coalesced operations (kind, table, columns, lock…) and the SQL around their rows, built
 * once per store and shape: a round's statement is `head`, the operations' tuples, `tail`.
 */
interface Shape {
  /** Its cache key; also the order in which a round's statements run (the same in every process). */
  readonly name: string;
  readonly kind: ShapeKind;
  readonly table: string;
  /** The table's primary key column. */
  readonly pk: string;
  readonly head: string;
  readonly tail: string;
  /**
   * update: it sets a column of a unique constraint, so it may free or take a unique key that
   * another write of the round names; it keeps a round of its own.
   */
  readonly movesUniqueKey?: boolean;
}

const noop = () => {};

/** A `find`'s order. */
type FindOrder = readonly { column: string; direction: "asc" | "desc" }[];

/**
 * An operation queued by a job. One class for every kind, so that the batch's hot path sees one object
 * shape; the batch settles it once (`settled`).
 */
class Op {
  settled = false;
  resolve: (value: unknown) => void = noop;
  reject: (error: unknown) => void = noop;
  /** The rows it names as unique keys (see `rowsOf`), computed on first use. */
  rows: readonly string[] | undefined;

  constructor(
    readonly member: Member,
    /** How it is coalesced; undefined: a statement of its own (`query`). */
    readonly shape: Shape | undefined,
    /** get, insert, update: the row's primary key. */
    readonly key: string,
    /**
     * Its part of the statement, as SQL: get: the key literal; find: the condition literals (and the
     * limit); insert: the row tuple `(…)`; update: the tuple `(key, values…)`.
     */
    readonly tuple: string,
    /** insert: the order of rows in the statement (by unique key); find: by `tuple`. */
    readonly sortKey: string,
    /** insert: the row's unique keys (see `uniqueKeys`). */
    uniques: readonly string[] | undefined,
    /** A statement of its own (count, delete, claim, uncoalesced reads and writes). */
    readonly query: CompiledQuery | undefined,
  ) {
    this.rows = uniques;
  }
}

/** One statement of a round: its shape, and its operations in the order of its rows. */
interface Statement {
  readonly shape: Shape;
  readonly ops: readonly Op[];
  readonly text: string;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const bySortKey = (a: Op, b: Op) => byString(a.sortKey, b.sortKey);
const byKey = (a: Op, b: Op) => byString(a.key, b.key);

/** The unique key (as `uniqueKeys` writes it) of the row `table`/`key` by its primary key. */
const primaryRow = (table: string, pk: string, key: string) =>
  `${table}\u0000${pk}\u0000${JSON.stringify([key])}`;

/** The rows an operation names, as unique keys: an insert's every unique key, else its primary key. */
function rowsOf(op: Op): readonly string[] {
  if (op.rows) return op.rows;
  const shape = op.shape;
  op.rows =
    shape && (shape.kind === "get" || shape.kind === "update")
      ? [primaryRow(shape.table, shape.pk, op.key)]
      : [];
  return op.rows;
}

/** Whether an operation is coalesced as a write (insert or update). */
const isWrite = (op: Op) => op.shape?.kind === "insert" || op.shape?.kind === "update";

/**
 * Moves a job's next operation into `round`, with the operations queued right behind it that can share
 * its round trip: more reads by key of the same shape, or — behind a write — more writes (inserts and
 * updates) of other rows. A job issues such a burst without awaiting each call (a webhook's inbox row
 * together with earlier handler results, say); since they touch distinct rows, the order in which the
 * round's statements run cannot change their outcome. Anything else keeps its own, later round, so a
 * job's operations stay in order; so does an update that sets a unique column (it may free a key that a
 * later insert takes).
 */
function takeRun(list: Op[], round: Op[]): void {
  const first = list.shift()!;
  round.push(first);
  const kind = first.shape?.kind;
  if (kind !== "update" && kind !== "insert" && kind !== "get") return;
  if (list.length === 0 || first.shape?.movesUniqueKey) return;
  const rows = new Set(rowsOf(first));
  while (list.length > 0) {
    const next = list[0]!;
    // an update that moves a unique key runs after what came before it, and before what follows
    if (next.shape?.movesUniqueKey) return;
    const sameReads = kind === "get" && next.shape === first.shape;
    const writes = kind !== "get" && isWrite(next);
    if (!sameReads && !writes) return;
    const own = rowsOf(next);
    if (own.some((row) => rows.has(row))) return;
    for (const row of own) rows.add(row);
    round.push(list.shift()!);
  }
}

/** Postgres error codes after which a transaction is simply tried again. */
export const RETRYABLE_CODES = new Set(["40001", "40P01", "55P03"]);

/** The SQLSTATE of a Postgres error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** How a batch's transaction ended: its COMMIT's (or ROLLBACK's) answer, or the error instead. */
type BatchEnd = { error: unknown; reason?: Error; beforeCommit?: boolean } | { command: string | null };

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/** Runs batches for one store. */
export function createBatcher(options: BatcherOptions) {
  const {
    pool,
    dialect,
    schema,
    types,
    maxBatch,
    maxLanes,
    stallMs,
    lingerMs,
    solo,
    stats,
    connectionLost,
    deadlines,
  } = options;
  const lockTimeoutMs = Math.max(1, Math.floor(options.lockTimeoutMs));
  const begin = ["BEGIN ISOLATION LEVEL READ COMMITTED", `SET LOCAL lock_timeout = ${lockTimeoutMs}`];
  const beginText = begin.join(";\n");
  const qualified = (table: string) => (schema ? `${quote(schema)}.${quote(table)}` : quote(table));
  const sqlType = (type: ColumnType) => dialect.columnType(type);
  const order = (orderBy: FindOrder) =>
    orderBy.map(
      (o) => `${quote(o.column)} ${o.direction === "desc" ? "DESC NULLS LAST" : "ASC NULLS FIRST"}`,
    );

  /** Shapes by name (a store has a handful). */
  const shapes = new Map<string, Shape>();
  const shapeOf = (name: string, make: () => Omit<Shape, "name">): Shape => {
    let shape = shapes.get(name);
    if (!shape) {
      shape = { name, ...make() };
      shapes.set(name, shape);
    }
    return shape;
  };

  /** Per table: its columns in schema order with their SQL types, for inserts and updates. */
  interface TableCodec {
    readonly table: string;
    readonly spec: TableSpec;
    readonly columns: readonly string[];
    readonly types: readonly ColumnType[];
    readonly typeOf: ReadonlyMap<string, { type: ColumnType; sqlType: string }>;
    /** Columns of the primary key or a unique constraint (an update of one re-keys the table). */
    readonly keyed: ReadonlySet<string>;
    /** Positions (in `columns`) of the primary key and of each unique constraint's columns, with the prefix of their unique keys. */
    readonly uniques: readonly { readonly prefix: string; readonly at: readonly number[] }[];
    /** Positions of the first unique constraint's columns (rows of a multi-row insert are sorted by it). */
    readonly firstUnique: readonly number[];
    /** The insert of every column, in schema order. */
    readonly insert: Shape;
  }
  const codecs = new Map<string, TableCodec>();
  const codecOf = (table: string): TableCodec => {
    let codec = codecs.get(table);
    if (codec) return codec;
    const spec = tableSpec(table);
    const columns = Object.keys(spec.columns);
    const types = columns.map((c) => spec.columns[c]!);
    codec = {
      table,
      spec,
      columns,
      types,
      typeOf: new Map(columns.map((c, i) => [c, { type: types[i]!, sqlType: sqlType(types[i]!) }])),
      keyed: keyColumns(spec),
      uniques: [[spec.primaryKey], ...spec.unique].map((set) => ({
        prefix: `${table}\u0000${set.join(",")}\u0000`,
        at: set.map((c) => columns.indexOf(c)),
      })),
      firstUnique: (spec.unique[0] ?? []).map((c) => columns.indexOf(c)),
      insert: shapeOf(`insert:${table}`, () => ({
        kind: "insert",
        table,
        pk: spec.primaryKey,
        head: `INSERT INTO ${qualified(table)} (${columns.map(quote).join(", ")}) VALUES `,
        tail: ` ON CONFLICT DO NOTHING RETURNING ${quote(spec.primaryKey)}`,
      })),
    };
    codecs.set(table, codec);
    return codec;
  };

  const getShape = (table: string, lock: boolean) =>
    shapeOf(`get:${table}:${lock}`, () => {
      const pk = tableSpec(table).primaryKey;
      return {
        kind: "get",
        table,
        pk,
        head: `SELECT * FROM ${qualified(table)} WHERE ${quote(pk)} IN (`,
        tail: `)${lock ? " FOR UPDATE" : ""}`,
      };
    });

  const updateShape = (table: string, columns: readonly string[], name: string) =>
    shapeOf(name, () => {
      const spec = tableSpec(table);
      const pk = spec.primaryKey;
      const names = ["k", ...columns.map((_, i) => `c${i}`)];
      const uniqueColumns = new Set([pk, ...spec.unique.flat()]);
      return {
        kind: "update",
        table,
        pk,
        movesUniqueKey: columns.some((column) => uniqueColumns.has(column)),
        head: `UPDATE ${qualified(table)} AS t SET ${columns.map((c, i) => `${quote(c)} = v.c${i}`).join(", ")} FROM (VALUES `,
        tail: `) AS v(${names.join(", ")}) WHERE t.${quote(pk)} = v.k RETURNING v.k AS ${quote(pk)}`,
      };
    });

  const findShape = (
    table: string,
    columns: readonly string[],
    orderBy: FindOrder,
    hasLimit: boolean,
    lock: boolean,
    name: string,
  ) =>
    shapeOf(name, () => {
      const names = ["ord", ...columns.map((_, i) => `c${i}`), ...(hasLimit ? ["lim"] : [])];
      const where = columns.map((c, i) => `${quote(c)} = q.c${i}`).join(" AND ");
      const sort = order(orderBy);
      return {
        kind: "find",
        table,
        pk: tableSpec(table).primaryKey,
        head: `SELECT q.ord AS "__ord", t.* FROM (VALUES `,
        tail:
          `) AS q(${names.join(", ")}) ` +
          `CROSS JOIN LATERAL (SELECT * FROM ${qualified(table)} WHERE ${where}` +
          `${sort.length ? ` ORDER BY ${sort.join(", ")}` : ""}${hasLimit ? " LIMIT q.lim" : ""}${lock ? " FOR UPDATE" : ""}) AS t ` +
          `ORDER BY q.ord${sort.map((s) => `, t.${s}`).join("")}`,
      };
    });

  /**
   * The statement of a round's operations of one shape, rows in a fixed order (keys, unique keys,
   * conditions) so that two processes' batches take their locks in the same order.
   */
  function build(shape: Shape, ops: Op[]): Statement {
    let text = shape.head;
    switch (shape.kind) {
      case "get": {
        // Distinct keys, sorted.
        const sorted = ops.length > 1 ? [...ops].sort(byKey) : ops;
        let last: string | undefined;
        for (const op of sorted) {
          if (op.key === last) continue;
          text += last === undefined ? op.tuple : `, ${op.tuple}`;
          last = op.key;
        }
        return { shape, ops, text: text + shape.tail };
      }
      case "find": {
        const sorted = ops.length > 1 ? ops.sort(bySortKey) : ops;
        for (let i = 0; i < sorted.length; i++) text += `${i ? ", " : ""}(${i + 1}, ${sorted[i]!.tuple})`;
        return { shape, ops: sorted, text: text + shape.tail };
      }
      case "insert": {
        const sorted = ops.length > 1 ? ops.sort(bySortKey) : ops;
        for (let i = 0; i < sorted.length; i++) text += i ? `, ${sorted[i]!.tuple}` : sorted[i]!.tuple;
        return { shape, ops: sorted, text: text + shape.tail };
      }
      case "update": {
        const sorted = ops.length > 1 ? ops.sort(byKey) : ops;
        for (let i = 0; i < sorted.length; i++) text += i ? `, ${sorted[i]!.tuple}` : sorted[i]!.tuple;
        return { shape, ops: sorted, text: text + shape.tail };
      }
    }
  }

  /** Answers a statement's operations from its result. */
  function settle(batch: Batch, statement: Statement, result: pg.QueryResult<SqlRow>) {
    const { shape, ops } = statement;
    const { pk, table } = shape;
    const rows = result.rows;
    switch (shape.kind) {
      case "get": {
        const byPk = new Map<unknown, SqlRow>();
        for (const row of rows) byPk.set(row[pk], row);
        for (const op of ops) batch.settleOp(op, true, byPk.get(op.key));
        return;
      }
      case "find": {
        const found: SqlRow[][] = ops.map(() => []);
        for (const row of rows) found[Number(row.__ord) - 1]!.push(row);
        for (let i = 0; i < ops.length; i++) batch.settleOp(ops[i]!, true, found[i]);
        return;
      }
      case "insert": {
        const inserted = new Set<unknown>();
        for (const row of rows) inserted.add(row[pk]);
        for (const op of ops) if (inserted.has(op.key)) batch.tracker.inserted(op.member, op.rows!);
        for (const op of ops) {
          if (inserted.has(op.key)) {
            batch.settleOp(op, true, true);
            continue;
          }
          const reason = batch.tracker.refused(op.member, table, op.rows!);
          if (reason) batch.settleOp(op, false, batch.abort("conflict", reason));
          else batch.settleOp(op, true, false);
        }
        return;
      }
      case "update": {
        const updated = new Set<unknown>();
        for (const row of rows) updated.add(row[pk]);
        for (const op of ops) batch.settleOp(op, true, updated.has(op.key));
        return;
      }
    }
  }

  class Batch {
    readonly members: Member[];
    readonly tracker = new Tracker();
    /** Whether BEGIN was sent (it rides on the first round). */
    begun = false;
    aborted: { cause: Cause; error: BatchRolledBack } | undefined;
    private pending: Op[] = [];
    private flushing = false;
    private immediate = false;
    private settledCount = 0;
    private finished!: () => void;
    readonly done = new Promise<void>((resolve) => {
      this.finished = resolve;
    });

    constructor(
      readonly held: Borrowed,
      jobs: Job[],
    ) {
      this.members = jobs.map((job) => ({ job, settled: false }));
    }

    query(text: string, values?: unknown[], count = 1) {
      stats.roundTrips++;
      stats.statements += count;
      return this.held.query<SqlRow>(values ? { text, values, types } : { text, types });
    }

    /** Marks the batch for rollback: every pending and later operation rejects; the jobs will re-run solo. */
    abort(cause: Cause, reason: string, error?: unknown): BatchRolledBack {
      if (this.aborted) return this.aborted.error;
      const rolledBack = new BatchRolledBack(reason, error === undefined ? undefined : { cause: error });
      this.aborted = { cause, error: rolledBack };
      stats.rollbacks[cause]++;
      const pending = this.pending;
      this.pending = [];
      for (const op of pending) this.settleOp(op, false, rolledBack);
      return rolledBack;
    }

    enqueue<R>(op: Op): Promise<R> {
      if (this.aborted) return Promise.reject(this.aborted.error);
      const promise = new Promise<R>((resolve, reject) => {
        op.resolve = resolve as (value: unknown) => void;
        op.reject = reject;
      });
      this.pending.push(op);
      this.schedule();
      return promise;
    }

    settleOp(op: Op, ok: boolean, value: unknown) {
      if (op.settled) return;
      op.settled = true;
      if (ok) op.resolve(value);
      else op.reject(value);
    }

    /**
     * Flushes on the next turn of the event loop, once the microtask queue has drained: a job whose
     * operations are spread over several async functions (a ledger write, then the handler runs its
     * caller records) has issued all of them by then, so they share one round trip.
     */
    private schedule() {
      if (this.flushing || this.pending.length === 0 || this.immediate) return;
      this.immediate = true;
      setImmediate(() => {
        this.immediate = false;
        void this.flush();
      });
    }

    private async flush() {
      if (this.flushing || this.pending.length === 0) return;
      this.flushing = true;
      const ops = this.pending;
      this.pending = [];
      const perMember = new Map<Member, Op[]>();
      for (const op of ops) {
        const list = perMember.get(op.member);
        if (list) list.push(op);
        else perMember.set(op.member, [op]);
      }
      while (perMember.size > 0) {
        const round: Op[] = [];
        for (const [member, list] of perMember) {
          takeRun(list, round);
          if (list.length === 0) perMember.delete(member);
        }
        try {
          await this.runRound(round);
        } catch (error) {
          // Not a failed statement (those are handled) but a bug: never leave an operation unanswered.
          const rolledBack = this.abort("error", `the batch failed: ${String(error)}`, error);
          for (const op of round) this.settleOp(op, false, rolledBack);
        }
      }
      this.flushing = false;
      this.schedule();
      this.checkDone();
    }

    /** One round: the coalesced statements in one query, then the other operations one by one. */
    private async runRound(round: Op[]) {
      const groups = new Map<Shape, Op[]>();
      const raw: Op[] = [];
      for (const op of round) {
        const shape = op.shape;
        if (shape === undefined) {
          raw.push(op);
          continue;
        }
        const group = groups.get(shape);
        if (group) group.push(op);
        else groups.set(shape, [op]);
      }
      if (groups.size > 0) {
        // Shapes in a fixed order, so that two processes' batches take their locks in the same order.
        const statements: Statement[] = [];
        for (const [shape, ops] of groups) statements.push(build(shape, ops));
        if (statements.length > 1) statements.sort((a, b) => byString(a.shape.name, b.shape.name));
        await this.send(statements);
      }
      for (const op of raw) {
        if (this.aborted) {
          this.settleOp(op, false, this.aborted.error);
          continue;
        }
        try {
          if (!this.begun) {
            this.begun = true;
            await this.query(beginText, undefined, begin.length);
          }
          const query = op.query!;
          const result = await this.query(query.sql, query.parameters as unknown[]);
          this.settleOp(op, true, { rows: result.rows, affected: result.rowCount ?? 0 });
        } catch (error) {
          this.settleOp(op, false, this.failed(error));
        }
      }
    }

    /** Sends statements in one round trip (after BEGIN when the batch has not begun) and settles them. */
    private async send(statements: Statement[]) {
      if (this.aborted) {
        for (const s of statements) for (const op of s.ops) this.settleOp(op, false, this.aborted.error);
        return;
      }
      const skip = this.begun ? 0 : begin.length;
      let text = this.begun ? "" : beginText;
      this.begun = true;
      for (let i = 0; i < statements.length; i++)
        text += i || skip ? `;\n${statements[i]!.text}` : statements[i]!.text;
      let results: pg.QueryResult<SqlRow>[];
      try {
        const result = (await this.query(text, undefined, skip + statements.length)) as unknown as
          | pg.QueryResult<SqlRow>
          | pg.QueryResult<SqlRow>[];
        results = Array.isArray(result) ? result : [result];
      } catch (error) {
        const rolledBack = this.failed(error);
        for (const s of statements) for (const op of s.ops) this.settleOp(op, false, rolledBack);
        return;
      }
      for (let i = 0; i < statements.length; i++) settle(this, statements[i]!, results[skip + i]!);
    }

    /** A statement failed: the transaction is lost, so is the batch. */
    private failed(error: unknown): BatchRolledBack {
      const code = sqlState(error);
      const cause: Cause = code === "55P03" ? "lockTimeout" : code === "40P01" ? "deadlock" : "error";
      return this.abort(cause, `a statement failed: ${String(error)}`, error);
    }

    memberSettled(member: Member) {
      member.settled = true;
      this.settledCount++;
      if (member.outcome && !member.outcome.ok && !this.aborted) {
        this.abort("throw", `a transaction function threw: ${String(member.outcome.error)}`);
      }
      this.schedule();
      this.checkDone();
    }

    private checkDone() {
      if (this.settledCount === this.members.length && !this.flushing && this.pending.length === 0) {
        this.finished();
      }
    }
  }

  /** The table API a job sees inside a batch. */
  function memberTx(batch: Batch, member: Member): { tx: StoreTx; finish(): void } {
    let finished = false;
    const check = () => {
      if (finished) {
        throw new Error(
          "This postgres transaction has ended: use the tx only inside its transaction function.",
        );
      }
      if (batch.aborted) throw batch.aborted.error;
    };
    const fail = (reason: string | undefined) => {
      if (reason) throw batch.abort("conflict", reason);
    };
    /** An operation of this job (`shape` undefined: the statement `query` on its own). */
    const enqueue = <R>(
      shape: Shape | undefined,
      key: string,
      tuple: string,
      sortKey = "",
      uniques?: readonly string[],
      query?: CompiledQuery,
    ) => batch.enqueue<R>(new Op(member, shape, key, tuple, sortKey, uniques, query));
    // What is not coalesced goes through the shared SQL layer, one parameterized statement each
    // (made on first use: most jobs never need it).
    let plainTx: StoreTx | undefined;
    const plain = () => {
      plainTx ??= sqlTransaction(dialect, (query) => enqueue(undefined, "", "", "", undefined, query)).tx;
      return plainTx;
    };
    const track = (table: string, rows: readonly unknown[], lock: boolean) => {
      const pk = tableSpec(table).primaryKey;
      for (const row of rows as SqlRow[]) {
        const key = String(row[pk]);
        fail(lock ? batch.tracker.own(member, table, key) : batch.tracker.read(member, table, key));
      }
    };
    /** `get` by a key that can be written as a literal; the raw row. */
    const get = (table: string, key: string, keyLiteral: string, lock: boolean) => {
      fail(lock ? batch.tracker.own(member, table, key) : batch.tracker.read(member, table, key));
      return enqueue<SqlRow | undefined>(getShape(table, lock), key, keyLiteral);
    };

    /** A key as Postgres will hold it (U+FFFD for U+0000 and lone surrogates), so results and the tracker match stored rows. */
    const keyOf = <K>(key: K): K =>
      typeof key === "string" ? (encodeValue(dialect, "text", key) as K) : key;
    const tx: StoreTx = {
      async get(table, rawKey, options) {
        check();
        const key = keyOf(rawKey);
        tableSpec(table);
        const lock = Boolean(options?.lock);
        const keyLiteral = typeof key === "string" ? sqlLiteral(key, "text") : undefined;
        if (keyLiteral === undefined) {
          const row = await plain().get(table, key, options);
          check();
          if (row) track(table, [row], lock);
          return row;
        }
        const row = await get(table, key, keyLiteral, lock);
        check();
        return row ? (decodeRow(table, row) as never) : undefined;
      },
      async find(table, where, options) {
        check();
        const spec = tableSpec(table);
        const lock = Boolean(options?.lock);
        const orderBy = (options?.orderBy ?? []) as FindOrder;
        const limit = options?.limit;
        const hasLimit = limit !== undefined;
        // Equality-only conditions whose values can be written as literals are coalesced.
        let coalesced = hasLimit ? Number.isSafeInteger(limit) && limit >= 0 : true;
        let columns = "";
        const names: string[] = [];
        let tuple = "";
        if (coalesced) {
          for (const column in where) {
            const value = (where as Record<string, unknown>)[column];
            if (value === undefined) continue;
            const type = Object.hasOwn(spec.columns, column) ? spec.columns[column] : undefined;
            if (value === null || typeof value === "object" || type === undefined || type === "json") {
              coalesced = false;
              break;
            }
            const literal = sqlLiteral(encodeValue(dialect, type, value), sqlType(type));
            if (literal === undefined) {
              coalesced = false;
              break;
            }
            tuple += names.length ? `, ${literal}` : literal;
            columns += names.length ? `,${column}` : column;
            names.push(column);
          }
        }
        coalesced &&= names.length > 0 && orderBy.every((o) => Object.hasOwn(spec.columns, o.column));
        if (!coalesced) {
          const rows = await plain().find(table, where, options);
          check();
          track(table, rows, lock);
          return rows;
        }
        if (hasLimit) tuple += `, ${limit}`;
        const name = `find:${table}:${columns}:${orderBy.map((o) => `${o.column} ${o.direction}`).join(",")}:${hasLimit}:${lock}`;
        const shape = shapes.get(name) ?? findShape(table, names, orderBy, hasLimit, lock, name);
        const rows = await enqueue<SqlRow[]>(shape, "", tuple, tuple);
        check();
        track(table, rows, lock);
        return rows.map((r) => decodeRow(table, r)) as never;
      },
      async count(table, where) {
        check();
        tableSpec(table);
        fail(batch.tracker.count(member, table));
        return plain().count(table, where);
      },
      async insert(table, row) {
        check();
        const codec = codecOf(table);
        const { spec, columns, types } = codec;
        const source = row as unknown as Record<string, unknown>;
        // Every column in schema order (undefined → NULL, as the solo path writes it): one shape per table.
        const values = new Array<unknown>(columns.length);
        let tuple = "(";
        let literals = true;
        for (let i = 0; i < columns.length; i++) {
          const value = encodeValue(dialect, types[i]!, source[columns[i]!]);
          values[i] = value;
          if (!literals) continue;
          // No cast: Postgres reads each value with its column's input function (and parses less).
          const literal = valueLiteral(value);
          if (literal === undefined) literals = false;
          else tuple += i ? `, ${literal}` : literal;
        }
        const key = values[codec.uniques[0]!.at[0]!];
        fail(batch.tracker.insert(member, table));
        batch.tracker.wrote(member, table);
        if (typeof key !== "string" || !literals) {
          // Not coalesced: its own statement. Without a key to track, treat it as re-keying the table.
          if (typeof key === "string") fail(batch.tracker.own(member, table, key));
          else fail(batch.tracker.mutateUnique(member, table));
          const inserted = await plain().insert(table, row);
          const uniques = uniqueKeys(table, spec, Object.fromEntries(columns.map((c, i) => [c, values[i]])));
          if (inserted) batch.tracker.inserted(member, uniques);
          else fail(batch.tracker.refused(member, table, uniques));
          return inserted;
        }
        fail(batch.tracker.own(member, table, key));
        // The same keys as `uniqueKeys` writes, from the encoded values by position.
        const uniques: string[] = [];
        for (const { prefix, at } of codec.uniques) {
          const tupleOf = at.map((i) => values[i] ?? null);
          if (!tupleOf.includes(null)) uniques.push(prefix + JSON.stringify(tupleOf));
        }
        const sortKey = JSON.stringify([...codec.firstUnique.map((i) => values[i] ?? null), key]);
        return enqueue<boolean>(codec.insert, key, `${tuple})`, sortKey, uniques);
      },
      async update(table, rawKey, patch) {
        check();
        const key = keyOf(rawKey);
        const codec = codecOf(table);
        const { spec } = codec;
        const keyLiteral = typeof key === "string" ? sqlLiteral(key, "text") : undefined;
        let name = `update:${table}:`;
        const columns: string[] = [];
        let tuple = keyLiteral === undefined ? "" : `(${keyLiteral}`;
        let literals = keyLiteral !== undefined;
        let newKey: unknown;
        for (const column in patch) {
          const value = (patch as Record<string, unknown>)[column];
          if (value === undefined) continue;
          const typed = codec.typeOf.get(column);
          if (!typed) throw new TypeError(`Table "${table}" has no column "${column}".`);
          const encoded = encodeValue(dialect, typed.type, value);
          if (column === spec.primaryKey) newKey = encoded;
          name += columns.length ? `,${column}` : column;
          columns.push(column);
          if (!literals) continue;
          const literal = sqlLiteral(encoded, typed.sqlType);
          if (literal === undefined) literals = false;
          else tuple += `, ${literal}`;
        }
        if (keyLiteral !== undefined && columns.length === 0) {
          return (await get(table, key, keyLiteral, false)) !== undefined;
        }
        if (typeof key === "string") fail(batch.tracker.own(member, table, key));
        batch.tracker.wrote(member, table);
        if (typeof key !== "string" || columns.some((c) => codec.keyed.has(c)))
          fail(batch.tracker.mutateUnique(member, table));
        if (typeof newKey === "string") fail(batch.tracker.own(member, table, newKey));
        if (!literals) return plain().update(table, key, patch);
        return enqueue<boolean>(updateShape(table, columns, name), key, `${tuple})`);
      },
      async delete(table, rawKey) {
        check();
        const key = keyOf(rawKey);
        const spec = tableSpec(table);
        if (typeof key === "string") fail(batch.tracker.own(member, table, key));
        batch.tracker.wrote(member, table);
        if (spec.unique.length > 0 || typeof key !== "string")
          fail(batch.tracker.mutateUnique(member, table));
        return plain().delete(table, key);
      },
      async claim<T extends TableName>(table: T, options: ClaimOptions<TableRows[T]>) {
        check();
        const query = claimQuery(dialect, table, options as ClaimOptions<SqlRow>);
        batch.tracker.wrote(member, table);
        const { rows } = await enqueue<{ rows: SqlRow[] }>(undefined, "", "", "", undefined, query);
        check();
        track(table, rows, true);
        return rows.map((r) => decodeRow(table, r)) as never;
      },
    };
    return {
      tx,
      finish() {
        finished = true;
      },
    };
  }

  async function runMember(batch: Batch, member: Member) {
    const { tx, finish } = memberTx(batch, member);
    try {
      member.outcome = { ok: true, value: await member.job.fn(tx) };
    } catch (error) {
      member.outcome = { ok: false, error };
    }
    finish();
    batch.memberSettled(member);
  }

  /** Re-runs jobs in solo transactions (each settles its caller). */
  function fallBack(jobs: readonly Job[]) {
    for (const job of jobs) {
      stats.fallbacks++;
      solo(job.fn).then(job.resolve, job.reject);
    }
  }

  /** Settles a finished batch's callers once its transaction has ended. */
  function settleBatch(batch: Batch, ended: BatchEnd) {
    const jobs = batch.members.map((m) => m.job);
    if (batch.aborted) {
      fallBack(jobs);
      return;
    }
    if ("error" in ended) {
      if (sqlState(ended.error) || ended.beforeCommit) {
        // Postgres answered (or COMMIT was never sent): the transaction did not commit, so running the
        // jobs again is safe.
        stats.rollbacks.error++;
        fallBack(jobs);
      } else {
        // The connection failed during COMMIT: the outcome is unknown, as for a solo transaction.
        const error = lostDuringCommit(ended.reason ?? ended.error);
        for (const job of jobs) job.reject(error);
      }
      return;
    }
    if (ended.command !== "COMMIT") {
      // Postgres rolled back instead (the transaction had failed): nothing was kept.
      stats.rollbacks.error++;
      fallBack(jobs);
      return;
    }
    for (const member of batch.members) {
      stats.batched++;
      member.job.resolve((member.outcome as { ok: true; value: unknown }).value);
    }
  }

  const queue: Job[] = [];
  /** A lane is waiting for a pooled client (jobs queued meanwhile join its first batch). */
  let connecting = false;
  /** Lanes holding a client. */
  let lanes = 0;
  let lastStart = 0;
  let stallTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Sizes of recent batches (start time, jobs), to know how many jobs are worth waiting for: only the
   * batches no later batch outgrew, so sizes decrease from the front, which holds the largest.
   */
  const recent: [number, number][] = [];
  const remember = (start: number, size: number) => {
    while (recent.length > 0 && recent[recent.length - 1]![1] <= size) recent.pop();
    recent.push([start, size]);
  };
  const RECENT_MS = 1000;
  /** How many jobs recent batches held (the most in the last second). */
  const expected = () => {
    const since = performance.now() - RECENT_MS;
    while (recent.length > 0 && recent[0]![0] < since) recent.shift();
    const most = Math.max(1, recent[0]?.[1] ?? 1);
    return Math.min(most, maxBatch);
  };
  /** Lanes waiting for more jobs. */
  const lingering = new Set<() => void>();

  /** Waits (at most `lingerMs`) until as many jobs are queued as recent batches held. */
  async function gather() {
    if (lingerMs <= 0 || queue.length >= expected()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        lingering.delete(done);
        resolve();
      };
      const timer = setTimeout(done, lingerMs);
      lingering.add(done);
    });
  }

  /** Starts a lane when jobs wait and the lane cap allows (or the running batches have stalled). */
  function pump() {
    if (connecting || queue.length === 0) return;
    if (lanes < maxLanes || performance.now() - lastStart >= stallMs) {
      void lane();
      return;
    }
    // Every lane is busy: the queued jobs form the next batch. Should the running batches stall (a
    // lock wait, a transaction function waiting for another transaction), another lane starts.
    if (stallTimer === undefined) {
      stallTimer = setTimeout(() => {
        stallTimer = undefined;
        pump();
      }, stallMs);
      stallTimer.unref?.();
    }
  }

  /** A lane: one pooled client running batches back to back while jobs are waiting. */
  async function lane() {
    connecting = true;
    lanes++;
    let held: Borrowed;
    try {
      held = await borrow(pool, connectionLost, deadlines);
    } catch (error) {
      connecting = false;
      lanes--;
      for (const job of queue.splice(0)) job.reject(error);
      return;
    }
    connecting = false;
    // A lane does not hog its client: when someone waits for a connection (a solo re-run, another
    // pool user), it gives it back after the batch and queues for a new one.
    // A client whose connection ended goes back (and is closed); the next lane takes a new one.
    while (queue.length > 0 && pool.waitingCount === 0 && !held.lost()) {
      await gather();
      const jobs = queue.splice(0, maxBatch);
      if (jobs.length === 0) break;
      lastStart = performance.now();
      remember(lastStart, jobs.length);
      pump();
      const batch = new Batch(held, jobs);
      stats.batches++;
      stats.largestBatch = Math.max(stats.largestBatch, jobs.length);
      for (const member of batch.members) void runMember(batch, member);
      await batch.done;
      let ended: BatchEnd = { command: "COMMIT" };
      if (batch.begun) {
        const lost = held.lost();
        if (lost) {
          // The connection ended before COMMIT was sent: nothing of the batch was kept.
          ended = { error: lost, beforeCommit: true };
        } else {
          try {
            ended = { command: (await batch.query(batch.aborted ? "ROLLBACK" : "COMMIT")).command };
          } catch (error) {
            // The reason the store saw (a timeout, the server's message) says more than pg's own.
            ended = { error, reason: held.lost() };
          }
        }
      }
      settleBatch(batch, ended);
      if ("error" in ended) {
        // The connection's state is unknown: it is closed instead of going back to the pool.
        held.release(asError(ended.error));
        lanes--;
        pump();
        return;
      }
    }
    held.release();
    lanes--;
    pump();
  }

  return {
    /** Runs `fn` in the next batch; settles after the batch commits (or after its solo re-run). */
    run(fn: TxFn): Promise<unknown> {
      return new Promise((resolve, reject) => {
        queue.push({ fn, resolve, reject });
        if (lingering.size > 0 && queue.length >= expected()) for (const done of [...lingering]) done();
        pump();
      });
    },
  };
}
