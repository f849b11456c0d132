/** Helpers the framework bindings share: a Mika instance, or a factory resolved on first use. */

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
