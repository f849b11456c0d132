import pg from "pg";
import { afterAll, beforeAll } from "vitest";

/** The test database (CI starts Postgres; see .ci/run). */
export const POSTGRES_URL = process.env.MIKA_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * A pool on the test database for probes and cleanup. When the database is unreachable the tests
 * fail loudly (in CI and locally alike): they never skip.
 */
export const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });

const schemas: string[] = [];
let counter = 0;
const runId = `${process.pid}_${Date.now().toString(36)}`;

beforeAll(async () => {
  try {
    await admin.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `Postgres is unreachable at ${POSTGRES_URL} (${String(error)}): start it (.ci/run does) or set MIKA_TEST_POSTGRES_URL.`,
    );
  }
});

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

/** A fresh schema name for this test run, dropped after the test file. */
export function freshSchema(): string {
  const schema = `mika_test_${runId}_${++counter}`;
  schemas.push(schema);
  return schema;
}

/** pg's default parsers, except json/jsonb stay as the text Postgres returns. */
export const rawTypes = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === 114 || oid === 3802 ? (value: string) => value : pg.types.getTypeParser(oid, format ?? "text"),
} as pg.CustomTypesConfig;

/** One row as Postgres holds it, read through the admin pool (BIGINT as text, json as text). */
export async function rawRow(
  schema: string,
  table: string,
  key: string,
): Promise<Record<string, unknown> | undefined> {
  const { rows } = await admin.query({
    text: `SELECT * FROM "${schema}"."${table}" WHERE id = $1`,
    values: [key],
    types: rawTypes,
  });
  return rows[0];
}

/** A promise and its resolver. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
