import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { rawRow, tempDbFile } from "./helpers.js";
import { eventRow } from "./rows.js";

/** A connection that records every statement it runs (better-sqlite3's `verbose`). */
function recordingDatabase(file: string) {
  const log: string[] = [];
  const database = new Database(file, { verbose: (message) => log.push(String(message)) });
  const commits = () => log.filter((s) => /^\s*COMMIT\b/i.test(s)).length;
  return { database, log, commits };
}

/**
 * Issues `n` concurrent transactions, each inserting event `i` and then throwing when `fails(i, run)`
 * (`run` counts from 1 per function); returns how often each function ran and how each call settled.
 */
async function concurrentInserts(
  store: ReturnType<typeof sqliteStore>,
  n: number,
  fails: (i: number, run: number) => boolean,
) {
  const runs = new Array<number>(n).fill(0);
  const settled = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      store.transaction(async (tx) => {
        runs[i]!++;
        await tx.insert("events", eventRow(i));
        if (fails(i, runs[i]!)) throw new Error(`${i} fails`);
        return i;
      }),
    ),
  );
  return { runs, settled };
}

/** Each call `i` in `failed` was rejected with its own error and stored nothing; every other one is stored. */
function expectOutcomes(file: string, settled: PromiseSettledResult<unknown>[], failed: number[]) {
  for (const [i, outcome] of settled.entries()) {
    if (failed.includes(i)) {
      expect(outcome).toMatchObject({ status: "rejected", reason: { message: `${i} fails` } });
      expect(rawRow(file, "events", `evt-${i}`)).toBeUndefined();
    } else {
      expect(outcome).toEqual({ status: "fulfilled", value: i });
      expect(rawRow(file, "events", `evt-${i}`)?.id).toBe(`evt-${i}`);
    }
  }
}

describe("sqliteStore group commit", () => {
  it("runs N concurrent transactions under fewer COMMITs; a throwing one affects only itself", async () => {
    const file = tempDbFile();
    const { database, log, commits } = recordingDatabase(file);
    const store = sqliteStore({ database });
    await store.migrate();
    const before = commits();
    const n = 40;
    const { runs, settled } = await concurrentInserts(store, n, (i) => i === 7);
    const used = commits() - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(n);
    // The batch runs without savepoints; seven's throw rolls it all back and the others run again,
    // each in a savepoint, in the next batch.
    expect(log.filter((s) => /^ROLLBACK$/i.test(s.trim())).length).toBe(1);
    expect(log.filter((s) => /^SAVEPOINT/i.test(s)).length).toBe(n - 1);
    expect(log.filter((s) => /^ROLLBACK TO/i.test(s)).length).toBe(0);
    expect(runs.slice(0, 7)).toEqual(new Array(7).fill(2)); // ran before seven threw, and again
    expect(runs.slice(7)).toEqual(new Array(n - 7).fill(1)); // seven is not run again; the rest had not run
    expectOutcomes(file, settled, [7]);
    await store.close();
    expect(database.open).toBe(true); // a database passed in stays open
    database.close();
  });

  it("in the retried batch, a second throw rolls back only that function's savepoint", async () => {
    const file = tempDbFile();
    const { database, log } = recordingDatabase(file);
    const store = sqliteStore({ database });
    await store.migrate();
    // 9 throws first (the whole batch rolls back); 3 throws on its second run, in the retry batch.
    const { runs, settled } = await concurrentInserts(
      store,
      12,
      (i, run) => i === 9 || (i === 3 && run === 2),
    );
    expect(log.filter((s) => /^ROLLBACK$/i.test(s.trim())).length).toBe(1);
    expect(log.filter((s) => /^ROLLBACK TO/i.test(s)).length).toBe(1);
    expect(runs).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1]); // 3 is not run a third time
    expectOutcomes(file, settled, [3, 9]);
    // Nothing is left marked for savepoints: the next batch runs without them.
    const mark = log.length;
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.transaction((tx) => tx.insert("events", eventRow(100 + i)))),
    );
    expect(log.slice(mark).filter((s) => /^SAVEPOINT/i.test(s)).length).toBe(0);
    await store.close();
    database.close();
  });

  it("a SAVEPOINT that fails ends only that batch: every caller settles, none is half-stored, the rest run on", async () => {
    const file = tempDbFile();
    const database = new Database(file);
    // The 4th SAVEPOINT the store runs fails, as SQLite may when it runs out of memory or disk.
    let savepoints = 0;
    const prepare = database.prepare.bind(database);
    database.prepare = ((text: string) => {
      const statement = prepare(text);
      if (!/^SAVEPOINT/i.test(text)) return statement;
      return new Proxy(statement, {
        get(target, key) {
          if (key === "run")
            return (...args: unknown[]) => {
              if (++savepoints === 4)
                throw Object.assign(new Error("out of memory"), { code: "SQLITE_NOMEM" });
              return target.run(...args);
            };
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    }) as typeof database.prepare;
    const store = sqliteStore({ database });
    await store.migrate();
    // 9 throws first; the others run again, each in a savepoint, and the 4th of those (3's) fails.
    const { runs, settled } = await concurrentInserts(store, 12, (i) => i === 9);
    expect(savepoints).toBeGreaterThan(4);
    for (const i of [0, 1, 2, 3]) {
      // 0–2 were rolled back with the batch, 3 never ran: each caller hears why, nothing of theirs is kept.
      expect(settled[i]).toMatchObject({ status: "rejected", reason: { message: "out of memory" } });
      expect(rawRow(file, "events", `evt-${i}`)).toBeUndefined();
    }
    expect(runs[3]).toBe(1);
    expect(settled[9]).toMatchObject({ status: "rejected", reason: { message: "9 fails" } });
    for (const i of [4, 5, 6, 7, 8, 10, 11]) {
      expect(settled[i]).toEqual({ status: "fulfilled", value: i });
      expect(rawRow(file, "events", `evt-${i}`)?.id).toBe(`evt-${i}`);
    }
    expect(database.inTransaction).toBe(false);
    await store.transaction((tx) => tx.insert("events", eventRow(50)));
    expect(rawRow(file, "events", "evt-50")?.id).toBe("evt-50");
    await store.close();
    database.close();
  });

  it("resolves no caller before the COMMIT that made its write durable", async () => {
    const file = tempDbFile();
    const { database, log } = recordingDatabase(file);
    const store = sqliteStore({ database });
    await store.migrate();
    const seenAtResolve: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store
          .transaction((tx) => tx.insert("events", eventRow(i)))
          .then(() => {
            // The statement log position when this caller is resolved: a COMMIT must precede it.
            seenAtResolve.push(log.length);
            // Another connection sees the row: it is committed, not just written.
            expect(rawRow(file, "events", `evt-${i}`)?.id).toBe(`evt-${i}`);
          }),
      ),
    );
    for (const position of seenAtResolve) {
      expect(log.slice(0, position).some((s) => /^COMMIT/i.test(s))).toBe(true);
    }
    await store.close();
    database.close();
  });

  it("sets WAL and the chosen synchronous level", async () => {
    for (const [level, code] of [
      ["FULL", 2],
      ["NORMAL", 1],
      ["OFF", 0],
    ] as const) {
      const file = tempDbFile();
      const database = new Database(file);
      const store = sqliteStore({ database, synchronous: level });
      expect(database.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(database.pragma("synchronous", { simple: true })).toBe(code);
      await store.close();
      database.close();
    }
    const defaults = new Database(tempDbFile());
    const store = sqliteStore({ database: defaults });
    expect(defaults.pragma("synchronous", { simple: true })).toBe(2);
    await store.close();
    defaults.close();
    expect(() => sqliteStore({ file: tempDbFile(), synchronous: "EXTRA" as never })).toThrow(/synchronous/);
    expect(() => sqliteStore({})).toThrow(/file/);
  });

  it("two stores (connections) on one file both make progress and stay consistent", async () => {
    const file = tempDbFile();
    const a = sqliteStore({ file });
    const b = sqliteStore({ file });
    await Promise.all([a.migrate(), b.migrate()]);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).transaction((tx) =>
          tx.insert("events", eventRow(i, { provider: "p", event_id: `same-${i % 10}` })),
        ),
      ),
    );
    expect(results.filter(Boolean).length).toBe(10);
    expect(await a.transaction((tx) => tx.count("events", {}))).toBe(10);
    await Promise.all([a.close(), b.close()]);
  });

  it("after migrate(), the first transaction does not migrate again", async () => {
    const file = tempDbFile();
    const { database, log } = recordingDatabase(file);
    const store = sqliteStore({ database });
    await store.migrate();
    const mark = log.length;
    await store.transaction((tx) => tx.insert("events", eventRow(1)));
    // One write transaction: the batch's own (a second migration would be another, with its fsync).
    expect(log.slice(mark).filter((s) => /^BEGIN IMMEDIATE/i.test(s))).toHaveLength(1);
    await store.migrate(); // still runs when asked
    expect(log.slice(mark).filter((s) => /^BEGIN IMMEDIATE/i.test(s))).toHaveLength(2);
    await store.close();
    database.close();
  });

  it("a full disk fails exactly the transactions that did not fit (SQLITE_FULL); the others are stored, and the store goes on once there is room", async () => {
    const file = tempDbFile();
    const database = new Database(file);
    const store = sqliteStore({ database });
    await store.migrate();
    // A size limit stands in for a full disk: SQLite reports both as SQLITE_FULL.
    database.pragma(`max_page_count = ${Number(database.pragma("page_count", { simple: true })) + 8}`);
    const row = (i: number) => ({ id: `lock-${i}`, holder: "x".repeat(3000), lease_until: null });
    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.transaction((tx) => tx.insert("locks", row(i)))),
    );
    const failed = settled.flatMap((outcome, i) => (outcome.status === "rejected" ? [i] : []));
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(20);
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === "rejected") {
        expect((outcome.reason as { code?: string }).code).toBe("SQLITE_FULL");
        expect(rawRow(file, "locks", `lock-${i}`)).toBeUndefined();
      } else {
        expect(rawRow(file, "locks", `lock-${i}`)).toMatchObject({ holder: row(i).holder });
      }
    }
    expect(database.inTransaction).toBe(false);
    database.pragma("max_page_count = 1000000");
    await store.transaction((tx) => tx.insert("locks", row(99)));
    expect(rawRow(file, "locks", "lock-99")).toBeDefined();
    await store.close();
    database.close();
  });

  describe("when SQLite itself ends the transaction (SQLITE_FULL), nothing after it runs in autocommit", () => {
    /** A migrated store whose file may grow by only a few pages. */
    async function nearlyFull() {
      const file = tempDbFile();
      const database = new Database(file);
      const store = sqliteStore({ database });
      await store.migrate();
      database.pragma(`max_page_count = ${Number(database.pragma("page_count", { simple: true })) + 4}`);
      return { file, database, store };
    }
    const big = (seed: number) => eventRow(seed, { raw: "x".repeat(200_000) });

    it("writes issued together with the one that failed are not stored", async () => {
      const { file, database, store } = await nearlyFull();
      const outcome = store.transaction((tx) =>
        Promise.all([tx.insert("events", big(1)), tx.insert("events", eventRow(2))]),
      );
      await expect(outcome).rejects.toMatchObject({ code: "SQLITE_FULL" });
      expect(rawRow(file, "events", eventRow(2).id)).toBeUndefined();
      await store.close();
      database.close();
    });

    it("a job that catches the error is refused, and the next job runs in a transaction of its own", async () => {
      const { file, database, store } = await nearlyFull();
      const [tolerant, thrower, plain] = await Promise.allSettled([
        store.transaction(async (tx) => {
          await tx.insert("events", big(1)).catch(() => false); // an optional write that failed
          return "done";
        }),
        store.transaction(async (tx) => {
          await tx.insert("events", eventRow(2));
          throw new Error("b fails");
        }),
        store.transaction((tx) => tx.insert("events", eventRow(3))),
      ]);
      expect(tolerant).toMatchObject({
        status: "rejected",
        reason: { message: /SQLite ended the write transaction/ },
      });
      expect(thrower).toMatchObject({ status: "rejected", reason: { message: "b fails" } });
      expect(rawRow(file, "events", eventRow(2).id)).toBeUndefined();
      expect(plain).toMatchObject({ status: "fulfilled", value: true });
      expect(rawRow(file, "events", eventRow(3).id)).toBeDefined();
      await store.close();
      database.close();
    });
  });

  it("refuses work after close()", async () => {
    const store = sqliteStore({ file: tempDbFile() });
    await store.close();
    await expect(store.transaction(async () => 1)).rejects.toThrow(/closed/);
  });
});
