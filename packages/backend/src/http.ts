/**
 * `mika.handler`: the one Web-standard entry, `(Request) => Promise<Response>`. Framework bindings
 * wrap it; it never needs a parsed body.
 */
import { err, isStoreClosedError, type MikaErr, type MikaResult } from "@mika/types";
import { type Engine, storeClosed } from "./engine.js";
import type { Mika } from "./mika.js";

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

const MAX_JSON_BODY = 64 * 1024;

/** Reads a small JSON request body (API calls, not webhooks). */
async function readJson(request: Request): Promise<{ ok: true; value: unknown } | MikaErr> {
  const text = await request.text();
  if (text.length > MAX_JSON_BODY)
    return err("PAYLOAD_TOO_LARGE", "The request body is too large for this endpoint.");
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return err("VALIDATION_FAILED", "The request body is not valid JSON: send application/json.");
  }
}

function match(pattern: string[], segments: string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (const [i, part] of pattern.entries()) {
    if (part.startsWith(":")) params.push(decodeURIComponent(segments[i]!));
    else if (part !== segments[i]) return undefined;
  }
  return params;
}

const intParam = (url: URL, name: string) => {
  const v = url.searchParams.get(name);
  return v === null ? undefined : Number.parseInt(v, 10);
};

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
          const token = (body.value as { token?: string }).token ?? url.searchParams.get("token") ?? "";
          return mika.checkout.cancel({ checkoutId: checkoutId!, token });
        },
      },
    },
    {
      pattern: ["ops", "events"],
      ops: true,
      methods: {
        GET: (_request, _params, url) =>
          mika.webhooks.list({
            ...(url.searchParams.get("status") ? { status: url.searchParams.get("status") as never } : {}),
            ...(url.searchParams.get("provider") ? { provider: url.searchParams.get("provider")! } : {}),
            ...(intParam(url, "limit") ? { limit: intParam(url, "limit")! } : {}),
            ...(url.searchParams.get("cursor") ? { cursor: url.searchParams.get("cursor")! } : {}),
          }),
      },
    },
    { pattern: ["ops", "events", ":id"], ops: true, methods: { GET: (_r, [id]) => mika.webhooks.get(id!) } },
    {
      pattern: ["ops", "events", ":id", "replay"],
      ops: true,
      methods: { POST: (_r, [id]) => mika.webhooks.replay(id!) },
    },
    { pattern: ["ops", "maintenance"], ops: true, methods: { POST: () => mika.maintenance.run() } },
    {
      pattern: ["ops", "orders"],
      ops: true,
      methods: {
        GET: (_r, _p, url) =>
          mika.orders.list({
            ...(url.searchParams.get("status") ? { status: url.searchParams.get("status") as never } : {}),
            ...(intParam(url, "limit") ? { limit: intParam(url, "limit")! } : {}),
            ...(url.searchParams.get("cursor") ? { cursor: url.searchParams.get("cursor")! } : {}),
          }),
      },
    },
    { pattern: ["ops", "orders", ":id"], ops: true, methods: { GET: (_r, [id]) => mika.orders.get(id!) } },
    { pattern: ["ops", "subscriptions"], ops: true, methods: { GET: () => mika.subscriptions.list() } },
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
      const method = request.method.toUpperCase() === "HEAD" ? "GET" : request.method.toUpperCase();
      const run = route.methods[method];
      if (!run) {
        const allow = Object.keys(route.methods).join(", ");
        return envelopeResponse(err("METHOD_NOT_ALLOWED", `Use ${allow} on this route.`), { allow });
      }
      if (route.ops && !(await engine.authorize(request))) {
        return envelopeResponse(
          err("UNAUTHORIZED", "Ops routes are denied unless config.authorize(request) allows the request."),
        );
      }
      try {
        return envelopeResponse(await run(request, params, url));
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
