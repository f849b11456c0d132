/**
 * The ledger: how one normalized event changes orders, payments, refunds, disputes and subscriptions.
 * Runs inside the same store transaction as the inbox insert. Rules (DESIGN §3):
 * - order state only moves forward (paid never returns to awaiting_payment);
 * - subscription snapshots apply only when newer (`updatedAt`); at equal times a terminal state wins;
 * - refunds are cumulative (`max`), so redelivery and reordering are harmless;
 * - an event that names a checkout Mika does not know yet is parked, never dropped;
 * - an event of the other mode (test vs live) than the order it names is never applied to it.
 */
import type { MikaEvent, OrderRow, OrderStatus, StoreTx, SubscriptionRow } from "@mika/types";
import { commitReservations, extendReservations, releaseReservations } from "./stock.js";
import { type NotificationIntent, toOrder, toSubscription } from "./types.js";

/** What the ledger needs from its caller. */
export interface LedgerContext {
  now: number;
  createId: (prefix: string) => string;
  /**
   * When given, the insert of an order the event creates is not awaited here: its check (it throws
   * when the order was created concurrently) is pushed, and the caller awaits it before its
   * transaction ends. The caller's next writes (the handler runs) then go out together with it, in one
   * round trip on a store that batches.
   */
  pending?: Promise<void>[];
}

/**
 * The `parked_reason` of an event waiting for an order: keyed by the checkout id (or payment ref) it
 * names, so the order's arrival finds exactly its waiting events through an index.
 */
export function awaitingOrder(ref: { checkoutRef?: string | null; paymentRef?: string | null }): string {
  return ref.checkoutRef ? `awaiting-order:${ref.checkoutRef}` : `awaiting-order:payment:${ref.paymentRef}`;
}

/** What applying one event did. */
export type LedgerOutcome =
  | {
      result: "applied";
      orderId?: string;
      /** The order as this event left it (what was written), for handlers that run after the commit. */
      order?: OrderRow;
      createdOrder?: boolean;
      intents: NotificationIntent[];
    }
  | { result: "ignored"; reason: string }
  | { result: "parked"; reason: string };

const RANK: Record<OrderStatus, number> = {
  pending: 0,
  awaiting_payment: 1,
  failed: 2,
  expired: 2,
  canceled: 2,
  paid: 3,
  partially_refunded: 4,
  refunded: 5,
};

/**
 * How long the stock of a checkout completed unpaid (a bank debit on its way) stays held: Stripe
 * says such a payment's outcome can take up to 14 business days, and three weeks covers those with
 * holidays. Past it, maintenance releases the hold.
 */
const ASYNC_PAYMENT_HOLD_MS = 21 * 24 * 60 * 60 * 1000;

/** refund_ref prefix of the one running-total row per payment (cumulative refund events). */
const AGGREGATE = "total:";

/**
 * What the order has had refunded: the largest of the running totals providers reported and the sum of
 * distinct succeeded per-refund amounts (never lower than what the ledger already holds).
 */
async function refundedTotal(
  tx: StoreTx,
  order: OrderRow,
  event: MikaEvent & { kind: "refund.updated" },
): Promise<number> {
  return Math.max(await refundsRecorded(tx, order.id), event.cumulative === false ? 0 : event.refundedAmount);
}

/** What the succeeded refund rows of an order add up to: the largest running total, or the per-refund sum. */
async function refundsRecorded(tx: StoreTx, orderId: string): Promise<number> {
  const rows = await tx.find("refunds", { order_id: orderId, status: "succeeded" });
  let running = 0;
  let sum = 0;
  for (const row of rows) {
    if (row.refund_ref.startsWith(AGGREGATE)) running = Math.max(running, row.refunded_amount);
    else sum += row.refunded_amount;
  }
  return Math.max(running, sum);
}

const TERMINAL_SUBSCRIPTION = new Set(["canceled", "expired"]);
const CHANGE_RANK = { created: 0, updated: 1, canceled: 2 } as const;

const applied = (
  intents: NotificationIntent[] = [],
  order?: OrderRow,
  createdOrder?: boolean,
): LedgerOutcome => {
  const outcome: LedgerOutcome & { result: "applied" } = { result: "applied", intents };
  if (order) {
    outcome.orderId = order.id;
    outcome.order = order;
  }
  if (createdOrder) outcome.createdOrder = true;
  return outcome;
};

/**
 * Why an event that names an order by `checkoutRef` cannot be that order's, or `undefined` when it
 * can. The ref travels in fields a buyer can sometimes set on a checkout of their own (custom data,
 * `client_reference_id`), so an event that comes from another provider checkout, or is in another
 * currency, does not settle the order it names.
 */
function contradiction(order: OrderRow, event: MikaEvent): string | undefined {
  if (
    event.providerCheckoutId &&
    order.provider_checkout_id &&
    event.providerCheckoutId !== order.provider_checkout_id
  ) {
    return `it names order ${order.id} but comes from provider checkout ${event.providerCheckoutId}, not ${order.provider_checkout_id}`;
  }
  const currency = "currency" in event ? event.currency : undefined;
  if (currency && order.currency && currency.toUpperCase() !== order.currency.toUpperCase())
    return `it names order ${order.id} but is in ${currency}, not ${order.currency}`;
  return undefined;
}

/**
 * The order an event is about, locked for update unless `lock` is false (a read after the ledger
 * change, as host handlers get it). `refused` receives why the order its `checkoutRef` names was not
 * taken (see {@link contradiction}); the event is then matched by its other refs only.
 */
export async function findOrder(
  tx: StoreTx,
  event: MikaEvent,
  refused?: { reason?: string },
  lock = true,
): Promise<OrderRow | undefined> {
  const provider = event.provider as string;
  if (event.checkoutRef) {
    const order = await tx.get("orders", event.checkoutRef, { lock });
    if (order && order.provider === provider) {
      const reason = contradiction(order, event);
      if (!reason) return order;
      if (refused) refused.reason = reason;
    }
  }
  const byColumn = async (
    column: "provider_checkout_id" | "payment_ref" | "provider_order_ref",
    value?: string,
  ) => {
    if (!value) return undefined;
    const [order] = await tx.find("orders", { provider, [column]: value }, { limit: 1, lock });
    return order;
  };
  return (
    (await byColumn("provider_checkout_id", event.providerCheckoutId)) ??
    (await byColumn("payment_ref", event.paymentRef)) ??
    (await byColumn("provider_order_ref", event.orderRef))
  );
}

/** Copies the refs an event knows onto the order, without overwriting known ones. */
function refsPatch(order: OrderRow, event: MikaEvent): Partial<OrderRow> {
  const patch: Partial<OrderRow> = {};
  if (!order.provider_checkout_id && event.providerCheckoutId)
    patch.provider_checkout_id = event.providerCheckoutId;
  if (!order.payment_ref && event.paymentRef) patch.payment_ref = event.paymentRef;
  if (!order.provider_order_ref && event.orderRef) patch.provider_order_ref = event.orderRef;
  if (!order.subscription_ref && event.subscriptionRef) patch.subscription_ref = event.subscriptionRef;
  if (!order.customer_ref && event.customerRef) patch.customer_ref = event.customerRef;
  return patch;
}

async function saveOrder(
  tx: StoreTx,
  order: OrderRow,
  patch: Partial<OrderRow>,
  now: number,
): Promise<OrderRow> {
  // The returned row is exactly what the store now holds: stores skip undefined patch values.
  const next: Record<string, unknown> = { ...order };
  for (const key in patch) {
    const value = patch[key as keyof OrderRow];
    if (value !== undefined) next[key] = value;
  }
  next.updated_at = now;
  await tx.update("orders", order.id, { ...patch, updated_at: now });
  return next as unknown as OrderRow;
}

/**
 * Records a refund event's row: per-refund events are kept by refundRef (and summed by
 * {@link refundedTotal}); cumulative ones are one running total per payment.
 */
async function recordRefund(
  tx: StoreTx,
  event: MikaEvent & { kind: "refund.updated" },
  orderId: string | null,
  paymentRef: string | null,
  ctx: LedgerContext,
): Promise<void> {
  const perRefund = event.cumulative === false && Boolean(event.refundRef);
  const refundRef = perRefund ? event.refundRef! : `${AGGREGATE}${event.paymentRef ?? orderId}`;
  const [existing] = await tx.find(
    "refunds",
    { provider: event.provider, refund_ref: refundRef },
    { limit: 1, lock: true },
  );
  if (existing) {
    await tx.update("refunds", existing.id, {
      // a late "pending" never takes back a refund's outcome (deliveries arrive out of order)
      status: event.status === "pending" && existing.status !== "pending" ? existing.status : event.status,
      refunded_amount: perRefund
        ? event.refundedAmount
        : Math.max(existing.refunded_amount, event.refundedAmount),
      updated_at: ctx.now,
    });
    return;
  }
  await tx.insert("refunds", {
    id: ctx.createId("ref"),
    provider: event.provider,
    refund_ref: refundRef,
    order_id: orderId,
    payment_ref: paymentRef,
    status: event.status,
    refunded_amount: event.refundedAmount,
    currency: event.currency,
    updated_at: ctx.now,
  });
}

/**
 * Moves an order to `paid` if it is not there or beyond yet. `paid` is what the provider took, when
 * the event says so in the order's currency: it becomes the order's amount (tax and discounts make it
 * differ from the catalog's sum, and refunds are measured against it). Refunds that landed before
 * the payment (deliveries arrive out of order) count at once.
 */
async function markPaid(
  tx: StoreTx,
  order: OrderRow,
  patch: Partial<OrderRow>,
  ctx: LedgerContext,
  paid?: { amount?: number; currency?: string },
) {
  if (RANK[order.status] >= RANK.paid)
    return { order: await saveOrder(tx, order, patch, ctx.now), intents: [] };
  const currency = patch.currency ?? order.currency;
  const sameCurrency =
    paid?.currency !== undefined &&
    currency !== null &&
    paid.currency.toUpperCase() === currency.toUpperCase();
  const amount = sameCurrency && paid?.amount !== undefined ? paid.amount : (patch.amount ?? order.amount);
  const refunded = Math.max(order.refunded_amount, await refundsRecorded(tx, order.id));
  const status: OrderStatus =
    refunded === 0 ? "paid" : amount !== null && refunded >= amount ? "refunded" : "partially_refunded";
  const next = await saveOrder(
    tx,
    order,
    { ...patch, amount, status, refunded_amount: refunded, paid_at: ctx.now, failure_reason: null },
    ctx.now,
  );
  await commitReservations(tx, order.id, ctx.now);
  return { order: next, intents: [{ type: "order.paid", order: toOrder(next) } as NotificationIntent] };
}

/**
 * Links to `order` the subscription its checkout started, when that subscription was stored before
 * the order (its event came first) and so without one.
 */
async function linkSubscription(tx: StoreTx, order: OrderRow, now: number): Promise<void> {
  if (!order.subscription_ref || order.mode !== "subscription") return;
  const [subscription] = await tx.find(
    "subscriptions",
    { provider: order.provider, subscription_ref: order.subscription_ref },
    { limit: 1, lock: true },
  );
  if (subscription && subscription.order_id === null && subscription.livemode === order.livemode)
    await tx.update("subscriptions", subscription.id, { order_id: order.id, updated_at: now });
}

/** Applies one event inside the caller's transaction. */
export async function applyEvent(tx: StoreTx, event: MikaEvent, ctx: LedgerContext): Promise<LedgerOutcome> {
  switch (event.kind) {
    case "unknown":
      return { result: "ignored", reason: "unmapped event type" };
    case "subscription.updated":
      return applySubscription(tx, event, ctx);
    case "dispute.updated":
      return applyDispute(tx, event, ctx);
    default:
      break;
  }

  const refused: { reason?: string } = {};
  const order = await findOrder(tx, event, refused);
  // an order the event names but that is not there yet: wait for it (not when it is there but refused)
  const awaited = Boolean(event.checkoutRef) && !refused.reason;
  if (order && order.livemode !== event.livemode) {
    return {
      result: "ignored",
      reason: `${event.livemode ? "live" : "test"}-mode event for a ${order.livemode ? "live" : "test"}-mode order`,
    };
  }

  switch (event.kind) {
    case "checkout.completed": {
      const paid = event.paymentStatus === "paid" || event.paymentStatus === "no_payment_required";
      if (!order) {
        // A checkout Mika did not start (payment link, provider-hosted store…): the order is born in its
        // final state, in one write. It holds no stock, so there is nothing to commit.
        const row: OrderRow = {
          // a ref that named another purchase's order is not this order's id
          id: (!refused.reason && event.checkoutRef) || ctx.createId("ord"),
          provider: event.provider,
          status: paid ? "paid" : "awaiting_payment",
          mode: event.mode ?? (event.subscriptionRef ? "subscription" : "payment"),
          livemode: event.livemode,
          amount: event.amount ?? null,
          currency: event.currency ?? null,
          refunded_amount: 0,
          dispute_status: null,
          provider_checkout_id: event.providerCheckoutId ?? null,
          payment_ref: event.paymentRef ?? null,
          provider_order_ref: event.orderRef ?? null,
          subscription_ref: event.subscriptionRef ?? null,
          customer_ref: event.customerRef ?? null,
          customer_email: event.customer?.email ?? null,
          customer_name: event.customer?.name ?? null,
          token_hash: null,
          url: null,
          expires_at: null,
          lines: null,
          metadata: refused.reason ? { mika_refused_checkout_ref: refused.reason } : null,
          failure_reason: null,
          paid_at: paid ? ctx.now : null,
          checked_at: null,
          lease_until: null,
          created_at: ctx.now,
          updated_at: ctx.now,
        };
        const created = tx.insert("orders", row).then((inserted) => {
          if (!inserted) throw new Error(`order ${row.id} was created concurrently; retry`);
        });
        if (ctx.pending) {
          // Handled here too, so that a failure while the caller is busy elsewhere is not "unhandled":
          // the caller awaits it (and gets the error) before its transaction ends.
          created.catch(() => undefined);
          ctx.pending.push(created);
        } else {
          await created;
        }
        await linkSubscription(tx, row, ctx.now);
        return applied(paid ? [{ type: "order.paid", order: toOrder(row) }] : [], row, true);
      }
      const row = order;
      const patch: Partial<OrderRow> = { ...refsPatch(row, event) };
      if (row.amount === null && event.amount !== undefined) patch.amount = event.amount;
      if (row.currency === null && event.currency) patch.currency = event.currency;
      if (!row.customer_email && event.customer?.email) patch.customer_email = event.customer.email;
      if (!row.customer_name && event.customer?.name) patch.customer_name = event.customer.name;
      if (patch.subscription_ref) await linkSubscription(tx, { ...row, ...patch }, ctx.now);
      if (paid) {
        const result = await markPaid(tx, row, patch, ctx, event);
        return applied(result.intents, result.order);
      }
      if (row.status === "pending") {
        patch.status = "awaiting_payment";
        // The buyer finished and the money is on its way (a bank debit takes days): the stock stays held
        // until payment.succeeded commits it or payment.failed releases it, for at most ASYNC_PAYMENT_HOLD_MS.
        await extendReservations(tx, row.id, ctx.now + ASYNC_PAYMENT_HOLD_MS, ctx.now);
      }
      return applied([], await saveOrder(tx, row, patch, ctx.now));
    }

    case "checkout.expired": {
      if (!order)
        return awaited
          ? { result: "parked", reason: awaitingOrder(event) }
          : { result: "ignored", reason: "no such checkout" };
      let next = order;
      if (order.status === "pending" || order.status === "awaiting_payment") {
        next = await saveOrder(tx, order, { ...refsPatch(order, event), status: "expired" }, ctx.now);
        await releaseReservations(tx, order.id, ctx.now);
      }
      return applied([], next);
    }

    case "payment.succeeded":
    case "payment.failed":
    case "invoice.uncollectible": {
      const status =
        event.kind === "payment.succeeded"
          ? "succeeded"
          : event.kind === "payment.failed"
            ? "failed"
            : "uncollectible";
      if (!order && awaited) return { result: "parked", reason: awaitingOrder(event) };
      await tx.insert("payments", {
        id: ctx.createId("pay"),
        provider: event.provider,
        event_id: event.eventId,
        order_id: order?.id ?? null,
        payment_ref: event.paymentRef ?? null,
        subscription_ref: event.subscriptionRef ?? null,
        invoice_ref: event.invoiceRef ?? null,
        status,
        amount: event.amount ?? null,
        currency: event.currency ?? null,
        reason: event.kind === "payment.failed" ? (event.reason ?? null) : null,
        occurred_at: event.occurredAt.getTime(),
      });
      if (!order) {
        const intents: NotificationIntent[] =
          event.kind === "payment.failed"
            ? [
                {
                  type: "payment.failed",
                  provider: event.provider,
                  ...(event.reason ? { reason: event.reason } : {}),
                },
              ]
            : [];
        return applied(intents);
      }
      const patch = refsPatch(order, event);
      if (event.kind === "payment.succeeded") {
        if (order.amount === null) patch.amount = event.amount;
        if (order.currency === null) patch.currency = event.currency;
        const result = await markPaid(tx, order, patch, ctx, event);
        return applied(result.intents, result.order);
      }
      if (event.kind === "payment.failed") {
        if (order.status === "pending") {
          // An attempt failed inside a checkout that is still open (a declined card): the buyer can
          // try again, so the order stays pending and keeps its stock; the reason is kept for ops.
          const next = await saveOrder(
            tx,
            order,
            { ...patch, failure_reason: event.reason ?? "payment attempt failed" },
            ctx.now,
          );
          return applied([], next);
        }
        let next = order;
        if (order.status === "awaiting_payment") {
          next = await saveOrder(
            tx,
            order,
            { ...patch, status: "failed", failure_reason: event.reason ?? "payment failed" },
            ctx.now,
          );
          await releaseReservations(tx, order.id, ctx.now);
        } else {
          next = await saveOrder(tx, order, patch, ctx.now);
          // A decline of the very payment that then went through, delivered late: nothing failed.
          // (Another payment's failure on a paid order, such as a renewal's, is still told.)
          const settled = RANK[order.status] >= RANK.paid;
          if (settled && event.paymentRef !== undefined && event.paymentRef === order.payment_ref)
            return applied([], next);
        }
        return applied(
          [
            {
              type: "payment.failed",
              order: toOrder(next),
              provider: event.provider,
              ...(event.reason ? { reason: event.reason } : {}),
            },
          ],
          next,
        );
      }
      return applied([], await saveOrder(tx, order, patch, ctx.now));
    }

    case "refund.updated": {
      if (!order) {
        // a payment the ledger holds without an order (a renewal): record its refund on the payment
        const [payment] =
          !awaited && event.paymentRef
            ? await tx.find(
                "payments",
                { provider: event.provider, payment_ref: event.paymentRef, status: "succeeded" },
                { limit: 1 },
              )
            : [];
        if (payment) {
          await recordRefund(tx, event, payment.order_id, event.paymentRef!, ctx);
          return applied([]);
        }
        return awaited || event.paymentRef
          ? { result: "parked", reason: awaitingOrder(event) }
          : { result: "ignored", reason: "refund for an unknown payment" };
      }
      const otherPayment =
        Boolean(event.paymentRef && order.payment_ref) && event.paymentRef !== order.payment_ref;
      // a refund of another payment of the order's subscription (a renewal) is that payment's, not the order's
      await recordRefund(
        tx,
        event,
        otherPayment ? null : order.id,
        event.paymentRef ?? order.payment_ref,
        ctx,
      );
      if (otherPayment || event.status !== "succeeded" || RANK[order.status] < RANK.paid) {
        return applied([], await saveOrder(tx, order, refsPatch(order, event), ctx.now));
      }
      const refunded = Math.max(order.refunded_amount, await refundedTotal(tx, order, event));
      const total = order.amount ?? event.amount;
      const full = event.full || refunded >= total;
      const status: OrderStatus = full ? "refunded" : refunded > 0 ? "partially_refunded" : order.status;
      const grew = refunded > order.refunded_amount || RANK[status] > RANK[order.status];
      const next = await saveOrder(
        tx,
        order,
        {
          ...refsPatch(order, event),
          refunded_amount: refunded,
          status: RANK[status] > RANK[order.status] ? status : order.status,
        },
        ctx.now,
      );
      return applied(
        grew ? [{ type: "order.refunded", order: toOrder(next), refundedAmount: refunded, full }] : [],
        next,
      );
    }
  }
  return { result: "ignored", reason: "unhandled kind" };
}

async function applyDispute(
  tx: StoreTx,
  event: MikaEvent & { kind: "dispute.updated" },
  ctx: LedgerContext,
): Promise<LedgerOutcome> {
  const order = await findOrder(tx, event);
  const disputeRef = event.disputeRef ?? `payment:${event.paymentRef ?? event.eventId}`;
  const [existing] = await tx.find(
    "disputes",
    { provider: event.provider, dispute_ref: disputeRef },
    { limit: 1, lock: true },
  );
  if (existing) {
    if (existing.updated_at <= event.occurredAt.getTime()) {
      await tx.update("disputes", existing.id, {
        status: event.status,
        amount: event.amount,
        updated_at: event.occurredAt.getTime(),
      });
    }
  } else {
    await tx.insert("disputes", {
      id: ctx.createId("dsp"),
      provider: event.provider,
      dispute_ref: disputeRef,
      order_id: order?.id ?? null,
      payment_ref: event.paymentRef ?? null,
      status: event.status,
      amount: event.amount,
      currency: event.currency,
      updated_at: event.occurredAt.getTime(),
    });
  }
  let next = order;
  if (
    order &&
    order.livemode === event.livemode &&
    (!existing || existing.updated_at <= event.occurredAt.getTime())
  ) {
    next = await saveOrder(tx, order, { dispute_status: event.status }, ctx.now);
  }
  return applied([], next);
}

async function applySubscription(
  tx: StoreTx,
  event: MikaEvent & { kind: "subscription.updated" },
  ctx: LedgerContext,
): Promise<LedgerOutcome> {
  if (!event.subscriptionRef)
    return { result: "ignored", reason: "subscription event without a subscription id" };
  const updatedAt = event.updatedAt.getTime();
  const [existing] = await tx.find(
    "subscriptions",
    { provider: event.provider, subscription_ref: event.subscriptionRef },
    { limit: 1, lock: true },
  );
  const named = event.checkoutRef ? await tx.get("orders", event.checkoutRef, { lock: true }) : undefined;
  const order =
    named &&
    named.provider === event.provider &&
    named.livemode === event.livemode &&
    named.mode === "subscription" &&
    !contradiction(named, event)
      ? named
      : undefined;
  const snapshot = {
    status: event.status,
    price_ref: event.priceRef ?? existing?.price_ref ?? null,
    current_period_start: event.currentPeriodStart?.getTime() ?? existing?.current_period_start ?? null,
    current_period_end: event.currentPeriodEnd?.getTime() ?? existing?.current_period_end ?? null,
    cancel_at_period_end: event.cancelAtPeriodEnd,
    customer_ref: event.customerRef ?? existing?.customer_ref ?? null,
    provider_updated_at: updatedAt,
    last_event_id: event.eventId,
    updated_at: ctx.now,
  };
  let row: SubscriptionRow;
  if (!existing) {
    row = {
      id: ctx.createId("sub"),
      provider: event.provider,
      subscription_ref: event.subscriptionRef,
      order_id: order?.id ?? null,
      livemode: event.livemode,
      created_at: ctx.now,
      ...snapshot,
    };
    if (!(await tx.insert("subscriptions", row)))
      throw new Error("subscription was created concurrently; retry");
  } else {
    if (existing.livemode !== event.livemode)
      return { result: "ignored", reason: "subscription of the other mode" };
    const newer = updatedAt > existing.provider_updated_at;
    const same = updatedAt === existing.provider_updated_at;
    const existingTerminal = TERMINAL_SUBSCRIPTION.has(existing.status);
    const eventTerminal = TERMINAL_SUBSCRIPTION.has(event.status);
    const wins = newer || (same && (eventTerminal || !existingTerminal) && CHANGE_RANK[event.change] >= 1);
    if (!wins) return { result: "ignored", reason: "an older snapshot than the one applied" };
    row = { ...existing, ...snapshot, order_id: existing.order_id ?? order?.id ?? null };
    await tx.update("subscriptions", existing.id, { ...snapshot, order_id: row.order_id });
  }
  let next = order;
  if (order && !order.subscription_ref) {
    next = await saveOrder(tx, order, { subscription_ref: event.subscriptionRef }, ctx.now);
  }
  return applied(
    [{ type: "subscription.updated", subscription: toSubscription(row), change: event.change }],
    next,
  );
}
