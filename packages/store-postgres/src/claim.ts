/**
 * `claim` as ONE statement: select due rows with `FOR UPDATE SKIP LOCKED`, lease them and return them
 * in due order. The shared SQL layer's `claim` takes two statements (select, then update); inside a
 * batch another job's claim could run between them and select the same rows, so a batch uses this.
 * (A candidate for `@mika/store-sqlite/sql`: it would save solo transactions a round trip too.)
 */
import { type SqlDialect, type SqlRow, tableSpec, whereExpression } from "@mika/store-sqlite/sql";
import type { ClaimOptions } from "@mika/types";
import type { CompiledQuery, ExpressionBuilder } from "kysely";

type Eb = ExpressionBuilder<Record<string, Record<string, unknown>>, string>;

/** The compiled claim statement (same validation and errors as the shared layer's `claim`). */
export function claimQuery(dialect: SqlDialect, table: string, options: ClaimOptions<SqlRow>): CompiledQuery {
  const spec = tableSpec(table);
  if (!spec.columns.lease_until)
    throw new TypeError(`Table "${table}" has no lease_until column to claim with.`);
  const due = String(options.dueColumn);
  const dueType = spec.columns[due];
  if (!dueType) throw new TypeError(`Table "${table}" has no column "${due}".`);
  if (dueType !== "timestamp") throw new TypeError(`claim: ${table}.${due} is not a timestamp column.`);
  const pk = spec.primaryKey;
  return dialect.db
    .with("mika_claimed", (qc) =>
      qc
        .selectFrom(table)
        .select(pk)
        .where((eb) => whereExpression(dialect, table, eb as Eb, options.where as Record<string, unknown>))
        .where((eb) =>
          eb.and([
            eb.or([eb(due, "is", null), eb(due, "<=", options.now)]),
            eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", options.now)]),
          ]),
        )
        .orderBy(due, (ob) => ob.asc().nullsFirst())
        .orderBy(pk)
        .limit(options.limit)
        .forUpdate()
        .skipLocked(),
    )
    .with("mika_leased", (qc) =>
      qc
        .updateTable(table)
        .set({ lease_until: options.now + options.leaseMs })
        .from("mika_claimed")
        .whereRef(`${table}.${pk}` as never, "=", `mika_claimed.${pk}` as never)
        .returningAll(table as never),
    )
    .selectFrom("mika_leased")
    .selectAll()
    .orderBy(due, (ob) => ob.asc().nullsFirst())
    .orderBy(pk)
    .compile();
}
