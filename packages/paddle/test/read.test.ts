import { describe, expect, it } from "vitest";
import { time } from "../src/read.js";

/** The previous implementation (RegExp + `Date` string parsing), kept here as the reference. */
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;
function reference(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const fraction = m[2] ? `.${m[2].slice(0, 3).padEnd(3, "0")}` : "";
  const ms = new Date(`${m[1]}${fraction}${m[3]}`).getTime();
  return Number.isNaN(ms) || ms < 0 ? undefined : ms;
}

const CASES = [
  "2024-04-12T10:18:49.621022Z",
  "2024-04-12T10:18:49.798065409Z",
  "2024-04-12T10:18:49Z",
  "2024-04-12T10:18:49.1Z",
  "2024-04-12T10:18:49.12Z",
  "2024-04-12T10:18:49.123Z",
  "2024-04-12T10:18:49.Z",
  "2024-04-12T10:18:49.123+02:00",
  "2024-04-12T10:18:49-05:30",
  "2024-04-12T10:18:49+23:59",
  "2024-04-12T10:18:49+24:00",
  "2024-04-12T10:18:49+23:60",
  "2024-04-12T10:18:49+0200",
  "2024-04-12T10:18:49z",
  "2024-04-12t10:18:49Z",
  "2024-04-12 10:18:49Z",
  "2024-04-12T10:18:49",
  "2024-04-12T10:18:49ZZ",
  "2024-04-12T10:18:49Z ",
  " 2024-04-12T10:18:49Z",
  "0001-01-01T00:00:00Z",
  "0070-01-01T00:00:00Z",
  "0099-12-31T23:00:00-02:00",
  "1969-12-31T23:59:59.999Z",
  "1969-12-31T23:00:00-02:00",
  "1970-01-01T00:00:00Z",
  "2024-02-30T00:00:00Z",
  "2024-02-31T00:00:00Z",
  "2024-04-31T00:00:00Z",
  "2024-01-32T00:00:00Z",
  "2024-00-01T00:00:00Z",
  "2024-13-01T00:00:00Z",
  "2024-01-00T00:00:00Z",
  "2024-01-01T24:00:00Z",
  "2024-01-01T24:00:00.000Z",
  "2024-01-01T24:00:00.0001Z",
  "2024-01-01T24:00:00.001Z",
  "2024-01-01T24:00:01Z",
  "2024-01-01T23:60:00Z",
  "2024-01-01T23:59:60Z",
  "9999-12-31T23:59:59.999Z",
  "2024-0a-01T00:00:00Z",
  "+02024-01-01T00:00:00Z",
  "",
  "2024",
];

describe("time() reads Paddle's RFC 3339 timestamps exactly as the RegExp + Date version did", () => {
  it.each(CASES)("%j", (value) => {
    expect(time(value)?.getTime()).toBe(reference(value));
  });

  it("non-strings are absent", () => {
    for (const value of [undefined, null, 1_712_917_129, {}, new Date()]) expect(time(value)).toBeUndefined();
  });
  // Random and corrupted timestamps: parseRfc3339's own test in @mika/types (time() only adds the
  // Date and refuses times before 1970).
});
