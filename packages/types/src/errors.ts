/**
 * Error codes and the result envelope every Mika API method returns.
 *
 * @packageDocumentation
 */
import type { WebhookErrorCode } from "./provider.js";

/** Each error code with the HTTP status it answers with. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 422,
  NOT_FOUND: 404,
  PROVIDER_UNKNOWN: 404,
  PROVIDER_UNSUPPORTED: 409,
  PROVIDER_FAILED: 502,
  WEBHOOK_INVALID: 400,
  PAYLOAD_TOO_LARGE: 413,
  CONFLICT: 409,
  IDEMPOTENCY_MISMATCH: 409,
  CHECKOUT_EXPIRED: 409,
  OUT_OF_STOCK: 409,
  TOKEN_INVALID: 403,
  UNAUTHORIZED: 401,
  METHOD_NOT_ALLOWED: 405,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
} as const;

/** The closed set of error codes. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** What went wrong, in words an operator can act on. Never contains secrets. */
export interface MikaError {
  /** Machine-readable code. */
  code: ErrorCode;
  /** What happened and what to do about it. */
  message: string;
  /** For `WEBHOOK_INVALID`: which check failed. */
  detail?: WebhookErrorCode;
  /** Seconds to wait before retrying, when known. */
  retryAfter?: number;
  /** For `VALIDATION_FAILED`: field path → problem. */
  fields?: Record<string, string>;
}

/** A success envelope. */
export interface MikaOk<T> {
  ok: true;
  /** The HTTP status this answers with. */
  status: number;
  data: T;
}

/** A failure envelope. */
export interface MikaErr {
  ok: false;
  /** The HTTP status this answers with (from {@link ERROR_STATUS}). */
  status: number;
  error: MikaError;
}

/** What every Mika method returns: expected failures are values, never thrown. */
export type MikaResult<T> = MikaOk<T> | MikaErr;

/** Builds a success envelope (status 200 unless given). */
export function ok<T>(data: T, status = 200): MikaOk<T> {
  return { ok: true, status, data };
}

/** Builds a failure envelope whose status comes from {@link ERROR_STATUS}. */
export function err(
  code: ErrorCode,
  message: string,
  extra: Omit<MikaError, "code" | "message"> = {},
): MikaErr {
  return { ok: false, status: ERROR_STATUS[code], error: { code, message, ...extra } };
}

/** Whether a value is one of the {@link ErrorCode}s. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_STATUS, value);
}
