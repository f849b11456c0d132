/**
 * SQL literals for the coalesced statements. A batch sends every statement of one round in one
 * simple-protocol query (one round trip whatever the number of statements), and the simple protocol
 * takes no parameters, so values are written as literals here: bare in `INSERT … VALUES`, where the
 * target columns give their types, and cast elsewhere. Only strings, numbers, bigints
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
 * An encoded value as an SQL literal without a type, or undefined when it cannot be written as one.
 * Strings and numbers are quoted literals, whose type Postgres takes from where they stand: in
 * `INSERT … VALUES` each is read by the input function of its target column, exactly as a parameter
 * would be (`'2.5'` into a `bigint` column fails as `$1` = 2.5 does). Booleans are `true`/`false`.
 */
export function valueLiteral(value: unknown): string | undefined {
  if (value === null || value === undefined) return "NULL";
  switch (typeof value) {
    case "string":
      return value.includes("\u0000") ? undefined : quoteLiteral(value);
    case "number":
    case "bigint":
      return `'${String(value)}'`;
    case "boolean":
      return value ? "true" : "false";
    default:
      return undefined;
  }
}

/**
 * An encoded value as a literal of the SQL type `sqlType` (`text`, `bigint`, `boolean`, `jsonb`), or
 * undefined when it cannot be written as one: {@link valueLiteral} with a cast, for places where
 * Postgres cannot tell the type from the context (`UPDATE … FROM (VALUES …)`, lookups).
 */
export function sqlLiteral(value: unknown, sqlType: string): string | undefined {
  const literal = valueLiteral(value);
  return literal === undefined ? undefined : `${literal}::${sqlType}`;
}
