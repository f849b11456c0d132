import { existsSync, readdirSync } from "node:fs";
import { defineConfig } from "vitest/config";

/** Every package (and the bench harness) with a `test/` folder is one vitest project. */
const projects = ["packages", "examples"].flatMap((dir) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => existsSync(`${dir}/${name}/test`))
        .map((name) => ({
          extends: true as const,
          test: {
            name: `${dir === "packages" ? "" : "example-"}${name}`,
            root: `${dir}/${name}`,
            include: ["test/**/*.test.ts"],
          },
        }))
    : [],
);

export default defineConfig({
  test: {
    projects,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
