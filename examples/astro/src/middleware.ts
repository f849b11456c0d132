import { mikaMiddleware } from "@mika/astro";
import { getMika } from "@mika/example-shared";

// Astro.locals.mika in every page and endpoint (built on the first request).
export const onRequest = mikaMiddleware(getMika);
