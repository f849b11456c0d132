import { config, formatMoney, products } from "@mika/example-shared";
import type { PageServerLoad } from "./$types";

export const load: PageServerLoad = () => ({
  wired: config().wired,
  products: products.map((p) => ({ ...p, price: formatMoney(p.amount, p.currency) })),
});
