import { createMikaRoutes } from "@mika/astro";
import { getMika } from "@mika/example-shared";

// Webhooks, checkout start / status / cancel: every Mika route, rendered on demand.
export const prerender = false;
export const { GET, POST, ALL } = createMikaRoutes(getMika);
