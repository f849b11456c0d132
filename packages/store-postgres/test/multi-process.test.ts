import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
// The worker and its harness live with the SQLite store's tests; both stores use them.
import { deliverAll, startInstance, tally } from "../../store-sqlite/test/workers/harness.js";
import { postgresStore } from "../src/index.js";
import { freshSchema, POSTGRES_URL } from "./helpers.js";

const storeModule = pathToFileURL(createRequire(import.meta.url).resolve("@mika/store-postgres")).href;

describe("postgresStore: three app instances on one database", () => {
  it("500 events delivered 3× concurrently across 3 processes: 500 processed, 1000 duplicates, one effect each", async () => {
    const schema = freshSchema();
    const spec = {
      storeModule,
      exportName: "postgresStore",
      storeOptions: { connectionString: POSTGRES_URL, schema, max: 8 },
    };
    const instances = await Promise.all([startInstance(spec), startInstance(spec), startInstance(spec)]);
    const answers = await deliverAll(instances, 500, 3);
    await Promise.all(instances.map((i) => i.send({ type: "close" })));
    for (const i of instances) i.child.kill();
    expect(tally(answers)).toEqual({ processed: 500, duplicate: 1000 });

    const store = postgresStore({ connectionString: POSTGRES_URL, schema });
    const counts = await store.transaction(async (tx) => ({
      orders: await tx.count("orders", {}),
      paid: await tx.count("orders", { status: "paid" }),
      events: await tx.count("events", {}),
      processed: await tx.count("events", { status: "processed" }),
      duplicates: (await tx.find("events", {})).reduce((sum, e) => sum + e.duplicates, 0),
    }));
    expect(counts).toEqual({ orders: 500, paid: 500, events: 500, processed: 500, duplicates: 1000 });
    await store.close();
  }, 120_000);
});
