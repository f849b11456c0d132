/**
 * `mika.maintenance.run()`: the periodic work that keeps stock and state honest. One process at a time
 * holds the maintenance lease (so two processes running it at once do no double work); the retry tasks
 * also claim rows one by one, so a worker draining events alongside is safe.
 */
import { MIKA_SCHEMA, type MikaResult, type OrderRow, ok } from "@mika/types";
import type { Engine } from "./engine.js";
import { guarded } from "./engine.js";
import { retryDueRuns } from "./handlers.js";
import { releaseReservations } from "./stock.js";
import { errorMessage } from "./util.js";
import { drain } from "./webhooks.js";

/** What one maintenance run did, per task. */
export interface MaintenanceReport {
  /** False when another process held the maintenance lease. */
  ran: boolean;
  releasedReservations: number;
  expiredCheckouts: number;
  events: { processed: number; ignored: number; parked: number; failed: number };
  handlers: { succeeded: number; failed: number };
  reconciledCheckouts: number;
  purgedPayloads: number;
}

const LOCK_ID = "maintenance";
const LEASE_MS = 10 * 60_000;
/** How many expired open checkouts one run looks at. */
const STALE_BATCH = 100;

/** Builds the maintenance runner. `reconcile` asks a provider about a pending checkout. */
export function createMaintenance(engine: Engine, reconcile: (order: OrderRow) => Promise<unknown>) {
  async function acquire(holder: string): Promise<boolean> {
    return engine.store.transaction(async (tx) => {
      await tx.insert("locks", { id: LOCK_ID, holder: null, lease_until: null });
      const [claimed] = await tx.claim("locks", {
        where: { id: LOCK_ID },
        dueColumn: "lease_until",
        now: engine.now(),
        leaseMs: LEASE_MS,
        limit: 1,
      });
      if (claimed) await tx.update("locks", LOCK_ID, { holder });
      return Boolean(claimed);
    });
  }

  async function release(holder: string) {
    await engine.store.transaction(async (tx) => {
      const lock = await tx.get("locks", LOCK_ID, { lock: true });
      if (lock?.holder === holder) await tx.update("locks", LOCK_ID, { holder: null, lease_until: null });
    });
  }

  /**
   * Up to {@link STALE_BATCH} open checkouts past their expiry: those never looked at first, then
   * those looked at longest ago. Each run marks what it looked at, so checkouts that stay open for
   * days (bank payments) take turns instead of filling every batch.
   */
  async function staleCheckouts(now: number): Promise<OrderRow[]> {
    return engine.store.transaction(async (tx) => {
      const open = { status: { in: ["pending", "awaiting_payment"] as const }, expires_at: { lte: now } };
      const unseen = await tx.find(
        "orders",
        { ...open, checked_at: null },
        { orderBy: [{ column: "expires_at", direction: "asc" }], limit: STALE_BATCH },
      );
      if (unseen.length === STALE_BATCH) return unseen;
      const seen = await tx.find(
        "orders",
        { ...open, checked_at: { lt: now - engine.statusCheckIntervalMs } },
        { orderBy: [{ column: "checked_at", direction: "asc" }], limit: STALE_BATCH - unseen.length },
      );
      return [...unseen, ...seen];
    });
  }

  async function run(): Promise<MikaResult<MaintenanceReport>> {
    const report: MaintenanceReport = {
      ran: false,
      releasedReservations: 0,
      expiredCheckouts: 0,
      events: { processed: 0, ignored: 0, parked: 0, failed: 0 },
      handlers: { succeeded: 0, failed: 0 },
      reconciledCheckouts: 0,
      purgedPayloads: 0,
    };
    const holder = engine.createId("mnt");
    const got = await guarded(engine, "Acquiring the maintenance lease", () => acquire(holder));
    if (typeof got !== "boolean") return got;
    if (!got) return ok(report);
    report.ran = true;
    try {
      const now = engine.now();
      // 1. reservations whose hold expired
      report.releasedReservations = await engine.store.transaction(async (tx) => {
        const expired = await tx.find(
          "reservations",
          { status: "held", expires_at: { lte: now } },
          { limit: 500 },
        );
        for (const r of expired)
          await tx.update("reservations", r.id, { status: "released", updated_at: now });
        return expired.length;
      });
      // 2. due deferred, parked and failed events; 3. due handler runs
      report.events = await drain(engine, { limit: 500 });
      report.handlers = await retryDueRuns(engine, 500);
      // 4. checkouts pending past their expiry: ask the provider, or expire them
      const stale = await staleCheckouts(now);
      for (const order of stale) {
        try {
          await reconcile(order);
          report.reconciledCheckouts++;
          const expired = await engine.store.transaction(async (tx) => {
            const current = await tx.get("orders", order.id, { lock: true });
            // Without a provider's word that it expired (reconcile applies that), a checkout is
            // expired an hour past its expiry: its webhook may still be on the way, and a process
            // that cannot ask the provider (the CLI) must not free the stock of a paid checkout.
            if (current && current.status === "pending" && now - (current.expires_at ?? now) > 60 * 60_000) {
              await tx.update("orders", order.id, { status: "expired", updated_at: now });
              await releaseReservations(tx, order.id, now);
              return true;
            }
            // still open (a slow bank payment, say): it goes to the back of the queue
            const open = current?.status === "pending" || current?.status === "awaiting_payment";
            if (open && current.checked_at !== now) await tx.update("orders", order.id, { checked_at: now });
            return false;
          });
          if (expired) report.expiredCheckouts++;
        } catch (error) {
          engine.logger.warn("reconciling a checkout failed", { id: order.id, error: errorMessage(error) });
        }
      }
      // 5. raw payloads past retention (normalized events stay)
      report.purgedPayloads = await engine.store.transaction(async (tx) => {
        const old = await tx.find(
          "events",
          { received_at: { lt: now - engine.rawPayloadRetentionMs }, raw: { ne: null } },
          { limit: 1000 },
        );
        for (const row of old) await tx.update("events", row.id, { raw: null });
        return old.length;
      });
      return ok(report);
    } catch (error) {
      engine.logger.error("maintenance failed", { error: errorMessage(error) });
      return ok(report);
    } finally {
      await release(holder).catch(() => undefined);
    }
  }

  /** What is missing for production: secrets, capabilities, migrations. */
  async function assertWired(
    catalogProviders: () => Promise<{ sellable: string; provider: string }[]>,
  ): Promise<MikaResult<{ ok: boolean; problems: string[] }>> {
    const problems: string[] = [];
    for (const provider of engine.providers.values()) {
      const probe = await provider
        .verifyWebhook({ rawBody: "{}", headers: new Headers(), receivedAt: new Date(engine.now()) })
        .catch(() => undefined);
      if (probe && !probe.ok && probe.error.code === "SECRET_INVALID") {
        problems.push(`${provider.name}: ${probe.error.message}`);
      }
    }
    for (const { sellable, provider } of await catalogProviders()) {
      problems.push(
        `sellable ${sellable} has no ${provider} price id and ${provider} does not take inline prices`,
      );
    }
    const version = await engine.store.schemaVersion().catch(() => -1);
    if (version !== MIKA_SCHEMA.version) {
      problems.push(
        `the ${engine.store.name} store is at schema version ${version}, Mika needs ${MIKA_SCHEMA.version}: run store.migrate() (or \`mika migrate\`).`,
      );
    }
    return ok({ ok: problems.length === 0, problems });
  }

  return { run, assertWired };
}
