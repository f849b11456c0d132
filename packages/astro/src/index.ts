/**
 * `@mika/astro`: Astro API routes over `mika.handler`, and a middleware that puts `mika` on
 * `Astro.locals` for pages. The request is handed to Mika untouched (the body is never read here), so
 * webhook signatures verify over the exact bytes.
 *
 * @packageDocumentation
 */
import { lazyHandler, lazyMika, type MikaHandlerHost, type MikaSource, optionalMika } from "@mika/backend";
import type { APIContext, APIRoute, MiddlewareHandler } from "astro";

/** The exports of `src/pages/api/mika/[...path].ts`. */
export interface MikaRoutes {
  GET: APIRoute;
  POST: APIRoute;
  /** Any other method: Mika answers 405 with an `Allow` header. */
  ALL: APIRoute;
}

/**
 * Creates the API routes for a rest route at Mika's base path (default `/api/mika`). The page must be
 * rendered on demand: `export const prerender = false` (or `output: "server"`).
 *
 * @example
 * ```ts
 * // src/pages/api/mika/[...path].ts
 * import { createMikaRoutes } from "@mika/astro";
 * import { getMika } from "../../../lib/mika"; // lazyMika(() => createMika({ ... }))
 *
 * export const prerender = false;
 * export const { GET, POST, ALL } = createMikaRoutes(getMika);
 * ```
 */
export function createMikaRoutes(mika: MikaSource): MikaRoutes {
  const handle = lazyHandler(mika);
  const route: APIRoute = (context: APIContext) => handle(context.request);
  return { GET: route, POST: route, ALL: route };
}

/**
 * An Astro middleware that sets `context.locals.mika`, so pages and endpoints reach the same instance
 * as `Astro.locals.mika`. Declare the type once in `src/env.d.ts`:
 * `declare namespace App { interface Locals { mika: import("@mika/backend").Mika } }`.
 *
 * @example
 * ```ts
 * // src/middleware.ts
 * import { mikaMiddleware } from "@mika/astro";
 * import { getMika } from "./lib/mika"; // lazyMika(() => createMika({ ... }))
 *
 * export const onRequest = mikaMiddleware(getMika);
 * ```
 */
export function mikaMiddleware<M extends MikaHandlerHost>(mika: MikaSource<M>): MiddlewareHandler {
  const get = optionalMika(mika);
  return async (context, next) => {
    // A prerendered page runs the middleware during `astro build`: Mika (store, secrets) is not built then.
    if (!context.isPrerendered) {
      const instance = await get();
      if (instance) (context.locals as { mika?: M }).mika = instance;
    }
    return next();
  };
}

export { lazyMika, type MikaHandlerHost, type MikaSource };
