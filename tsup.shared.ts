import { defineConfig, type Options } from "tsup";

/** The one build every published @mika package uses: ESM + CJS + .d.ts, ES2022. */
export function packageBuild(overrides: Options = {}) {
  return defineConfig({
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    ...overrides,
  });
}
