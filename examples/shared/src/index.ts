/**
 * The server side every example app shares: Mika built from environment variables, on the SQLite file
 * store, with a small catalog, and a report of the keys that are missing (by name, never a crash).
 */
import { createMika, type Mika, type Order, type Sellable } from "@mika/backend";
import { lemonSqueezyProvider } from "@mika/lemonsqueezy";
import { paddleProvider } from "@mika/paddle";
import { sqliteStore } from "@mika/store-sqlite";
import { stripeProvider } from "@mika/stripe";
import type { PaymentProvider } from "@mika/types";
import { Paddle } from "@paddle/paddle-node-sdk";
import Stripe from "stripe";
import { formatMoney } from "./money";

export type { Mika, Order } from "@mika/backend";
export { formatMoney } from "./money";
export { styles } from "./styles";

/** Environment variables, as `process.env` holds them. */
export type Env = Record<string, string | undefined>;

/** A product of the demo shop. */
export interface Product {
  id: string;
  name: string;
  description: string;
  amount: number;
  currency: string;
}

/** The demo catalog: what the product page shows and `mika.checkout.start` sells. */
export const products: readonly Product[] = [
  {
    id: "tee",
    name: "Mika T-shirt",
    description: "Soft organic cotton, printed with the Mika logo.",
    amount: 2500,
    currency: "USD",
  },
  {
    id: "stickers",
    name: "Sticker pack",
    description: "Six vinyl stickers for your laptop.",
    amount: 500,
    currency: "USD",
  },
];

/** A key the app needs and did not find in its environment. */
export interface MissingKey {
  /** The environment variable's name. */
  name: string;
  /** What does not work without it. */
  effect: string;
}

/** A provider the app is wired to, and what it can do. */
export interface WiredProvider {
  name: "stripe" | "paddle" | "lemonsqueezy";
  label: string;
  /** Whether the Buy button can start a checkout with it (per product id). */
  checkout: Readonly<Record<string, boolean>>;
}

/** What {@link readConfig} found. */
export interface ExampleConfig {
  providers: PaymentProvider[];
  wired: WiredProvider[];
  missing: MissingKey[];
  /** The SQLite file (`MIKA_DB`, default `./mika.db`). */
  dbFile: string;
  catalog: Sellable[];
}

const set = (env: Env, name: string) => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

/** The Lemon Squeezy variant id variable of a product (`LEMONSQUEEZY_VARIANT_TEE`). */
export const lemonSqueezyVariantKey = (productId: string) =>
  `LEMONSQUEEZY_VARIANT_${productId.toUpperCase().replace(/\W/g, "_")}`;

/** The Paddle price id variable of a product (`PADDLE_PRICE_TEE`); optional (inline prices work). */
export const paddlePriceKey = (productId: string) =>
  `PADDLE_PRICE_${productId.toUpperCase().replace(/\W/g, "_")}`;

/**
 * Reads the configuration. Stripe is the default provider: its two keys are reported missing when
 * absent. Paddle and Lemon Squeezy are wired when any of their keys is set, and then their other keys
 * are reported missing by name. Nothing here throws on a missing key.
 */
export function readConfig(env: Env = process.env): ExampleConfig {
  const providers: PaymentProvider[] = [];
  const wired: WiredProvider[] = [];
  const missing: MissingKey[] = [];
  const need = (name: string, effect: string) => {
    const value = set(env, name);
    if (!value) missing.push({ name, effect });
    return value;
  };
  const everyProduct = (ok: boolean) => Object.fromEntries(products.map((p) => [p.id, ok]));

  // Stripe
  const stripeKey = need("STRIPE_SECRET_KEY", "Stripe checkouts cannot start (Buy is disabled).");
  const stripeSecret = need(
    "STRIPE_WEBHOOK_SECRET",
    "Stripe webhooks are refused, so paid orders stay awaiting payment.",
  );
  if (stripeKey || stripeSecret) {
    const port = set(env, "STRIPE_API_PORT");
    const client = stripeKey
      ? new Stripe(stripeKey, {
          ...(set(env, "STRIPE_API_HOST") ? { host: set(env, "STRIPE_API_HOST") } : {}),
          ...(port ? { port: Number(port) } : {}),
          ...(set(env, "STRIPE_API_PROTOCOL")
            ? { protocol: set(env, "STRIPE_API_PROTOCOL") as "http" | "https" }
            : {}),
        })
      : undefined;
    providers.push(stripeProvider({ ...(client ? { client } : {}), webhookSecret: stripeSecret ?? [] }));
    wired.push({ name: "stripe", label: "Stripe", checkout: everyProduct(Boolean(client)) });
  }

  // Paddle (optional)
  if (set(env, "PADDLE_API_KEY") || set(env, "PADDLE_WEBHOOK_SECRET")) {
    const key = need("PADDLE_API_KEY", "Paddle checkouts cannot start.");
    const secret = need("PADDLE_WEBHOOK_SECRET", "Paddle webhooks are refused.");
    const environment = set(env, "PADDLE_ENVIRONMENT") ?? "sandbox";
    // "production" | "sandbox", or a base URL (a loopback sandbox in tests).
    const client = key ? new Paddle(key, { environment: environment as never }) : undefined;
    providers.push(
      paddleProvider({
        ...(client ? { client } : {}),
        webhookSecret: secret ?? [],
        environment: environment === "production" ? "production" : "sandbox",
      }),
    );
    wired.push({ name: "paddle", label: "Paddle", checkout: everyProduct(Boolean(client)) });
  }

  // Lemon Squeezy (optional)
  if (
    set(env, "LEMONSQUEEZY_API_KEY") ||
    set(env, "LEMONSQUEEZY_STORE_ID") ||
    set(env, "LEMONSQUEEZY_WEBHOOK_SECRET")
  ) {
    const apiKey = need("LEMONSQUEEZY_API_KEY", "Lemon Squeezy checkouts cannot start.");
    const storeId = need("LEMONSQUEEZY_STORE_ID", "Lemon Squeezy checkouts cannot start.");
    const secret = need("LEMONSQUEEZY_WEBHOOK_SECRET", "Lemon Squeezy webhooks are refused.");
    const checkout: Record<string, boolean> = {};
    for (const p of products) {
      const variant = need(lemonSqueezyVariantKey(p.id), `${p.name} cannot be bought with Lemon Squeezy.`);
      checkout[p.id] = Boolean(apiKey && storeId && variant);
    }
    providers.push(
      lemonSqueezyProvider({
        ...(apiKey ? { apiKey } : {}),
        ...(storeId ? { storeId } : {}),
        webhookSecret: secret ?? [],
      }),
    );
    wired.push({ name: "lemonsqueezy", label: "Lemon Squeezy", checkout });
  }

  const catalog: Sellable[] = products.map((p) => {
    const prices: Record<string, string> = {};
    const variant = set(env, lemonSqueezyVariantKey(p.id));
    if (variant) prices.lemonsqueezy = variant;
    const paddlePrice = set(env, paddlePriceKey(p.id));
    if (paddlePrice) prices.paddle = paddlePrice;
    return { id: p.id, name: p.name, amount: p.amount, currency: p.currency, prices };
  });

  return { providers, wired, missing, dbFile: set(env, "MIKA_DB") ?? "./mika.db", catalog };
}

let currentConfig: ExampleConfig | undefined;
let currentMika: Mika | undefined;

/**
 * This process's configuration, read once; each missing key is logged once, by name. Opens nothing.
 */
export function config(): ExampleConfig {
  if (currentConfig) return currentConfig;
  currentConfig = readConfig();
  for (const key of currentConfig.missing) console.warn(`[mika example] missing ${key.name}: ${key.effect}`);
  return currentConfig;
}

/**
 * This process's Mika, built on first use from the environment on the SQLite file store (so builds,
 * which import the routes, never open the database or need the keys).
 */
export function getMika(): Mika {
  if (currentMika) return currentMika;
  const cfg = config();
  currentMika = createMika({
    providers: cfg.providers,
    store: sqliteStore({ file: cfg.dbFile }),
    catalog: cfg.catalog,
  });
  return currentMika;
}

/** An order as the orders page shows it. */
export interface OrderRow {
  id: string;
  provider: string;
  status: string;
  total: string;
  createdAt: string;
}

/** The newest orders (up to 100) for the orders page; an error is returned as text, not thrown. */
export async function listOrders(): Promise<{ rows: OrderRow[]; error?: string }> {
  const result = await getMika().orders.list({ limit: 100 });
  if (!result.ok) return { rows: [], error: result.error.message };
  return {
    rows: result.data.items.map((o: Order) => ({
      id: o.id,
      provider: o.provider,
      status: o.status,
      total: formatMoney(o.amount, o.currency),
      createdAt: new Date(o.createdAt).toISOString().replace("T", " ").slice(0, 19),
    })),
  };
}
