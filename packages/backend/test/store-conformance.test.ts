import { runStoreConformance } from "@mika/testing";
import { memoryStore } from "../src/memory-store.js";

runStoreConformance({
  name: "memoryStore",
  makeStore: () => memoryStore(),
  probe: { row: (table, key, store) => store.rawRow(table, key), json: "value" },
});
