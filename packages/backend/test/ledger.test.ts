import { describe, expect, it } from "vitest";
import { completed, setup } from "./helpers.js";

const sub = (status: string, updatedAt: string, over: Record<string, unknown> = {}) => ({
  kind: "subscription.updated" as const,
  subscriptionRef: "sub_1",
  status,
  change: status === "canceled" ? "canceled" : "updated",
  cancelAtPeriodEnd: false,
  updatedAt,
  priceRef: "price_basic",
  ...over,
});

/** A per-refund event (as Paddle's adjustments are): its own amount, not a running total. */
const adjustment = (refundRef: string, refundedAmount: number, status: string) => ({
  kind: "refund.updated" as const,
  paymentRef: "pi_1",
  refundRef,
  refundedAmount,
  amount: refundedAmount,
  cumulative: false,
  currency: "USD",
  full: false,
  status,
});

describe("ledger", () => {
  it("keeps the newer snapshot when an older subscription update arrives after a newer one", async () => {
    const { deliver, mika } = setup();
    await deliver(sub("active", "2025-03-01T10:05:00Z", { priceRef: "price_pro" }), "msg_new");
    const old = await deliver(sub("past_due", "2025-03-01T10:00:00Z"), "msg_old");
    expect(old.body.data.status).toBe("ignored");
    const list = await mika.subscriptions.list();
    expect(list.ok && list.data.items).toMatchObject([{ status: "active", priceRef: "price_pro" }]);
  });

  it("does not revive a canceled subscription with an older updated; a newer one applies", async () => {
    const { deliver, rows } = setup();
    await deliver(sub("active", "2025-03-01T10:00:00Z", { change: "created" }), "msg_c");
    await deliver(sub("canceled", "2025-03-01T11:00:00Z"), "msg_del");
    await deliver(sub("active", "2025-03-01T10:30:00Z"), "msg_late");
    expect(await rows("subscriptions")).toMatchObject([{ status: "canceled" }]);
    await deliver(
      sub("canceled", "2025-03-01T11:00:00Z", { change: "updated", status: "active" }),
      "msg_same_time",
    );
    expect((await rows("subscriptions"))[0]!.status).toBe("canceled");
    await deliver(sub("active", "2025-03-01T12:00:00Z"), "msg_resumed_later");
    expect((await rows("subscriptions"))[0]!.status).toBe("active");
  });

  it("parks a payment event whose order does not exist yet, then applies it when the order appears", async () => {
    const { deliver, rows, mika } = setup();
    const early = await deliver(
      { kind: "payment.succeeded", checkoutRef: "chk_later", amount: 1500, currency: "USD" },
      "msg_early",
    );
    expect(early.status).toBe(200);
    expect(early.body.data.status).toBe("parked");
    expect(await rows("events")).toMatchObject([
      { status: "pending", parked_reason: "awaiting-order:chk_later" },
    ]);
    await deliver(completed({ checkoutRef: "chk_later", paymentStatus: "unpaid" }), "msg_completed");
    const order = await mika.orders.get("chk_later");
    expect(order.ok && order.data.status).toBe("paid");
    const events = await rows("events");
    expect(events.map((e) => e.status).sort()).toEqual(["processed", "processed"]);
  });

  it("moves completed-unpaid to paid only after payment.succeeded", async () => {
    const { deliver, mika } = setup();
    await deliver(completed({ paymentStatus: "unpaid", checkoutRef: "chk_async" }), "msg_unpaid");
    expect(
      (await mika.orders.get("chk_async")).ok && ((await mika.orders.get("chk_async")) as any).data.status,
    ).toBe("awaiting_payment");
    await deliver(
      {
        kind: "payment.succeeded",
        checkoutRef: "chk_async",
        paymentRef: "pi_1",
        amount: 1500,
        currency: "USD",
      },
      "msg_settled",
    );
    const order = await mika.orders.get("chk_async");
    expect(order.ok && order.data).toMatchObject({ status: "paid", paidAt: expect.any(String) });
  });

  it("records payment.failed after completed-unpaid as failed, never paid", async () => {
    const { deliver, mika, rows } = setup();
    await deliver(completed({ paymentStatus: "unpaid", checkoutRef: "chk_f" }), "msg_u");
    const res = await deliver(
      { kind: "payment.failed", checkoutRef: "chk_f", reason: "insufficient_funds" },
      "msg_pf",
    );
    expect(res.status).toBe(200);
    const order = await mika.orders.get("chk_f");
    expect(order.ok && order.data).toMatchObject({ status: "failed", failureReason: "insufficient_funds" });
    expect(await rows("payments")).toMatchObject([{ status: "failed", reason: "insufficient_funds" }]);
    const events = await rows("events");
    expect(events.every((e) => e.status === "processed")).toBe(true);
  });

  it("never moves paid back to awaiting_payment", async () => {
    const { deliver, mika } = setup();
    await deliver(completed({ checkoutRef: "chk_fw" }), "msg_paid");
    await deliver(completed({ checkoutRef: "chk_fw", paymentStatus: "unpaid" }), "msg_stale_unpaid");
    const order = await mika.orders.get("chk_fw");
    expect(order.ok && order.data.status).toBe("paid");
  });

  it("applies refunds cumulatively: 500 of 1500, then 1000 more → refunded; a duplicate refund event counts once", async () => {
    const { deliver, mika } = setup();
    await deliver(completed({ checkoutRef: "chk_r" }), "msg_paid_r");
    const refund = (refundedAmount: number, full: boolean) => ({
      kind: "refund.updated" as const,
      paymentRef: "pi_1",
      refundedAmount,
      amount: 1500,
      currency: "USD",
      full,
      status: "succeeded",
    });
    await deliver(refund(500, false), "msg_ref1");
    let order = await mika.orders.get("chk_r");
    expect(order.ok && order.data).toMatchObject({ status: "partially_refunded", refundedAmount: 500 });
    const dup = await deliver(refund(500, false), "msg_ref1");
    expect(dup.body.data.status).toBe("duplicate");
    await deliver({ ...refund(500, false), refundRef: "re_other" }, "msg_ref1_again_other_delivery");
    order = await mika.orders.get("chk_r");
    expect(order.ok && order.data.refundedAmount).toBe(500);
    await deliver(refund(1500, true), "msg_ref2");
    order = await mika.orders.get("chk_r");
    expect(order.ok && order.data).toMatchObject({ status: "refunded", refundedAmount: 1500 });
  });

  it("adds up per-refund events (cumulative: false) by refundRef: 500 + 1000 of 1500 → refunded, a re-sent refund counts once", async () => {
    const { deliver, mika, rows } = setup();
    await deliver(completed({ checkoutRef: "chk_pr" }), "msg_paid_pr");
    await deliver(adjustment("adj_a", 500, "pending"), "msg_a_pending");
    await deliver(adjustment("adj_a", 500, "succeeded"), "msg_a_approved");
    await deliver(adjustment("adj_a", 500, "succeeded"), "msg_a_resent_with_new_id");
    let order = await mika.orders.get("chk_pr");
    expect(order.ok && order.data).toMatchObject({ status: "partially_refunded", refundedAmount: 500 });
    await deliver(adjustment("adj_b", 1000, "succeeded"), "msg_b");
    order = await mika.orders.get("chk_pr");
    expect(order.ok && order.data).toMatchObject({ status: "refunded", refundedAmount: 1500 });
    expect((await rows("refunds")).map((r) => [r.refund_ref, r.refunded_amount, r.status]).sort()).toEqual([
      ["adj_a", 500, "succeeded"],
      ["adj_b", 1000, "succeeded"],
    ]);
  });

  it("keeps a refund's outcome when its pending event arrives late, so the total counts it", async () => {
    const { deliver, mika, rows } = setup();
    await deliver(completed({ checkoutRef: "chk_late" }), "msg_paid_late");
    await deliver(adjustment("adj_a", 100, "succeeded"), "msg_a_approved");
    await deliver(adjustment("adj_a", 100, "pending"), "msg_a_created_late");
    await deliver(adjustment("adj_b", 200, "succeeded"), "msg_b_approved");
    const order = await mika.orders.get("chk_late");
    expect(order.ok && order.data).toMatchObject({ status: "partially_refunded", refundedAmount: 300 });
    expect((await rows("refunds")).map((r) => [r.refund_ref, r.status]).sort()).toEqual([
      ["adj_a", "succeeded"],
      ["adj_b", "succeeded"],
    ]);
  });

  it("records a pending refund without moving money", async () => {
    const { deliver, mika } = setup();
    await deliver(completed({ checkoutRef: "chk_p" }), "msg_paid_p");
    await deliver(
      {
        kind: "refund.updated",
        paymentRef: "pi_1",
        refundRef: "adj_1",
        refundedAmount: 500,
        amount: 1500,
        currency: "USD",
        full: false,
        status: "pending",
      },
      "msg_pending_refund",
    );
    const order = await mika.orders.get("chk_p");
    expect(order.ok && order.data).toMatchObject({ status: "paid", refundedAmount: 0 });
  });

  it("treats invoice.uncollectible as no refund and records disputes on the order", async () => {
    const { deliver, mika, rows } = setup();
    await deliver(completed({ checkoutRef: "chk_d" }), "msg_paid_d");
    await deliver(
      {
        kind: "invoice.uncollectible",
        paymentRef: "pi_1",
        invoiceRef: "in_1",
        amount: 1500,
        currency: "USD",
      },
      "msg_unc",
    );
    await deliver(
      {
        kind: "dispute.updated",
        paymentRef: "pi_1",
        disputeRef: "dp_1",
        amount: 1500,
        currency: "USD",
        status: "open",
      },
      "msg_dsp",
    );
    const order = await mika.orders.get("chk_d");
    expect(order.ok && order.data).toMatchObject({
      status: "paid",
      refundedAmount: 0,
      disputeStatus: "open",
    });
    expect(await rows("payments")).toMatchObject([{ status: "uncollectible" }]);
    expect(await rows("disputes")).toMatchObject([
      { dispute_ref: "dp_1", status: "open", order_id: "chk_d" },
    ]);
  });

  it("expires an unpaid checkout on checkout.expired but never a paid one", async () => {
    const { deliver, mika } = setup();
    await deliver(
      completed({ checkoutRef: "chk_e1", paymentStatus: "unpaid", providerCheckoutId: "cs_e1" }),
      "msg_e1",
    );
    await deliver({ kind: "checkout.expired", providerCheckoutId: "cs_e1" }, "msg_exp1");
    expect(((await mika.orders.get("chk_e1")) as any).data.status).toBe("expired");
    await deliver(
      completed({ checkoutRef: "chk_e2", providerCheckoutId: "cs_e2", paymentRef: "pi_2" }),
      "msg_e2",
    );
    await deliver({ kind: "checkout.expired", providerCheckoutId: "cs_e2" }, "msg_exp2");
    expect(((await mika.orders.get("chk_e2")) as any).data.status).toBe("paid");
  });
});
