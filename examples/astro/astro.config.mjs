// @ts-check
import node from "@astrojs/node";
import { defineConfig } from "astro/config";

export default defineConfig({
  // Every page reads the environment or the ledger at request time.
  output: "server",
  adapter: node({ mode: "standalone" }),
  // security.checkOrigin stays on (the default): it only refuses cross-site form posts, and
  // providers send webhooks as application/json.
});
