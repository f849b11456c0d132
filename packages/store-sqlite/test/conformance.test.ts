import { runStoreConformance } from "@mika/testing";
import type { MikaStore } from "@mika/types";
import { sqliteStore } from "../src/index.js";
import { rawRow, tempDbFile } from "./helpers.js";

const files = new WeakMap<MikaStore, string>();

runStoreConformance({
  name: "sqliteStore (FULL, temp file)",
  makeStore() {
    const file = tempDbFile();
    const store = sqliteStore({ file });
    files.set(store, file);
    return store;
  },
  probe: { row: (table, key, store) => rawRow(files.get(store)!, table, key) },
});
