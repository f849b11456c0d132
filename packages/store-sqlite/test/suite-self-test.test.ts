/**
 * The store conformance suite must FAIL against deliberately broken stores. Each one wraps a real
 * sqliteStore with exactly one flaw; the control (no flaw) must pass every check.
 */
import { type StoreProbe, storeConformanceChecks } from "@mika/testing";
import type { MikaStore, StoreTx } from "@mika/types";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { rawRow, tempDbFile } from "./helpers.js";

type Flaw =
  | "none"
  | "no-rollback"
  | "insert-always-true"
  | "claim-without-lease"
  | "update-always-true"
  | "closed-plain-error";

const files = new WeakMap<MikaStore, string>();

function flawedStore(flaw: Flaw): MikaStore {
  const file = tempDbFile();
  const inner = sqliteStore({ file });
  const wrapTx = (tx: StoreTx): StoreTx => ({
    ...tx,
    insert: flaw === "insert-always-true" ? async (t, row) => (await tx.insert(t, row)) || true : tx.insert,
    update: flaw === "update-always-true" ? async (t, k, p) => (await tx.update(t, k, p)) || true : tx.update,
    claim:
      flaw === "claim-without-lease"
        ? async (t, o) =>
            tx.find(t, o.where, { limit: o.limit, orderBy: [{ column: o.dueColumn, direction: "asc" }] })
        : tx.claim,
  });
  let closed = false;
  const store: MikaStore = {
    ...inner,
    name: inner.name,
    migrate: () => inner.migrate(),
    schemaVersion: () => inner.schemaVersion(),
    close: () => {
      closed = true;
      return inner.close();
    },
    transaction(fn) {
      // How the stores answered before StoreClosedError: a plain Error the backend cannot tell apart.
      if (flaw === "closed-plain-error" && closed) return Promise.reject(new Error("the store is closed"));
      if (flaw !== "no-rollback") return inner.transaction((tx) => fn(wrapTx(tx)));
      let failure: unknown;
      return inner
        .transaction(async (tx) => {
          try {
            return await fn(tx);
          } catch (error) {
            failure = error;
            return undefined as never;
          }
        })
        .then((value) => {
          if (failure !== undefined) throw failure;
          return value;
        });
    },
  };
  files.set(store, file);
  return store;
}

const probe: StoreProbe = { row: (table, key, store) => rawRow(files.get(store)!, table, key) };

async function failingChecks(flaw: Flaw): Promise<string[]> {
  const failed: string[] = [];
  for (const check of storeConformanceChecks({ makeStore: () => flawedStore(flaw), probe })) {
    try {
      await check.run();
    } catch {
      failed.push(check.name);
    }
  }
  return failed;
}

describe("the store conformance suite can fail", () => {
  it("passes a store without flaws (the control)", async () => {
    expect(await failingChecks("none")).toEqual([]);
  });
  it("fails a store that commits the writes of a throwing transaction", async () => {
    const failed = await failingChecks("no-rollback");
    expect(failed).toContain(
      "a transaction sees its own writes, and a throw rolls all of them back and rethrows",
    );
    expect(failed).toContain("a throwing transaction among concurrent ones does not affect the others");
  });
  it("fails a store whose insert reports success on a conflict", async () => {
    const failed = await failingChecks("insert-always-true");
    expect(failed).toContain("insert returns false and writes nothing on a primary-key conflict");
    expect(failed).toContain(
      "insert returns false and writes nothing on each unique constraint; NULLs never conflict",
    );
    expect(failed).toContain(
      "20 concurrent transactions inserting the same (provider, event_id): exactly one wins",
    );
  });
  it("fails a store whose claim does not lease", async () => {
    const failed = await failingChecks("claim-without-lease");
    expect(failed).toContain("claim returns due, unleased, matching rows earliest first and leases them");
    expect(failed).toContain("concurrent claims never return the same row");
  });
  it("fails a store that rejects with a plain Error after close()", async () => {
    expect(await failingChecks("closed-plain-error")).toEqual([
      "close() lets a begun transaction commit; then migrate, schemaVersion and transaction reject with StoreClosedError",
    ]);
  });
  it("fails a store whose update reports success for a missing row", async () => {
    expect(await failingChecks("update-always-true")).toEqual([
      "update patches only the given columns and returns whether the row exists",
    ]);
  });
});
