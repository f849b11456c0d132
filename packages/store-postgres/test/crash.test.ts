import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CRASH_POINTS, crashAndRecover, tally } from "../../store-sqlite/test/workers/harness.js";
import { postgresStore } from "../src/index.js";
import { freshSchema, POSTGRES_URL } from "./helpers.js";

const storeModule = pathToFileURL(createRequire(import.meta.url).resolve("@mika/store-postgres")).href;

describe("postgresStore: SIGKILL on the receive path", () => {
  for (const point of CRASH_POINTS) {
    it(`killed ${point}: after restart and redelivery every event is processed exactly once`, async () => {
      const schema = freshSchema();
      const n = 8;
      const { signal, first, redelivered } = await crashAndRecover(
        {
          storeModule,
          exportName: "postgresStore",
          storeOptions: { connectionString: POSTGRES_URL, schema },
        },
        point,
        n,
      );
      expect(signal).toBe("SIGKILL");
      expect(first.some((a) => a.status === "DIED")).toBe(true);
      const counts = tally(redelivered);
      expect((counts.processed ?? 0) + (counts.duplicate ?? 0)).toBe(n);
      if (point === "after-commit") expect(counts.duplicate).toBeGreaterThanOrEqual(1);
      const store = postgresStore({ connectionString: POSTGRES_URL, schema });
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
