/** Opening the store the ops commands work on: a SQLite file (default) or a Postgres database. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createMika, type EventHandlers, type Logger, type Mika } from "@mika/backend";
import { EVENT_KINDS, MIKA_SCHEMA, type MikaStore } from "@mika/types";

/** Where the ops commands find the store. */
export interface StoreTarget {
  /** A SQLite file (default `./mika.db`, or `MIKA_DB`). */
  db?: string;
  /** A Postgres connection string (or `MIKA_POSTGRES_URL`); needs `@mika/store-postgres` and `pg`. */
  postgres?: string;
  /** The Postgres schema holding Mika's tables. */
  schema?: string;
}

/** A store that could not be opened (exit code 1). */
export class StoreError extends Error {
  override readonly name = "StoreError";
}

/** Which store a target names, for messages (never the password of a connection string). */
export function describeTarget(target: StoreTarget): string {
  if (target.postgres) {
    try {
      const url = new URL(target.postgres);
      if (url.password) url.password = "***";
      // pg and libpq also take it as a parameter (`?password=…`, `sslpassword=…`)
      for (const key of [...url.searchParams.keys()]) if (/pass/i.test(key)) url.searchParams.set(key, "***");
      return `postgres ${url.toString()}${target.schema ? ` (schema ${target.schema})` : ""}`;
    } catch {
      return "postgres (connection string not a URL)";
    }
  }
  return `sqlite ${resolve(target.db ?? "mika.db")}`;
}

/**
 * Opens the store. With `mustExist` (every command but `migrate`), a SQLite file that is not there, or
 * a Postgres schema without Mika's tables, is an error rather than a new empty database.
 */
export async function openStore(
  target: StoreTarget,
  options: { mustExist?: boolean } = {},
): Promise<MikaStore> {
  if (target.postgres) {
    let mod: typeof import("@mika/store-postgres");
    try {
      mod = await import("@mika/store-postgres");
    } catch {
      throw new StoreError(
        "--postgres needs @mika/store-postgres and pg next to @mika/cli: pnpm add @mika/store-postgres pg",
      );
    }
    const store = mod.postgresStore({
      connectionString: target.postgres,
      ...(target.schema ? { schema: target.schema } : {}),
    });
    return options.mustExist ? atCurrentVersion(store, target) : store;
  }
  const file = target.db ?? "mika.db";
  if (options.mustExist && file !== ":memory:" && !existsSync(file)) {
    throw new StoreError(
      `No database at ${resolve(file)}: pass --db <file> (or --postgres <url>), or create one with \`mika migrate\`.`,
    );
  }
  if (options.mustExist && file !== ":memory:") {
    // Read the version through a read-only handle first: opening the store itself sets WAL mode,
    // a write to a file that may not be Mika's at all.
    const version = await sqliteVersion(file);
    if (version !== MIKA_SCHEMA.version) throw versionError(target, version);
  }
  const { sqliteStore } = await import("@mika/store-sqlite");
  const store = sqliteStore({ file });
  return options.mustExist ? atCurrentVersion(store, target) : store;
}

/** The Mika schema version of a SQLite file, read without writing to it (0: no Mika tables). */
async function sqliteVersion(file: string): Promise<number> {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const meta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mika_meta'").get();
    if (!meta) return 0;
    const row = db.prepare("SELECT version FROM mika_meta WHERE id = 'schema'").get() as
      | { version: number }
      | undefined;
    return row ? Number(row.version) : 0;
  } catch (error) {
    throw new StoreError(`${resolve(file)} is not a SQLite database Mika can read (${String(error)}).`);
  } finally {
    db.close();
  }
}

function versionError(target: StoreTarget, version: number): StoreError {
  return version === 0
    ? new StoreError(
        `No Mika tables in ${describeTarget(target)}: check --db / --schema (or MIKA_PG_SCHEMA), or create them with \`mika migrate\`.`,
      )
    : new StoreError(
        `${describeTarget(target)} holds Mika schema version ${version}; this CLI needs ${MIKA_SCHEMA.version}. Upgrade the app's Mika packages, then run \`mika migrate\` deliberately (it is never done behind the app's back).`,
      );
}

/**
 * The store, if it holds Mika's tables at this CLI's schema version; else closed, with an error. A
 * command that must find a database never creates tables nor migrates the app's schema behind its
 * back: `schemaVersion()` only reads, while the store's first transaction would do both.
 */
async function atCurrentVersion(store: MikaStore, target: StoreTarget): Promise<MikaStore> {
  const version = await versionOrClose(store);
  if (version === MIKA_SCHEMA.version) return store;
  await store.close().catch(() => undefined);
  throw versionError(target, version);
}

/** The store's schema version; the store is closed when it is 0 or cannot be read. */
async function versionOrClose(store: MikaStore): Promise<number> {
  try {
    const version = await store.schemaVersion();
    if (version === 0) await store.close();
    return version;
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}

/** A logger for the CLI: warnings and errors to stderr, info only when verbose. Never stdout. */
export function cliLogger(verbose: boolean): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(
      `[mika] ${level} ${message}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ""}\n`,
    );
  return {
    info: (message, fields) => {
      if (verbose) write("info", message, fields);
    },
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

/** Never called (`runHandlers: false`): the runs it stands for are left to the host app. */
const handledByTheApp = () => {
  throw new Error("host handlers run in the app, not in the mika CLI");
};

/**
 * A Mika instance over a store with no providers: enough for listing, replaying (the stored normalized
 * event is applied; no provider is asked), maintenance and the ledger views. Host handler and
 * notification runs are recorded for every kind, as the app would, and left for the app to execute.
 */
export function opsMika(store: MikaStore, verbose = false): Mika {
  const on = Object.fromEntries(EVENT_KINDS.map((kind) => [kind, handledByTheApp])) as EventHandlers;
  return createMika({
    providers: [],
    store,
    on,
    notifications: { handle: handledByTheApp },
    // record handler and notification runs as the app would, but leave executing them to the app
    config: { logger: cliLogger(verbose), runHandlers: false },
  });
}
