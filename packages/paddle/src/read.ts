/**
 * Defensive readers for Paddle's raw JSON. Every function takes `unknown` and returns a typed value or
 * `undefined`; none of them throws, so the mapping built on them is total.
 */
import { parseRfc3339 } from "@mika/types";

/** A plain JSON object, as a record. */
export type Json = Record<string, unknown>;

/** The value when it is a non-array object. */
export function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The value when it is a non-empty string. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The value when it is an array. */
export function arr(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

const MINOR_UNITS = /^-?\d{1,15}$/;

/**
 * Paddle sends amounts as strings of minor units ("65215"). Returns the integer, or `undefined` when the
 * value is not a plain decimal integer that fits exactly in a double (no floats, no exponents, no blanks).
 * Numbers that are already safe integers are accepted too.
 */
export function minorUnits(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== "string" || !MINOR_UNITS.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** An ISO 4217 code, upper-cased; `undefined` when it is not three letters. */
export function currency(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length !== 3) return undefined;
  const upper = value.toUpperCase();
  return /^[A-Z]{3}$/.test(upper) ? upper : undefined;
}

/**
 * Parses Paddle's RFC 3339 timestamps, which carry micro- or nanoseconds ("…:01.798065409Z"), with
 * {@link parseRfc3339} (the fraction is cut to milliseconds). Go's zero time ("0001-01-01T00:00:00Z",
 * which Paddle sends for "never") and anything before 1970 count as absent.
 */
export function time(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  const ms = parseRfc3339(value);
  return ms === undefined || ms < 0 ? undefined : new Date(ms);
}
