import { runStoreConformance } from "@mika/testing";
import type { MikaStore } from "@mika/types";
import { postgresStore } from "../src/index.js";
import { freshSchema, POSTGRES_URL, rawRow } from "./helpers.js";

const schemas = new WeakMap<MikaStore, string>();

runStoreConformance({
  name: "postgresStore (own schema per check)",
  makeStore() {
    const schema = freshSchema();
    const store = postgresStore({ connectionString: POSTGRES_URL, schema, max: 25 });
    schemas.set(store, schema);
    return store;
  },
  probe: { row: (table, key, store) => rawRow(schemas.get(store)!, table, key) },
});
