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

/** Resolves a {@link MikaSource} once; a factory that throws is tried again on the next call. */
export function lazyMika<M extends MikaHandlerHost>(source: MikaSource<M>): () => Promise<M> {
  if (typeof source !== "function") {
    const ready = Promise.resolve(source);
    return () => ready;
  }
  let pending: Promise<M> | undefined;
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
