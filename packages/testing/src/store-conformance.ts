/**
 * The store conformance suite: one call that every store's tests make. It drives each port method,
 * every `Condition` form, rollback, uniqueness and claiming under concurrency, and reads back through
 * a probe (raw SQL for SQL stores) what was really stored. The checks are also available as data
 * ({@link storeConformanceChecks}) so the suite can be shown to fail against broken stores.
 */
import { ok as assert, deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import {
  type ColumnType,
  type EventRow,
  isStoreClosedError,
  MIKA_SCHEMA,
  type MikaStore,
  type StoreTx,
  type TableName,
  type TableRows,
  type TableSpec,
} from "@mika/types";
import type { ConformanceCheck } from "./provider-conformance.js";

/** Reads what a store really holds, bypassing the port. */
export interface StoreProbe<S extends MikaStore = MikaStore> {
  /**
   * The stored row with this primary key as the storage holds it (SQL stores: `SELECT *` through their
   * own connection; booleans may come back as `0`/`1`, timestamps as numeric strings, json as text),
   * or undefined when there is none. `store` is the store the check made. It is also called after
   * the store was closed, so it must not read through the store's own connection.
   */
  row(
    table: TableName,
    key: string,
    store: S,
  ): Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;
  /**
   * How `row` gives `json` columns: `"text"` (default), the stored JSON text, as SQL stores hold it;
   * `"value"`, the parsed value (an in-memory store).
   */
  json?: "text" | "value";
}

/** Options of {@link runStoreConformance}. */
export interface StoreConformanceOptions<S extends MikaStore = MikaStore> {
  /** Returns a fresh, empty store (never migrated). Each check makes its own and closes it. */
  makeStore(): S | Promise<S>;
  /** Reads back what was really stored. */
  probe: StoreProbe<S>;
  /** Checks to skip, each with the reason (shown in the test title). */
  skip?: Readonly<Record<string, string>>;
}

/** U+0000 and lone UTF-16 surrogates: what strict Unicode text (Postgres) cannot hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is one of the characters it finds
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `value` with every U+0000 and lone surrogate in its strings (object keys included) as U+FFFD. */
function strictUnicode<T>(value: T): T {
  if (typeof value === "string") return value.replace(UNSTORABLE, "\ufffd") as T;
  if (Array.isArray(value)) return value.map(strictUnicode) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k.replace(UNSTORABLE, "\ufffd"), strictUnicode(v)]),
    ) as T;
  }
  return value;
}

const tables = MIKA_SCHEMA.tables as unknown as Record<TableName, TableSpec>;
const tableNames = Object.keys(tables) as TableName[];
const BASE_TIME = 1_700_000_000_000;

/**
 * A full row of `table` built from the schema: every column set, values derived from `seed` (text
 * `<column>-<seed>`, integers, alternating booleans, timestamps, a json object).
 */
export function sampleRow<T extends TableName>(
  table: T,
  seed: number,
  overrides: Partial<TableRows[T]> = {},
): TableRows[T] {
  const row: Record<string, unknown> = {};
  for (const [column, type] of Object.entries(tables[table].columns)) {
    row[column] = sampleValue(type, column, seed);
  }
  return { ...row, ...overrides } as unknown as TableRows[T];
}

function sampleValue(type: ColumnType, column: string, seed: number): unknown {
  switch (type) {
    case "text":
      return `${column}-${seed}`;
    case "integer":
      return seed * 7 + column.length;
    case "boolean":
      return seed % 2 === 0;
    case "timestamp":
      return BASE_TIME + seed * 1000 + column.length;
    case "json":
      return { seed, column, list: [1, "two", null, { nested: true }] };
  }
}

/** Normalizes a raw stored value to the port's value for comparison (0/1 → boolean, text json → parsed). */
function normalizeStored(type: ColumnType, value: unknown, json: "text" | "value" = "text"): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "boolean":
      if (value === 1 || value === 1n || value === true) return true;
      if (value === 0 || value === 0n || value === false) return false;
      return value;
    case "integer":
    case "timestamp":
      return typeof value === "string" || typeof value === "bigint" ? Number(value) : value;
    case "json":
      if (json === "value") return value;
      assert(typeof value === "string", `the probe must give json columns as text, got ${typeof value}`);
      return JSON.parse(value);
    default:
      return value;
  }
}

const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id).sort();
const eventRow = (seed: number, overrides: Partial<EventRow> = {}) =>
  sampleRow("events", seed, { id: `evt-${seed}`, provider: "p", event_id: `e-${seed}`, ...overrides });

/** Builds the list of checks for a store. */
export function storeConformanceChecks<S extends MikaStore>(
  options: StoreConformanceOptions<S>,
): ConformanceCheck[] {
  const { makeStore, probe } = options;

  const withStore = async (fn: (store: S) => Promise<void>) => {
    const store = await makeStore();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
  const tx = <T>(store: S, fn: (tx: StoreTx) => Promise<T>) => store.transaction(fn);
  /** Asserts that the probe holds exactly `expected` for `table`/`key`, column by column. */
  const expectStored = async (
    store: S,
    table: TableName,
    expected: Record<string, unknown>,
    what: string,
  ) => {
    const spec = tables[table];
    const key = expected[spec.primaryKey] as string;
    const raw = await probe.row(table, key, store);
    assert(raw, `${what}: the probe finds no ${table} row ${key}`);
    for (const [column, type] of Object.entries(spec.columns)) {
      deepStrictEqual(
        normalizeStored(type, raw[column], probe.json),
        expected[column] ?? null,
        `${what}: stored ${table}.${column} (raw ${JSON.stringify(raw[column])})`,
      );
    }
  };
  const expectAbsent = async (store: S, table: TableName, key: string, what: string) => {
    strictEqual(
      await probe.row(table, key, store),
      undefined,
      `${what}: ${table} row ${key} must not be stored`,
    );
  };
  /** Seeds events for the query checks. */
  const seedEvents = async (store: S) => {
    const rows = [
      eventRow(1, { status: "failed", attempts: 1, next_attempt_at: BASE_TIME + 10, livemode: true }),
      eventRow(2, { status: "failed", attempts: 3, next_attempt_at: BASE_TIME + 20, livemode: false }),
      eventRow(3, { status: "processed", attempts: 0, next_attempt_at: null, livemode: false }),
      eventRow(4, { status: "pending", attempts: 5, next_attempt_at: null, parked_reason: "order-unknown" }),
      eventRow(5, { status: "pending", attempts: 2, next_attempt_at: BASE_TIME + 30, parked_reason: null }),
    ];
    await tx(store, async (t) => {
      for (const row of rows) assert(await t.insert("events", row), `seed insert ${row.id}`);
    });
    return rows;
  };

  const checks: ConformanceCheck[] = [
    {
      name: "a fresh store is at schema version 0; migrate() creates the schema and is idempotent",
      async run() {
        await withStore(async (store) => {
          strictEqual(await store.schemaVersion(), 0, "schemaVersion before any migration");
          deepStrictEqual(await store.migrate(), { from: 0, to: MIKA_SCHEMA.version }, "first migrate()");
          strictEqual(await store.schemaVersion(), MIKA_SCHEMA.version, "schemaVersion after migrate()");
          deepStrictEqual(
            await store.migrate(),
            { from: MIKA_SCHEMA.version, to: MIKA_SCHEMA.version },
            "second migrate() has nothing to do",
          );
        });
      },
    },
    {
      name: "concurrent migrate() calls all succeed and end at the schema version",
      async run() {
        await withStore(async (store) => {
          const results = await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
          for (const result of results) strictEqual(result.to, MIKA_SCHEMA.version);
          strictEqual(results.filter((r) => r.from === 0).length, 1, "exactly one call migrated from 0");
        });
      },
    },
    {
      name: "the first transaction migrates the store",
      async run() {
        await withStore(async (store) => {
          const count = await tx(store, (t) => t.count("events", {}));
          strictEqual(count, 0, "a fresh store is empty");
          strictEqual(await store.schemaVersion(), MIKA_SCHEMA.version);
        });
      },
    },
    {
      name: "insert + get round-trip a full row of every table, and the probe holds the same values",
      async run() {
        await withStore(async (store) => {
          for (const [index, table] of tableNames.entries()) {
            const row = sampleRow(table, index + 1);
            strictEqual(await tx(store, (t) => t.insert(table, row)), true, `insert into ${table}`);
            const back = await tx(store, (t) => t.get(table, (row as { id: string }).id));
            deepStrictEqual(back, row, `get from ${table}`);
            await expectStored(store, table, row as unknown as Record<string, unknown>, table);
          }
          strictEqual(await tx(store, (t) => t.get("events", "no-such-id")), undefined, "missing key");
        });
      },
    },
    {
      name: "values round-trip: booleans, json objects/arrays/null/scalars, large timestamps, unicode text",
      async run() {
        await withStore(async (store) => {
          const unicode = 'ünïcødé ✓ 日本語 emoji 🧾💳 \u00a0\u2028 quote\' "double" back\\slash';
          const cases: [Partial<TableRows["orders"]>, string][] = [
            [
              { livemode: true, lines: [{ sku: "a", qty: 2 }, { sku: "b" }], metadata: null },
              "true, array, null",
            ],
            [
              { livemode: false, lines: [], metadata: { deep: { list: [1, 2.5, -3], t: true, n: null } } },
              "false",
            ],
            [{ lines: "just a string", metadata: 42 }, "json scalars"],
            [{ lines: { [unicode]: unicode }, customer_name: unicode, url: "" }, "unicode, empty string"],
            [{ expires_at: 8_640_000_000_000_000, paid_at: 0, checked_at: 1 }, "largest Date, zero"],
            [{ amount: Number.MAX_SAFE_INTEGER, refunded_amount: 0 }, "largest safe integer"],
            [{ amount: null, currency: null, expires_at: null, lines: null }, "nulls"],
          ];
          for (const [index, [overrides, what]] of cases.entries()) {
            const row = sampleRow("orders", index, { id: `ord-${index}`, ...overrides });
            strictEqual(await tx(store, (t) => t.insert("orders", row)), true, `insert ${what}`);
            deepStrictEqual(await tx(store, (t) => t.get("orders", row.id)), row, `get ${what}`);
            await expectStored(store, "orders", row as unknown as Record<string, unknown>, what);
          }
        });
      },
    },
    {
      name: "a string holding U+0000 or a lone surrogate is stored, as it is or (where text must be strict Unicode) with U+FFFD instead, and found, updated and deleted by the same value",
      async run() {
        await withStore(async (store) => {
          const nul = "Ada\u0000Lovelace";
          // Lone surrogates only inside JSON: drivers write a text column's as U+FFFD themselves.
          const row = sampleRow("orders", 90, {
            id: "ord\u0000nul",
            customer_name: nul,
            // an escaped backslash before "u0000" is text, not a NUL: it must come back unchanged
            lines: { "key\u0000": [nul, "\u0000\u0000", "\udc00 alone"], text: "back\\u0000slash" },
            metadata: { tail: "\\\u0000", emoji: "🧾 whole, Ad\ud83d cut" },
          });
          strictEqual(await tx(store, (t) => t.insert("orders", row)), true, "insert");
          const back = await tx(store, (t) => t.get("orders", row.id));
          assert(
            isDeepStrictEqual(back, row) || isDeepStrictEqual(back, strictUnicode(row)),
            `get returns the row as written, or with U+FFFD for each U+0000 and lone surrogate; got ${JSON.stringify(back)}`,
          );
          await expectStored(store, "orders", back as unknown as Record<string, unknown>, "row with U+0000");
          const found = await tx(store, (t) => t.find("orders", { customer_name: nul }));
          deepStrictEqual(
            found.map((o) => o.id),
            [back!.id],
            "find by the string with U+0000",
          );
          strictEqual(
            await tx(store, (t) => t.update("orders", row.id, { status: "paid" })),
            true,
            "update by the key with U+0000",
          );
          strictEqual((await tx(store, (t) => t.get("orders", row.id)))?.status, "paid", "get after update");
          strictEqual(
            await tx(store, (t) => t.delete("orders", row.id)),
            true,
            "delete by the key with U+0000",
          );
          strictEqual(await tx(store, (t) => t.get("orders", row.id)), undefined, "gone after delete");
        });
      },
    },
    {
      name: "insert returns false and writes nothing on a primary-key conflict",
      async run() {
        await withStore(async (store) => {
          const first = eventRow(1);
          strictEqual(await tx(store, (t) => t.insert("events", first)), true);
          const clash = eventRow(2, { id: first.id });
          strictEqual(await tx(store, (t) => t.insert("events", clash)), false, "same primary key");
          await expectStored(
            store,
            "events",
            first as unknown as Record<string, unknown>,
            "the first row is kept",
          );
        });
      },
    },
    {
      name: "insert returns false and writes nothing on each unique constraint; NULLs never conflict",
      async run() {
        await withStore(async (store) => {
          for (const table of tableNames) {
            for (const columns of tables[table].unique) {
              const first = sampleRow(table, 1, { id: `${table}-a` } as never);
              const same: Record<string, unknown> = { id: `${table}-b` };
              for (const c of columns) same[c] = (first as unknown as Record<string, unknown>)[c];
              const second = sampleRow(table, 2, same as never);
              strictEqual(await tx(store, (t) => t.insert(table, first)), true, `${table}: first insert`);
              strictEqual(
                await tx(store, (t) => t.insert(table, second)),
                false,
                `${table}: a second row with the same (${columns.join(", ")}) must be refused`,
              );
              await expectAbsent(store, table, `${table}-b`, `${table} unique (${columns.join(", ")})`);
              await tx(store, (t) => t.delete(table, `${table}-a`));
            }
          }
          // orders.(provider, provider_checkout_id) with a NULL checkout id: SQL semantics, no conflict.
          const a = sampleRow("orders", 1, { id: "null-a", provider_checkout_id: null });
          const b = sampleRow("orders", 2, {
            id: "null-b",
            provider: a.provider,
            provider_checkout_id: null,
          });
          strictEqual(await tx(store, (t) => t.insert("orders", a)), true);
          strictEqual(
            await tx(store, (t) => t.insert("orders", b)),
            true,
            "NULL in a unique column never conflicts",
          );
        });
      },
    },
    {
      name: "insert rejects a row missing a required column",
      async run() {
        await withStore(async (store) => {
          const row = eventRow(1, { status: null as never });
          let failed = false;
          try {
            await tx(store, (t) => t.insert("events", row));
          } catch {
            failed = true;
          }
          assert(failed, "inserting events.status = null must throw");
          await expectAbsent(store, "events", row.id, "the invalid row");
        });
      },
    },
    {
      name: "update rejects null for a required column and changes nothing",
      async run() {
        await withStore(async (store) => {
          const row = eventRow(1);
          await tx(store, (t) => t.insert("events", row));
          let failed = false;
          try {
            await tx(store, (t) => t.update("events", row.id, { status: null as never, attempts: 9 }));
          } catch {
            failed = true;
          }
          assert(failed, "updating events.status to null must throw");
          await expectStored(store, "events", row as unknown as Record<string, unknown>, "the row as it was");
        });
      },
    },
    {
      name: "update patches only the given columns and returns whether the row exists",
      async run() {
        await withStore(async (store) => {
          const row = eventRow(1, { status: "failed", last_error: "boom" });
          await tx(store, (t) => t.insert("events", row));
          const patch = {
            status: "processed",
            last_error: null,
            attempts: 4,
            event: { after: [1] },
            livemode: true,
          };
          strictEqual(
            await tx(store, (t) => t.update("events", row.id, patch as never)),
            true,
            "existing row",
          );
          const expected = { ...row, ...patch };
          deepStrictEqual(await tx(store, (t) => t.get("events", row.id)), expected);
          await expectStored(store, "events", expected as unknown as Record<string, unknown>, "after update");
          strictEqual(
            await tx(store, (t) => t.update("events", "missing", { attempts: 1 })),
            false,
            "missing row",
          );
          await expectAbsent(store, "events", "missing", "update of a missing row");
        });
      },
    },
    {
      name: "delete removes the row and returns whether it existed",
      async run() {
        await withStore(async (store) => {
          const row = eventRow(1);
          await tx(store, (t) => t.insert("events", row));
          strictEqual(await tx(store, (t) => t.delete("events", row.id)), true, "existing row");
          await expectAbsent(store, "events", row.id, "deleted row");
          strictEqual(await tx(store, (t) => t.delete("events", row.id)), false, "already deleted");
        });
      },
    },
    {
      name: "find supports every condition form: value, null, in, ne, lt/lte/gt/gte, AND of columns",
      async run() {
        await withStore(async (store) => {
          await seedEvents(store);
          const cases: [Record<string, unknown>, string[], string][] = [
            [{}, ["evt-1", "evt-2", "evt-3", "evt-4", "evt-5"], "empty where"],
            [{ status: "failed" }, ["evt-1", "evt-2"], "equality"],
            [{ livemode: false }, ["evt-2", "evt-3", "evt-5"], "boolean equality"],
            [{ livemode: true }, ["evt-1", "evt-4"], "boolean equality (true)"],
            [{ next_attempt_at: null }, ["evt-3", "evt-4"], "null"],
            [{ status: { in: ["processed", "pending"] } }, ["evt-3", "evt-4", "evt-5"], "in"],
            [{ status: { in: [] } }, [], "empty in"],
            [{ status: { ne: "failed" } }, ["evt-3", "evt-4", "evt-5"], "ne"],
            [
              { parked_reason: { ne: "order-unknown" } },
              ["evt-1", "evt-2", "evt-3", "evt-5"],
              "ne matches NULL",
            ],
            [{ next_attempt_at: { ne: null } }, ["evt-1", "evt-2", "evt-5"], "ne null"],
            [{ attempts: { lt: 2 } }, ["evt-1", "evt-3"], "lt"],
            [{ attempts: { lte: 2 } }, ["evt-1", "evt-3", "evt-5"], "lte"],
            [{ attempts: { gt: 2 } }, ["evt-2", "evt-4"], "gt"],
            [{ attempts: { gte: 3 } }, ["evt-2", "evt-4"], "gte"],
            [{ attempts: { gt: 0, lt: 5 } }, ["evt-1", "evt-2", "evt-5"], "gt + lt"],
            [{ next_attempt_at: { lte: BASE_TIME + 20 } }, ["evt-1", "evt-2"], "range never matches NULL"],
            [{ status: "pending", attempts: { gte: 3 } }, ["evt-4"], "AND of two columns"],
            [
              { status: "failed", livemode: true, next_attempt_at: { lt: BASE_TIME + 15 } },
              ["evt-1"],
              "AND of three",
            ],
          ];
          for (const [where, expected, what] of cases) {
            const rows = await tx(store, (t) => t.find("events", where as never));
            deepStrictEqual(ids(rows), expected, `find ${what}: ${JSON.stringify(where)}`);
            strictEqual(
              await tx(store, (t) => t.count("events", where as never)),
              expected.length,
              `count ${what}: ${JSON.stringify(where)}`,
            );
          }
          const full = await tx(store, (t) => t.find("events", { id: "evt-4" }));
          deepStrictEqual(full, [
            eventRow(4, {
              status: "pending",
              attempts: 5,
              next_attempt_at: null,
              parked_reason: "order-unknown",
            }),
          ]);
        });
      },
    },
    {
      name: "find sorts by several keys in both directions and honours limit",
      async run() {
        await withStore(async (store) => {
          await seedEvents(store);
          const by = async (
            orderBy: { column: keyof EventRow & string; direction: "asc" | "desc" }[],
            limit?: number,
          ) =>
            (
              await tx(store, (t) =>
                t.find("events", {}, { orderBy, ...(limit === undefined ? {} : { limit }) }),
              )
            ).map((r) => r.id);
          deepStrictEqual(await by([{ column: "attempts", direction: "asc" }]), [
            "evt-3",
            "evt-1",
            "evt-5",
            "evt-2",
            "evt-4",
          ]);
          deepStrictEqual(await by([{ column: "attempts", direction: "desc" }]), [
            "evt-4",
            "evt-2",
            "evt-5",
            "evt-1",
            "evt-3",
          ]);
          deepStrictEqual(
            await by([
              { column: "status", direction: "desc" },
              { column: "attempts", direction: "asc" },
            ]),
            ["evt-3", "evt-5", "evt-4", "evt-1", "evt-2"],
          );
          deepStrictEqual(
            await by([{ column: "attempts", direction: "desc" }], 2),
            ["evt-4", "evt-2"],
            "limit 2",
          );
          deepStrictEqual(await by([{ column: "attempts", direction: "desc" }], 0), [], "limit 0");
          strictEqual(
            (await tx(store, (t) => t.find("events", { status: "failed" }, { limit: 1 }))).length,
            1,
          );
        });
      },
    },
    {
      name: "text compares by code point in range conditions and orderBy, whatever the database's collation",
      async run() {
        await withStore(async (store) => {
          // Punctuation, case and accents are where a linguistic collation (ICU, glibc's en_US) departs
          // from code point order: under one, "run;" sorts before "run:" and "B" after "a".
          const keys = [
            "run:0:on:x",
            "run:1:b",
            "run;x",
            "run-a",
            "runa",
            "Run:b",
            "run:B",
            "run",
            "run:é",
            "run9",
          ];
          await tx(store, async (t) => {
            for (const [i, id] of keys.entries()) await t.insert("events", eventRow(i, { id }));
          });
          const byCodePoint = (a: string, b: string) => {
            const [x, y] = [[...a], [...b]];
            for (let i = 0; i < Math.min(x.length, y.length); i++) {
              const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
              if (d !== 0) return d;
            }
            return x.length - y.length;
          };
          const sorted = [...keys].sort(byCodePoint);
          const found = async (where: Record<string, unknown>, direction: "asc" | "desc" = "asc") =>
            (
              await tx(store, (t) =>
                t.find("events", where as never, { orderBy: [{ column: "id", direction }] }),
              )
            ).map((r) => r.id);
          deepStrictEqual(await found({}), sorted, "orderBy id asc is code point order");
          deepStrictEqual(await found({}, "desc"), [...sorted].reverse(), "orderBy id desc");
          deepStrictEqual(
            await found({ id: { gte: "run:", lt: "run;" } }),
            ["run:0:on:x", "run:1:b", "run:B", "run:é"],
            'the key range ["run:", "run;") holds exactly the keys that start with "run:"',
          );
          deepStrictEqual(await found({ id: { lt: "run" } }), ["Run:b"], "lt: upper case sorts first");
          deepStrictEqual(await found({ id: { gt: "run:é" } }), ["run;x", "runa"], "gt: é sorts after ASCII");
        });
      },
    },
    {
      name: "get and find accept lock: true and return the same rows",
      async run() {
        await withStore(async (store) => {
          await seedEvents(store);
          await tx(store, async (t) => {
            deepStrictEqual(await t.get("events", "evt-2", { lock: true }), await t.get("events", "evt-2"));
            deepStrictEqual(ids(await t.find("events", { status: "failed" }, { lock: true })), [
              "evt-1",
              "evt-2",
            ]);
            deepStrictEqual(
              (
                await t.find(
                  "events",
                  {},
                  { lock: true, limit: 2, orderBy: [{ column: "attempts", direction: "asc" }] },
                )
              ).map((r) => r.id),
              ["evt-3", "evt-1"],
            );
          });
        });
      },
    },
    {
      name: "a transaction sees its own writes, and a throw rolls all of them back and rethrows",
      async run() {
        await withStore(async (store) => {
          await seedEvents(store);
          const boom = new Error("boom");
          let caught: unknown;
          try {
            await store.transaction(async (t) => {
              assert(await t.insert("events", eventRow(9)), "insert inside");
              assert(
                await t.update("events", "evt-1", { status: "processed", attempts: 99 }),
                "update inside",
              );
              assert(await t.delete("events", "evt-2"), "delete inside");
              strictEqual((await t.get("events", "evt-9"))?.id, "evt-9", "own insert visible");
              strictEqual((await t.get("events", "evt-1"))?.attempts, 99, "own update visible");
              strictEqual(await t.get("events", "evt-2"), undefined, "own delete visible");
              strictEqual(await t.count("events", {}), 5, "count sees own writes");
              throw boom;
            });
          } catch (error) {
            caught = error;
          }
          strictEqual(caught, boom, "transaction() rethrows the function's own error");
          await expectAbsent(store, "events", "evt-9", "rolled-back insert");
          const one = await probe.row("events", "evt-1", store);
          strictEqual(normalizeStored("integer", one?.attempts), 1, "rolled-back update");
          strictEqual(normalizeStored("text", one?.status), "failed", "rolled-back update");
          assert(await probe.row("events", "evt-2", store), "rolled-back delete: the row is still stored");
          strictEqual(await tx(store, (t) => t.count("events", {})), 5);
        });
      },
    },
    {
      name: "a throw rolls back several writes to one row, a delete then re-insert, and a claim, whatever is thrown",
      async run() {
        await withStore(async (store) => {
          const now = BASE_TIME + 1_000_000;
          const one = eventRow(1, {
            status: "failed",
            attempts: 1,
            next_attempt_at: now - 10,
            lease_until: null,
          });
          const two = eventRow(2, {
            status: "failed",
            attempts: 4,
            next_attempt_at: null,
            lease_until: null,
          });
          const three = eventRow(3, { status: "failed", next_attempt_at: now - 5, lease_until: null });
          await tx(store, async (t) => {
            await t.insert("events", one);
            await t.insert("events", two);
            await t.insert("events", three);
          });
          // a plain Error, and what else JavaScript lets a function throw
          for (const thrown of [new Error("boom"), "a string", undefined]) {
            let caught: unknown = "nothing";
            try {
              await store.transaction(async (t) => {
                await t.insert("events", eventRow(9));
                await t.update("events", "evt-9", { attempts: 7 });
                await t.update("events", "evt-1", { attempts: 2 });
                await t.update("events", "evt-1", { attempts: 3, status: "processed" });
                await t.delete("events", "evt-2");
                await t.insert("events", eventRow(2, { status: "processed" }));
                const claimFailed = () =>
                  t.claim("events", {
                    where: { status: "failed" },
                    dueColumn: "next_attempt_at",
                    now,
                    leaseMs: 60_000,
                    limit: 5,
                  });
                deepStrictEqual(
                  ids(await claimFailed()),
                  ["evt-3"],
                  "rows updated to processed are not claimed",
                );
                await t.update("events", "evt-1", { status: "failed" });
                deepStrictEqual(
                  ids(await claimFailed()),
                  ["evt-1"],
                  "a row leased earlier in the transaction is skipped",
                );
                throw thrown;
              });
            } catch (error) {
              caught = error;
            }
            strictEqual(caught, thrown, `transaction() rethrows what was thrown (${String(thrown)})`);
            await expectAbsent(store, "events", "evt-9", `inserted then updated (${String(thrown)})`);
            await expectStored(
              store,
              "events",
              one as unknown as Record<string, unknown>,
              "updated twice, then claimed",
            );
            await expectStored(
              store,
              "events",
              two as unknown as Record<string, unknown>,
              "deleted, then re-inserted",
            );
            await expectStored(store, "events", three as unknown as Record<string, unknown>, "claimed only");
          }
        });
      },
    },
    {
      name: "an insert refused on a conflict keeps the transaction's other writes",
      async run() {
        await withStore(async (store) => {
          const results = await tx(store, async (t) => [
            await t.insert("events", eventRow(1)),
            await t.insert("events", eventRow(1, { status: "ignored" })),
            await t.insert("events", eventRow(2)),
          ]);
          deepStrictEqual(results, [true, false, true], "insert, refused duplicate, insert");
          await expectStored(
            store,
            "events",
            eventRow(1) as unknown as Record<string, unknown>,
            "before the conflict",
          );
          await expectStored(
            store,
            "events",
            eventRow(2) as unknown as Record<string, unknown>,
            "after the conflict",
          );
        });
      },
    },
    {
      name: "transaction() returns the function's value and commits its writes",
      async run() {
        await withStore(async (store) => {
          const result = await store.transaction(async (t) => {
            await t.insert("stock", { id: "sku-1", on_hand: 3, updated_at: BASE_TIME });
            return { answer: 42 };
          });
          deepStrictEqual(result, { answer: 42 });
          await expectStored(store, "stock", { id: "sku-1", on_hand: 3, updated_at: BASE_TIME }, "committed");
        });
      },
    },
    {
      name: "close() lets a begun transaction commit; then migrate, schemaVersion and transaction reject with StoreClosedError",
      async run() {
        await withStore(async (store) => {
          await store.migrate();
          const begun = store
            .transaction(async (t) => {
              await t.insert("stock", { id: "sku-1", on_hand: 3, updated_at: BASE_TIME });
              return "committed";
            })
            .catch((error: unknown) => error);
          await store.close();
          strictEqual(await begun, "committed", "a transaction begun before close() settles with its value");
          await expectStored(
            store,
            "stock",
            { id: "sku-1", on_hand: 3, updated_at: BASE_TIME },
            "begun before close()",
          );
          await store.close();
          const calls: [string, () => Promise<unknown>][] = [
            ["migrate()", () => store.migrate()],
            ["schemaVersion()", () => store.schemaVersion()],
            ["transaction()", () => store.transaction(async () => "ran")],
          ];
          for (const [what, call] of calls) {
            await rejects(call, (error) => {
              assert(
                isStoreClosedError(error),
                `${what} after close() rejects with a StoreClosedError: ${error}`,
              );
              return true;
            });
          }
        });
      },
    },
    {
      name: "20 concurrent transactions inserting the same (provider, event_id): exactly one wins",
      async run() {
        await withStore(async (store) => {
          await store.migrate();
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              store.transaction((t) =>
                t.insert("events", eventRow(i, { provider: "stripe", event_id: "evt_same" })),
              ),
            ),
          );
          strictEqual(results.filter(Boolean).length, 1, `exactly one insert returns true (got ${results})`);
          strictEqual(
            await tx(store, (t) => t.count("events", { provider: "stripe", event_id: "evt_same" })),
            1,
          );
          const winner = results.indexOf(true);
          await expectStored(
            store,
            "events",
            eventRow(winner, { provider: "stripe", event_id: "evt_same" }) as unknown as Record<
              string,
              unknown
            >,
            "the winner",
          );
        });
      },
    },
    {
      name: "concurrent read-modify-write with lock: true loses no update",
      async run() {
        await withStore(async (store) => {
          await tx(store, (t) => t.insert("stock", { id: "sku", on_hand: 0, updated_at: BASE_TIME }));
          await Promise.all(
            Array.from({ length: 10 }, () =>
              store.transaction(async (t) => {
                const row = await t.get("stock", "sku", { lock: true });
                await t.update("stock", "sku", { on_hand: row!.on_hand + 1 });
              }),
            ),
          );
          strictEqual(normalizeStored("integer", (await probe.row("stock", "sku", store))?.on_hand), 10);
        });
      },
    },
    {
      name: "a throwing transaction among concurrent ones does not affect the others",
      async run() {
        await withStore(async (store) => {
          await store.migrate();
          const settled = await Promise.allSettled(
            Array.from({ length: 12 }, (_, i) =>
              store.transaction(async (t) => {
                await t.insert("events", eventRow(i));
                if (i % 3 === 1) throw new Error(`fail ${i}`);
                return i;
              }),
            ),
          );
          for (const [i, outcome] of settled.entries()) {
            if (i % 3 === 1) {
              assert(outcome.status === "rejected", `transaction ${i} must reject`);
              strictEqual((outcome.reason as Error).message, `fail ${i}`);
              await expectAbsent(store, "events", `evt-${i}`, `failed transaction ${i}`);
            } else {
              deepStrictEqual(outcome, { status: "fulfilled", value: i });
              assert(await probe.row("events", `evt-${i}`, store), `transaction ${i} committed`);
            }
          }
        });
      },
    },
    {
      name: "claim returns due, unleased, matching rows earliest first and leases them",
      async run() {
        await withStore(async (store) => {
          const now = BASE_TIME + 1_000_000;
          const rows = [
            eventRow(1, { status: "failed", next_attempt_at: now - 10, lease_until: null }),
            eventRow(2, { status: "failed", next_attempt_at: now - 30, lease_until: now - 1 }),
            eventRow(3, { status: "failed", next_attempt_at: now, lease_until: null }),
            eventRow(4, { status: "failed", next_attempt_at: now + 1, lease_until: null }),
            eventRow(5, { status: "failed", next_attempt_at: now - 50, lease_until: now + 5 }),
            eventRow(6, { status: "processed", next_attempt_at: now - 100, lease_until: null }),
            eventRow(7, { status: "pending", next_attempt_at: now - 20, lease_until: null }),
          ];
          await tx(store, async (t) => {
            for (const row of rows) await t.insert("events", row);
          });
          const where = { status: { in: ["failed", "pending"] } } as const;
          const claimed = await tx(store, (t) =>
            t.claim("events", { where, dueColumn: "next_attempt_at", now, leaseMs: 60_000, limit: 10 }),
          );
          deepStrictEqual(
            claimed.map((r) => r.id),
            ["evt-2", "evt-7", "evt-1", "evt-3"],
            "due (≤ now), unleased or lease expired, matching where, earliest first",
          );
          for (const r of claimed) {
            strictEqual(r.lease_until, now + 60_000, `returned ${r.id} carries its lease`);
            const { lease_until: _, ...rest } = r;
            const { lease_until: __, ...original } = rows.find((x) => x.id === r.id)!;
            deepStrictEqual(rest, original, `returned ${r.id} is the full row`);
            strictEqual(
              normalizeStored("timestamp", (await probe.row("events", r.id, store))?.lease_until),
              now + 60_000,
            );
          }
          strictEqual(
            normalizeStored("timestamp", (await probe.row("events", "evt-4", store))?.lease_until),
            null,
            "an unclaimed row keeps its lease",
          );
          const again = await tx(store, (t) =>
            t.claim("events", { where, dueColumn: "next_attempt_at", now, leaseMs: 60_000, limit: 10 }),
          );
          deepStrictEqual(again, [], "leased rows are skipped");
          const later = await tx(store, (t) =>
            t.claim("events", {
              where,
              dueColumn: "next_attempt_at",
              now: now + 60_000,
              leaseMs: 1000,
              limit: 2,
            }),
          );
          deepStrictEqual(
            later.map((r) => r.id),
            ["evt-5", "evt-2"],
            "after the leases expire, with limit",
          );
          // the limit applies to the rows that are due and free, not before leased rows are left out
          const busy = await tx(store, (t) =>
            t.claim("events", {
              where,
              dueColumn: "next_attempt_at",
              now: now + 60_000,
              leaseMs: 1000,
              limit: 1,
            }),
          );
          deepStrictEqual(
            busy.map((r) => r.id),
            ["evt-7"],
            "with the earliest rows leased, limit 1 takes the next free one",
          );
          const nullDue = sampleRow("handler_runs", 1, {
            id: "run-1",
            status: "pending",
            next_attempt_at: null,
            lease_until: null,
          });
          await tx(store, (t) => t.insert("handler_runs", nullDue));
          const runs = await tx(store, (t) =>
            t.claim("handler_runs", {
              where: { status: "pending" },
              dueColumn: "next_attempt_at",
              now,
              leaseMs: 10,
              limit: 5,
            }),
          );
          deepStrictEqual(
            runs.map((r) => r.id),
            ["run-1"],
            "a NULL due column is due",
          );
        });
      },
    },
    {
      name: "concurrent claims never return the same row",
      async run() {
        await withStore(async (store) => {
          const now = BASE_TIME + 1_000_000;
          await tx(store, async (t) => {
            for (let i = 0; i < 12; i++) {
              await t.insert(
                "events",
                eventRow(i, { status: "failed", next_attempt_at: now - i, lease_until: null }),
              );
            }
          });
          const claim = (limit: number) =>
            store.transaction((t) =>
              t.claim("events", {
                where: { status: "failed" },
                dueColumn: "next_attempt_at",
                now,
                leaseMs: 60_000,
                limit,
              }),
            );
          const batches = await Promise.all(Array.from({ length: 6 }, () => claim(3)));
          const all = batches.flat().map((r) => r.id);
          strictEqual(new Set(all).size, all.length, `no row is claimed twice: ${all}`);
          assert(all.length > 0, "some rows are claimed");
          const rest = (await claim(100)).map((r) => r.id);
          deepStrictEqual(
            [...all, ...rest].sort(),
            ids(Array.from({ length: 12 }, (_, i) => ({ id: `evt-${i}` }))),
          );
        });
      },
    },
  ];
  return checks;
}
