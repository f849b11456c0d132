/** Helpers the framework bindings share: a Mika instance, or a factory resolved on first use. */
import { err } from "@mika/types";
import { envelopeResponse } from "./http.js";

/** What a binding needs from a Mika instance: its Web-standard handler. */
export interface MikaHandlerHost {
  handler(request: Request): Promise<Response>;
}

/**
 * A Mika instance, or a function that returns one (sync or async). A function is called on the first
 * request only, so nothing (store file, SDK clients) is opened while a framework build imports the route.
 */
export type MikaSource<M extends MikaHandlerHost = MikaHandlerHost> = M | (() => M | Promise<M>);

/** The getter of each factory already seen, so every binding that is handed one factory shares it. */
const getters = new WeakMap<object, () => Promise<MikaHandlerHost>>();

/**
 * Resolves a {@link MikaSource} once; a factory that throws is tried again on the next call. One
 * factory gives one instance however many bindings are handed it (a route and a hook or middleware
 * alike): its getter is shared.
 */
export function lazyMika<M extends MikaHandlerHost>(source: MikaSource<M>): () => Promise<M> {
  if (typeof source !== "function") {
    const ready = Promise.resolve(source);
    return () => ready;
  }
  const known = getters.get(source);
  if (known) return known as () => Promise<M>;
  let pending: Promise<M> | undefined;
  const get = () => {
    pending ??= Promise.resolve()
      .then(source)
      .catch((error: unknown) => {
        pending = undefined;
        throw error;
      });
    return pending;
  };
  getters.set(source, get);
  return get;
}

function logStartFailure(error: unknown): void {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`[mika] could not start (the next request tries again): ${reason}`);
}

/**
 * The answer to a request when the Mika factory threw: a 500 `INTERNAL` envelope, and the error's
 * message on the console (no Mika logger exists yet). The response never repeats the message: a
 * factory's error may name configuration a visitor should not see.
 */
export function startFailure(error: unknown): Response {
  logStartFailure(error);
  return envelopeResponse(
    err(
      "INTERNAL",
      "Mika could not start on this server; the server log says why. Fix the configuration: the next request tries again.",
    ),
  );
}

/**
 * A Web handler over a {@link MikaSource}: the source's `handler`, built on first use by
 * {@link lazyMika}. A factory that throws is answered by {@link startFailure} (a JSON envelope, not
 * the framework's error page) and tried again by the next request.
 */
export function lazyHandler(source: MikaSource): (request: Request) => Promise<Response> {
  const get = lazyMika(source);
  return async (request) => {
    let mika: MikaHandlerHost;
    try {
      mika = await get();
    } catch (error) {
      return startFailure(error);
    }
    return mika.handler(request);
  };
}

/**
 * For hooks and middleware that serve pages too: the getter of {@link lazyMika}, except that a factory
 * that throws is logged (as {@link startFailure} does) and gives `undefined`, so pages that do not
 * need Mika still render. The factory is tried again on the next call.
 */
export function optionalMika<M extends MikaHandlerHost>(source: MikaSource<M>): () => Promise<M | undefined> {
  const get = lazyMika(source);
  return () =>
    get().catch((error: unknown) => {
      logStartFailure(error);
      return undefined;
    });
}
