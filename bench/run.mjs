// `pnpm bench`: builds nothing; runs every bench/*.bench.mjs in its own process, in name order.
// Build first (`pnpm build`). Pass names to run a subset: `pnpm bench stripe paddle`.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.mjs"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n## ${file}`);
  const result = spawnSync(process.execPath, [join(here, file)], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
if (files.length === 0) console.log("no benchmarks matched");
process.exit(failed ? 1 : 0);
