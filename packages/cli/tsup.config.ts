import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as {
  version: string;
};

/**
 * ESM only: the library entry (with types) and the two executables, `mika` and the demo.
 * (`@mika/testing`, which supplies the fixtures and signers, imports vitest and cannot be `require()`d.)
 */
export default defineConfig({
  entry: ["src/index.ts", "src/cli.ts", "src/demo.ts"],
  format: ["esm"],
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  target: "es2022",
  define: { __MIKA_CLI_VERSION__: JSON.stringify(version) },
});
