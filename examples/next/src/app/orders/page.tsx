import { listOrders } from "@mika/example-shared";

// Demo only: a real shop puts this behind authentication.
export default async function OrdersPage() {
  const { rows, error } = await listOrders();
  return (
    <>
      <h1>Orders</h1>
      {error && <p className="error">{error}</p>}
      {rows.length === 0 ? (
        <p>No orders yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Checkout</th>
              <th>Provider</th>
              <th>Status</th>
              <th>Total</th>
              <th>Created (UTC)</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} data-order={row.id} data-status={row.status}>
                <td>
                  <code>{row.id}</code>
                </td>
                <td>{row.provider}</td>
                <td>{row.status}</td>
                <td>{row.total}</td>
                <td>{row.createdAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
