/** The success / cancel panel: filled in the browser from Mika's checkout status, never from the URL. */
export function Outcome({ kind, title }: { kind: "success" | "cancel"; title: string }) {
  return (
    <section className="outcome" data-mika-outcome={kind}>
      <h1>{title}</h1>
      <p data-field="message">Asking the shop for this checkout's status…</p>
      <dl>
        <dt>Status</dt>
        <dd data-field="status">…</dd>
        <dt>Paid</dt>
        <dd data-field="paid">…</dd>
        <dt>Amount</dt>
        <dd data-field="amount">…</dd>
        <dt>Checkout</dt>
        <dd data-field="checkout">…</dd>
      </dl>
    </section>
  );
}
