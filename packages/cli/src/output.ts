/** Printing: tables (cli-table3), colours (picocolors, off when not a TTY or with NO_COLOR), JSON. */
import Table from "cli-table3";
import pc from "picocolors";

/** Where a command writes. Tests and the demo pass their own. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout / stderr. */
export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

/** Colours (no-ops when colour is off). */
export const colors = pc;

const GOOD = new Set(["processed", "paid", "active", "succeeded", "trialing", "ok"]);
const WARN = new Set([
  "duplicate",
  "pending",
  "parked",
  "accepted",
  "ignored",
  "awaiting_payment",
  "partially_refunded",
  "past_due",
  "paused",
]);
const BAD = new Set(["failed", "poison", "refunded", "canceled", "expired", "incomplete"]);

/** A status word, coloured by what it means. */
export function paintStatus(status: string | null | undefined): string {
  if (!status) return pc.dim("-");
  if (GOOD.has(status)) return pc.green(status);
  if (WARN.has(status)) return pc.yellow(status);
  if (BAD.has(status)) return pc.red(status);
  return status;
}

/** An HTTP status, coloured by class. */
export function paintHttp(status: number): string {
  if (status >= 200 && status < 300) return pc.green(String(status));
  if (status >= 400 && status < 500) return pc.yellow(String(status));
  return pc.red(String(status));
}

/** Formats minor units as `USD 12.34` (zero-decimal currencies as they are). */
export function money(amount: number | null | undefined, currency: string | null | undefined): string {
  if (amount === null || amount === undefined) return "-";
  const code = (currency ?? "").toUpperCase();
  const zeroDecimal = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"].includes(code);
  const value = zeroDecimal ? String(amount) : (amount / 100).toFixed(2);
  return code ? `${code} ${value}` : value;
}

/** Shortens a string to `max` characters with an ellipsis. */
export function clip(text: string | null | undefined, max = 40): string {
  if (text === null || text === undefined || text === "") return "-";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Box characters without a rule between body rows. */
const COMPACT = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };

/** Renders rows as a table; `title` goes above it. */
export function table(
  head: readonly string[],
  rows: readonly (readonly unknown[])[],
  title?: string,
): string {
  const t = new Table({
    head: head.map((h) => pc.bold(h)),
    style: { head: [], border: [] },
    chars: COMPACT,
  });
  for (const row of rows)
    t.push(row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell))));
  const body = rows.length ? t.toString() : pc.dim("(none)");
  return title ? `${pc.bold(title)}\n${body}` : body;
}

/** Renders key/value pairs as a two-column table. */
export function keyValues(pairs: readonly (readonly [string, unknown])[], title?: string): string {
  const t = new Table({ style: { head: [], border: [] }, chars: COMPACT });
  for (const [key, value] of pairs) {
    t.push({ [pc.bold(key)]: value === null || value === undefined ? "-" : String(value) });
  }
  return title ? `${pc.bold(title)}\n${t.toString()}` : t.toString();
}

/** Pretty JSON. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
