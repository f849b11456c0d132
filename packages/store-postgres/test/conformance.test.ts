import { runStoreConformance } from "@mika/testing";
import type { MikaStore } from "@mika/types";
import { postgresStore } from "../src/index.js";
import { freshSchema, POSTGRES_URL, rawRow } from "./helpers.js";

const schemas = new WeakMap<MikaStore, string>();

for (const batching of [true, false]) {
  runStoreConformance({
    name: `postgresStore, batching ${batching ? "on" : "off"} (own schema per check)`,
    makeStore() {
      const schema = freshSchema();
      const store = postgresStore({ connectionString: POSTGRES_URL, schema, max: 12, batching });
      schemas.set(store, schema);
      return store;
    },
    probe: { row: (table, key, store) => rawRow(schemas.get(store)!, table, key) },
  });
}
