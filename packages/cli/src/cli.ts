#!/usr/bin/env node
/** The `mika` executable. */
import { runCli } from "./program.js";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mika: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
