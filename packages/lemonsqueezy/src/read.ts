/**
 * Defensive readers for Lemon Squeezy JSON (webhook bodies and API documents). Every reader returns
 * `undefined` for a value of the wrong shape, so mapping code never throws on odd payloads.
 */
import { parseRfc3339 } from "@mika/types";

/** A plain JSON object, or `undefined`. */
export function obj(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A non-empty string, or `undefined`. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** A string or a finite number as a string (Lemon Squeezy ids are numbers in attributes, strings in `data.id`). */
export function idOf(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return str(value);
}

/** A safe integer (minor units), or `undefined`. */
export function int(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

/**
 * An ISO 8601 date, or `undefined` when absent or unparseable. Lemon Squeezy's own RFC 3339 form
 * ("2023-01-17T12:43:51.000000Z") is read digit by digit ({@link parseRfc3339}, same result as `Date`);
 * anything else goes through `new Date(value)` as before.
 */
export function date(value: unknown): Date | undefined {
  if (typeof value !== "string" || value.length === 0) return undefined;
  const ms = parseRfc3339(value);
  if (ms !== undefined) return new Date(ms);
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/** An ISO 4217 code, upper-cased, or `undefined`. */
export function currency(value: unknown): string | undefined {
  return typeof value === "string" && /^[A-Za-z]{3}$/.test(value) ? value.toUpperCase() : undefined;
}

/** The `data` member of a JSON:API document and its `attributes`. */
export function resource(document: unknown): {
  id: string | undefined;
  type: string | undefined;
  attributes: Record<string, unknown>;
} {
  const data = obj(obj(document)?.data);
  return { id: idOf(data?.id), type: str(data?.type), attributes: obj(data?.attributes) ?? {} };
}
