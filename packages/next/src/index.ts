/**
 * `@mika/next`: Next.js App Router route handlers over `mika.handler`. They hand Next's `Request`
 * to Mika untouched (the body is never read here), so webhook signatures verify over the exact bytes.
 *
 * @packageDocumentation
 */

/** What the binding needs from a Mika instance: its Web-standard handler. */
export interface MikaHandlerHost {
  handler(request: Request): Promise<Response>;
}

/**
 * A Mika instance, or a function that returns one (sync or async). A function is called on the first
 * request only, so nothing (store file, SDK clients) is opened while `next build` imports the route.
 */
export type MikaSource = MikaHandlerHost | (() => MikaHandlerHost | Promise<MikaHandlerHost>);

/** A route handler Next accepts as an exported `GET` / `POST` of a `route.ts`. */
export type MikaRouteHandler = (request: Request) => Promise<Response>;

/** The exports of `app/api/mika/[...path]/route.ts`. */
export interface MikaRouteHandlers {
  GET: MikaRouteHandler;
  POST: MikaRouteHandler;
}

/** Resolves a {@link MikaSource} once (a rejected factory is retried on the next request). */
export function lazyMika(source: MikaSource): () => Promise<MikaHandlerHost> {
  if (typeof source !== "function") {
    const ready = Promise.resolve(source);
    return () => ready;
  }
  let pending: Promise<MikaHandlerHost> | undefined;
  return () => {
    pending ??= Promise.resolve()
      .then(source)
      .catch((error: unknown) => {
        pending = undefined;
        throw error;
      });
    return pending;
  };
}

/**
 * Creates `{ GET, POST }` for a catch-all route at Mika's base path (default `/api/mika`).
 *
 * @example
 * ```ts
 * // app/api/mika/[...path]/route.ts
 * import { createMikaHandler } from "@mika/next";
 * import { mika } from "@/lib/mika";
 *
 * export const runtime = "nodejs";
 * export const dynamic = "force-dynamic";
 * export const { GET, POST } = createMikaHandler(mika);
 * ```
 */
export function createMikaHandler(mika: MikaSource): MikaRouteHandlers {
  const get = lazyMika(mika);
  const handle: MikaRouteHandler = async (request) => (await get()).handler(request);
  return { GET: handle, POST: handle };
}
