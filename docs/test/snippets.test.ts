import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  checkSnippets,
  findMarkdownFiles,
  formatSnippetDiagnostic,
  type MarkdownSnippets,
  missingBuilds,
  parseMarkdown,
  type SnippetDiagnostic,
  type SnippetReport,
} from "./snippets.js";

/**
 * Every ```ts block of the READMEs and docs/ typechecks against the BUILT packages (`pnpm build`
 * first; `pnpm test` does). One test per block names the file, the block's line and each diagnostic.
 * The conventions for fragments are in `snippets.ts`.
 */
const root = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const docs: MarkdownSnippets[] = findMarkdownFiles(root).map((file) =>
  parseMarkdown(file, readFileSync(`${root}/${file}`, "utf8")),
);

let report: SnippetReport;
beforeAll(() => {
  const missing = missingBuilds(root);
  if (missing.length > 0) {
    throw new Error(
      `build the packages first (pnpm build --filter='./packages/*'); missing: ${missing.join(", ")}`,
    );
  }
  report = checkSnippets(root, docs);
});

it("finds the markdown files and their blocks", () => {
  expect(docs.map((doc) => doc.file)).toContain("packages/backend/README.md");
  expect(docs.flatMap((doc) => doc.blocks).length).toBeGreaterThan(0);
});

it("the compiler setup has no errors", () => {
  expect(report.setup).toEqual([]);
});

it("the snippet comments and fences are well formed", () => {
  const problems = docs.flatMap((doc) =>
    doc.problems.map((problem) => `${doc.file}:${problem.line}: ${problem.message}`),
  );
  expect(problems).toEqual([]);
});

for (const doc of docs) {
  if (doc.blocks.length === 0) continue;
  describe(doc.file, () => {
    if (doc.prelude || doc.modules.length > 0) {
      it("snippet-prelude and snippet-module comments", () => {
        failOn(report.diagnostics.filter((d) => d.file === doc.file && d.source !== "block"));
      });
    }
    for (const block of doc.blocks) {
      if (block.skip !== undefined) {
        it.skip(`ts block at line ${block.line} (skipped: ${block.skip})`, () => {});
        continue;
      }
      it(`ts block at line ${block.line}`, () => {
        failOn(
          report.diagnostics.filter(
            (d) => d.file === doc.file && d.source === "block" && d.at === block.line,
          ),
        );
      });
    }
  });
}

function failOn(diagnostics: readonly SnippetDiagnostic[]): void {
  if (diagnostics.length > 0) expect.fail(`\n${diagnostics.map(formatSnippetDiagnostic).join("\n")}`);
}

describe("the snippet check itself", () => {
  const fence = "```";

  it("reads ts and typescript fences, and only top-level ones", () => {
    const doc = parseMarkdown(
      "x.md",
      [
        `${fence}ts`,
        "const a = 1;",
        fence,
        `${fence}typescript title="b.ts"`,
        "const b = 2;",
        fence,
        `${fence}\`md`,
        `${fence}ts`,
        "not a block",
        fence,
        `${fence}\``,
        "  ~~~ts",
        "  const c = 3;",
        "  ~~~",
        `${fence}sh`,
        "echo ts",
        fence,
      ].join("\n"),
    );
    expect(doc.blocks.map((block) => [block.line, block.code, block.indent])).toEqual([
      [1, "const a = 1;", 0],
      [4, "const b = 2;", 0],
      [12, "const c = 3;", 2],
    ]);
    expect(doc.problems).toEqual([]);
  });

  it("attaches skips and module names to the next block, and refuses a skip without a reason", () => {
    const doc = parseMarkdown(
      "x.md",
      [
        "<!-- snippet: skip — needs a running app -->",
        `${fence}ts`,
        "app.listen();",
        fence,
        '<!-- snippet-module "./lib" "@/lib" -->',
        "",
        `${fence}ts`,
        "export const x = 1;",
        fence,
        "<!-- snippet: skip -->",
        `${fence}ts`,
        fence,
        "<!-- snippet: skip — a reason -->",
        "Some prose.",
        `${fence}ts`,
        fence,
        "<!-- snippet-sometimes -->",
      ].join("\n"),
    );
    expect(doc.blocks.map((block) => [block.line, block.skip, block.moduleNames])).toEqual([
      [2, "needs a running app", []],
      [7, undefined, ["./lib", "@/lib"]],
      [11, undefined, []],
      [15, undefined, []],
    ]);
    expect(doc.problems.map((problem) => problem.line)).toEqual([10, 13, 17]);
  });

  it("reports a missing export, a wrong type and an unknown module at their markdown lines", () => {
    const lines = [
      "# Fixture",
      "<!-- snippet-prelude",
      'import type { Mika } from "@mika/backend";',
      "",
      "declare const mika: Mika;",
      "-->",
      `${fence}ts`,
      'import { createMika, notAnExport } from "@mika/backend";',
      fence,
      `${fence}ts`,
      "await mika.orders.list();",
      fence,
      `${fence}ts`,
      "const mika = 1; // a block's own name wins over the prelude's",
      "mika.toFixed();",
      fence,
      '<!-- snippet-module "./lib"',
      "export declare const answer: number;",
      "-->",
      `${fence}ts`,
      'import { answer } from "./lib";',
      "const text: string = answer;",
      'import { other } from "../src/other";',
      fence,
      "<!-- snippet: skip — broken on purpose -->",
      `${fence}ts`,
      "const = ;",
      fence,
    ];
    const doc = parseMarkdown("docs/test/fixture.md", lines.join("\n"));
    const { setup, diagnostics } = checkSnippets(root, [doc]);
    expect(setup).toEqual([]);
    expect(diagnostics.map((d) => [d.source, d.at, d.line, d.column, d.code])).toEqual([
      ["block", 7, 8, 22, 2305],
      ["block", 20, 22, 7, 2322],
      ["block", 20, 23, 23, 2307],
    ]);
    expect(formatSnippetDiagnostic(diagnostics[0]!)).toBe(
      `docs/test/fixture.md:8:22 TS2305: Module '"@mika/backend"' has no exported member 'notAnExport'.`,
    );
  });
});
