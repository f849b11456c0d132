/** The built SvelteKit example end to end: signed webhooks, the orders page, and a real browser checkout. */
import { fileURLToPath } from "node:url";
import { describeExampleApp } from "@mika/example-shared/harness";

const dir = fileURLToPath(new URL("..", import.meta.url));

describeExampleApp({
  name: "sveltekit",
  dir,
  builtMarker: "build/index.js",
  command: (port) => ({
    command: process.execPath,
    args: ["serve.js"], // what `pnpm start` runs: build/ with BODY_SIZE_LIMIT=2M
    env: { HOST: "127.0.0.1", PORT: String(port), ORIGIN: `http://127.0.0.1:${port}` },
  }),
});
