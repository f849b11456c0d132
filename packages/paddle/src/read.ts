/**
 * Defensive readers for Paddle's raw JSON. Every function takes `unknown` and returns a typed value or
 * `undefined`; none of them throws, so the mapping built on them is total.
 */

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

/** The value of `length` decimal digits of `text` from `at`, or -1 when one of them is not a digit. */
function digitsAt(text: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Parses Paddle's RFC 3339 timestamps, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, which carry micro- or
 * nanoseconds ("…:01.798065409Z"): the fraction is cut to milliseconds, because runtimes disagree on
 * parsing longer fractions. Go's zero time ("0001-01-01T00:00:00Z", which Paddle sends for "never") and
 * anything before 1970 count as absent. Field ranges are those of the ECMAScript date-time string format
 * (month 1–12, day 1–31 rolling over into the next month as `Date` does, hour 0–24 with 24 only for
 * 24:00:00.000, offsets up to ±23:59). Read digit by digit rather than with a RegExp and `Date` string
 * parsing: this runs on every verified delivery.
 */
export function time(value: unknown): Date | undefined {
  if (typeof value !== "string" || value.length < 20) return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  if (
    value.charCodeAt(4) !== 45 || // -
    value.charCodeAt(7) !== 45 ||
    value.charCodeAt(10) !== 84 || // T
    value.charCodeAt(13) !== 58 || // :
    value.charCodeAt(16) !== 58 ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 24 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return undefined;
  }
  let at = 19;
  let millis = 0;
  if (value.charCodeAt(at) === 46) {
    // "." then at least one digit; only the first three count.
    const first = ++at;
    while (at < value.length) {
      const digit = value.charCodeAt(at) - 48;
      if (digit < 0 || digit > 9) break;
      if (at - first < 3) millis = millis * 10 + digit;
      at++;
    }
    const kept = at - first;
    if (kept === 0) return undefined;
    for (let n = kept; n < 3; n++) millis *= 10;
  }
  let offsetMinutes = 0;
  const zone = value.charCodeAt(at);
  if (zone === 90 /* Z */) {
    if (at + 1 !== value.length) return undefined;
  } else if (zone === 43 /* + */ || zone === 45 /* - */) {
    const offsetHours = digitsAt(value, at + 1, 2);
    const offsetMins = digitsAt(value, at + 4, 2);
    if (
      at + 6 !== value.length ||
      value.charCodeAt(at + 3) !== 58 ||
      offsetHours < 0 ||
      offsetHours > 23 ||
      offsetMins < 0 ||
      offsetMins > 59
    ) {
      return undefined;
    }
    offsetMinutes = (zone === 43 ? 1 : -1) * (offsetHours * 60 + offsetMins);
  } else {
    return undefined;
  }
  if (hour === 24 && (minute !== 0 || second !== 0 || millis !== 0)) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999; those are all before 1970 anyway.
  if (year < 100) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  return Number.isNaN(ms) || ms < 0 ? undefined : new Date(ms);
}
