/**
 * Coalescing group transactions. Concurrent `transaction(fn)` calls of one store share one Postgres
 * transaction on one pooled client (a batch). Their functions run interleaved; the operations they
 * issue while all of them are waiting are flushed together, one statement per shape:
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
  encodeRow,
  encodeValue,
  type SqlDialect,
  type SqlRow,
  sqlTransaction,
  tableSpec,
} from "@mika/store-sqlite/sql";
import type { ClaimOptions, ColumnType, StoreTx, TableName, TableRows } from "@mika/types";
import type { CompiledQuery } from "kysely";
import type pg from "pg";
import { claimQuery } from "./claim.js";
import { sqlLiteral } from "./literal.js";
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
  /** Operations queued or in flight. */
  outstanding: number;
  settled: boolean;
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

interface OpBase {
  member: Member;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** Answered already (an operation is settled once). */
  settled?: boolean;
}
interface GetOp extends OpBase {
  kind: "get";
  shape: string;
  table: string;
  key: string;
  keyLiteral: string;
  lock: boolean;
}
interface FindOp extends OpBase {
  kind: "find";
  shape: string;
  table: string;
  columns: string[];
  literals: string[];
  orderBy: readonly { column: string; direction: "asc" | "desc" }[];
  limit: number | undefined;
  lock: boolean;
  sortKey: string;
}
interface InsertOp extends OpBase {
  kind: "insert";
  shape: string;
  table: string;
  columns: string[];
  literals: string[];
  key: string;
  uniques: string[];
  sortKey: string;
}
interface UpdateOp extends OpBase {
  kind: "update";
  shape: string;
  table: string;
  key: string;
  keyLiteral: string;
  columns: string[];
  literals: string[];
}
interface RawOp extends OpBase {
  kind: "raw";
  query: CompiledQuery;
}
type Op = GetOp | FindOp | InsertOp | UpdateOp | RawOp;
type CoalescedOp = Exclude<Op, RawOp>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An operation as a job queues it (the batch adds who asked and how to answer). */
type OpInput = DistributiveOmit<Op, keyof OpBase>;

/**
 * Moves a job's next operation into `round`, with the operations queued right behind it that can share
 * its round trip: more reads by key of the same shape, or — behind a write — more writes (inserts and
 * updates) of other rows. A job issues such a burst without awaiting each call (a webhook's inbox row
 * together with earlier handler results, say); since they touch distinct rows, the order in which the
 * round's statements run cannot change their outcome. Anything else keeps its own, later round, so a
 * job's operations stay in order.
 */
function takeRun(list: Op[], round: Op[]): void {
  const first = list.shift()!;
  round.push(first);
  if (first.kind !== "update" && first.kind !== "insert" && first.kind !== "get") return;
  const rows = new Set(rowsOf(first));
  while (list.length > 0) {
    const next = list[0]!;
    const sameReads = first.kind === "get" && next.kind === "get" && next.shape === first.shape;
    const writes = first.kind !== "get" && (next.kind === "insert" || next.kind === "update");
    if (!sameReads && !writes) return;
    const own = rowsOf(next);
    if (own.some((row) => rows.has(row))) return;
    for (const row of own) rows.add(row);
    round.push(list.shift()!);
  }
}

/** The rows an operation names, as unique keys (see `uniqueKeys`): an insert's every unique key, else its primary key. */
function rowsOf(op: Op): string[] {
  if (op.kind === "insert") return op.uniques;
  if (op.kind === "get" || op.kind === "update") {
    return [`${op.table}\u0000${tableSpec(op.table).primaryKey}\u0000${JSON.stringify([op.key])}`];
  }
  return [];
}

/** One statement of a round: its SQL, and how its result settles its operations. */
interface Statement {
  text: string;
  ops: readonly Op[];
  settle(result: pg.QueryResult<SqlRow>): void;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Postgres error codes after which a transaction is simply tried again. */
export const RETRYABLE_CODES = new Set(["40001", "40P01", "55P03"]);

/** The SQLSTATE of a Postgres error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/** Runs batches for one store. */
export function createBatcher(options: BatcherOptions) {
  const { pool, dialect, schema, types, maxBatch, maxLanes, stallMs, lingerMs, solo, stats } = options;
  const lockTimeoutMs = Math.max(1, Math.floor(options.lockTimeoutMs));
  const begin = ["BEGIN ISOLATION LEVEL READ COMMITTED", `SET LOCAL lock_timeout = ${lockTimeoutMs}`];
  const qualified = (table: string) => (schema ? `${quote(schema)}.${quote(table)}` : quote(table));
  const sqlType = (type: ColumnType) => dialect.columnType(type);
  const order = (orderBy: FindOp["orderBy"]) =>
    orderBy.map(
      (o) => `${quote(o.column)} ${o.direction === "desc" ? "DESC NULLS LAST" : "ASC NULLS FIRST"}`,
    );

  class Batch {
    readonly members: Member[];
    readonly tracker = new Tracker();
    /** Whether BEGIN was sent (it rides on the first round). */
    begun = false;
    aborted: { cause: Cause; error: BatchRolledBack } | undefined;
    private pending: Op[] = [];
    private flushing = false;
    private immediate = false;
    private microtask = false;
    /** Members neither settled nor waiting for an operation. */
    private busy: number;
    private settledCount = 0;
    private finished!: () => void;
    readonly done = new Promise<void>((resolve) => {
      this.finished = resolve;
    });

    constructor(
      readonly client: pg.PoolClient,
      jobs: Job[],
    ) {
      this.members = jobs.map((job) => ({ job, outstanding: 0, settled: false }));
      this.busy = this.members.length;
    }

    query(text: string, values?: unknown[], count = 1) {
      stats.roundTrips++;
      stats.statements += count;
      return this.client.query<SqlRow>(values ? { text, values, types } : { text, types });
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

    enqueue<R>(member: Member, op: OpInput): Promise<R> {
      if (this.aborted) return Promise.reject(this.aborted.error);
      return new Promise<R>((resolve, reject) => {
        if (member.outstanding++ === 0) this.busy--;
        this.pending.push({ ...op, member, resolve, reject } as Op);
        this.schedule();
      });
    }

    settleOp(op: Op, ok: boolean, value: unknown) {
      if (op.settled) return;
      op.settled = true;
      if (--op.member.outstanding === 0 && !op.member.settled) this.busy++;
      if (ok) op.resolve(value);
      else op.reject(value);
    }

    /**
     * Flushes as soon as every running job waits for an operation (in a microtask, so that operations
     * issued in the same turn join), else on the next turn of the event loop.
     */
    private schedule() {
      if (this.flushing || this.pending.length === 0) return;
      if (this.busy === 0) {
        if (this.microtask) return;
        this.microtask = true;
        queueMicrotask(() => {
          this.microtask = false;
          void this.flush();
        });
      } else if (!this.immediate) {
        this.immediate = true;
        setImmediate(() => {
          this.immediate = false;
          void this.flush();
        });
      }
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
      const groups = new Map<string, CoalescedOp[]>();
      const raw: RawOp[] = [];
      for (const op of round) {
        if (op.kind === "raw") {
          raw.push(op);
          continue;
        }
        const group = groups.get(op.shape);
        if (group) group.push(op);
        else groups.set(op.shape, [op]);
      }
      // Shapes in a fixed order, so that two processes' batches take their locks in the same order.
      const statements = [...groups.keys()].sort(byString).map((shape) => build(this, groups.get(shape)!));
      if (statements.length > 0) {
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
            await this.query(begin.join("; "), undefined, begin.length);
          }
          const result = await this.query(op.query.sql, op.query.parameters as unknown[]);
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
      const prefix = this.begun ? [] : begin;
      this.begun = true;
      const texts = [...prefix, ...statements.map((s) => s.text)];
      let results: pg.QueryResult<SqlRow>[];
      try {
        const result = (await this.query(texts.join(";\n"), undefined, texts.length)) as unknown as
          | pg.QueryResult<SqlRow>
          | pg.QueryResult<SqlRow>[];
        results = Array.isArray(result) ? result : [result];
      } catch (error) {
        const rolledBack = this.failed(error);
        for (const s of statements) for (const op of s.ops) this.settleOp(op, false, rolledBack);
        return;
      }
      for (const [i, s] of statements.entries()) s.settle(results[prefix.length + i]!);
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
      if (member.outstanding === 0) this.busy--;
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

  /** The statement of a group of coalesced operations of one shape. */
  function build(batch: Batch, ops: CoalescedOp[]): Statement {
    switch (ops[0]!.kind) {
      case "get":
        return buildGet(batch, ops as GetOp[]);
      case "find":
        return buildFind(batch, ops as FindOp[]);
      case "insert":
        return buildInsert(batch, ops as InsertOp[]);
      case "update":
        return buildUpdate(batch, ops as UpdateOp[]);
    }
  }

  function buildGet(batch: Batch, ops: GetOp[]): Statement {
    const { table, lock } = ops[0]!;
    const pk = tableSpec(table).primaryKey;
    const keys = new Map<string, string>();
    for (const op of ops) keys.set(op.key, op.keyLiteral);
    const literals = [...keys.keys()].sort(byString).map((k) => keys.get(k)!);
    return {
      ops,
      text: `SELECT * FROM ${qualified(table)} WHERE ${quote(pk)} IN (${literals.join(", ")})${lock ? " FOR UPDATE" : ""}`,
      settle(result) {
        const byKey = new Map(result.rows.map((r) => [r[pk] as string, r]));
        for (const op of ops) batch.settleOp(op, true, byKey.get(op.key));
      },
    };
  }

  function buildFind(batch: Batch, ops: FindOp[]): Statement {
    const { table, columns, orderBy, limit, lock } = ops[0]!;
    const hasLimit = limit !== undefined;
    // The same input order in every process, so that locks are taken in the same order.
    const sorted = ops.length > 1 ? [...ops].sort((a, b) => byString(a.sortKey, b.sortKey)) : ops;
    const rows = sorted.map(
      (op, i) => `(${i + 1}, ${op.literals.join(", ")}${hasLimit ? `, ${op.limit}` : ""})`,
    );
    const names = ["ord", ...columns.map((_, i) => `c${i}`), ...(hasLimit ? ["lim"] : [])];
    const where = columns.map((c, i) => `${quote(c)} = q.c${i}`).join(" AND ");
    const sort = order(orderBy);
    const text =
      `SELECT q.ord AS "__ord", t.* FROM (VALUES ${rows.join(", ")}) AS q(${names.join(", ")}) ` +
      `CROSS JOIN LATERAL (SELECT * FROM ${qualified(table)} WHERE ${where}` +
      `${sort.length ? ` ORDER BY ${sort.join(", ")}` : ""}${hasLimit ? " LIMIT q.lim" : ""}${lock ? " FOR UPDATE" : ""}) AS t ` +
      `ORDER BY q.ord${sort.map((s) => `, t.${s}`).join("")}`;
    return {
      ops,
      text,
      settle(result) {
        const found = sorted.map(() => [] as SqlRow[]);
        for (const row of result.rows) found[Number(row.__ord) - 1]!.push(row);
        for (const [i, op] of sorted.entries()) batch.settleOp(op, true, found[i]);
      },
    };
  }

  function buildInsert(batch: Batch, ops: InsertOp[]): Statement {
    const { table, columns } = ops[0]!;
    const pk = tableSpec(table).primaryKey;
    // Rows in unique-key order, so that two processes' batches wait for each other in one order.
    const sorted = ops.length > 1 ? [...ops].sort((a, b) => byString(a.sortKey, b.sortKey)) : ops;
    const text =
      `INSERT INTO ${qualified(table)} (${columns.map(quote).join(", ")}) VALUES ` +
      `${sorted.map((op) => `(${op.literals.join(", ")})`).join(", ")} ON CONFLICT DO NOTHING RETURNING ${quote(pk)}`;
    return {
      ops,
      text,
      settle(result) {
        const inserted = new Set(result.rows.map((r) => r[pk] as string));
        for (const op of sorted) if (inserted.has(op.key)) batch.tracker.inserted(op.member, op.uniques);
        for (const op of sorted) {
          if (inserted.has(op.key)) {
            batch.settleOp(op, true, true);
            continue;
          }
          const reason = batch.tracker.refused(op.member, table, op.uniques);
          if (reason) batch.settleOp(op, false, batch.abort("conflict", reason));
          else batch.settleOp(op, true, false);
        }
      },
    };
  }

  function buildUpdate(batch: Batch, ops: UpdateOp[]): Statement {
    const { table, columns } = ops[0]!;
    const pk = tableSpec(table).primaryKey;
    const sorted = ops.length > 1 ? [...ops].sort((a, b) => byString(a.key, b.key)) : ops;
    const names = ["k", ...columns.map((_, i) => `c${i}`)];
    const text =
      `UPDATE ${qualified(table)} AS t SET ${columns.map((c, i) => `${quote(c)} = v.c${i}`).join(", ")} ` +
      `FROM (VALUES ${sorted.map((op) => `(${[op.keyLiteral, ...op.literals].join(", ")})`).join(", ")}) ` +
      `AS v(${names.join(", ")}) WHERE t.${quote(pk)} = v.k RETURNING t.${quote(pk)}`;
    return {
      ops,
      text,
      settle(result) {
        const updated = new Set(result.rows.map((r) => r[pk] as string));
        for (const op of sorted) batch.settleOp(op, true, updated.has(op.key));
      },
    };
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
    const enqueue = <R>(op: OpInput) => batch.enqueue<R>(member, op);
    // What is not coalesced goes through the shared SQL layer, one parameterized statement each.
    const plain = sqlTransaction(dialect, (query) => enqueue({ kind: "raw", query })).tx;
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
      return enqueue<SqlRow | undefined>({
        kind: "get",
        shape: `get:${table}:${lock}`,
        table,
        key,
        keyLiteral,
        lock,
      });
    };

    const tx: StoreTx = {
      async get(table, key, options) {
        check();
        tableSpec(table);
        const lock = Boolean(options?.lock);
        const keyLiteral = typeof key === "string" ? sqlLiteral(key, "text") : undefined;
        if (keyLiteral === undefined) {
          const row = await plain.get(table, key, options);
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
        const entries = Object.entries(where as Record<string, unknown>).filter(([, v]) => v !== undefined);
        const orderBy = (options?.orderBy ?? []) as FindOp["orderBy"];
        const limit = options?.limit;
        const literals: (string | undefined)[] = [];
        const coalesced =
          entries.length > 0 &&
          entries.every(([c, v]) => {
            const type = Object.hasOwn(spec.columns, c) ? spec.columns[c] : undefined;
            if (v === null || typeof v === "object" || type === undefined || type === "json") return false;
            const literal = sqlLiteral(encodeValue(dialect, type, v), sqlType(type));
            literals.push(literal);
            return literal !== undefined;
          }) &&
          orderBy.every((o) => Object.hasOwn(spec.columns, o.column)) &&
          (limit === undefined || (Number.isSafeInteger(limit) && limit >= 0));
        if (!coalesced) {
          const rows = await plain.find(table, where, options);
          check();
          track(table, rows, lock);
          return rows;
        }
        const columns = entries.map(([c]) => c);
        const rows = await enqueue<SqlRow[]>({
          kind: "find",
          shape: `find:${table}:${columns.join(",")}:${orderBy.map((o) => `${o.column} ${o.direction}`).join(",")}:${limit !== undefined}:${lock}`,
          table,
          columns,
          literals: literals as string[],
          orderBy,
          limit,
          lock,
          sortKey: JSON.stringify(literals),
        });
        check();
        track(table, rows, lock);
        return rows.map((r) => decodeRow(table, r)) as never;
      },
      async count(table, where) {
        check();
        tableSpec(table);
        fail(batch.tracker.count(member, table));
        return plain.count(table, where);
      },
      async insert(table, row) {
        check();
        const spec = tableSpec(table);
        const values = encodeRow(dialect, table, row as unknown as Record<string, unknown>);
        const key = values[spec.primaryKey];
        fail(batch.tracker.insert(member, table));
        batch.tracker.wrote(member, table);
        const columns = Object.keys(values);
        const literals = columns.map((c) => sqlLiteral(values[c], sqlType(spec.columns[c]!)));
        if (typeof key !== "string" || literals.some((l) => l === undefined)) {
          // Not coalesced: its own statement. Without a key to track, treat it as re-keying the table.
          if (typeof key === "string") fail(batch.tracker.own(member, table, key));
          else fail(batch.tracker.mutateUnique(member, table));
          const inserted = await plain.insert(table, row);
          const uniques = uniqueKeys(table, spec, values);
          if (inserted) batch.tracker.inserted(member, uniques);
          else fail(batch.tracker.refused(member, table, uniques));
          return inserted;
        }
        fail(batch.tracker.own(member, table, key));
        const firstUnique = spec.unique[0] ?? [];
        return enqueue<boolean>({
          kind: "insert",
          shape: `insert:${table}:${columns.join(",")}`,
          table,
          columns,
          literals: literals as string[],
          key,
          uniques: uniqueKeys(table, spec, values),
          sortKey: JSON.stringify([...firstUnique.map((c) => values[c] ?? null), key]),
        });
      },
      async update(table, key, patch) {
        check();
        const spec = tableSpec(table);
        const values = encodeRow(dialect, table, patch as Record<string, unknown>);
        const columns = Object.keys(values);
        const keyLiteral = typeof key === "string" ? sqlLiteral(key, "text") : undefined;
        if (keyLiteral !== undefined && columns.length === 0) {
          return (await get(table, key, keyLiteral, false)) !== undefined;
        }
        if (typeof key === "string") fail(batch.tracker.own(member, table, key));
        batch.tracker.wrote(member, table);
        const keyed = keyColumns(spec);
        if (typeof key !== "string" || columns.some((c) => keyed.has(c)))
          fail(batch.tracker.mutateUnique(member, table));
        const newKey = values[spec.primaryKey];
        if (typeof newKey === "string") fail(batch.tracker.own(member, table, newKey));
        const literals = columns.map((c) => sqlLiteral(values[c], sqlType(spec.columns[c]!)));
        if (keyLiteral === undefined || literals.some((l) => l === undefined)) {
          return plain.update(table, key, patch);
        }
        return enqueue<boolean>({
          kind: "update",
          shape: `update:${table}:${columns.join(",")}`,
          table,
          key,
          keyLiteral,
          columns,
          literals: literals as string[],
        });
      },
      async delete(table, key) {
        check();
        const spec = tableSpec(table);
        if (typeof key === "string") fail(batch.tracker.own(member, table, key));
        batch.tracker.wrote(member, table);
        if (spec.unique.length > 0 || typeof key !== "string")
          fail(batch.tracker.mutateUnique(member, table));
        return plain.delete(table, key);
      },
      async claim<T extends TableName>(table: T, options: ClaimOptions<TableRows[T]>) {
        check();
        const query = claimQuery(dialect, table, options as ClaimOptions<SqlRow>);
        batch.tracker.wrote(member, table);
        const { rows } = await enqueue<{ rows: SqlRow[] }>({ kind: "raw", query });
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
  function settleBatch(batch: Batch, ended: { error: unknown } | { command: string | null }) {
    const jobs = batch.members.map((m) => m.job);
    if (batch.aborted) {
      fallBack(jobs);
      return;
    }
    if ("error" in ended) {
      if (sqlState(ended.error)) {
        // Postgres answered: the transaction did not commit, so running the jobs again is safe.
        stats.rollbacks.error++;
        fallBack(jobs);
      } else {
        // The connection failed during COMMIT: the outcome is unknown, as for a solo transaction.
        for (const job of jobs) job.reject(ended.error);
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

  /** Sizes of recent batches (start time, jobs), to know how many jobs are worth waiting for. */
  const recent: [number, number][] = [];
  const RECENT_MS = 1000;
  /** How many jobs recent batches held (the most in the last second). */
  const expected = () => {
    const since = performance.now() - RECENT_MS;
    while (recent.length > 0 && recent[0]![0] < since) recent.shift();
    let most = 1;
    for (const [, size] of recent) most = Math.max(most, size);
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
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      connecting = false;
      lanes--;
      for (const job of queue.splice(0)) job.reject(error);
      return;
    }
    connecting = false;
    // A lane does not hog its client: when someone waits for a connection (a solo re-run, another
    // pool user), it gives it back after the batch and queues for a new one.
    while (queue.length > 0 && pool.waitingCount === 0) {
      await gather();
      const jobs = queue.splice(0, maxBatch);
      if (jobs.length === 0) break;
      lastStart = performance.now();
      recent.push([lastStart, jobs.length]);
      pump();
      const batch = new Batch(client, jobs);
      stats.batches++;
      stats.largestBatch = Math.max(stats.largestBatch, jobs.length);
      for (const member of batch.members) void runMember(batch, member);
      await batch.done;
      let ended: { error: unknown } | { command: string | null } = { command: "COMMIT" };
      if (batch.begun) {
        try {
          ended = { command: (await batch.query(batch.aborted ? "ROLLBACK" : "COMMIT")).command };
        } catch (error) {
          ended = { error };
        }
      }
      settleBatch(batch, ended);
      if ("error" in ended) {
        // The connection's state is unknown: it is closed instead of going back to the pool.
        client.release(asError(ended.error));
        lanes--;
        pump();
        return;
      }
    }
    client.release();
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
