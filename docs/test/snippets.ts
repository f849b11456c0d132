/**
 * Extracts the TypeScript blocks of the repository's markdown files and typechecks them, all in one
 * `ts.createProgram`, against the built `@mika/*` packages.
 *
 * Every block is its own module. A markdown file may add, as HTML comments outside code blocks:
 *
 * - `<!-- snippet-prelude` … `-->`: TypeScript declarations (`declare const mika: Mika;`, `import type`
 *   lines) that every block of the file may use. A block sees each name the prelude binds unless the
 *   block binds that name itself (its own import or declaration wins).
 * - `<!-- snippet-module "spec" ["spec" …]` … `-->`: a module that the blocks of the file import under
 *   those specifiers (`"@/lib/mika"`, `"../src/polar"`). Without a body, the next block is that module.
 * - `<!-- snippet: skip — reason -->` right before a block: the block is not checked. The reason is
 *   required.
 *
 * @packageDocumentation
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import ts from "typescript";

/** A problem with the snippet comments or fences of one markdown file. */
export interface MarkdownProblem {
  /** 1-based line in the markdown file. */
  line: number;
  message: string;
}

/** A fenced ` ```ts ` / ` ```typescript ` block. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The code, without the fence's indentation. */
  code: string;
  /** Columns of indentation removed from each line (the fence's own indentation). */
  indent: number;
  /** Why the block is not checked, from a `<!-- snippet: skip — reason -->` right before it. */
  skip?: string;
  /** Specifiers under which the other blocks of the file import this block. */
  moduleNames: readonly string[];
}

/** The TypeScript body of a `snippet-prelude` or `snippet-module` comment. */
export interface CommentCode {
  /** 1-based line of the comment's opening `<!--`; the body starts on the next line. */
  line: number;
  code: string;
}

/** A `snippet-module` comment with a body: a stand-in for a module the reader writes themselves. */
export interface StubModule extends CommentCode {
  specifiers: readonly string[];
}

/** What one markdown file holds for the snippet check. */
export interface MarkdownSnippets {
  /** Path relative to the repository root, with `/` separators. */
  file: string;
  blocks: CodeBlock[];
  prelude?: CommentCode;
  modules: StubModule[];
  problems: MarkdownProblem[];
}

/** Where a diagnostic was reported: a block, the file's prelude or one of its stub modules. */
export type DiagnosticSource = "block" | "prelude" | "module";

/** One TypeScript diagnostic, placed in the markdown file. */
export interface SnippetDiagnostic {
  /** The markdown file, relative to the repository root. */
  file: string;
  source: DiagnosticSource;
  /** The line of the block's opening fence, or of the prelude / module comment. */
  at: number;
  /** 1-based line and column in the markdown file. */
  line: number;
  column: number;
  /** The TypeScript error code (`2305` for a missing export). */
  code: number;
  text: string;
}

/** The outcome of {@link checkSnippets}. */
export interface SnippetReport {
  /** Diagnostics not tied to a snippet: compiler options, missing lib or `@types/node`. */
  setup: string[];
  diagnostics: SnippetDiagnostic[];
}

/** The specifier a block imports its file's prelude under (resolved by the check, never on disk). */
const PRELUDE_SPECIFIER = "snippet:prelude";

const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const SNIPPET_COMMENT = /^\s*<!--\s*snippet(?=[\s:-])/;
const SKIP = /^:\s*skip\b\s*(?:[—–:-]\s*)?([\s\S]*)$/;
/** Directories never searched for READMEs (dot-directories are skipped as well). */
const SKIPPED_DIRS = new Set(["node_modules", "dist", "build"]);

/**
 * Finds the markdown files whose TypeScript blocks are checked: `README.md`, `docs/*.md`,
 * `packages/*\/README.md` and every `README.md` under `examples/` (never inside `node_modules`, build
 * output or dot-directories).
 *
 * @param root - The repository root.
 * @returns Paths relative to `root`, sorted, with `/` separators.
 */
export function findMarkdownFiles(root: string): string[] {
  const files: string[] = [];
  const isFile = (path: string) => existsSync(path) && statSync(path).isFile();
  const subdirectories = (dir: string) =>
    existsSync(`${root}/${dir}`)
      ? readdirSync(`${root}/${dir}`, { withFileTypes: true })
          .filter(
            (entry) => entry.isDirectory() && !entry.name.startsWith(".") && !SKIPPED_DIRS.has(entry.name),
          )
          .map((entry) => `${dir}/${entry.name}`)
      : [];

  if (isFile(`${root}/README.md`)) files.push("README.md");
  if (existsSync(`${root}/docs`)) {
    for (const name of readdirSync(`${root}/docs`)) {
      if (name.endsWith(".md") && isFile(`${root}/docs/${name}`)) files.push(`docs/${name}`);
    }
  }
  for (const dir of subdirectories("packages")) {
    if (isFile(`${root}/${dir}/README.md`)) files.push(`${dir}/README.md`);
  }
  if (isFile(`${root}/examples/README.md`)) files.push("examples/README.md");
  const walk = (dir: string) => {
    for (const sub of subdirectories(dir)) {
      if (isFile(`${root}/${sub}/README.md`)) files.push(`${sub}/README.md`);
      walk(sub);
    }
  };
  walk("examples");
  return files.sort();
}

/**
 * Reads the TypeScript blocks and the snippet comments of one markdown text. Only top-level fences
 * count: a ` ```ts ` inside a longer ` ```` ` fence is content, not a block.
 *
 * @param file - The file's path relative to the repository root (used in messages).
 * @param text - The markdown.
 */
export function parseMarkdown(file: string, text: string): MarkdownSnippets {
  const lines = text.split(/\r?\n/);
  const result: MarkdownSnippets = { file, blocks: [], modules: [], problems: [] };
  /** Comments waiting for the block they annotate, and the line of the first one. */
  let pending: { line: number; skip?: string; moduleNames: string[] } | undefined;
  const specifiers = new Set<string>();
  const claim = (names: readonly string[], line: number) => {
    for (const name of names) {
      if (specifiers.has(name) || name === PRELUDE_SPECIFIER) {
        result.problems.push({ line, message: `module "${name}" is declared twice` });
      }
      specifiers.add(name);
    }
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      const indent = fence[1]!.length;
      const marker = fence[2]!;
      const info = fence[3]!.trim();
      const language = (info.split(/\s+/)[0] ?? "").toLowerCase();
      const body: string[] = [];
      let closed = false;
      let j = i + 1;
      for (; j < lines.length; j++) {
        const candidate = lines[j]!;
        const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(candidate);
        if (close && close[1]![0] === marker[0] && close[1]!.length >= marker.length) {
          closed = true;
          break;
        }
        body.push(stripIndent(candidate, indent));
      }
      const isTs = language === "ts" || language === "typescript";
      if (!closed) result.problems.push({ line: i + 1, message: "code fence is never closed" });
      if (isTs) {
        const block: CodeBlock = {
          line: i + 1,
          code: body.join("\n"),
          indent,
          moduleNames: pending?.moduleNames ?? [],
        };
        if (pending?.skip !== undefined) block.skip = pending.skip;
        result.blocks.push(block);
      } else if (pending) {
        result.problems.push({
          line: pending.line,
          message: `a snippet comment must be followed by a ts block, not a "${language || "plain"}" block`,
        });
      }
      pending = undefined;
      i = j;
      continue;
    }

    if (SNIPPET_COMMENT.test(line)) {
      const start = i;
      const commentLines = [line.slice(line.indexOf("<!--") + 4)];
      while (!commentLines[commentLines.length - 1]!.includes("-->") && i + 1 < lines.length) {
        commentLines.push(lines[++i]!);
      }
      const last = commentLines[commentLines.length - 1]!;
      if (!last.includes("-->")) {
        result.problems.push({ line: start + 1, message: "snippet comment is never closed with -->" });
        break;
      }
      commentLines[commentLines.length - 1] = last.slice(0, last.indexOf("-->"));
      const header = commentLines[0]!.trim().replace(/^snippet/, "");
      const bodyText = commentLines.slice(1).join("\n");
      const hasBody = bodyText.trim() !== "";

      if (header.startsWith("-prelude")) {
        if (header !== "-prelude") {
          result.problems.push({
            line: start + 1,
            message: "snippet-prelude takes its code on the next lines",
          });
        } else if (result.prelude) {
          result.problems.push({
            line: start + 1,
            message: `a second snippet-prelude (the first is at line ${result.prelude.line})`,
          });
        } else {
          result.prelude = { line: start + 1, code: bodyText };
        }
      } else if (header.startsWith("-module")) {
        const list = header.slice("-module".length).trim();
        const names = [...list.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
        if (names.length === 0 || list.replace(/"[^"]+"/g, "").trim() !== "") {
          result.problems.push({
            line: start + 1,
            message:
              'snippet-module takes one or more quoted specifiers: <!-- snippet-module "@/lib/mika" -->',
          });
        } else if (hasBody) {
          claim(names, start + 1);
          result.modules.push({ line: start + 1, code: bodyText, specifiers: names });
        } else {
          claim(names, start + 1);
          pending ??= { line: start + 1, moduleNames: [] };
          pending.moduleNames.push(...names);
        }
      } else {
        const skip = SKIP.exec(`${header}${hasBody ? `\n${bodyText}` : ""}`);
        const reason = skip?.[1]?.replace(/\s+/g, " ").trim();
        if (!skip) {
          result.problems.push({
            line: start + 1,
            message:
              'unknown snippet comment: use <!-- snippet: skip — reason -->, <!-- snippet-prelude … --> or <!-- snippet-module "spec" … -->',
          });
        } else if (!reason) {
          result.problems.push({
            line: start + 1,
            message: "a skipped block needs a reason: <!-- snippet: skip — why -->",
          });
        } else {
          pending ??= { line: start + 1, moduleNames: [] };
          pending.skip = reason;
        }
      }
      continue;
    }

    if (pending && line.trim() !== "") {
      result.problems.push({
        line: pending.line,
        message: "a snippet comment must be followed directly by its ts block (only blank lines between)",
      });
      pending = undefined;
    }
  }
  if (pending)
    result.problems.push({ line: pending.line, message: "a snippet comment is not followed by a ts block" });
  return result;
}

/** Removes up to `indent` leading spaces, as CommonMark does for the content of an indented fence. */
function stripIndent(line: string, indent: number): string {
  let removed = 0;
  while (removed < indent && line[removed] === " ") removed++;
  return line.slice(removed);
}

/** The names a module's top-level statements bind, and whether each has a value meaning. */
function topLevelBindings(code: string): Map<string, { value: boolean; exported: boolean }> {
  const source = ts.createSourceFile("bindings.ts", code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const names = new Map<string, { value: boolean; exported: boolean }>();
  const add = (name: string, value: boolean, exported = false) => {
    const known = names.get(name);
    names.set(name, {
      value: value || (known?.value ?? false),
      exported: exported || (known?.exported ?? false),
    });
  };
  const addBinding = (binding: ts.BindingName, exported: boolean) => {
    if (ts.isIdentifier(binding)) {
      add(binding.text, true, exported);
      return;
    }
    for (const element of binding.elements) {
      if (!ts.isOmittedExpression(element)) addBinding(element.name, exported);
    }
  };
  for (const statement of source.statements) {
    const exported =
      ts.canHaveModifiers(statement) &&
      (ts.getModifiers(statement)?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword) ??
        false);
    if (ts.isImportDeclaration(statement) || ts.isImportEqualsDeclaration(statement)) {
      if (ts.isImportEqualsDeclaration(statement)) {
        add(statement.name.text, !statement.isTypeOnly);
        continue;
      }
      const clause = statement.importClause;
      if (!clause) continue;
      if (clause.name) add(clause.name.text, !clause.isTypeOnly);
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) add(bindings.name.text, !clause.isTypeOnly);
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements)
          add(element.name.text, !clause.isTypeOnly && !element.isTypeOnly);
      }
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations)
        addBinding(declaration.name, exported);
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      add(statement.name.text, true, exported);
    } else if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) {
      add(statement.name.text, false, exported);
    } else if (ts.isModuleDeclaration(statement) && ts.isIdentifier(statement.name)) {
      add(statement.name.text, true, exported);
    }
  }
  return names;
}

/** A source the program reads from memory, and where its text sits in the markdown file. */
interface VirtualFile {
  doc: MarkdownSnippets;
  source: DiagnosticSource;
  /** The fence or comment line the diagnostics are grouped under. */
  at: number;
  /** Markdown line of the file's first line. */
  firstLine: number;
  /** Markdown line past which appended text (the prelude import) is reported. */
  lastLine: number;
  indent: number;
  text: string;
}

/** Parsed library and package files, shared by every check in this process (same options each time). */
const sourceCache = new Map<string, ts.SourceFile>();

/**
 * The compiler options of the check: `tsconfig.base.json` (strict, `noUncheckedIndexedAccess`,
 * `verbatimModuleSyntax`, bundler resolution, DOM and Node types), with what a snippet is not:
 * declarations and source maps are not emitted, every block is a module of its own, and unused
 * names are allowed (a handler's `(event, ctx)` parameters show the signature).
 *
 * @param root - The repository root.
 */
export function snippetCompilerOptions(root: string): ts.CompilerOptions {
  const config = ts.readConfigFile(`${root}/tsconfig.base.json`, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const raw = (config.config as { compilerOptions?: unknown }).compilerOptions ?? {};
  const converted = ts.convertCompilerOptionsFromJson(raw, root);
  if (converted.errors.length > 0) {
    throw new Error(
      converted.errors.map((error) => ts.flattenDiagnosticMessageText(error.messageText, "\n")).join("\n"),
    );
  }
  return {
    ...converted.options,
    noEmit: true,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    moduleDetection: ts.ModuleDetectionKind.Force,
    noUnusedLocals: false,
    noUnusedParameters: false,
    types: ["node"],
  };
}

/**
 * The directories whose `node_modules` resolve a bare specifier that the snippet's own directory does
 * not: every workspace package (`pnpm-workspace.yaml`), so `@mika/*` and the SDKs resolve through the
 * links pnpm made for the packages that depend on them.
 */
function workspaceDirs(root: string): string[] {
  const manifest = readFileSync(`${root}/pnpm-workspace.yaml`, "utf8");
  const patterns: string[] = [];
  let inPackages = false;
  for (const line of manifest.split(/\r?\n/)) {
    if (/^\S/.test(line)) inPackages = line.startsWith("packages:");
    const item = inPackages ? /^\s+-\s*["']?([^"'\s]+)["']?\s*$/.exec(line) : null;
    if (item) patterns.push(item[1]!);
  }
  const dirs: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith("/*")) {
      const parent = pattern.slice(0, -2);
      if (!existsSync(`${root}/${parent}`)) continue;
      for (const entry of readdirSync(`${root}/${parent}`, { withFileTypes: true }).sort((a, b) =>
        a.name.localeCompare(b.name),
      )) {
        if (entry.isDirectory() && existsSync(`${root}/${parent}/${entry.name}/node_modules`)) {
          dirs.push(`${root}/${parent}/${entry.name}`);
        }
      }
    } else if (existsSync(`${root}/${pattern}/node_modules`)) {
      dirs.push(`${root}/${pattern}`);
    }
  }
  return dirs;
}

/**
 * Typechecks every block of `docs` in one program. Each block is a virtual file next to its markdown
 * file (`packages/stripe/README.md.L16.ts`), so a bare import resolves from that package's
 * `node_modules` (and the package itself by its own name), then from any workspace package's.
 * Relative and alias imports (`"../lib/mika"`, `"@/lib/mika"`) resolve only to the file's
 * `snippet-module` comments: a block never reaches the repository's own sources.
 *
 * @param root - The repository root (with `tsconfig.base.json` and `pnpm-workspace.yaml`).
 * @param docs - The parsed markdown files; skipped blocks are left out.
 */
export function checkSnippets(root: string, docs: readonly MarkdownSnippets[]): SnippetReport {
  const options = snippetCompilerOptions(root);
  const virtual = new Map<string, VirtualFile>();
  /** Per markdown file: specifier → virtual file name. */
  const modulesOf = new Map<MarkdownSnippets, Map<string, string>>();

  for (const doc of docs) {
    const base = `${root}/${doc.file}`;
    const modules = new Map<string, string>();
    modulesOf.set(doc, modules);
    let preludeNames: Map<string, { value: boolean; exported: boolean }> | undefined;
    if (doc.prelude) {
      preludeNames = topLevelBindings(doc.prelude.code);
      const exports = [...preludeNames]
        .filter(([, binding]) => !binding.exported)
        .map(([name, binding]) => (binding.value ? name : `type ${name}`));
      const name = `${base}.L${doc.prelude.line}.ts`;
      const lines = doc.prelude.code.split("\n").length;
      virtual.set(name, {
        doc,
        source: "prelude",
        at: doc.prelude.line,
        firstLine: doc.prelude.line + 1,
        lastLine: doc.prelude.line + lines,
        indent: 0,
        text: `${doc.prelude.code}\nexport { ${exports.join(", ")} };\n`,
      });
      modules.set(PRELUDE_SPECIFIER, name);
    }
    for (const stub of doc.modules) {
      const name = `${base}.L${stub.line}.ts`;
      const lines = stub.code.split("\n").length;
      virtual.set(name, {
        doc,
        source: "module",
        at: stub.line,
        firstLine: stub.line + 1,
        lastLine: stub.line + lines,
        indent: 0,
        text: stub.code,
      });
      for (const specifier of stub.specifiers) modules.set(specifier, name);
    }
    for (const block of doc.blocks) {
      if (block.skip !== undefined) continue;
      const name = `${base}.L${block.line}.ts`;
      let text = block.code;
      if (preludeNames) {
        const own = topLevelBindings(block.code);
        const imported = [...preludeNames]
          .filter(([binding]) => !own.has(binding))
          .map(([binding, meaning]) => (meaning.value ? binding : `type ${binding}`));
        // Appended, not prepended: imports are hoisted, and the block's line numbers stay as written.
        if (imported.length > 0) text += `\nimport { ${imported.join(", ")} } from "${PRELUDE_SPECIFIER}";`;
      }
      const lines = block.code.split("\n").length;
      virtual.set(name, {
        doc,
        source: "block",
        at: block.line,
        firstLine: block.line + 1,
        lastLine: block.line + lines,
        indent: block.indent,
        text: `${text}\n`,
      });
      for (const specifier of block.moduleNames) modules.set(specifier, name);
    }
  }

  const anchors = workspaceDirs(root).map((dir) => `${dir}/__snippet_anchor__.ts`);
  const host = ts.createCompilerHost(options, true);
  // As tsc does: JSDoc is parsed only where it can carry types (JS files), not in the SDKs' .d.ts.
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  const readFromDisk = host.getSourceFile.bind(host);
  host.getCurrentDirectory = () => root;
  host.fileExists = (fileName) => virtual.has(fileName) || ts.sys.fileExists(fileName);
  host.readFile = (fileName) => virtual.get(fileName)?.text ?? ts.sys.readFile(fileName);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const file = virtual.get(fileName);
    if (file) return ts.createSourceFile(fileName, file.text, languageVersion, true, ts.ScriptKind.TS);
    const cached = sourceCache.get(fileName);
    if (cached) return cached;
    const parsed = readFromDisk(fileName, languageVersion, onError, shouldCreate);
    if (parsed) sourceCache.set(fileName, parsed);
    return parsed;
  };
  const cache = ts.createModuleResolutionCache(root, (fileName) => fileName, options);
  const resolve = (
    name: string,
    from: string,
    mode: ts.ResolutionMode,
    redirected?: ts.ResolvedProjectReference,
  ) => ts.resolveModuleName(name, from, options, host, cache, redirected, mode);
  host.resolveModuleNameLiterals = (literals, containingFile, redirected, _options, containingSource) =>
    literals.map((literal) => {
      const mode = ts.getModeForUsageLocation(containingSource, literal, options);
      const file = virtual.get(containingFile);
      if (!file) return resolve(literal.text, containingFile, mode, redirected);
      const own = modulesOf.get(file.doc)?.get(literal.text);
      if (own) {
        return {
          resolvedModule: {
            resolvedFileName: own,
            extension: ts.Extension.Ts,
            isExternalLibraryImport: false,
          },
        };
      }
      if (/^[./]/.test(literal.text)) return { resolvedModule: undefined };
      let resolved = resolve(literal.text, containingFile, mode, redirected);
      for (const anchor of anchors) {
        if (resolved.resolvedModule) break;
        resolved = resolve(literal.text, anchor, mode);
      }
      return resolved;
    });

  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });
  const format = (diagnostic: ts.Diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
  const setup = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(
    (diagnostic) => `TS${diagnostic.code}: ${format(diagnostic)}`,
  );
  const diagnostics: SnippetDiagnostic[] = [];
  for (const [fileName, file] of virtual) {
    const source = program.getSourceFile(fileName)!;
    for (const diagnostic of [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ]) {
      const position = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      diagnostics.push({
        file: file.doc.file,
        source: file.source,
        at: file.at,
        line: Math.min(file.firstLine + position.line, file.lastLine),
        column: position.character + 1 + file.indent,
        code: diagnostic.code,
        text: format(diagnostic),
      });
    }
  }
  return { setup, diagnostics };
}

/**
 * One line per diagnostic: `file:line:column TScode message`.
 *
 * @param diagnostic - A diagnostic from {@link checkSnippets}.
 */
export function formatSnippetDiagnostic(diagnostic: SnippetDiagnostic): string {
  return `${diagnostic.file}:${diagnostic.line}:${diagnostic.column} TS${diagnostic.code}: ${diagnostic.text}`;
}

/**
 * The `types` entry points of the workspace packages under `packages/` that are not built yet: the
 * check reads the packages' `dist`, so an unbuilt package would fail every block that imports it.
 *
 * @param root - The repository root.
 * @returns Missing files, relative to `root`.
 */
export function missingBuilds(root: string): string[] {
  const missing: string[] = [];
  for (const name of readdirSync(`${root}/packages`)) {
    const manifestPath = `${root}/packages/${name}/package.json`;
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { types?: string };
    if (manifest.types && !existsSync(`${root}/packages/${name}/${manifest.types}`)) {
      missing.push(`packages/${name}/${manifest.types.replace(/^\.\//, "")}`);
    }
  }
  return missing;
}
