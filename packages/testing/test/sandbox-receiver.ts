/** A tiny webhook receiver for the sandbox tests: records each delivery and answers a chosen status. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { MikaEvent, PaymentProvider } from "@mika/types";
import { afterAll, beforeAll, beforeEach } from "vitest";

/** One delivery as the receiver got it. */
export interface Received {
  rawBody: string;
  headers: Headers;
}

/** A running receiver. */
export interface Receiver {
  url: string;
  received: Received[];
  /** The status the next deliveries get (default 200). */
  status: number;
}

/**
 * A receiver for one test file: listening before the tests, emptied (and answering 200 again) before
 * each, closed after all.
 */
export function useReceiver(): Receiver {
  const received: Received[] = [];
  const receiver: Receiver = { url: "", received, status: 200 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      received.push({ rawBody: Buffer.concat(chunks).toString("utf8"), headers });
      res.writeHead(receiver.status).end();
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  });
  beforeEach(() => {
    received.length = 0;
    receiver.status = 200;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return receiver;
}

/** Verifies the one delivery the receiver holds with the real adapter and parses it; throws otherwise. */
export async function onlyEvent(receiver: Receiver, provider: PaymentProvider): Promise<MikaEvent> {
  if (receiver.received.length !== 1) {
    throw new Error(`expected exactly one delivery, got ${receiver.received.length}`);
  }
  const result = await provider.verifyWebhook(receiver.received[0]!);
  if (!result.ok)
    throw new Error(`the delivery did not verify: ${result.error.code} ${result.error.message}`);
  return provider.parseWebhookEvent(result.webhook);
}
