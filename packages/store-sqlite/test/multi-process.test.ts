import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { tempDbFile } from "./helpers.js";
import { deliverAll, startInstance, tally } from "./workers/harness.js";

const storeModule = pathToFileURL(createRequire(import.meta.url).resolve("@mika/store-sqlite")).href;

describe("sqliteStore: two processes on one file", () => {
  it("500 events delivered 3× concurrently across 2 processes: 500 processed, 1000 duplicates, one effect each", async () => {
    const file = tempDbFile();
    const spec = { storeModule, exportName: "sqliteStore", storeOptions: { file } };
    const instances = [await startInstance(spec), await startInstance(spec)];
    const answers = await deliverAll(instances, 500, 3);
    await Promise.all(instances.map((i) => i.send({ type: "close" })));
    for (const i of instances) i.child.kill();
    expect(tally(answers)).toEqual({ processed: 500, duplicate: 1000 });

    const store = sqliteStore({ file });
    const [orders, paid, events, processed, duplicates] = await store.transaction(async (tx) => [
      await tx.count("orders", {}),
      await tx.count("orders", { status: "paid" }),
      await tx.count("events", {}),
      await tx.count("events", { status: "processed" }),
      (await tx.find("events", {})).reduce((sum, e) => sum + e.duplicates, 0),
    ]);
    expect({ orders, paid, events, processed, duplicates }).toEqual({
      orders: 500,
      paid: 500,
      events: 500,
      processed: 500,
      duplicates: 1000,
    });
    await store.close();
  }, 120_000);
});
