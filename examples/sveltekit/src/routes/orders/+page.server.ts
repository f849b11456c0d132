import { formatMoney } from "@mika/example-shared";
import type { PageServerLoad } from "./$types";

// Demo only: a real shop puts this behind authentication. Mika comes from the handle hook.
export const load: PageServerLoad = async ({ locals }) => {
  const result = await locals.mika.orders.list({ limit: 100 });
  return {
    error: result.ok ? null : result.error.message,
    orders: (result.ok ? result.data.items : []).map((o) => ({
      id: o.id,
      provider: o.provider,
      status: o.status,
      total: formatMoney(o.amount, o.currency),
      createdAt: o.createdAt.replace("T", " ").slice(0, 19),
    })),
  };
};
