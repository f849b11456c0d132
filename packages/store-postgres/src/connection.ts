/**
 * Borrowing pooled clients so that a lost connection is an error of the transaction using it, never a
 * crash. node-postgres reports a connection the server ends (a restart, a failover, an administrator,
 * an idle timeout) as an `'error'` event on the client, or on the pool while the client is idle; an
 * `'error'` event nobody listens to ends the Node process.
 */
import type pg from "pg";

/** A client the store holds, with the connection error it met while held (if any). */
export interface Borrowed {
  client: pg.PoolClient;
  /** The error that ended the connection while the store held it. */
  lost(): Error | undefined;
  /** Hands the client back; the pool closes it instead of reusing it after an error (given or seen). */
  release(error?: Error): void;
}

/** Checks a client out of `pool`, listening for its connection errors until it is released. */
export async function borrow(pool: pg.Pool, onLost: () => void): Promise<Borrowed> {
  const client = await pool.connect();
  let lostError: Error | undefined;
  const listener = (error: Error) => {
    if (lostError) return;
    lostError = error;
    onLost();
  };
  client.on("error", listener);
  return {
    client,
    lost: () => lostError,
    release(error) {
      client.off("error", listener);
      client.release(error ?? lostError);
    },
  };
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
