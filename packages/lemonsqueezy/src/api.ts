/**
 * The Lemon Squeezy API methods, through `@lemonsqueezy/lemonsqueezy.js`.
 *
 * The SDK keeps its configuration (the API key) in one module-global slot set by `lemonSqueezySetup`.
 * When the provider is given an `apiKey`, it calls `lemonSqueezySetup({ apiKey })` right before every
 * SDK call, in the same synchronous step (the SDK reads the key before its first `await`), so two
 * providers with different keys in one process do not mix them up. The SDK returns
 * `{ data, error, statusCode }` instead of throwing; every error becomes a {@link ProviderError}.
 */
import {
  cancelSubscription,
  createCheckout,
  getCheckout,
  getCustomer,
  getOrder,
  getSubscription,
  getSubscriptionInvoice,
  issueOrderRefund,
  issueSubscriptionInvoiceRefund,
  lemonSqueezySetup,
  updateSubscription,
  updateSubscriptionItem,
} from "@lemonsqueezy/lemonsqueezy.js";
import {
  OUTCOME_UNKNOWN,
  type PaymentProvider,
  type ProviderActionResult,
  type ProviderCheckout,
  type ProviderCheckoutInput,
  ProviderError,
  type ProviderSubscriptions,
  type RefundInput,
} from "@mika/types";
import { CHECKOUT_ID_KEY, invoicePaymentRef, orderPaymentStatus } from "./events.js";
import { currency, date, idOf, int, obj, resource, str } from "./read.js";

/** The custom-data key that records the idempotency key a checkout was created under (for tracing). */
export const IDEMPOTENCY_KEY = "mika_idempotency_key";

/** What the API methods need from the provider options. */
export interface ApiOptions {
  apiKey: string | undefined;
  storeId: string | undefined;
  pauseMode: "void" | "free";
  now: () => Date;
}

type SdkResult = { statusCode: number | null; data: unknown; error: Error | null };

const DIGITS = /^\d+$/;

function detailOf(cause: unknown): { detail: string | undefined; code: string | undefined } {
  if (typeof cause === "string") return { detail: cause, code: undefined };
  const list = Array.isArray(cause) ? cause : [cause];
  const first = obj(list[0]);
  if (!first) return { detail: undefined, code: undefined };
  const detail = str(first.detail) ?? str(first.title) ?? str(first.message);
  const pointer = str(obj(first.source)?.pointer);
  return {
    detail: detail && pointer ? `${detail} (${pointer})` : detail,
    code: str(first.code) ?? idOf(first.status),
  };
}

/**
 * Custom data the SDK sends with its keys as given. `createCheckout` snake-cases the keys of every
 * nested plain object (`cartId` would arrive as `cart_id`); it leaves alone an object whose
 * `Object.prototype.toString` tag is not `Object`, and `JSON.stringify` still writes its own keys.
 */
function verbatim(custom: Record<string, string>): Record<string, string> {
  return Object.defineProperty(custom, Symbol.toStringTag, { value: "CustomData", enumerable: false });
}

function invalid(message: string): ProviderError {
  return new ProviderError(message, { retryable: false, providerCode: "invalid_request" });
}

/** Builds the API groups of the provider. */
export function lemonSqueezyApi(options: ApiOptions): Required<
  Pick<PaymentProvider, "checkout" | "refunds" | "portal">
> & {
  subscriptions: Required<ProviderSubscriptions>;
} {
  const redact = (text: string) =>
    options.apiKey && options.apiKey.length > 0 ? text.split(options.apiKey).join("[redacted]") : text;

  /** Runs one SDK call and returns its JSON:API document, or throws a ProviderError. */
  async function call(
    operation: string,
    run: () => Promise<SdkResult>,
    moneyMoving = false,
  ): Promise<unknown> {
    let result: SdkResult;
    try {
      if (options.apiKey !== undefined) lemonSqueezySetup({ apiKey: options.apiKey });
      result = await run();
    } catch (error) {
      // The SDK throws synchronously for a missing required argument.
      throw new ProviderError(
        `Lemon Squeezy ${operation} was refused before any request: ${redact(error instanceof Error ? error.message : String(error))}`,
        { retryable: false, cause: error },
      );
    }
    if (!result.error) return result.data;
    const error = result.error;
    const status = result.statusCode ?? undefined;
    if (status === undefined && error.cause === "Missing API key") {
      throw new ProviderError(
        `Lemon Squeezy ${operation} failed: no API key is configured. Pass apiKey to lemonSqueezyProvider() or call lemonSqueezySetup({ apiKey }) first.`,
        { retryable: false, providerCode: "missing_api_key" },
      );
    }
    if (status === undefined) {
      throw new ProviderError(
        `Lemon Squeezy ${operation} did not get an answer (${redact(error.message || error.name)}): ${moneyMoving ? "it may still have been applied: check the order's refunds in Lemon Squeezy before retrying" : "the API may be unreachable; retry later"}.`,
        moneyMoving ? { retryable: false, providerCode: OUTCOME_UNKNOWN, cause: error } : { cause: error },
      );
    }
    const { detail, code } = detailOf(error.cause);
    const hint =
      status === 401
        ? " Check the Lemon Squeezy API key (test and live keys differ)."
        : status === 404
          ? " Check the id, and that it belongs to the API key's store and mode."
          : status === 429
            ? " Rate limited: retry later."
            : "";
    throw new ProviderError(
      redact(
        `Lemon Squeezy ${operation} failed (HTTP ${status}${error.message ? ` ${error.message}` : ""})${detail ? `: ${detail}` : ""}.${hint}`,
      ),
      { providerStatus: status, ...(code ? { providerCode: code } : {}), cause: error },
    );
  }

  const numericId = (value: string, what: string) => {
    if (!DIGITS.test(value))
      throw invalid(`${what} must be a Lemon Squeezy numeric id, got ${JSON.stringify(value)}.`);
    return Number(value);
  };

  function checkoutFromOrder(ref: string, document: unknown): ProviderCheckout {
    const { id, attributes: a } = resource(document);
    const total = int(a.total);
    const cur = currency(a.currency);
    const customerRef = idOf(a.customer_id);
    return {
      providerCheckoutId: ref,
      status: "complete",
      paymentStatus: orderPaymentStatus(a.status, total),
      ...(total !== undefined ? { amount: total } : {}),
      ...(cur ? { currency: cur } : {}),
      ...(id ? { orderRef: id, paymentRef: id } : {}),
      ...(customerRef ? { customerRef } : {}),
      ...(typeof a.test_mode === "boolean" ? { livemode: !a.test_mode } : {}),
    };
  }

  function checkoutFromCheckout(document: unknown, fallbackRef?: string): ProviderCheckout {
    const { id, attributes: a } = resource(document);
    const expiresAt = date(a.expires_at);
    const checkoutRef = str(obj(obj(a.checkout_data)?.custom)?.[CHECKOUT_ID_KEY]) ?? fallbackRef;
    const url = str(a.url);
    return {
      providerCheckoutId: id ?? "",
      ...(url ? { url } : {}),
      // A checkout object carries no payment state: past its expires_at it may have been paid (the
      // order_created webhook still on its way). "open" leaves the expiry to Mika's maintenance, an
      // hour past expiresAt, instead of expiring (and releasing the stock of) a paid order at once.
      status: "open",
      ...(checkoutRef ? { checkoutRef } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...(typeof a.test_mode === "boolean" ? { livemode: !a.test_mode } : {}),
    };
  }

  /** Splits a paymentRef into the resource to refund. */
  function refundTarget(paymentRef: string): { kind: "order" | "invoice"; id: string } {
    const invoice = /^subscription-invoices\/(\d+)$/.exec(paymentRef);
    if (invoice) return { kind: "invoice", id: invoice[1]! };
    const order = /^(?:orders\/)?(\d+)$/.exec(paymentRef);
    if (order) return { kind: "order", id: order[1]! };
    throw invalid(
      `Cannot refund ${JSON.stringify(paymentRef)}: a Lemon Squeezy paymentRef is an order id ("123") or "subscription-invoices/<id>".`,
    );
  }

  return {
    checkout: {
      async create(input: ProviderCheckoutInput): Promise<ProviderCheckout> {
        if (!options.storeId) {
          throw invalid("Lemon Squeezy checkout needs a store: pass storeId to lemonSqueezyProvider().");
        }
        if (input.lines.length !== 1) {
          throw invalid(
            `A Lemon Squeezy checkout sells one variant; got ${input.lines.length} lines. Create one checkout per variant, or one variant that bundles them.`,
          );
        }
        const line = input.lines[0]!;
        if (!line.priceRef) {
          throw invalid(
            "Lemon Squeezy checkout lines need priceRef set to a variant id (inline prices are not supported).",
          );
        }
        const variantId = numericId(line.priceRef, "priceRef");
        const quantity = line.quantity;
        if (!Number.isSafeInteger(quantity) || quantity < 1)
          throw invalid("quantity must be a positive integer.");
        const custom = verbatim({
          ...input.metadata,
          [CHECKOUT_ID_KEY]: input.checkoutId,
          [IDEMPOTENCY_KEY]: input.idempotencyKey,
        });
        const storeId = options.storeId;
        const document = await call("checkout.create", () =>
          createCheckout(storeId, variantId, {
            productOptions: { redirectUrl: input.successUrl, enabledVariants: [variantId] },
            checkoutData: {
              ...(input.customer?.email ? { email: input.customer.email } : {}),
              ...(input.customer?.name ? { name: input.customer.name } : {}),
              custom,
              ...(quantity !== 1 ? { variantQuantities: [{ variantId, quantity }] } : {}),
            },
            ...(input.expiresAt ? { expiresAt: input.expiresAt.toISOString() } : {}),
          }),
        );
        const checkout = checkoutFromCheckout(document, input.checkoutId);
        if (!checkout.providerCheckoutId || !checkout.url) {
          throw new ProviderError("Lemon Squeezy checkout.create answered without a checkout id or url.", {
            retryable: true,
          });
        }
        return checkout;
      },

      async retrieve(providerCheckoutId: string): Promise<ProviderCheckout> {
        const order = /^(?:orders\/)?(\d+)$/.exec(providerCheckoutId);
        if (order) {
          const document = await call("checkout.retrieve (order)", () => getOrder(order[1]!));
          return checkoutFromOrder(providerCheckoutId, document);
        }
        const document = await call("checkout.retrieve", () => getCheckout(providerCheckoutId));
        return checkoutFromCheckout(document);
      },
    },

    refunds: {
      async create(input: RefundInput): Promise<ProviderActionResult> {
        const target = refundTarget(input.paymentRef);
        let amount = input.amount;
        if (amount !== undefined && (!Number.isSafeInteger(amount) || amount <= 0)) {
          throw invalid("A refund amount must be a positive integer in minor units.");
        }
        // The SDK requires an amount, so a full refund refunds what is left: total − refunded_amount.
        if (amount === undefined || input.currency !== undefined) {
          const document = await call(`refunds.create (read ${target.kind})`, () =>
            target.kind === "order" ? getOrder(target.id) : getSubscriptionInvoice(target.id),
          );
          const a = resource(document).attributes;
          const cur = currency(a.currency);
          if (input.currency && cur && input.currency.toUpperCase() !== cur) {
            throw invalid(`The payment is in ${cur}, not ${input.currency.toUpperCase()}.`);
          }
          if (amount === undefined) {
            const remaining = (int(a.total) ?? 0) - (int(a.refunded_amount) ?? 0);
            if (remaining <= 0) return { ref: input.paymentRef, status: "succeeded" };
            amount = remaining;
          }
        }
        const refundAmount = amount;
        await call(
          "refunds.create",
          () =>
            target.kind === "order"
              ? issueOrderRefund(target.id, refundAmount)
              : issueSubscriptionInvoiceRefund(target.id, refundAmount),
          true,
        );
        return {
          ref: target.kind === "order" ? target.id : invoicePaymentRef(target.id),
          status: "succeeded",
        };
      },
    },

    subscriptions: {
      async cancel(input): Promise<ProviderActionResult> {
        if (!input.atPeriodEnd) {
          throw new ProviderError(
            "Lemon Squeezy cancels subscriptions at the end of the billing period only: call cancel with atPeriodEnd: true (refund the last payment separately if access must stop now).",
            { retryable: false, providerCode: "unsupported" },
          );
        }
        await call("subscriptions.cancel", () => cancelSubscription(input.subscriptionRef));
        return { ref: input.subscriptionRef, status: "succeeded" };
      },

      async resume(input): Promise<ProviderActionResult> {
        const current = await call("subscriptions.resume (read)", () =>
          getSubscription(input.subscriptionRef),
        );
        const a = resource(current).attributes;
        const paused = a.status === "paused" || a.status === "pause" || obj(a.pause) !== undefined;
        await call("subscriptions.resume", () =>
          updateSubscription(input.subscriptionRef, paused ? { pause: null } : { cancelled: false }),
        );
        return { ref: input.subscriptionRef, status: "succeeded" };
      },

      async change(input): Promise<ProviderActionResult> {
        const variantId = numericId(input.priceRef, "priceRef");
        const updated = await call("subscriptions.change", () =>
          updateSubscription(input.subscriptionRef, {
            variantId,
            ...(input.prorate === false ? { disableProrations: true } : {}),
          }),
        );
        if (input.quantity !== undefined) {
          const itemId = idOf(obj(resource(updated).attributes.first_subscription_item)?.id);
          if (!itemId) {
            throw new ProviderError(
              "Lemon Squeezy subscriptions.change: the subscription has no item to set the quantity on.",
              { retryable: false },
            );
          }
          const quantity = input.quantity;
          await call("subscriptions.change (quantity)", () =>
            updateSubscriptionItem(itemId, {
              quantity,
              ...(input.prorate === false ? { disableProrations: true } : {}),
            }),
          );
        }
        return { ref: input.subscriptionRef, status: "succeeded" };
      },

      async pause(input): Promise<ProviderActionResult> {
        await call("subscriptions.pause", () =>
          updateSubscription(input.subscriptionRef, { pause: { mode: options.pauseMode } }),
        );
        return { ref: input.subscriptionRef, status: "succeeded" };
      },
    },

    portal: {
      async create(input): Promise<{ url: string }> {
        const document = await call("portal.create", () => getCustomer(input.customerRef));
        const url = str(obj(resource(document).attributes.urls)?.customer_portal);
        if (!url) {
          throw new ProviderError(
            "Lemon Squeezy has no customer portal for this customer (it exists once they have a subscription in your store).",
            { retryable: false, providerCode: "no_customer_portal" },
          );
        }
        return { url };
      },
    },
  };
}
