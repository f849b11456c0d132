/**
 * A custom provider written against the contract (like a host's own adapter): webhooks through the
 * acme Standard Webhooks provider, plus checkout / refunds / subscriptions / portal APIs over an
 * in-process "provider account". It stands in for no real provider's HTTP; the adapters' own tests
 * cover the real SDKs over loopback stubs.
 */
import {
  type Capability,
  type PaymentProvider,
  type ProviderCheckout,
  type ProviderCheckoutInput,
  ProviderError,
} from "@mika/types";
import { acmeProvider } from "./helpers.js";

export interface ShopAccount {
  sessions: Map<string, ProviderCheckout & { input: ProviderCheckoutInput }>;
  calls: { method: string; input: unknown }[];
  /** When set, the next create call throws it. */
  failNext?: ProviderError;
  /** Milliseconds each create call takes. */
  latencyMs: number;
  /** The provider keeps a checkout open this much longer than asked (as Stripe's 30-minute minimum does). */
  extendExpiryMs?: number;
}

export function shopProvider(
  capabilities: Capability[] = [
    "checkout",
    "checkout.expire",
    "checkout.inline-prices",
    "refunds",
    "refunds.partial",
    "subscriptions",
    "portal",
    "webhook.timestamp",
  ],
) {
  const account: ShopAccount = { sessions: new Map(), calls: [], latencyMs: 0 };
  const base = acmeProvider();
  let n = 0;
  const provider: PaymentProvider = {
    ...base,
    capabilities: new Set(capabilities),
    checkout: {
      async create(input) {
        account.calls.push({ method: "checkout.create", input });
        if (account.latencyMs) await new Promise((r) => setTimeout(r, account.latencyMs));
        if (account.failNext) {
          const e = account.failNext;
          account.failNext = undefined;
          throw e;
        }
        const id = `cs_${++n}`;
        const session = {
          providerCheckoutId: id,
          url: `https://pay.example/${id}`,
          status: "open" as const,
          paymentStatus: "unpaid" as const,
          checkoutRef: input.checkoutId,
          ...(input.expiresAt
            ? { expiresAt: new Date(input.expiresAt.getTime() + (account.extendExpiryMs ?? 0)) }
            : {}),
          input,
        };
        account.sessions.set(id, session);
        return session;
      },
      async retrieve(id) {
        account.calls.push({ method: "checkout.retrieve", input: id });
        const s = account.sessions.get(id);
        if (!s) throw new ProviderError(`No such checkout ${id}`, { providerStatus: 404 });
        return s;
      },
      async expire(id) {
        account.calls.push({ method: "checkout.expire", input: id });
        const s = account.sessions.get(id);
        if (s) s.status = "expired";
      },
    },
    refunds: {
      async create(input) {
        account.calls.push({ method: "refunds.create", input });
        return { ref: `re_${++n}`, status: "pending" };
      },
    },
    subscriptions: {
      async cancel(input) {
        account.calls.push({ method: "subscriptions.cancel", input });
        return { ref: input.subscriptionRef, status: "succeeded" };
      },
      async resume(input) {
        account.calls.push({ method: "subscriptions.resume", input });
        return { ref: input.subscriptionRef, status: "succeeded" };
      },
    },
    portal: {
      async create(input) {
        account.calls.push({ method: "portal.create", input });
        return { url: `https://pay.example/portal/${input.customerRef}` };
      },
    },
  };
  return { provider, account };
}
