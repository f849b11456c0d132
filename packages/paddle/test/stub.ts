/**
 * A loopback stand-in for the Paddle API.
 *
 * THE SEAM: `@paddle/paddle-node-sdk` builds every request URL as `${baseUrl}${path}` and picks
 * `baseUrl` with `API_ENVIRONMENT_TO_BASE_URL_MAP[environment] || environment`, so an `environment`
 * that is not "production" or "sandbox" is used verbatim as the base URL. Passing
 * `environment: "http://127.0.0.1:<port>"` therefore sends the SDK's real `fetch` calls, over real HTTP,
 * to this server. Nothing is mocked inside the SDK or the adapter. If a future SDK drops that
 * fallback, its requests go to an invalid URL and these tests fail loudly (they never reach Paddle).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Environment, Paddle } from "@paddle/paddle-node-sdk";

/** One request the stub received. */
export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

/** A scripted answer. */
export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/** The running stub: queue replies, read what was sent. */
export interface PaddleStub {
  url: string;
  requests: Recorded[];
  reply(...replies: Reply[]): void;
  /** Forgets recorded requests and unused replies. */
  reset(): void;
  client(apiKey: string): Paddle;
  close(): Promise<void>;
}

/** Starts the stub on 127.0.0.1 with an ephemeral port. */
export async function startPaddleStub(): Promise<PaddleStub> {
  const requests: Recorded[] = [];
  const queue: Reply[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      });
      const reply = queue.shift() ?? { status: 599, json: { error: "no reply queued in the test" } };
      const payload = reply.text ?? JSON.stringify(reply.json ?? {});
      res.writeHead(reply.status ?? 200, {
        "content-type": reply.text === undefined ? "application/json" : "text/html",
        ...reply.headers,
      });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    requests,
    reply: (...replies) => queue.push(...replies),
    reset: () => {
      requests.length = 0;
      queue.length = 0;
    },
    client: (apiKey) => new Paddle(apiKey, { environment: url as unknown as Environment }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** A Paddle error body as the API sends it. */
export function paddleError(code: string, detail: string, type = "request_error", extra: object = {}) {
  return {
    error: {
      type,
      code,
      detail,
      documentation_url: `https://developer.paddle.com/errors/shared/${code}`,
      ...extra,
    },
    meta: { request_id: "4a2b5c6d-0000-4000-8000-000000000000" },
  };
}

/** Wraps an entity as a Paddle success body. */
export function paddleData(data: unknown) {
  return { data, meta: { request_id: "4a2b5c6d-0000-4000-8000-000000000001" } };
}

export { Environment };
