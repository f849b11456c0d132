#!/usr/bin/env node
/** The `mika` executable. */
import { runCli } from "./program.js";

// `mika events list | head`: a reader that closes the pipe early ends the command quietly, as Unix
// tools do, instead of crashing on EPIPE.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(0);
});

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mika: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
