/**
 * In-batch isolation. The jobs of a batch share one Postgres transaction, so Postgres cannot keep
 * them apart: this tracker does. Every row a job locks or writes belongs to that job; every row a
 * job's reads return is recorded. A job that locks or writes a row another job of the batch locked,
 * wrote or read, or whose read returns a row another job locked or wrote, is a conflict: the batch
 * rolls back and its jobs run again one by one. Table-level rules cover what rows cannot: counting a
 * table another job wrote, inserting into a table where another job deleted rows or changed unique
 * columns, and an insert refused because of a row another job of the batch inserted.
 *
 * What is left is READ COMMITTED's own latitude (a read that does not return a row another job is
 * about to insert or has changed so that it no longer matches): as if that job ran first.
 */
import type { TableSpec } from "@mika/types";

/** Who a tracked access belongs to (a job of the batch). */
export type Owner = object;

/** The reason of a conflict, or undefined. */
export type Verdict = string | undefined;

const rowKey = (table: string, key: string) => `${table}\u0000${key}`;

/** Records the accesses of a batch's jobs; each method returns a conflict's reason or records the access. */
export class Tracker {
  /** Rows locked or written, by the job that did it. */
  private readonly owners = new Map<string, Owner>();
  /** Rows returned by unlocked reads: the job, or null once several jobs read it. */
  private readonly readers = new Map<string, Owner | null>();
  private readonly writers = new Map<string, Set<Owner>>();
  private readonly inserters = new Map<string, Set<Owner>>();
  /** Jobs that deleted rows or changed unique columns, so that a unique key may have been freed or taken. */
  private readonly uniqueMutators = new Map<string, Set<Owner>>();
  /** Unique keys (the primary key included) of rows inserted in this batch, by the inserting job. */
  private readonly uniques = new Map<string, Owner>();

  private static others(set: Set<Owner> | undefined, job: Owner): boolean {
    return set !== undefined && set.size > (set.has(job) ? 1 : 0);
  }

  private static add(map: Map<string, Set<Owner>>, table: string, job: Owner) {
    const set = map.get(table);
    if (set) set.add(job);
    else map.set(table, new Set([job]));
  }

  /** `job` locks or writes the row `table`/`key`. */
  own(job: Owner, table: string, key: string): Verdict {
    const k = rowKey(table, key);
    const owner = this.owners.get(k);
    if (owner !== undefined && owner !== job) return `two transactions lock or write ${table} ${key}`;
    const reader = this.readers.get(k);
    if (reader !== undefined && reader !== job)
      return `a transaction writes ${table} ${key}, read by another`;
    this.owners.set(k, job);
    return undefined;
  }

  /** `job` read the row `table`/`key` without locking it. */
  read(job: Owner, table: string, key: string): Verdict {
    const k = rowKey(table, key);
    const owner = this.owners.get(k);
    if (owner !== undefined && owner !== job)
      return `a transaction reads ${table} ${key}, locked or written by another`;
    const reader = this.readers.get(k);
    if (reader === undefined) this.readers.set(k, job);
    else if (reader !== job) this.readers.set(k, null);
    return undefined;
  }

  /** `job` writes rows of `table`. */
  wrote(job: Owner, table: string): void {
    Tracker.add(this.writers, table, job);
  }

  /** `job` counts rows of `table`: another job's uncommitted writes there would be counted. */
  count(job: Owner, table: string): Verdict {
    return Tracker.others(this.writers.get(table), job)
      ? `a transaction counts ${table}, written by another`
      : undefined;
  }

  /** `job` inserts into `table`. */
  insert(job: Owner, table: string): Verdict {
    if (Tracker.others(this.uniqueMutators.get(table), job))
      return `a transaction inserts into ${table}, where another deleted rows or changed unique keys`;
    Tracker.add(this.inserters, table, job);
    return undefined;
  }

  /** `job` deletes rows of `table`, or changes their unique columns. */
  mutateUnique(job: Owner, table: string): Verdict {
    if (Tracker.others(this.inserters.get(table), job))
      return `a transaction deletes or re-keys ${table} rows, where another inserts`;
    Tracker.add(this.uniqueMutators, table, job);
    return undefined;
  }

  /** `job`'s insert went in: its unique keys are taken by it. */
  inserted(job: Owner, uniques: readonly string[]): void {
    for (const u of uniques) this.uniques.set(u, job);
  }

  /** `job`'s insert was refused: a conflict when the row in its way is another job's, uncommitted. */
  refused(job: Owner, table: string, uniques: readonly string[]): Verdict {
    for (const u of uniques) {
      const owner = this.uniques.get(u);
      if (owner !== undefined && owner !== job)
        return `a transaction's ${table} insert is refused by another's uncommitted row`;
    }
    return undefined;
  }
}

/** The unique keys of a row (primary key first) as strings; a key with a NULL never conflicts. */
export function uniqueKeys(table: string, spec: TableSpec, values: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const columns of [[spec.primaryKey], ...spec.unique]) {
    const tuple = columns.map((c) => values[c] ?? null);
    if (tuple.some((v) => v === null)) continue;
    out.push(`${table}\u0000${columns.join(",")}\u0000${JSON.stringify(tuple)}`);
  }
  return out;
}

/** The columns that take part in the primary key or a unique constraint. */
export function keyColumns(spec: TableSpec): Set<string> {
  return new Set([spec.primaryKey, ...spec.unique.flat()]);
}
