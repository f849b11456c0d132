/**
 * SQL literals for the coalesced statements. A batch sends every statement of one round in one
 * simple-protocol query (one round trip whatever the number of statements), and the simple protocol
 * takes no parameters, so values are written as typed literals here. Only strings, numbers, bigints
 * and booleans are written; anything else (and a string holding NUL, which Postgres text cannot hold)
 * is refused, and the operation then runs as its own parameterized statement.
 */

/**
 * A string as an SQL literal: quotes doubled, and when it holds a backslash the `E'…'` form with
 * backslashes doubled, which reads the same whatever `standard_conforming_strings` says (pg's
 * `escapeLiteral`).
 */
export function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes("\\") ? ` E'${quoted.replaceAll("\\", "\\\\")}'` : `'${quoted}'`;
}

/**
 * An encoded value as a literal of the SQL type `sqlType` (`text`, `bigint`, `boolean`, `jsonb`), or
 * undefined when it cannot be written as one. Numbers are quoted, so Postgres parses them exactly as
 * it parses a parameter (`'2.5'::bigint` fails as `$1::bigint` = 2.5 does).
 */
export function sqlLiteral(value: unknown, sqlType: string): string | undefined {
  if (value === null || value === undefined) return `NULL::${sqlType}`;
  switch (typeof value) {
    case "string":
      return value.includes("\u0000") ? undefined : `${quoteLiteral(value)}::${sqlType}`;
    case "number":
    case "bigint":
      return `'${String(value)}'::${sqlType}`;
    case "boolean":
      return `${value ? "true" : "false"}::${sqlType}`;
    default:
      return undefined;
  }
}
