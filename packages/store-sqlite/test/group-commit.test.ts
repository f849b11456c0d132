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

describe("sqliteStore group commit", () => {
  it("runs N concurrent transactions under fewer COMMITs; a throwing one affects only itself", async () => {
    const file = tempDbFile();
    const { database, log, commits } = recordingDatabase(file);
    const store = sqliteStore({ database });
    await store.migrate();
    const before = commits();
    const n = 40;
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        store.transaction(async (tx) => {
          await tx.insert("events", eventRow(i));
          if (i === 7) throw new Error("seven fails");
          return i;
        }),
      ),
    );
    const used = commits() - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(n);
    // Batched transactions each run in a savepoint; the one that threw was rolled back alone.
    expect(log.filter((s) => /^SAVEPOINT/i.test(s)).length).toBeGreaterThan(1);
    expect(log.filter((s) => /^ROLLBACK/i.test(s)).length).toBe(1);
    for (const [i, outcome] of settled.entries()) {
      if (i === 7) {
        expect(outcome).toMatchObject({ status: "rejected", reason: { message: "seven fails" } });
        expect(rawRow(file, "events", `evt-${i}`)).toBeUndefined();
      } else {
        expect(outcome).toEqual({ status: "fulfilled", value: i });
        expect(rawRow(file, "events", `evt-${i}`)?.id).toBe(`evt-${i}`);
      }
    }
    await store.close();
    expect(database.open).toBe(true); // a database passed in stays open
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

  it("refuses work after close()", async () => {
    const store = sqliteStore({ file: tempDbFile() });
    await store.close();
    await expect(store.transaction(async () => 1)).rejects.toThrow(/closed/);
  });
});
