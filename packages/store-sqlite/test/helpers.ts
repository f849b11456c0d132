import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll } from "vitest";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A path to a database file in a fresh temporary folder, removed after the test file. */
export function tempDbFile(name = "mika.db"): string {
  const dir = mkdtempSync(join(tmpdir(), "mika-sqlite-"));
  dirs.push(dir);
  return join(dir, name);
}

/** Reads one row through a separate read-only connection: what the file really holds. */
export function rawRow(file: string, table: string, key: string): Record<string, unknown> | undefined {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM "${table}" WHERE id = ?`).get(key) as
      | Record<string, unknown>
      | undefined;
  } finally {
    db.close();
  }
}
