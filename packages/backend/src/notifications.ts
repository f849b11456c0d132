/** The default renderer for notification intents (text + HTML), used when the host does not handle one. */
import type { NotificationIntent, RenderedMessage } from "./types.js";

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Digits after the decimal point per currency code (ISO 4217 minor units, from the runtime's Intl). */
const minorDigits = new Map<string, number>();

function digitsOf(code: string): number {
  let digits = minorDigits.get(code);
  if (digits === undefined) {
    try {
      const format = new Intl.NumberFormat("en", { style: "currency", currency: code });
      digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      digits = 2; // not a currency code Intl knows
    }
    minorDigits.set(code, digits);
  }
  return digits;
}

/**
 * Formats minor units with their currency, by the currency's own minor unit: `1999, "USD"` →
 * `USD 19.99`, `500, "JPY"` → `JPY 500`, `1500, "KWD"` → `KWD 1.500`.
 */
export function formatAmount(amount: number | null | undefined, currency: string | null | undefined): string {
  if (amount === null || amount === undefined) return "an unknown amount";
  const code = (currency ?? "").toUpperCase();
  const digits = code ? digitsOf(code) : 2;
  const value = (amount / 10 ** digits).toFixed(digits);
  return code ? `${code} ${value}` : value;
}

/**
 * Renders an intent as a short message. `order.paid` gets a receipt-style text and HTML body; the
 * others get a one-line summary. Returns `undefined` for intents with nothing to say to a buyer.
 */
export function renderNotification(intent: NotificationIntent): RenderedMessage | undefined {
  const message = render(intent);
  // A subject goes into a mail header: ids from a webhook (an order id a buyer's custom data named)
  // must not carry a line break into it.
  return message && { ...message, subject: oneLine(message.subject) };
}

/** Control characters (line breaks included) become one space each run. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ");
}

function render(intent: NotificationIntent): RenderedMessage | undefined {
  switch (intent.type) {
    case "order.paid": {
      const { order } = intent;
      const total = formatAmount(order.amount, order.currency);
      const who = order.customerName ?? order.customerEmail ?? "there";
      const subject = `Payment received: order ${order.id}`;
      const text = [
        `Hi ${who},`,
        "",
        `We received your payment of ${total} for order ${order.id}.`,
        "",
        "Thank you!",
      ].join("\n");
      const html = `<p>Hi ${escapeHtml(who)},</p><p>We received your payment of <strong>${escapeHtml(total)}</strong> for order <code>${escapeHtml(order.id)}</code>.</p><p>Thank you!</p>`;
      return { subject, text, html };
    }
    case "order.refunded": {
      const amount = formatAmount(intent.refundedAmount, intent.order.currency);
      const subject = `${intent.full ? "Refund" : "Partial refund"} for order ${intent.order.id}`;
      const text = `${amount} of order ${intent.order.id} has been refunded.`;
      return { subject, text, html: `<p>${escapeHtml(text)}</p>` };
    }
    case "payment.failed": {
      const subject = intent.order ? `Payment failed for order ${intent.order.id}` : "A payment failed";
      const text = `${subject}${intent.reason ? `: ${intent.reason}` : ""}.`;
      return { subject, text, html: `<p>${escapeHtml(text)}</p>` };
    }
    case "subscription.updated": {
      const s = intent.subscription;
      const subject = `Subscription ${s.subscriptionRef} ${intent.change}`;
      const text = `Subscription ${s.subscriptionRef} is now ${s.status}${s.cancelAtPeriodEnd ? " (ends at period end)" : ""}.`;
      return { subject, text, html: `<p>${escapeHtml(text)}</p>` };
    }
    case "ops.webhook_failed": {
      const subject = `Webhook ${intent.eventType} from ${intent.provider} failed (attempt ${intent.attempts})`;
      return {
        subject,
        text: `${subject}: ${intent.error}`,
        html: `<p>${escapeHtml(`${subject}: ${intent.error}`)}</p>`,
      };
    }
  }
}
