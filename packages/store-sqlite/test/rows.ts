import { sampleRow } from "@mika/testing";
import type { EventRow } from "@mika/types";

/** A full inbox row with id `evt-<seed>` and a distinct (provider, event_id). */
export const eventRow = (seed: number, overrides: Partial<EventRow> = {}): EventRow =>
  sampleRow("events", seed, { id: `evt-${seed}`, provider: "p", event_id: `e-${seed}`, ...overrides });
