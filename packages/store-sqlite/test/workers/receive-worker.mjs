// A Mika app instance in its own process, for the multi-process and crash tests: receives signed
// webhook deliveries from the parent over IPC and answers with what `mika.webhooks.receive` said.
// argv[2]: JSON { storeModule, exportName, storeOptions, secret, crashAt? }.
import { createMika } from "@mika/backend";
import { standardWebhooksProvider } from "@mika/testing";
import { eventBase } from "@mika/types";

const config = JSON.parse(process.argv[2]);
const storeFactory = (await import(config.storeModule))[config.exportName];
const inner = storeFactory(config.storeOptions);

/** Kills this process (SIGKILL: no cleanup, no flush) when the receive path reaches `config.crashAt`. */
const crash = (point) => {
  if (config.crashAt === point) process.kill(process.pid, "SIGKILL");
};
const store = {
  ...inner,
  name: inner.name,
  migrate: () => inner.migrate(),
  schemaVersion: () => inner.schemaVersion(),
  close: () => inner.close(),
  transaction: async (fn) => {
    const value = await inner.transaction((tx) =>
      fn({
        ...tx,
        async insert(table, row) {
          const inserted = await tx.insert(table, row);
          if (table === "events" && inserted) crash("after-inbox-insert");
          if (table === "orders" && inserted) crash("mid-ledger");
          return inserted;
        },
      }),
    );
    crash("after-commit");
    return value;
  },
};

const provider = standardWebhooksProvider({
  name: "sw",
  webhookSecret: config.secret,
  mapEvent: (webhook) => ({
    ...eventBase(webhook, "checkout.completed"),
    paymentStatus: "paid",
    amount: webhook.payload.data.amount,
    currency: "EUR",
    providerCheckoutId: webhook.payload.data.id,
  }),
});
// Only errors reach the test log: the default logger prints a line per paid order (its notification).
const logger = { info() {}, warn() {}, error: (message, fields) => console.error(message, fields ?? "") };
const mika = createMika({ providers: [provider], store, config: { logger } });

process.on("message", async (message) => {
  if (message.type === "maintenance") {
    const result = await mika.maintenance.run();
    const drained = await mika.webhooks.drain({ limit: 1000 });
    process.send({
      id: message.id,
      ok: result.ok && drained.ok,
      data: drained.ok ? drained.data : drained.error,
    });
    return;
  }
  if (message.type === "close") {
    await inner.close();
    process.send({ id: message.id, ok: true });
    return;
  }
  try {
    const request = new Request("http://localhost/api/mika/webhooks/sw", {
      method: "POST",
      headers: message.headers,
      body: message.body,
    });
    const result = await mika.webhooks.receive({ provider: "sw", request });
    process.send({
      id: message.id,
      ok: result.ok,
      httpStatus: result.status,
      status: result.ok ? result.data.status : result.error.code,
      error: result.ok ? undefined : result.error.message,
    });
  } catch (error) {
    process.send({ id: message.id, ok: false, status: "THREW", error: String(error) });
  }
});
process.send({ ready: true });
