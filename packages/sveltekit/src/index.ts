/**
 * `@mika/sveltekit`: SvelteKit request handlers over `mika.handler`, and an optional `handle` hook
 * that puts `mika` on `event.locals` (and can answer Mika's routes itself). The request is handed to
 * Mika untouched (the body is never read here), so webhook signatures verify over the exact bytes.
 *
 * @packageDocumentation
 */
import { lazyHandler, lazyMika, type MikaHandlerHost, type MikaSource, optionalMika } from "@mika/backend";
import type { Handle, RequestEvent, RequestHandler } from "@sveltejs/kit";

/** The exports of `src/routes/api/mika/[...path]/+server.ts`. */
export interface MikaHandlers {
  GET: RequestHandler;
  POST: RequestHandler;
  /** Any other method: Mika answers 405 with an `Allow` header. */
  fallback: RequestHandler;
}

/** Options of {@link mikaHandle}. */
export interface MikaHandleOptions {
  /**
   * Answer requests under this path with `mika.handler` from the hook, before any route runs (then no
   * `+server.ts` is needed). Must equal Mika's `config.basePath`. Default `false`: only set
   * `event.locals.mika`.
   */
  basePath?: string | false;
}

/**
 * Creates the request handlers for a rest route at Mika's base path (default `/api/mika`).
 *
 * @example
 * ```ts
 * // src/routes/api/mika/[...path]/+server.ts
 * import { createMikaHandlers } from "@mika/sveltekit";
 * import { getMika } from "$lib/server/mika"; // lazyMika(() => createMika({ ... }))
 *
 * export const { GET, POST, fallback } = createMikaHandlers(getMika);
 * ```
 */
export function createMikaHandlers(mika: MikaSource): MikaHandlers {
  const handle = lazyHandler(mika);
  const handler: RequestHandler = (event: RequestEvent) => handle(event.request);
  return { GET: handler, POST: handler, fallback: handler };
}

/**
 * A `handle` hook that sets `event.locals.mika`; with `basePath` it also answers Mika's routes. Declare
 * the type once in `src/app.d.ts`: `interface Locals { mika: import("@mika/backend").Mika }`.
 *
 * @example
 * ```ts
 * // src/hooks.server.ts
 * import { mikaHandle } from "@mika/sveltekit";
 * import { getMika } from "$lib/server/mika"; // lazyMika(() => createMika({ ... }))
 *
 * export const handle = mikaHandle(getMika); // combine with others through `sequence` from @sveltejs/kit/hooks
 * ```
 */
export function mikaHandle<M extends MikaHandlerHost>(
  mika: MikaSource<M>,
  options: MikaHandleOptions = {},
): Handle {
  const get = optionalMika(mika);
  const handle = lazyHandler(mika);
  const base = options.basePath ? options.basePath.replace(/\/+$/, "") : undefined;
  return async ({ event, resolve }) => {
    const path = event.url.pathname;
    // Mika's routes get an envelope when the factory throws; other pages render without `locals.mika`.
    if (base !== undefined && (path === base || path.startsWith(`${base}/`))) return handle(event.request);
    const instance = await get();
    if (instance) (event.locals as { mika?: M }).mika = instance;
    return resolve(event);
  };
}

export { lazyMika, type MikaHandlerHost, type MikaSource };
