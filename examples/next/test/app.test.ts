/** The built Next example end to end: signed webhooks, the orders page, and a real browser checkout. */
import { fileURLToPath } from "node:url";
import { describeExampleApp } from "@mika/example-shared/harness";

const dir = fileURLToPath(new URL("..", import.meta.url));

describeExampleApp({
  name: "next",
  dir,
  builtMarker: ".next/BUILD_ID",
  command: (port) => ({
    command: process.execPath,
    args: ["node_modules/next/dist/bin/next", "start", "--hostname", "127.0.0.1", "--port", String(port)],
  }),
});
