/** The built Astro example end to end: signed webhooks, the orders page, and a real browser checkout. */
import { fileURLToPath } from "node:url";
import { describeExampleApp } from "@mika/example-shared/harness";

const dir = fileURLToPath(new URL("..", import.meta.url));

describeExampleApp({
  name: "astro",
  dir,
  builtMarker: "dist/server/entry.mjs",
  command: (port) => ({
    command: process.execPath,
    args: ["dist/server/entry.mjs"],
    env: { HOST: "127.0.0.1", PORT: String(port) },
  }),
});
