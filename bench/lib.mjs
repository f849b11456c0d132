// Shared measuring helpers for every benchmark: run a candidate and its baseline interleaved in the
// same process, report operations per second and the ratio candidate / baseline.

/** Runs `fn` (sync or async) repeatedly for about `ms` milliseconds; returns operations per second. */
export async function opsPerSecond(fn, { ms = 400, batch = 50 } = {}) {
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) {
      const r = fn();
      if (r && typeof r.then === "function") await r;
    }
    ops += batch;
    elapsed = performance.now() - start;
  }
  return (ops * 1000) / elapsed;
}

/**
 * Compares `candidates` against `baseline` over `rounds` interleaved rounds (after a warm-up): ops/s is
 * the median of each, the ratio the median of the per-round ratios, so that machine noise hits both sides
 * alike. Returns rows for `printTable`.
 */
export async function compare(title, baseline, candidates, { rounds = 5, ms = 300 } = {}) {
  const all = [baseline, ...candidates];
  for (const c of all) await opsPerSecond(c.fn, { ms: 150 });
  const samples = all.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of all.entries()) samples[i].push(await opsPerSecond(c.fn, { ms }));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // The ratio is the median of the rounds' ratios (each candidate against the baseline of its own round),
  // so a GC pause or a slow second on a shared machine moves one round's pair, not one side's median.
  return all.map((c, i) => ({
    bench: title,
    name: c.name,
    "ops/s": Math.round(median(samples[i])),
    ratio:
      i === 0 ? "1.00× (baseline)" : `${median(samples[i].map((x, r) => x / samples[0][r])).toFixed(2)}×`,
    goal: c.goal ?? "",
  }));
}

/** Prints rows as a table and as one JSON line per row (for notes and scripts). */
export function printTable(rows) {
  console.table(rows);
  for (const row of rows) console.log(`BENCH ${JSON.stringify(row)}`);
}

/** A JSON body of about `bytes` bytes, built by padding `base` (an object) with a metadata field. */
export function padBody(base, bytes) {
  const body = structuredClone(base);
  const current = JSON.stringify(body).length;
  if (current < bytes) {
    body.data ??= {};
    const target = body.data.object ?? body.data.attributes ?? body.data;
    target.metadata = { ...(target.metadata ?? {}), padding: "x".repeat(bytes - current - 40) };
  }
  return JSON.stringify(body);
}
