/**
 * The shared core of the provider sandboxes: a loopback `node:http` server with routing, request
 * recording, body parsing, an idempotency cache, the fake hosted checkout page and signed webhook
 * delivery. Each provider file only adds its wire format and its state.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhookSigner } from "../sign.js";

/** One request a sandbox received, as recorded in `sandbox.requests`. */
export interface SandboxRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The body exactly as received. */
  rawBody: string;
  /** The body parsed by the provider's wire format (form or JSON), `undefined` when empty. */
  body: unknown;
}

/** One signed webhook a sandbox delivered, as recorded in `sandbox.deliveries`. */
export interface SandboxDelivery {
  /** Where it went. */
  url: string;
  /** The provider's event type (`checkout.session.completed`, `transaction.completed`, `order_created`). */
  eventType: string;
  /** The exact signed body. */
  body: string;
  /** The receiver's HTTP status; `undefined` when it could not be reached (see `error`). */
  status: number | undefined;
  /** Why the delivery did not get an answer. */
  error?: string;
}

/** A refusal in the provider's own error format (the provider file renders the body). */
export class SandboxError extends Error {
  override readonly name = "SandboxError";
  constructor(
    /** HTTP status to answer with. */
    readonly status: number,
    /** The provider's error code (`resource_missing`, `not_found`…). */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a route answers. */
export interface SandboxReply {
  status?: number;
  json?: unknown;
  html?: string;
  /** Answer `303 See Other` to this URL. */
  redirect?: string;
}

/** One API route: method and a path pattern whose groups become `params`. */
export interface SandboxRoute {
  method: string;
  path: RegExp;
  handle(request: SandboxRequest, params: string[]): SandboxReply | Promise<SandboxReply>;
}

/** What the hosted checkout page shows for one checkout. */
export interface HostedCheckoutView {
  /** Product names, shown as the page heading. */
  title: string;
  /** Total in minor units. */
  amount: number;
  /** ISO 4217. */
  currency: string;
  /** Where the "Cancel" link goes. */
  cancelUrl?: string;
  /** `open` shows the Pay button; anything else is shown as the checkout's state. */
  status: string;
}

/** The provider's side of the hosted checkout page. */
export interface HostedCheckout {
  /** The view of a checkout, `undefined` when the id is unknown. */
  view(id: string): HostedCheckoutView | undefined;
  /** Completes it as paid (delivering the webhook) and returns where to send the browser. */
  complete(id: string): Promise<string>;
}

/** Options of {@link startSandboxServer}. */
export interface SandboxServerOptions {
  /** Provider name, for page titles and messages. */
  name: string;
  routes: SandboxRoute[];
  /** Parses a request body by content type. */
  parseBody(raw: string, contentType: string): unknown;
  /** Renders a {@link SandboxError} (or any failure) in the provider's error format. */
  errorBody(error: SandboxError): unknown;
  /** Extra browser pages (no API key asked), for example a billing portal. */
  pages?: SandboxRoute[];
  /** API routes answer 401 without `Authorization: Bearer <something>` (the hosted page never asks). */
  requireBearer?: boolean;
  /** The header that carries an idempotency key, when the provider has one (`idempotency-key`). */
  idempotencyHeader?: string;
  /** The fake hosted checkout, served at `GET /pay/:id` and `POST /pay/:id/complete`. */
  hosted: HostedCheckout;
  /** Where signed webhooks go; without it nothing is delivered. */
  webhookUrl?: string | undefined;
  webhookSecret: string;
  signer: WebhookSigner;
}

/** A running sandbox server: what every provider sandbox exposes plus the delivery primitives. */
export interface SandboxServer extends Sandbox {
  /** Signs `body` and POSTs it to the webhook URL once (no retries); returns the receiver's status. */
  deliver(eventType: string, body: string): Promise<number | undefined>;
  /** Runs a delivery in the background (as a provider does after an API call); `close` waits for it. */
  deliverLater(eventType: string, body: string): void;
}

/** What every provider sandbox exposes. */
export interface Sandbox {
  /** `http://127.0.0.1:<port>` */
  url: string;
  host: string;
  port: number;
  /** Every request received, in order (API calls and hosted-page hits). */
  requests: SandboxRequest[];
  /** Every signed webhook delivered, in order. */
  deliveries: SandboxDelivery[];
  /** Waits for background deliveries, then stops the server. */
  close(): Promise<void>;
}

/** Options every provider sandbox takes. */
export interface SandboxOptions {
  /** Where signed webhooks go (your app's webhook route for this provider). Without it nothing is delivered. */
  webhookUrl?: string;
  /** The signing secret; configure the adapter with the same. */
  webhookSecret: string;
  /** The base URL browsers use for the hosted pages, when it is not the sandbox's own `url`. */
  publicUrl?: string;
}

/** The {@link Sandbox} part of a running server. */
export function sandboxBase(server: SandboxServer): Sandbox {
  const { url, host, port, requests, deliveries, close } = server;
  return { url, host, port, requests, deliveries, close };
}

/** A plain JSON object. */
export type Obj = Record<string, unknown>;

/** Whether a value is a plain JSON object. */
export const isObj = (value: unknown): value is Obj =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** A non-empty string, else `undefined`. */
export const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

/** A random id with a provider prefix: `cs_test_…`, `txn_…`. */
export function sandboxId(prefix: string, length = 24): string {
  const hex = globalThis.crypto.randomUUID().replace(/-/g, "") + globalThis.crypto.randomUUID().slice(0, 8);
  return `${prefix}${hex.slice(0, length)}`;
}

/** UNIX seconds now. */
export const unixNow = (): number => Math.floor(Date.now() / 1000);

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Formats minor units for display, with the currency's own number of decimals. */
export function formatMoney(amount: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() });
    return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${amount} ${currency.toUpperCase()} (minor units)`;
  }
}

/** A minimal HTML page. */
export function sandboxPage(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

function checkoutPage(name: string, id: string, view: HostedCheckoutView): string {
  const amount = `<p id="amount">${escapeHtml(formatMoney(view.amount, view.currency))}</p>`;
  const cancel = view.cancelUrl ? `<a id="cancel" href="${escapeHtml(view.cancelUrl)}">Cancel</a>` : "";
  const action =
    view.status === "open"
      ? `<form method="post" action="/pay/${encodeURIComponent(id)}/complete"><button id="pay" type="submit">Pay</button></form>${cancel}`
      : `<p id="status">This checkout is ${escapeHtml(view.status)}.</p>`;
  return sandboxPage(
    `${name} sandbox checkout`,
    `<h1>${escapeHtml(view.title)}</h1>${amount}${action}<p><small>${escapeHtml(name)} sandbox: no real payment.</small></p>`,
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, reply: SandboxReply): void {
  if (reply.redirect !== undefined) {
    res.writeHead(reply.status ?? 303, { location: reply.redirect });
    res.end();
  } else if (reply.html !== undefined) {
    res.writeHead(reply.status ?? 200, { "content-type": "text/html; charset=utf-8" });
    res.end(reply.html);
  } else {
    res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
    res.end(JSON.stringify(reply.json ?? {}));
  }
}

/** Starts a sandbox server on 127.0.0.1 with an ephemeral port. */
export async function startSandboxServer(options: SandboxServerOptions): Promise<SandboxServer> {
  const requests: SandboxRequest[] = [];
  const deliveries: SandboxDelivery[] = [];
  const background = new Set<Promise<unknown>>();
  /** Idempotency cache: `${method} ${path} ${key}` → the first request's body and reply. */
  const replayed = new Map<string, { rawBody: string; reply: SandboxReply }>();

  const hostedRoutes: SandboxRoute[] = [
    {
      method: "GET",
      path: /^\/pay\/([^/]+)$/,
      handle(_request, [id]) {
        const view = options.hosted.view(id!);
        if (!view) {
          return { status: 404, html: sandboxPage("Not found", `<p>No checkout ${escapeHtml(id!)}.</p>`) };
        }
        return { html: checkoutPage(options.name, id!, view) };
      },
    },
    {
      method: "POST",
      path: /^\/pay\/([^/]+)\/complete$/,
      async handle(_request, [id]) {
        try {
          return { redirect: await options.hosted.complete(id!) };
        } catch (error) {
          if (!(error instanceof SandboxError)) throw error;
          return {
            status: error.status,
            html: sandboxPage("Cannot pay", `<p>${escapeHtml(error.message)}</p>`),
          };
        }
      },
    },
  ];
  const api = new Set(options.routes);
  const routes = [...hostedRoutes, ...(options.pages ?? []), ...options.routes];

  async function route(request: SandboxRequest): Promise<SandboxReply> {
    for (const candidate of routes) {
      if (candidate.method !== request.method) continue;
      const match = candidate.path.exec(request.path);
      if (!match) continue;
      if (
        options.requireBearer &&
        api.has(candidate) &&
        !/^bearer \S+/i.test(request.headers.authorization ?? "")
      ) {
        throw new SandboxError(401, "unauthorized", "No API key provided: send Authorization: Bearer <key>.");
      }
      return candidate.handle(request, match.slice(1).map(decodeURIComponent));
    }
    throw new SandboxError(
      404,
      "not_found",
      `The ${options.name} sandbox has no route ${request.method} ${request.path}.`,
    );
  }

  async function answer(request: SandboxRequest): Promise<SandboxReply> {
    const key = options.idempotencyHeader ? request.headers[options.idempotencyHeader] : undefined;
    if (!key || request.method === "GET") return route(request);
    const cacheKey = `${request.method} ${request.path} ${key}`;
    const previous = replayed.get(cacheKey);
    if (previous) {
      if (previous.rawBody !== request.rawBody) {
        throw new SandboxError(
          400,
          "idempotency_error",
          `Keys for idempotent requests can only be used with the same parameters they were first used with (key ${key}).`,
        );
      }
      return previous.reply;
    }
    const reply = await route(request);
    if ((reply.status ?? 200) < 500) replayed.set(cacheKey, { rawBody: request.rawBody, reply });
    return reply;
  }

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const rawBody = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      const request: SandboxRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers,
        rawBody,
        body: undefined,
      };
      requests.push(request);
      if (rawBody) request.body = options.parseBody(rawBody, headers["content-type"] ?? "");
      send(res, await answer(request));
    } catch (error) {
      const failure =
        error instanceof SandboxError
          ? error
          : new SandboxError(500, "sandbox_error", error instanceof Error ? error.message : String(error));
      send(res, { status: failure.status, json: options.errorBody(failure) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const host = "127.0.0.1";

  async function deliver(eventType: string, body: string): Promise<number | undefined> {
    if (!options.webhookUrl) return undefined;
    const delivery: SandboxDelivery = { url: options.webhookUrl, eventType, body, status: undefined };
    deliveries.push(delivery);
    const signed = await options.signer.sign({ body, signatures: [{ secret: options.webhookSecret }] });
    try {
      const response = await fetch(options.webhookUrl, {
        method: "POST",
        body: signed.rawBody,
        headers: signed.headers,
      });
      await response.arrayBuffer();
      delivery.status = response.status;
    } catch (error) {
      delivery.error = error instanceof Error ? error.message : String(error);
    }
    return delivery.status;
  }

  return {
    url: `http://${host}:${port}`,
    host,
    port,
    requests,
    deliveries,
    deliver,
    deliverLater(eventType, body) {
      const running = deliver(eventType, body).finally(() => background.delete(running));
      background.add(running);
    },
    async close() {
      await Promise.allSettled([...background]);
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}

/** Parses a Stripe-style form body (`a[b][0][c]=v`) into nested objects and arrays. */
export function parseForm(raw: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const path = [/^[^[]*/.exec(key)![0], ...Array.from(key.matchAll(/\[([^\]]*)\]/g), (m) => m[1]!)];
    let node: Record<string, unknown> = root;
    path.forEach((part, i) => {
      const slot = part === "" ? String(Object.keys(node).length) : part;
      if (i === path.length - 1) node[slot] = value;
      else {
        node[slot] ??= {};
        node = node[slot] as Record<string, unknown>;
      }
    });
  }
  return arrays(root) as Record<string, unknown>;
}

/** Objects whose keys are 0…n-1 become arrays. */
function arrays(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value).map(([k, v]) => [k, arrays(v)] as const);
  const numeric = entries.length > 0 && entries.every(([k], i) => k === String(i));
  return numeric ? entries.map(([, v]) => v) : Object.fromEntries(entries);
}

/** The JSON body parser most providers need. */
export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new SandboxError(400, "invalid_json", "The request body is not valid JSON.");
  }
}

/**
 * Loads a provider SDK the caller did not pass in. The specifier is a variable so bundlers leave the
 * import alone: the SDK stays the caller's dependency, never bundled into `@mika/testing`.
 */
export async function loadSdk(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A provider SDK class: `new Sdk(apiKey, config)`. */
export type SdkConstructor<Client> = new (apiKey: string, config: Record<string, unknown>) => Client;

/** The SDK to build `client()` with, or a message saying how to pass it. */
export function requireSdk<Client>(
  sdk: SdkConstructor<Client> | undefined,
  starter: string,
  packageName: string,
  exportName: string,
): SdkConstructor<Client> {
  if (sdk) return sdk;
  throw new Error(
    `${starter}: ${packageName} could not be loaded from @mika/testing; pass it: ${starter}({ sdk: ${exportName}, … }).`,
  );
}
