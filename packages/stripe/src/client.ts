/**
 * The part of the `stripe` SDK client the adapter calls, typed structurally so that any `stripe` major
 * from 18 on fits without pinning its types. Pass `new Stripe(secretKey)`.
 */

/** Per-request options the adapter passes to the SDK (the SDK's `RequestOptions` subset). */
export interface StripeRequestOptions {
  /** Sent as the `Idempotency-Key` header. */
  idempotencyKey?: string;
}

/** A Stripe API object as the adapter reads it (snake_case JSON). */
export type StripeObject = { id: string } & Record<string, unknown>;

/** The SDK methods the adapter uses: `stripe.checkout.sessions`, `refunds`, `subscriptions`, `billingPortal.sessions`. */
export interface StripeClient {
  checkout: {
    sessions: {
      create(params: object, options?: StripeRequestOptions): Promise<object>;
      retrieve(id: string, params?: object, options?: StripeRequestOptions): Promise<object>;
      expire(id: string, params?: object, options?: StripeRequestOptions): Promise<object>;
    };
  };
  refunds: { create(params: object, options?: StripeRequestOptions): Promise<object> };
  subscriptions: {
    retrieve(id: string, params?: object, options?: StripeRequestOptions): Promise<object>;
    update(id: string, params: object, options?: StripeRequestOptions): Promise<object>;
    cancel(id: string, params?: object, options?: StripeRequestOptions): Promise<object>;
    resume(id: string, params?: object, options?: StripeRequestOptions): Promise<object>;
  };
  billingPortal: {
    sessions: { create(params: object, options?: StripeRequestOptions): Promise<object> };
  };
}
