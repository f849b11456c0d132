import { existsSync, readdirSync } from "node:fs";
import { defineConfig } from "vitest/config";

/**
 * Every package and example app with a `test/` folder is one vitest project, and so is `docs/test`
 * (the typecheck of the READMEs' and docs' TypeScript blocks against the built packages).
 */
const packageProjects = ["packages", "examples"].flatMap((dir) =>
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
const docsProject = {
  extends: true as const,
  test: { name: "docs", root: "docs", include: ["test/**/*.test.ts"] },
};
const projects = existsSync("docs/test") ? [...packageProjects, docsProject] : packageProjects;

export default defineConfig({
  test: {
    projects,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
