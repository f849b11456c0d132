/**
 * `@mika/backend`: verified webhooks into an exactly-once order and subscription ledger, hosted
 * checkout with idempotency, ops, maintenance and one Web-standard handler.
 *
 * @packageDocumentation
 */
export type {
  Catalog,
  CheckoutLineInput,
  CheckoutStarted,
  CheckoutStartInput,
  CheckoutStatus,
  Sellable,
} from "./checkout.js";
export { envelopeResponse } from "./http.js";
export {
  lazyHandler,
  lazyMika,
  type MikaHandlerHost,
  type MikaSource,
  optionalMika,
  startFailure,
} from "./lazy.js";
export type { MaintenanceReport } from "./maintenance.js";
export { type MemoryStore, memoryStore } from "./memory-store.js";
export { createMika, type Mika, type MikaOptions } from "./mika.js";
export { formatAmount, renderNotification } from "./notifications.js";
export type {
  CreateMikaOptions,
  EventHandlers,
  HandlerContext,
  Logger,
  MikaConfig,
  NotificationIntent,
  NotificationsConfig,
  Order,
  Page,
  ReceiveResult,
  RenderedMessage,
  Subscription,
  WebhookDetail,
  WebhookRecord,
} from "./types.js";
