/**
 * `@mika/next`: Next.js App Router route handlers over `mika.handler`. They hand Next's `Request`
 * to Mika untouched (the body is never read here), so webhook signatures verify over the exact bytes.
 *
 * @packageDocumentation
 */
import { lazyHandler, lazyMika, type MikaHandlerHost, type MikaSource } from "@mika/backend";

/** A route handler Next accepts as an exported `GET` / `POST` of a `route.ts`. */
export type MikaRouteHandler = (request: Request) => Promise<Response>;

/** The exports of `app/api/mika/[...path]/route.ts`. */
export interface MikaRouteHandlers {
  GET: MikaRouteHandler;
  POST: MikaRouteHandler;
}

/**
 * Creates `{ GET, POST }` for a catch-all route at Mika's base path (default `/api/mika`).
 *
 * @example
 * ```ts
 * // app/api/mika/[...path]/route.ts
 * import { createMikaHandler } from "@mika/next";
 * import { getMika } from "@/lib/mika"; // lazyMika(() => createMika({ ... }))
 *
 * export const runtime = "nodejs";
 * export const dynamic = "force-dynamic";
 * export const { GET, POST } = createMikaHandler(getMika);
 * ```
 */
export function createMikaHandler(mika: MikaSource): MikaRouteHandlers {
  const handle: MikaRouteHandler = lazyHandler(mika);
  return { GET: handle, POST: handle };
}

export { lazyMika, type MikaHandlerHost, type MikaSource };
