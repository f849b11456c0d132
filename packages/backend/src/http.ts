/**
 * `mika.handler`: the one Web-standard entry, `(Request) => Promise<Response>`. Framework bindings
 * wrap it; it never needs a parsed body.
 */
import { err, isStoreClosedError, type MikaErr, type MikaResult } from "@mika/types";
import { type Engine, storeClosed } from "./engine.js";
import type { Mika } from "./mika.js";
import { errorMessage, readCapped } from "./util.js";

/** A JSON response carrying an envelope, with its status (and `Retry-After` when known). */
export function envelopeResponse(
  result: MikaResult<unknown>,
  extraHeaders: Record<string, string> = {},
): Response {
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...extraHeaders,
  };
  if (!result.ok && result.error.retryAfter !== undefined)
    headers["retry-after"] = String(result.error.retryAfter);
  return new Response(JSON.stringify(result), { status: result.status, headers });
}

type RouteHandler = (request: Request, params: string[], url: URL) => Promise<MikaResult<unknown>>;
interface Route {
  pattern: string[];
  methods: Record<string, RouteHandler>;
  ops?: boolean;
}

/** The largest JSON body an API route reads, in bytes. */
const MAX_JSON_BODY = 64 * 1024;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a small JSON object from a request body (API calls, not webhooks): at most
 * {@link MAX_JSON_BODY} bytes are ever buffered, and an empty body reads as `{}`.
 */
async function readJson(request: Request): Promise<{ ok: true; value: Record<string, unknown> } | MikaErr> {
  const bytes = await readCapped(request, MAX_JSON_BODY);
  if (bytes === "too-large")
    return err("PAYLOAD_TOO_LARGE", `The request body is larger than ${MAX_JSON_BODY} bytes: send less.`);
  if (bytes === "used")
    return err(
      "INTERNAL",
      "The request body was read before mika.handler got it: pass the untouched Request.",
    );
  if (bytes === "unreadable")
    return err(
      "VALIDATION_FAILED",
      "The request body could not be read (the connection broke off?): send it again.",
    );
  let value: unknown;
  try {
    const text = strictUtf8.decode(bytes);
    if (text.trim() === "") return { ok: true, value: {} };
    value = JSON.parse(text);
  } catch {
    return err("VALIDATION_FAILED", "The request body is not valid UTF-8 JSON: send application/json.");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return err("VALIDATION_FAILED", "The request body must be a JSON object.");
  return { ok: true, value: value as Record<string, unknown> };
}

/** A path segment, percent-decoded; `undefined` when its percent-encoding is broken. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The params of a route whose pattern the raw (still percent-encoded) segments match, decoded, or
 * `undefined`. Fixed names are compared as sent: `%6Fps` is not `ops`, so a prefix rule in front of
 * Mika (a proxy guarding `/api/mika/ops`) sees every ops request under its plain name.
 */
function match(pattern: string[], segments: string[]): (string | undefined)[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: (string | undefined)[] = [];
  for (const [i, part] of pattern.entries()) {
    if (part.startsWith(":")) params.push(decodeSegment(segments[i]!));
    else if (part !== segments[i]) return undefined;
  }
  return params;
}

/**
 * Why the public `POST /checkout` route refuses a request that `mika.checkout.start` would take from
 * the server: anyone can call the route, so by default it takes catalog lines only (no price of the
 * caller's choosing), and with `redirectOrigins` it sends the buyer back only to those origins.
 */
function publicCheckoutProblem(engine: Engine, input: Record<string, unknown>) {
  const { inlinePrices, redirectOrigins } = engine.publicCheckout;
  if (!inlinePrices && Array.isArray(input.lines)) {
    const priced = input.lines.some(
      (line) => line !== null && typeof line === "object" && !("sellableId" in line),
    );
    if (priced) {
      return err(
        "VALIDATION_FAILED",
        "This route takes catalog lines only ({ sellableId, quantity }): set config.publicCheckout.inlinePrices to let callers name prices.",
        { fields: { lines: "catalog lines only" } },
      );
    }
  }
  // Only with a list: the host in a request's URL is not the buyer's (Astro and Next report
  // "localhost" for a request to 127.0.0.1), so there is nothing to compare with without one.
  const fields: Record<string, string> = {};
  for (const name of ["successUrl", "cancelUrl"] as const) {
    const value = input[name];
    // checkout.start reports a missing or malformed URL
    if (!redirectOrigins || typeof value !== "string" || !URL.canParse(value)) continue;
    if (!redirectOrigins.includes(new URL(value).origin))
      fields[name] = `must be on ${redirectOrigins.join(" or ")}`;
  }
  if (Object.keys(fields).length > 0) {
    return err(
      "VALIDATION_FAILED",
      "The buyer may only be sent back to this shop: list other origins in config.publicCheckout.redirectOrigins.",
      { fields },
    );
  }
  return undefined;
}

/** What an ops list route passes on to its list method. */
interface ListQuery {
  status?: never;
  provider?: string;
  limit?: number;
  cursor?: string;
}

/**
 * The query of an ops list route: `status`, `provider`, `cursor` as given, and `limit` only as a
 * positive integer (the list methods cap it at 500).
 */
function listQuery(url: URL): ListQuery | MikaErr {
  const limit = url.searchParams.get("limit");
  if (limit !== null && !/^[1-9][0-9]{0,8}$/.test(limit)) {
    return err("VALIDATION_FAILED", "limit must be a positive integer (at most 500 are returned).", {
      fields: { limit: "a positive integer" },
    });
  }
  const query: ListQuery = {};
  const status = url.searchParams.get("status");
  if (status) query.status = status as never;
  const provider = url.searchParams.get("provider");
  if (provider) query.provider = provider;
  if (limit !== null) query.limit = Number(limit);
  const cursor = url.searchParams.get("cursor");
  if (cursor) query.cursor = cursor;
  return query;
}

/** An ops list route: its query parsed once, then handed to `list`. */
const listRoute =
  (list: (query: ListQuery) => Promise<MikaResult<unknown>>): RouteHandler =>
  async (_request, _params, url) => {
    const query = listQuery(url);
    return "ok" in query ? query : list(query);
  };

/** Why an ops request is denied, or `undefined` when `config.authorize` allows it. */
async function authorizeOps(engine: Engine, request: Request, url: URL): Promise<MikaErr | undefined> {
  try {
    if (await engine.authorize(request)) return undefined;
  } catch (error) {
    engine.logger.error("config.authorize threw; the ops request is denied", {
      path: url.pathname,
      error: errorMessage(error),
    });
    return err(
      "INTERNAL",
      "config.authorize(request) threw, so this ops request is denied (see the server log).",
    );
  }
  return err("UNAUTHORIZED", "Ops routes are denied unless config.authorize(request) allows the request.");
}

/** Builds the handler for a Mika instance. */
export function createHandler(engine: Engine, mika: Mika): (request: Request) => Promise<Response> {
  const routes: Route[] = [
    {
      pattern: ["webhooks", ":provider"],
      methods: { POST: (request, [provider]) => mika.webhooks.receive({ provider: provider!, request }) },
    },
    {
      pattern: ["checkout"],
      methods: {
        POST: async (request) => {
          const body = await readJson(request);
          if (!body.ok) return body;
          const key = request.headers.get("idempotency-key");
          if (!key) {
            return err(
              "VALIDATION_FAILED",
              "Send an Idempotency-Key header (a fresh UUID per purchase attempt).",
              {
                fields: { "Idempotency-Key": "required" },
              },
            );
          }
          const refused = publicCheckoutProblem(engine, body.value);
          if (refused) return refused;
          return mika.checkout.start(body.value as never, { idempotencyKey: key });
        },
      },
    },
    {
      pattern: ["checkout", ":id"],
      methods: {
        GET: (_request, [checkoutId], url) =>
          mika.checkout.status({ checkoutId: checkoutId!, token: url.searchParams.get("token") ?? "" }),
      },
    },
    {
      pattern: ["checkout", ":id", "cancel"],
      methods: {
        POST: async (request, [checkoutId], url) => {
          const body = await readJson(request);
          if (!body.ok) return body;
          const token = body.value.token ?? url.searchParams.get("token") ?? "";
          if (typeof token !== "string") {
            return err("VALIDATION_FAILED", "token must be the string checkout.start returned.", {
              fields: { token: "a string" },
            });
          }
          return mika.checkout.cancel({ checkoutId: checkoutId!, token });
        },
      },
    },
    { pattern: ["ops", "events"], ops: true, methods: { GET: listRoute((q) => mika.webhooks.list(q)) } },
    { pattern: ["ops", "events", ":id"], ops: true, methods: { GET: (_r, [id]) => mika.webhooks.get(id!) } },
    {
      pattern: ["ops", "events", ":id", "replay"],
      ops: true,
      methods: { POST: (_r, [id]) => mika.webhooks.replay(id!) },
    },
    { pattern: ["ops", "maintenance"], ops: true, methods: { POST: () => mika.maintenance.run() } },
    { pattern: ["ops", "orders"], ops: true, methods: { GET: listRoute((q) => mika.orders.list(q)) } },
    { pattern: ["ops", "orders", ":id"], ops: true, methods: { GET: (_r, [id]) => mika.orders.get(id!) } },
    {
      pattern: ["ops", "subscriptions"],
      ops: true,
      methods: { GET: listRoute((q) => mika.subscriptions.list(q)) },
    },
    {
      pattern: ["ops", "subscriptions", ":id"],
      ops: true,
      methods: { GET: (_r, [id]) => mika.subscriptions.get(id!) },
    },
  ];

  return async function handler(request: Request): Promise<Response> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return envelopeResponse(err("VALIDATION_FAILED", "The request URL is not absolute."));
    }
    const path = url.pathname.replace(/\/+$/, "");
    if (path !== engine.basePath && !path.startsWith(`${engine.basePath}/`)) {
      return envelopeResponse(
        err("NOT_FOUND", `Mika answers under ${engine.basePath}; ${url.pathname} is not one of its routes.`),
      );
    }
    const segments = path.slice(engine.basePath.length).split("/").filter(Boolean);
    for (const route of routes) {
      const params = match(route.pattern, segments);
      if (!params) continue;
      if (params.includes(undefined)) {
        return envelopeResponse(
          err("NOT_FOUND", `${url.pathname} is not a Mika route: its percent-encoding is broken.`),
        );
      }
      const method = request.method.toUpperCase() === "HEAD" ? "GET" : request.method.toUpperCase();
      const run = route.methods[method];
      if (!run) {
        const allow = Object.keys(route.methods).join(", ");
        return envelopeResponse(err("METHOD_NOT_ALLOWED", `Use ${allow} on this route.`), { allow });
      }
      if (route.ops) {
        const denied = await authorizeOps(engine, request, url);
        if (denied) return envelopeResponse(denied);
      }
      try {
        return envelopeResponse(await run(request, params as string[], url));
      } catch (error) {
        if (isStoreClosedError(error)) {
          engine.logger.warn("request refused: the store is closed", { path: url.pathname });
          return envelopeResponse(storeClosed(`${request.method} ${url.pathname}`));
        }
        engine.logger.error("unexpected error in mika.handler", { path: url.pathname, error: String(error) });
        return envelopeResponse(err("INTERNAL", "Mika hit an unexpected error (see the server log)."));
      }
    }
    return envelopeResponse(err("NOT_FOUND", `No Mika route ${request.method} ${url.pathname}.`));
  };
}
