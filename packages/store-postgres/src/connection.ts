/**
 * Borrowing pooled clients so that a lost connection is an error of the transaction using it, never a
 * crash. node-postgres reports a connection the server ends (a restart, a failover, an administrator,
 * an idle timeout) as an `'error'` event on the client, or on the pool while the client is idle; an
 * `'error'` event nobody listens to ends the Node process.
 */
import type { Socket } from "node:net";
import type pg from "pg";

/** How long the store waits for the database (ms; 0: as long as the operating system lets it). */
export interface Deadlines {
  /** For a connection from the pool (a new one includes the TCP connect and Postgres' startup). */
  connectMs: number;
  /** For the answer to one statement (or one round trip of several). */
  queryMs: number;
}

/** A client the store holds, with the connection error it met while held (if any). */
export interface Borrowed {
  /**
   * The client's `query`, its answer awaited at most `deadlines.queryMs` (0: no limit): a connection
   * that stays silent longer is treated as lost (`lost()` says why) and closed, which fails the query.
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    config: string | pg.QueryConfig,
  ): Promise<pg.QueryResult<R>>;
  /** The error that ended the connection while the store held it. */
  lost(): Error | undefined;
  /** Hands the client back; the pool closes it instead of reusing it after an error (given or seen). */
  release(error?: Error): void;
}

/** The database did not answer in time; the store closed the connection. */
export class DatabaseTimeout extends Error {
  readonly code = "ETIMEDOUT";
  constructor(message: string) {
    super(message);
    this.name = "DatabaseTimeout";
  }
}

/**
 * Checks a client out of `pool`, listening for its connection errors until it is released. A pool
 * that gives no client within `deadlines.connectMs` (a database host that vanished, a full pool that
 * never frees) or cannot connect at all gets an error that says so; a client it gives late goes back.
 */
export async function borrow(pool: pg.Pool, onLost: () => void, deadlines: Deadlines): Promise<Borrowed> {
  const client = await connect(pool, deadlines.connectMs);
  let lostError: Error | undefined;
  const listener = (error: Error) => {
    if (lostError) return;
    lostError = error;
    onLost();
  };
  client.on("error", listener);
  const { queryMs } = deadlines;
  return {
    query(config) {
      const answer = client.query(config as pg.QueryConfig);
      if (!(queryMs > 0)) return answer;
      const timer = setTimeout(() => {
        listener(
          new DatabaseTimeout(
            `the database sent no answer within ${queryMs} ms (queryTimeoutMs), so the store closed the connection`,
          ),
        );
        // Closing the socket fails every query still waiting on it, as a dropped connection does.
        const stream = socketOf(client);
        if (stream) stream.destroy();
        else void client.end().catch(() => undefined);
      }, queryMs);
      return answer.finally(() => clearTimeout(timer));
    },
    lost: () => lostError,
    release(error) {
      client.off("error", listener);
      client.release(error ?? lostError);
    },
  };
}

async function connect(pool: pg.Pool, connectMs: number): Promise<pg.PoolClient> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const connecting = pool.connect();
  try {
    if (!(connectMs > 0)) return await connecting;
    return await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(
            new DatabaseTimeout(
              `postgresStore: no connection to the database within ${connectMs} ms (connectTimeoutMs). ` +
                "Nothing was written: check that Postgres is up and reachable (and that the pool is not exhausted), then retry.",
            ),
          );
        }, connectMs);
      }),
    ]);
  } catch (error) {
    if (timedOut) {
      // The pool may still hand out the client it was getting: give it straight back.
      connecting.then(
        (late) => late.release(),
        () => undefined,
      );
      throw error;
    }
    throw new Error(
      `postgresStore: could not connect to the database (${reason(error)}). ` +
        "Nothing was written: check that Postgres is up and reachable at the configured address, then retry.",
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `error` says the connection is gone (rather than that Postgres refused a statement). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    // SQLSTATE class 08 (connection exception) and 57P01–57P03 (the server is shutting down).
    if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code)) return true;
    if (["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT"].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|not queryable|Client was closed/i.test(message);
}

const reason = (cause: unknown) =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : "no reason given";

/** A transaction's connection ended under it; `outcome` says whether it can have committed. */
export class ConnectionLost extends Error {
  constructor(
    message: string,
    readonly outcome: "not-committed" | "unknown",
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = "ConnectionLost";
  }
}

/** The error of a transaction whose connection was lost before it committed: nothing of it was kept. */
export function lostBeforeCommit(cause: unknown): ConnectionLost {
  return new ConnectionLost(
    `postgresStore: the connection to the database was lost during the transaction (${reason(cause)}). ` +
      "Nothing of it was committed: retry it (the store opens a new connection).",
    "not-committed",
    cause,
  );
}

/** The error of a transaction whose connection was lost while it committed: it may or may not be kept. */
export function lostDuringCommit(cause: unknown): ConnectionLost {
  return new ConnectionLost(
    `postgresStore: the connection to the database was lost during COMMIT (${reason(cause)}), so whether ` +
      "the transaction was committed is unknown. Read back what it wrote before you retry it, or retry " +
      "it only if it is idempotent (Mika's webhook receive is: a redelivered event is recognized).",
    "unknown",
    cause,
  );
}

/** The socket under a pg client (pg keeps it on `connection.stream`, outside its types). */
export function socketOf(client: pg.ClientBase): Socket | undefined {
  return (client as unknown as { connection?: { stream?: Socket } }).connection?.stream;
}

/**
 * How long `close()` lets the database close its end of the store's connections (ms) before the store
 * closes them itself. Postgres does so as soon as it reads the goodbye, so this only runs out when the
 * database host has gone silent.
 */
export const CLOSE_GRACE_MS = 1000;

/**
 * Waits until every socket in `sockets` has closed, for at most `graceMs`, then destroys those still
 * open. Ending a pg client writes its goodbye and half-closes the socket, which then stays open until
 * the database closes its end: a host that vanished never does, and its half-open sockets would keep
 * the process from exiting and their descriptors open for as long as it runs.
 */
export async function closeSockets(sockets: Iterable<Socket>, graceMs: number): Promise<void> {
  const open = [...sockets].filter((socket) => !socket.closed);
  if (open.length === 0) return;
  const closed = Promise.all(open.map((socket) => new Promise((resolve) => socket.once("close", resolve))));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  for (const socket of open) socket.destroy();
  await closed;
}
