/**
 * The vitest side of the kit: registers the conformance checks as tests. Kept apart so that the rest
 * of the kit (signers, fixtures, sandboxes) loads without vitest (`@mika/testing/kit`).
 */
import type { MikaStore } from "@mika/types";
import { describe, it } from "vitest";
import {
  type ConformanceCheck,
  type ProviderConformanceOptions,
  providerConformanceChecks,
} from "./provider-conformance.js";
import { type StoreConformanceOptions, storeConformanceChecks } from "./store-conformance.js";

function register(
  title: string,
  checks: readonly ConformanceCheck[],
  skip?: Readonly<Record<string, string>>,
) {
  describe(title, () => {
    for (const check of checks) {
      const reason = skip?.[check.name];
      if (reason) it.skip(`${check.name} (skipped: ${reason})`, () => {});
      else it(check.name, () => check.run());
    }
  });
}

/**
 * Registers the provider conformance suite with vitest: call it at the top level of a test file.
 *
 * @example
 * runProviderConformance({ provider, sign: stripeSigner, fixtures: providerFixtures("stripe"),
 *   secrets: ["whsec_a", "whsec_b"], toleranceSeconds: 300 });
 */
export function runProviderConformance(options: ProviderConformanceOptions): void {
  register(
    `${options.provider.name} conforms to the Mika provider contract`,
    providerConformanceChecks(options),
    options.skip,
  );
}

/**
 * Registers the store conformance suite with vitest: one test per check.
 *
 * @example
 * ```ts
 * runStoreConformance({
 *   makeStore: () => sqliteStore({ file: tempFile() }),
 *   probe: { row: (table, key, store) => readRaw(store, table, key) },
 * });
 * ```
 */
export function runStoreConformance<S extends MikaStore>(
  options: StoreConformanceOptions<S> & { name?: string },
): void {
  register(
    `${options.name ?? "the store"} conforms to the Mika store contract`,
    storeConformanceChecks(options),
    options.skip,
  );
}
