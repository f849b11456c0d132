/** The backend's shared state, built once by `createMika` and passed to every module. */
import { err, isStoreClosedError, type MikaErr, type MikaStore, type PaymentProvider } from "@mika/types";
import { type RunResultQueue, runResultQueue } from "./handlers.js";
import type { CreateMikaOptions, EventHandlers, Logger, NotificationsConfig } from "./types.js";
import { defaultCreateId, errorMessage } from "./util.js";

/** Resolved configuration and collaborators. */
export interface Engine {
  store: MikaStore;
  providers: Map<string, PaymentProvider>;
  handlers: EventHandlers;
  notifications: NotificationsConfig | undefined;
  logger: Logger;
  now: () => number;
  createId: (prefix: string) => string;
  basePath: string;
  /** What the public `POST /checkout` route takes (see `MikaConfig.publicCheckout`). */
  publicCheckout: { inlinePrices: boolean; redirectOrigins: readonly string[] | undefined };
  maxBodyBytes: number;
  processing: "inline" | "deferred";
  runHandlers: boolean;
  livemode: boolean | undefined;
  authorize: (request: Request) => boolean | Promise<boolean>;
  retry: { baseMs: number; maxMs: number; maxAttempts: number };
  rawPayloadRetentionMs: number;
  /** Ops calls to the provider for one checkout are at most this often (status reconciliation). */
  statusCheckIntervalMs: number;
  /** Results of inline handler runs waiting to be written. */
  runResults: RunResultQueue;
}

const consoleLogger: Logger = {
  info: (message, fields) => console.info(`[mika] ${message}`, fields ?? ""),
  warn: (message, fields) => console.warn(`[mika] ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`[mika] ${message}`, fields ?? ""),
};

/** Builds the engine from `createMika`'s options, validating them. */
export function createEngine(options: CreateMikaOptions): Engine {
  if (!options || !Array.isArray(options.providers)) {
    throw new TypeError("createMika needs { providers: [...], store }: pass at least one provider.");
  }
  if (!options.store || typeof options.store.transaction !== "function") {
    throw new TypeError(
      "createMika needs a store: memoryStore() for tests, sqliteStore() or postgresStore() for real.",
    );
  }
  const providers = new Map<string, PaymentProvider>();
  for (const provider of options.providers) {
    if (providers.has(provider.name)) {
      throw new TypeError(`Two providers are named "${provider.name}": give each a distinct name.`);
    }
    providers.set(provider.name, provider);
  }
  const config = options.config ?? {};
  const basePath = (config.basePath ?? "/api/mika").replace(/\/+$/, "");
  const now = options.now ?? (() => new Date());
  return {
    store: options.store,
    providers,
    handlers: options.on ?? {},
    notifications: options.notifications,
    logger: config.logger ?? consoleLogger,
    now: () => now().getTime(),
    createId: options.createId ?? defaultCreateId,
    basePath,
    publicCheckout: {
      inlinePrices: config.publicCheckout?.inlinePrices ?? false,
      redirectOrigins: config.publicCheckout?.redirectOrigins?.map((origin) => new URL(origin).origin),
    },
    maxBodyBytes: config.maxBodyBytes ?? 1024 * 1024,
    processing: config.processing ?? "inline",
    runHandlers: config.runHandlers ?? true,
    livemode: config.livemode,
    authorize: config.authorize ?? (() => false),
    retry: {
      baseMs: config.retry?.baseMs ?? 10_000,
      maxMs: config.retry?.maxMs ?? 60 * 60 * 1000,
      maxAttempts: config.retry?.maxAttempts ?? 15,
    },
    rawPayloadRetentionMs: (config.rawPayloadRetentionDays ?? 30) * 24 * 60 * 60 * 1000,
    statusCheckIntervalMs: 5_000,
    runResults: runResultQueue(),
  };
}

/** Seconds a caller is told to wait when the store is closed: long enough for an app to restart. */
export const STORE_CLOSED_RETRY_AFTER_S = 5;

/**
 * The answer when the store was closed under a request (the app is stopping, or the host closed the
 * store too early): `INTERNAL` with `retryAfter`, so that the caller, or a webhook's sender, tries again.
 */
export function storeClosed(what: string, outcome = "nothing was written"): MikaErr {
  return err(
    "INTERNAL",
    `${what} could not run because Mika's store is closed (the app is shutting down, or the store was closed while Mika still took requests); ${outcome}. Retry shortly.`,
    { retryAfter: STORE_CLOSED_RETRY_AFTER_S },
  );
}

/**
 * Runs a store operation and turns a store failure into an `INTERNAL` envelope (logged with the cause,
 * answered without it).
 */
export async function guarded<T>(engine: Engine, what: string, fn: () => Promise<T>): Promise<T | MikaErr> {
  try {
    return await fn();
  } catch (error) {
    if (isStoreClosedError(error)) {
      engine.logger.warn(`${what} refused: the store is closed`);
      return storeClosed(what);
    }
    engine.logger.error(`${what} failed`, { error: errorMessage(error) });
    return err("INTERNAL", `${what} failed inside Mika (see the server log); retry later.`);
  }
}
