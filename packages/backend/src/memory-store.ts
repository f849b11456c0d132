/**
 * `memoryStore()`: the store port in memory, with real transaction semantics (all or nothing,
 * serialized), unique constraints and claims. For tests, demos and the conformance suite's reference;
 * everything is lost when the process exits.
 */
import {
  type ClaimOptions,
  type Condition,
  type FindOptions,
  MIKA_SCHEMA,
  type MikaStore,
  StoreClosedError,
  type StoreTx,
  type TableName,
  type TableRows,
  type TableSpec,
} from "@mika/types";

type Row = Record<string, unknown>;

/** A memory store, plus a way to read back what it really holds (for conformance probes). */
export interface MemoryStore extends MikaStore {
  /** A copy of the stored row, bypassing the port. */
  rawRow(table: TableName, key: string): Row | undefined;
}

/**
 * A private copy of a row: scalar columns copied, JSON columns deep-cloned (so callers never share
 * state with the store, as with a real database).
 */
function clone<T>(value: T): T {
  if (value === undefined || value === null || typeof value !== "object") return value;
  const out = Object.assign({}, value) as Record<string, unknown>;
  for (const key in out) {
    const v = out[key];
    if (v !== null && typeof v === "object") out[key] = structuredClone(v);
  }
  return out as T;
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as number | string) < (b as number | string) ? -1 : 1;
}

function matches(value: unknown, condition: Condition<unknown>): boolean {
  const v = value ?? null;
  if (condition === null) return v === null;
  if (typeof condition === "object" && !Array.isArray(condition)) {
    const c = condition as Record<string, unknown>;
    if ("in" in c) return (c.in as unknown[]).some((x) => x === v);
    if ("ne" in c) return v !== (c.ne ?? null);
    if (["lt", "lte", "gt", "gte"].some((k) => k in c)) {
      if (v === null) return false;
      if ("lt" in c && !(compareValues(v, c.lt) < 0)) return false;
      if ("lte" in c && !(compareValues(v, c.lte) <= 0)) return false;
      if ("gt" in c && !(compareValues(v, c.gt) > 0)) return false;
      if ("gte" in c && !(compareValues(v, c.gte) >= 0)) return false;
      return true;
    }
  }
  return v === condition;
}

function whereMatches(row: Row, where: Record<string, unknown>): boolean {
  for (const [column, condition] of Object.entries(where)) {
    if (condition === undefined) continue;
    if (!matches(row[column], condition as Condition<unknown>)) return false;
  }
  return true;
}

/** Creates an in-memory store. */
export function memoryStore(): MemoryStore {
  const tables = new Map<TableName, Map<string, Row>>();
  for (const name of Object.keys(MIKA_SCHEMA.tables) as TableName[]) tables.set(name, new Map());
  let version = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const table = (name: TableName) => {
    const t = tables.get(name);
    if (!t) throw new Error(`memoryStore: no table ${String(name)}`);
    return t;
  };
  const spec = (name: TableName): TableSpec => MIKA_SCHEMA.tables[name];

  // Equality indexes over every unique constraint and declared index: column set → values → keys.
  const indexes = new Map<TableName, { columns: readonly string[]; map: Map<string, Set<string>> }[]>();
  for (const name of tables.keys()) {
    const s = spec(name);
    indexes.set(
      name,
      [...s.unique, ...s.indexes.map((index) => index.columns)].map((columns) => ({
        columns,
        map: new Map<string, Set<string>>(),
      })),
    );
  }
  const indexKey = (columns: readonly string[], row: Record<string, unknown>) =>
    JSON.stringify(columns.map((c) => row[c] ?? null));
  /** Writes (or with `undefined`, removes) a row, keeping the indexes in step. */
  const put = (name: TableName, key: string, row: Row | undefined) => {
    const rows = table(name);
    const before = rows.get(key);
    for (const index of indexes.get(name)!) {
      if (before) index.map.get(indexKey(index.columns, before))?.delete(key);
      if (row) {
        const k = indexKey(index.columns, row);
        const keys = index.map.get(k) ?? new Set<string>();
        keys.add(key);
        index.map.set(k, keys);
      }
    }
    if (row) rows.set(key, row);
    else rows.delete(key);
  };
  /** Rows that may match `where`: from an index when `where` pins all its columns to values, else all. */
  const candidates = (name: TableName, where: Record<string, unknown>): Iterable<Row> => {
    const rows = table(name);
    const isValue = (v: unknown) => v !== undefined && (v === null || typeof v !== "object");
    for (const index of indexes.get(name)!) {
      if (index.columns.every((c) => isValue(where[c]))) {
        const keys = index.map.get(indexKey(index.columns, where)) ?? new Set<string>();
        return [...keys].map((k) => rows.get(k)!).filter(Boolean);
      }
    }
    const pk = spec(name).primaryKey;
    if (isValue(where[pk])) {
      const row = rows.get(String(where[pk]));
      return row ? [row] : [];
    }
    return rows.values();
  };

  const conflicts = (name: TableName, row: Row, ignoreKey?: string) => {
    const tableIndexes = indexes.get(name)!;
    for (const columns of spec(name).unique) {
      if (columns.some((c) => row[c] === null || row[c] === undefined)) continue;
      const index = tableIndexes.find((i) => i.columns === columns)!;
      const keys = index.map.get(indexKey(columns, row));
      if (keys && [...keys].some((k) => k !== ignoreKey)) return true;
    }
    return false;
  };

  const select = (name: TableName, where: Record<string, unknown>, options: FindOptions<Row> = {}) => {
    let rows = [...candidates(name, where)].filter((r) => whereMatches(r, where));
    if (options.orderBy?.length) {
      rows.sort((a, b) => {
        for (const { column, direction } of options.orderBy!) {
          const c = compareValues(a[column], b[column]);
          if (c !== 0) return direction === "asc" ? c : -c;
        }
        return 0;
      });
    }
    if (options.limit !== undefined) rows = rows.slice(0, options.limit);
    return rows;
  };

  const makeTx = (undo: (() => void)[]): StoreTx => ({
    async get(name, key) {
      return clone(table(name).get(key)) as never;
    },
    async find(name, where, options) {
      return select(name, where as Record<string, unknown>, options as unknown as FindOptions<Row>).map(
        clone,
      ) as never;
    },
    async count(name, where) {
      return select(name, where as Record<string, unknown>).length;
    },
    async insert(name, row) {
      const s = spec(name);
      const r = clone(row) as unknown as Row;
      const key = r[s.primaryKey] as string;
      const rows = table(name);
      if (rows.has(key) || conflicts(name, r)) return false;
      for (const c of s.required) {
        if (r[c] === null || r[c] === undefined)
          throw new Error(`memoryStore: ${String(name)}.${c} is required`);
      }
      for (const c of Object.keys(s.columns)) if (r[c] === undefined) r[c] = null;
      put(name, key, r);
      undo.push(() => put(name, key, undefined));
      return true;
    },
    async update(name, key, patch) {
      const rows = table(name);
      const existing = rows.get(key);
      if (!existing) return false;
      const next = { ...existing, ...(clone(patch) as Row) };
      for (const c of spec(name).required) {
        if (next[c] === null || next[c] === undefined)
          throw new Error(`memoryStore: ${String(name)}.${c} is required`);
      }
      if (conflicts(name, next, key))
        throw new Error(`memoryStore: update of ${String(name)} ${key} violates a unique constraint`);
      put(name, key, next);
      undo.push(() => put(name, key, existing));
      return true;
    },
    async delete(name, key) {
      const rows = table(name);
      const existing = rows.get(key);
      if (!existing) return false;
      put(name, key, undefined);
      undo.push(() => put(name, key, existing));
      return true;
    },
    async claim<T extends TableName>(name: T, options: ClaimOptions<TableRows[T]>) {
      const due = select(name, options.where as Record<string, unknown>, {
        orderBy: [{ column: options.dueColumn, direction: "asc" }],
      }).filter(
        (r) =>
          (r[options.dueColumn] === null || (r[options.dueColumn] as number) <= options.now) &&
          (r.lease_until === null || (r.lease_until as number) <= options.now),
      );
      const claimed = due.slice(0, options.limit);
      for (const r of claimed) {
        const key = r[spec(name).primaryKey] as string;
        const next = { ...r, lease_until: options.now + options.leaseMs };
        put(name, key, next);
        undo.push(() => put(name, key, r));
      }
      return claimed.map((r) => clone({ ...r, lease_until: options.now + options.leaseMs })) as never;
    },
  });

  const store: MemoryStore = {
    name: "memory",
    async migrate() {
      if (closed) throw new StoreClosedError("memory");
      const from = version;
      version = MIKA_SCHEMA.version;
      return { from, to: version };
    },
    async schemaVersion() {
      if (closed) throw new StoreClosedError("memory");
      return version;
    },
    transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new StoreClosedError("memory"));
      const run = async () => {
        if (version === 0) version = MIKA_SCHEMA.version;
        const undo: (() => void)[] = [];
        try {
          return await fn(makeTx(undo));
        } catch (error) {
          for (const step of undo.reverse()) step();
          throw error;
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      closed = true;
    },
    rawRow(name, key) {
      return clone(table(name).get(key));
    },
  };
  return store;
}
