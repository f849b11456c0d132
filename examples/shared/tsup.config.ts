import { defineConfig } from "tsup";

/** ESM only; every package import stays external (the apps' bundlers and Node resolve them). */
export default defineConfig({
  entry: ["src/index.ts", "src/browser.ts", "src/harness.ts", "src/test-preload.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  external: [/^[^./]/],
});
