/**
 * `mika trigger`: realistic webhook bodies built from the real fixtures of `@mika/testing`, given fresh
 * ids and timestamps, optionally linked to a Mika checkout, signed with the provider's own scheme and
 * POSTed to a webhook URL.
 */
import {
  type FixtureProvider,
  lemonSqueezySigner,
  paddleSigner,
  providerFixtures,
  type SignedWebhook,
  stripeSigner,
  type WebhookSigner,
} from "@mika/testing/kit";

/** The providers `mika trigger` can sign for. */
export const TRIGGER_PROVIDERS = ["stripe", "paddle", "lemonsqueezy"] as const;

/** A provider `mika trigger` can sign for. */
export type TriggerProvider = (typeof TRIGGER_PROVIDERS)[number];

/** Whether `name` is a provider `mika trigger` knows. */
export function isTriggerProvider(name: string): name is TriggerProvider {
  return (TRIGGER_PROVIDERS as readonly string[]).includes(name);
}

/** The signer of each provider. */
export const TRIGGER_SIGNERS: Readonly<Record<TriggerProvider, WebhookSigner>> = {
  stripe: stripeSigner,
  paddle: paddleSigner,
  lemonsqueezy: lemonSqueezySigner,
};

type Json = Record<string, unknown>;

/** An event `mika trigger` can build. */
export interface KnownEvent {
  provider: TriggerProvider;
  /** The provider's own event type (`checkout.session.completed`, `transaction.completed`, `order_created`…). */
  event: string;
  /** Where the body comes from: a fixture name, or `<fixture> (derived)`. */
  source: string;
}

/** Events not in the fixtures, derived from a close one by changing what differs. */
interface Derivation {
  provider: TriggerProvider;
  event: string;
  from: string;
  apply(payload: Json, now: Date): void;
}

const obj = (value: unknown): Json | undefined =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;

const DERIVED: readonly Derivation[] = [
  {
    provider: "stripe",
    event: "checkout.session.expired",
    from: "checkout.session.completed",
    apply(payload) {
      const session = obj(obj(payload.data)?.object);
      if (session) Object.assign(session, { status: "expired", payment_status: "unpaid" });
    },
  },
  {
    provider: "stripe",
    event: "payment_intent.succeeded",
    from: "payment_intent.payment_failed",
    apply(payload) {
      const intent = obj(obj(payload.data)?.object);
      if (!intent) return;
      Object.assign(intent, { status: "succeeded", last_payment_error: null });
      if (typeof intent.amount === "number") intent.amount_received = intent.amount;
    },
  },
  {
    provider: "lemonsqueezy",
    event: "order_refunded",
    from: "order_created",
    apply(payload, now) {
      const attributes = obj(obj(payload.data)?.attributes);
      if (!attributes) return;
      // A partial refund: the order stays `paid`, `refunded` false, `refunded_amount` the running total.
      const total = typeof attributes.total === "number" ? attributes.total : 0;
      Object.assign(attributes, {
        refunded: false,
        refunded_at: now.toISOString(),
        refunded_amount: Math.floor(total / 2),
      });
    },
  },
  {
    provider: "lemonsqueezy",
    event: "subscription_cancelled",
    from: "subscription_updated",
    apply(payload, now) {
      const attributes = obj(obj(payload.data)?.attributes);
      if (!attributes) return;
      const endsAt = new Date(now.getTime() + 30 * 86_400_000).toISOString();
      Object.assign(attributes, { status: "cancelled", cancelled: true, ends_at: endsAt });
    },
  },
  {
    provider: "lemonsqueezy",
    event: "subscription_payment_failed",
    from: "subscription_payment_success",
    apply(payload) {
      const attributes = obj(obj(payload.data)?.attributes);
      if (attributes) attributes.status = "failed";
    },
  },
];

/** The provider's event type written in a body. */
function eventTypeOf(provider: TriggerProvider, payload: Json): string | undefined {
  const value =
    provider === "stripe"
      ? payload.type
      : provider === "paddle"
        ? payload.event_type
        : obj(payload.meta)?.event_name;
  return typeof value === "string" ? value : undefined;
}

function setEventType(provider: TriggerProvider, payload: Json, type: string): void {
  if (provider === "stripe") payload.type = type;
  else if (provider === "paddle") payload.event_type = type;
  else payload.meta = { ...(obj(payload.meta) ?? {}), event_name: type };
}

interface Template {
  known: KnownEvent;
  body: string;
  derive?: Derivation;
}

const templateCache = new Map<TriggerProvider, Template[]>();

function templates(provider: TriggerProvider): Template[] {
  const cached = templateCache.get(provider);
  if (cached) return cached;
  const out: Template[] = [];
  const seen = new Set<string>();
  for (const fixture of providerFixtures(provider as FixtureProvider)) {
    const type = eventTypeOf(provider, JSON.parse(fixture.body) as Json);
    // Two fixtures of one type (Stripe's charge.refunded): the first, in name order, is the default.
    if (!type || seen.has(type)) continue;
    seen.add(type);
    out.push({ known: { provider, event: type, source: fixture.name }, body: fixture.body });
  }
  for (const derive of DERIVED) {
    if (derive.provider !== provider || seen.has(derive.event)) continue;
    const base = out.find((t) => t.known.event === derive.from);
    if (!base) continue;
    seen.add(derive.event);
    out.push({
      known: { provider, event: derive.event, source: `${base.known.source} (derived)` },
      body: base.body,
      derive,
    });
  }
  out.sort((a, b) => a.known.event.localeCompare(b.known.event));
  templateCache.set(provider, out);
  return out;
}

/** The events `mika trigger` knows, for one provider or all of them. */
export function knownEvents(provider?: TriggerProvider): KnownEvent[] {
  const providers = provider ? [provider] : TRIGGER_PROVIDERS;
  return providers.flatMap((p) => templates(p).map((t) => ({ ...t.known })));
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** `length` random characters of [0-9a-z] (Web Crypto). */
export function randomToken(length: number): string {
  const bytes = new Uint8Array(length);
  globalThis.crypto.getRandomValues(bytes);
  let out = "";
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

/** A new id shaped like `old`: same prefix up to the last `_`, same suffix length (at least 14). */
function freshIdLike(old: unknown, fallbackPrefix: string): string {
  const text = typeof old === "string" ? old : "";
  const cut = text.lastIndexOf("_");
  const prefix = cut > 0 ? text.slice(0, cut + 1) : fallbackPrefix;
  const length = Math.max(14, cut > 0 ? text.length - cut - 1 : 0);
  return `${prefix}${randomToken(length)}`;
}

/** A new numeric id (Lemon Squeezy ids are numbers written as strings). */
function freshNumericId(): string {
  const bytes = new Uint32Array(1);
  globalThis.crypto.getRandomValues(bytes);
  return String(100_000 + (bytes[0]! % 900_000_000));
}

/**
 * Parses the value of a `--set key=value` override: JSON when it parses (`12`, `true`, `null`,
 * `{"a":1}`, `"quoted"`), otherwise the text as it is.
 */
export function parseSetValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Sets `value` at a dotted path (`data.object.amount`, `data.items.0.quantity`), creating objects on the
 * way. Numeric segments index existing arrays.
 */
export function setPath(target: Json, path: string, value: unknown): void {
  const parts = path.split(".");
  if (parts.some((p) => p === "")) throw new UsageError(`--set ${path}: empty segment in the path.`);
  for (const part of parts) {
    if (part === "__proto__" || part === "constructor" || part === "prototype") {
      throw new UsageError(`--set ${path}: "${part}" is not allowed in a path.`);
    }
  }
  let node: unknown = target;
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    if (Array.isArray(node)) {
      const index = Number(part);
      if (!Number.isInteger(index) || index < 0) {
        throw new UsageError(`--set ${path}: "${part}" indexes an array, so it must be a number.`);
      }
      if (last) node[index] = value;
      else {
        if (node[index] === null || typeof node[index] !== "object") node[index] = {};
        node = node[index];
      }
      continue;
    }
    const record = node as Json;
    if (last) record[part] = value;
    else {
      if (record[part] === null || typeof record[part] !== "object") record[part] = {};
      node = record[part];
    }
  }
}

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Options of {@link buildEvent}. */
export interface BuildEventOptions {
  /** `key=value` overrides, applied last (see {@link setPath} and {@link parseSetValue}). */
  set?: readonly string[];
  /** A Mika checkout id to link, where the provider's adapter reads it. */
  checkout?: string;
  /** The clock (tests). */
  now?: Date;
}

/** A built event, ready to sign. */
export interface BuiltEvent {
  provider: TriggerProvider;
  event: string;
  /** The provider's event id (Lemon Squeezy sends none: Mika derives one from the body). */
  eventId: string | undefined;
  /** The exact body that will be signed and sent. */
  body: string;
  payload: Json;
}

const isoNow = (now: Date) => now.toISOString();

/** Gives a body fresh ids and "now" timestamps, the way the provider would send a new event. */
function refresh(provider: TriggerProvider, payload: Json, now: Date): void {
  const seconds = Math.floor(now.getTime() / 1000);
  if (provider === "stripe") {
    payload.id = freshIdLike("evt_000000000000000000000000", "evt_");
    payload.created = seconds;
    const object = obj(obj(payload.data)?.object);
    if (object) {
      object.id = freshIdLike(object.id, "obj_");
      if (typeof object.created === "number") object.created = seconds;
    }
    return;
  }
  if (provider === "paddle") {
    payload.event_id = `evt_${randomToken(26)}`;
    payload.notification_id = `ntf_${randomToken(26)}`;
    payload.occurred_at = isoNow(now);
    const data = obj(payload.data);
    if (data) {
      data.id = freshIdLike(data.id, "txn_");
      if ("created_at" in data) data.created_at = isoNow(now);
      if ("updated_at" in data) data.updated_at = isoNow(now);
    }
    return;
  }
  const data = obj(payload.data);
  if (data) {
    data.id = freshNumericId();
    const attributes = obj(data.attributes);
    if (attributes) {
      if ("created_at" in attributes) attributes.created_at = isoNow(now);
      if ("updated_at" in attributes) attributes.updated_at = isoNow(now);
      if ("identifier" in attributes) attributes.identifier = globalThis.crypto.randomUUID();
    }
  }
}

/** Puts Mika's checkout id where each adapter reads it. */
function linkCheckout(provider: TriggerProvider, payload: Json, checkoutId: string): void {
  if (provider === "stripe") {
    const object = obj(obj(payload.data)?.object);
    if (!object) return;
    object.client_reference_id = checkoutId;
    object.metadata = { ...(obj(object.metadata) ?? {}), mika_checkout_id: checkoutId };
  } else if (provider === "paddle") {
    const data = obj(payload.data);
    if (data) data.custom_data = { ...(obj(data.custom_data) ?? {}), mika_checkout_id: checkoutId };
  } else {
    const meta = obj(payload.meta) ?? {};
    meta.custom_data = { ...(obj(meta.custom_data) ?? {}), mika_checkout_id: checkoutId };
    payload.meta = meta;
  }
}

function eventIdOf(provider: TriggerProvider, payload: Json): string | undefined {
  const value = provider === "stripe" ? payload.id : provider === "paddle" ? payload.event_id : undefined;
  return typeof value === "string" ? value : undefined;
}

/**
 * Builds a realistic body for `event`: the provider's fixture with fresh ids and timestamps of now, the
 * checkout link, then the `--set` overrides.
 *
 * @example
 * const built = buildEvent("stripe", "checkout.session.completed", { checkout: "chk_123", set: ["data.object.amount_total=2500"] });
 */
export function buildEvent(
  provider: TriggerProvider,
  event: string,
  options: BuildEventOptions = {},
): BuiltEvent {
  const template = templates(provider).find((t) => t.known.event === event);
  if (!template) {
    throw new UsageError(
      `${provider} has no event "${event}" here: run \`mika trigger ${provider} --list\` for the ones it knows.`,
    );
  }
  const now = options.now ?? new Date();
  const payload = JSON.parse(template.body) as Json;
  if (template.derive) {
    setEventType(provider, payload, template.derive.event);
    template.derive.apply(payload, now);
  }
  refresh(provider, payload, now);
  if (options.checkout) linkCheckout(provider, payload, options.checkout);
  for (const assignment of options.set ?? []) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set ${assignment}: write it as key=value (a dotted path).`);
    setPath(payload, assignment.slice(0, eq).trim(), parseSetValue(assignment.slice(eq + 1)));
  }
  return {
    provider,
    event,
    eventId: eventIdOf(provider, payload),
    body: JSON.stringify(payload, null, 2),
    payload,
  };
}

/** Signs a body with the provider's real scheme. */
export function signBody(
  provider: TriggerProvider,
  body: string,
  secret: string,
  options: { timestamp?: number } = {},
): Promise<SignedWebhook> {
  return TRIGGER_SIGNERS[provider].sign({
    body,
    signatures: [{ secret }],
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
  });
}

/**
 * Changes one character of a signed body, so the signature no longer matches: a digit or letter in a
 * string value past the middle of the body (the JSON stays valid, so the rejection is the
 * signature's, not the parser's).
 */
export function tamperBody(body: string): string {
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === '"') inString = !inString;
    else if (inString && i >= body.length / 2 && /[0-9a-zA-Z]/.test(c)) {
      const flipped = c === "0" ? "1" : /[0-9]/.test(c) ? "0" : c === "a" ? "b" : c === "A" ? "B" : "a";
      return body.slice(0, i) + flipped + body.slice(i + 1);
    }
  }
  return `${body} `;
}

/** One delivery's outcome. */
export interface Delivery {
  /** HTTP status, or 0 when the request never got an answer. */
  status: number;
  /** The response body (parsed when JSON). */
  body: unknown;
  /** Round-trip time, ms. */
  ms: number;
  /** Why there was no answer. */
  error?: string;
}

/** POSTs a signed webhook and reads the answer; never throws. */
export async function deliver(url: string, signed: SignedWebhook, timeoutMs = 30_000): Promise<Delivery> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: signed.headers,
      body: signed.rawBody,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      status: 0,
      body: null,
      ms: Math.round(performance.now() - started),
      error: cause?.code ?? cause?.message ?? (error as Error).message,
    };
  }
}

/** Options of {@link runTrigger}. */
export interface TriggerOptions extends BuildEventOptions {
  provider: TriggerProvider;
  event: string;
  /** The webhook URL (`…/api/mika/webhooks/<provider>`). */
  to: string;
  /** The endpoint's signing secret. */
  secret: string;
  /** Deliveries of the same event (default 1). */
  repeat?: number;
  /** At most this many deliveries in flight (default: all of them, up to 16). */
  concurrency?: number;
  /** Flip a byte after signing (shows the rejection). */
  tamper?: boolean;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
  /** Called after each delivery (progress). */
  onDelivery?: (delivery: Delivery, done: number, total: number) => void;
}

/** What a trigger run did. */
export interface TriggerReport {
  provider: TriggerProvider;
  event: string;
  eventId: string | undefined;
  url: string;
  tampered: boolean;
  deliveries: Delivery[];
  /** `"<http status> <envelope status or error code>"` → count, e.g. `{ "200 processed": 1, "200 duplicate": 4 }`. */
  summary: Record<string, number>;
  /** Every delivery answered 2xx. */
  ok: boolean;
}

/** The short outcome of one delivery: `"200 processed"`, `"400 WEBHOOK_INVALID"`, `"0 ECONNREFUSED"`. */
export function outcomeOf(delivery: Delivery): string {
  if (delivery.status === 0) return `0 ${delivery.error ?? "no answer"}`;
  const body = obj(delivery.body);
  const data = obj(body?.data);
  const error = obj(body?.error);
  const what =
    typeof data?.status === "string"
      ? data.status
      : typeof error?.code === "string"
        ? error.code
        : "answered";
  return `${delivery.status} ${what}`;
}

/**
 * Builds, signs and delivers one event, `repeat` times (the same event id each time: a duplicate
 * storm), at most `concurrency` at once.
 */
export async function runTrigger(options: TriggerOptions): Promise<TriggerReport> {
  const repeat = options.repeat ?? 1;
  const concurrency = Math.max(1, Math.min(options.concurrency ?? Math.min(repeat, 16), repeat));
  const built = buildEvent(options.provider, options.event, options);
  const deliveries: Delivery[] = new Array(repeat);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < repeat) {
      const index = next++;
      // Each delivery is signed afresh (a provider retry re-signs with a new timestamp; the body is the same).
      const signed = await signBody(options.provider, built.body, options.secret);
      const sent = options.tamper ? { ...signed, rawBody: tamperBody(signed.rawBody) } : signed;
      const delivery = await deliver(options.to, sent, options.timeoutMs);
      deliveries[index] = delivery;
      options.onDelivery?.(delivery, ++done, repeat);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const summary: Record<string, number> = {};
  for (const d of deliveries) summary[outcomeOf(d)] = (summary[outcomeOf(d)] ?? 0) + 1;
  return {
    provider: options.provider,
    event: options.event,
    eventId: built.eventId,
    url: options.to,
    tampered: Boolean(options.tamper),
    deliveries,
    summary,
    ok: deliveries.every((d) => d.status >= 200 && d.status < 300),
  };
}
