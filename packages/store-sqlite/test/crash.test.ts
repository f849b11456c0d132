import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { tempDbFile } from "./helpers.js";
import { CRASH_POINTS, crashAndRecover, tally } from "./workers/harness.js";

const storeModule = pathToFileURL(createRequire(import.meta.url).resolve("@mika/store-sqlite")).href;

describe("sqliteStore: SIGKILL on the receive path", () => {
  for (const point of CRASH_POINTS) {
    it(`killed ${point}: after restart and redelivery every event is processed exactly once`, async () => {
      const file = tempDbFile();
      const n = 8;
      const { signal, first, redelivered } = await crashAndRecover(
        { storeModule, exportName: "sqliteStore", storeOptions: { file } },
        point,
        n,
      );
      expect(signal).toBe("SIGKILL");
      expect(first.some((a) => a.status === "DIED")).toBe(true);
      const counts = tally(redelivered);
      expect((counts.processed ?? 0) + (counts.duplicate ?? 0)).toBe(n);
      // The commit that preceded the kill is kept: that one event is answered as a duplicate.
      if (point === "after-commit") expect(counts.duplicate).toBeGreaterThanOrEqual(1);
      else expect(counts.processed).toBe(n);
      const store = sqliteStore({ file });
      const result = await store.transaction(async (tx) => ({
        orders: await tx.count("orders", { status: "paid" }),
        events: await tx.count("events", { status: "processed" }),
        all: await tx.count("events", {}),
      }));
      expect(result).toEqual({ orders: n, events: n, all: n });
      await store.close();
    }, 60_000);
  }
});
