/**
 * Stock for tracked sellables. `stock.on_hand` counts physical units; a checkout holds units with a
 * reservation until it is paid (committed: on_hand goes down), fails, expires or is canceled (released).
 * Available = on_hand − units held by unexpired reservations.
 */
import type { StoreTx } from "@mika/types";

/** Units of a sellable currently available to new checkouts. */
export async function availableUnits(
  tx: StoreTx,
  sellableId: string,
  now: number,
): Promise<number | undefined> {
  const stock = await tx.get("stock", sellableId, { lock: true });
  if (!stock) return undefined;
  const held = await tx.find("reservations", {
    sellable_id: sellableId,
    status: "held",
    expires_at: { gt: now },
  });
  return stock.on_hand - held.reduce((sum, r) => sum + r.quantity, 0);
}

/**
 * Holds `quantity` units of each tracked line for an order, or returns the first sellable that is short.
 * Untracked sellables (no stock row) are not held. Call inside the order's transaction.
 */
export async function reserveStock(
  tx: StoreTx,
  orderId: string,
  lines: readonly { sellableId: string; quantity: number }[],
  expiresAt: number,
  now: number,
  createId: (prefix: string) => string,
): Promise<{ ok: true } | { ok: false; sellableId: string; available: number }> {
  const wanted = new Map<string, number>();
  for (const line of lines) wanted.set(line.sellableId, (wanted.get(line.sellableId) ?? 0) + line.quantity);
  for (const [sellableId, quantity] of [...wanted].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const available = await availableUnits(tx, sellableId, now);
    if (available === undefined) continue;
    if (available < quantity) return { ok: false, sellableId, available: Math.max(0, available) };
    await tx.insert("reservations", {
      id: createId("rsv"),
      order_id: orderId,
      sellable_id: sellableId,
      quantity,
      status: "held",
      expires_at: expiresAt,
      updated_at: now,
    });
  }
  return { ok: true };
}

/** Turns an order's holds into sold units (on_hand goes down). Idempotent. */
export async function commitReservations(tx: StoreTx, orderId: string, now: number): Promise<void> {
  const rows = await tx.find("reservations", { order_id: orderId, status: { in: ["held", "released"] } });
  for (const r of rows) {
    const stock = await tx.get("stock", r.sellable_id, { lock: true });
    if (stock)
      await tx.update("stock", r.sellable_id, { on_hand: stock.on_hand - r.quantity, updated_at: now });
    await tx.update("reservations", r.id, { status: "committed", updated_at: now });
  }
}

/** Releases an order's holds. Idempotent; committed units stay sold. */
export async function releaseReservations(tx: StoreTx, orderId: string, now: number): Promise<number> {
  const rows = await tx.find("reservations", { order_id: orderId, status: "held" });
  for (const r of rows) await tx.update("reservations", r.id, { status: "released", updated_at: now });
  return rows.length;
}

/**
 * Keeps an order's holds until at least `until` (the provider may keep a checkout payable longer than
 * Mika asked for). Holds already longer stay as they are.
 */
export async function extendReservations(
  tx: StoreTx,
  orderId: string,
  until: number,
  now: number,
): Promise<void> {
  const rows = await tx.find("reservations", { order_id: orderId, status: "held" });
  for (const r of rows)
    if (r.expires_at < until) await tx.update("reservations", r.id, { expires_at: until, updated_at: now });
}
