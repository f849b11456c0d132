/** The `mika` command line, on commander. */
import type { MikaResult } from "@mika/types";
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  clip,
  colors,
  json,
  keyValues,
  money,
  type Output,
  paintHttp,
  paintStatus,
  processOutput,
  table,
} from "./output.js";
import { describeTarget, openStore, opsMika, StoreError, type StoreTarget } from "./store.js";
import {
  buildEvent,
  isTriggerProvider,
  knownEvents,
  outcomeOf,
  runTrigger,
  signBody,
  TRIGGER_PROVIDERS,
  type TriggerReport,
  tamperBody,
  UsageError,
} from "./trigger.js";
import { VERSION } from "./version.js";

/**
 * Exit codes of `mika`: `0` success; `1` the command ran and failed (a non-2xx answer, an error
 * envelope, no such event, a store that cannot be opened); `2` a usage error (unknown command or
 * option, missing or invalid argument), printed with the command's help.
 */
export const EXIT_CODES = { ok: 0, failure: 1, usage: 2 } as const;

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Where to write (default: the process's stdout / stderr). */
  output?: Output;
}

const EVENT_STATUSES = ["pending", "processed", "ignored", "failed", "poison"] as const;
const ORDER_STATUSES = [
  "pending",
  "awaiting_payment",
  "paid",
  "partially_refunded",
  "refunded",
  "failed",
  "expired",
  "canceled",
] as const;

/** A failure the command already explained (exit code 1). */
class Failure extends Error {
  override readonly name = "Failure";
}

const positiveInt = (what: string) => (raw: string) => {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError(`${what} must be a whole number ≥ 1.`);
  return value;
};
const collect = (value: string, previous: string[]) => [...previous, value];

interface StoreFlags {
  db?: string;
  postgres?: string;
  schema?: string;
  json?: boolean;
  verbose?: boolean;
}

/** Replaces every occurrence of the secret in what is printed. */
function redacting(output: Output, secret: string | undefined): Output {
  if (!secret) return output;
  const scrub = (text: string) => text.split(secret).join("[secret]");
  return { out: (t) => output.out(scrub(t)), err: (t) => output.err(scrub(t)) };
}

/**
 * Builds the `mika` program. Actions store their exit code in `state.code`; errors are thrown and
 * mapped by {@link runCli}.
 */
export function createProgram(output: Output, state: { code: number; json: boolean }): Command {
  const program = new Command("mika")
    .description(
      "Mika from the terminal: trigger signed test webhooks, inspect and replay stored events, run maintenance and migrations.",
    )
    .version(VERSION, "-v, --version")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.replace(/\n$/, "")),
      writeErr: (text) => output.err(text.replace(/\n$/, "")),
      outputError: (text, write) => write(colors.red(text)),
    })
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 the command failed (non-2xx answer, error envelope, store not found), 2 usage error.",
    );

  const storeOptions = (command: Command) =>
    command
      .addOption(new Option("--db <file>", "SQLite database file").env("MIKA_DB").default("mika.db"))
      .addOption(
        new Option("--postgres <url>", "Postgres connection string (instead of --db)").env(
          "MIKA_POSTGRES_URL",
        ),
      )
      .addOption(new Option("--schema <name>", "Postgres schema holding Mika's tables").env("MIKA_PG_SCHEMA"))
      .option("--json", "print machine-readable JSON on stdout")
      .option("--verbose", "log what the backend does (stderr)");

  /**
   * The store a command names. `--postgres` (or `MIKA_POSTGRES_URL`) wins over the default file and
   * `MIKA_DB`, but a `--db` given on the command line wins over `MIKA_POSTGRES_URL` from the
   * environment (an app's `.env` often sets it); both flags at once is a usage error.
   */
  const targetOf = (command: Command): StoreTarget => {
    const flags = command.opts<StoreFlags>();
    const fromCli = (option: string) => command.getOptionValueSource(option) === "cli";
    if (fromCli("db") && fromCli("postgres")) throw new UsageError("pass --db or --postgres, not both");
    const postgres = flags.postgres && !fromCli("db") ? flags.postgres : undefined;
    return postgres
      ? { postgres, ...(flags.schema ? { schema: flags.schema } : {}) }
      : { db: flags.db ?? "mika.db" };
  };

  /** Opens the store, runs `fn` with an ops Mika over it, closes the store. */
  const withMika = async <T>(
    command: Command,
    fn: (mika: ReturnType<typeof opsMika>) => Promise<T>,
  ): Promise<T> => {
    const flags = command.opts<StoreFlags>();
    state.json = Boolean(flags.json);
    const store = await openStore(targetOf(command), { mustExist: true });
    try {
      return await fn(opsMika(store, Boolean(flags.verbose)));
    } finally {
      await store.close();
    }
  };

  /** Prints an error envelope and fails; returns the data of a success envelope. */
  const unwrap = <T>(result: MikaResult<T>, flags: { json?: boolean }): T => {
    if (result.ok) return result.data;
    if (flags.json) output.out(json(result));
    else output.err(colors.red(`${result.error.code} (${result.status}): ${result.error.message}`));
    throw new Failure(result.error.message);
  };

  // ── trigger ────────────────────────────────────────────────────────────────────────────────────
  program
    .command("trigger")
    .summary("build, sign and POST a realistic provider webhook")
    .description(
      "Build a realistic webhook body for <event> from real provider fixtures (fresh ids, timestamps of now), sign it with the provider's own scheme and POST it to --to. Prints the HTTP status and Mika's envelope. The secret is never printed.",
    )
    .addArgument(new Argument("[provider]", "provider").choices(TRIGGER_PROVIDERS))
    .argument("[event]", "the provider's event type, e.g. checkout.session.completed (see --list)")
    .option("--to <url>", "webhook URL, e.g. http://localhost:3000/api/mika/webhooks/stripe")
    .addOption(new Option("--secret <secret>", "the endpoint's signing secret").env("MIKA_WEBHOOK_SECRET"))
    .option("--set <key=value>", "override a field (dotted path, JSON value); repeatable", collect, [])
    .option("--checkout <id>", "link the event to this Mika checkout id")
    .option("--repeat <n>", "deliver the same event n times (a duplicate storm)", positiveInt("--repeat"), 1)
    .option(
      "--concurrency <c>",
      "deliveries in flight at once (default: min(n, 16))",
      positiveInt("--concurrency"),
    )
    .option("--tamper", "change one byte after signing (the endpoint must answer 400)")
    .option("--dry-run", "print the body and signature headers, send nothing")
    .option("--list", "list the events it can build")
    .option("--json", "print machine-readable JSON on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ mika trigger stripe checkout.session.completed --to http://localhost:3000/api/mika/webhooks/stripe --secret "$STRIPE_WEBHOOK_SECRET"
  $ mika trigger paddle transaction.completed --to $URL/paddle --secret "$PADDLE_WEBHOOK_SECRET" --checkout chk_123 --set data.details.totals.total=2500
  $ MIKA_WEBHOOK_SECRET=… mika trigger lemonsqueezy order_created --to $URL/lemonsqueezy --repeat 20 --concurrency 5
  $ mika trigger stripe --list`,
    )
    .action(async function (this: Command, provider: string | undefined, event: string | undefined) {
      const flags = this.opts<{
        to?: string;
        secret?: string;
        set: string[];
        checkout?: string;
        repeat: number;
        concurrency?: number;
        tamper?: boolean;
        dryRun?: boolean;
        list?: boolean;
        json?: boolean;
      }>();
      state.json = Boolean(flags.json);
      const out = redacting(output, flags.secret);
      if (provider !== undefined && !isTriggerProvider(provider)) this.error(`unknown provider ${provider}`);
      const p = provider as (typeof TRIGGER_PROVIDERS)[number] | undefined;

      if (flags.list) {
        const events = knownEvents(p);
        if (flags.json) out.out(json(events));
        else
          out.out(
            table(
              ["provider", "event", "built from"],
              events.map((e) => [e.provider, e.event, colors.dim(e.source)]),
            ),
          );
        return;
      }
      if (!p) this.error("missing the provider: stripe, paddle or lemonsqueezy (or pass --list)");
      if (!event) this.error(`missing the event: see \`mika trigger ${p} --list\``);
      if (!knownEvents(p).some((e) => e.event === event)) {
        this.error(`${p} has no event "${event}" here: see \`mika trigger ${p} --list\``);
      }

      if (flags.dryRun) {
        const built = buildEvent(p, event!, {
          set: flags.set,
          ...(flags.checkout ? { checkout: flags.checkout } : {}),
        });
        const signed = await signBody(p, built.body, flags.secret ?? "dry-run-secret");
        const body = flags.tamper ? tamperBody(signed.rawBody) : signed.rawBody;
        const headers = Object.fromEntries(signed.headers.entries());
        if (flags.json)
          out.out(json({ provider: p, event, eventId: built.eventId, headers, body: built.payload }));
        else {
          for (const [name, value] of Object.entries(headers)) out.out(`${colors.dim(name)}: ${value}`);
          out.out(`\n${body}`);
        }
        return;
      }
      if (!flags.to) this.error("missing --to <url>: the webhook endpoint to POST to");
      if (!flags.secret) this.error("missing --secret <secret> (or MIKA_WEBHOOK_SECRET)");
      try {
        new URL(flags.to!);
      } catch {
        this.error(`--to ${flags.to} is not a URL`);
      }

      const total = flags.repeat;
      const progress = !flags.json && total > 20 && process.stderr.isTTY;
      const report = await runTrigger({
        provider: p,
        event: event!,
        to: flags.to!,
        secret: flags.secret!,
        set: flags.set,
        ...(flags.checkout ? { checkout: flags.checkout } : {}),
        repeat: total,
        ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
        tamper: Boolean(flags.tamper),
        onDelivery: (_d, done) => {
          if (progress) process.stderr.write(`\r${colors.dim(`delivered ${done}/${total}`)}`);
        },
      });
      if (progress) process.stderr.write("\n");
      printTrigger(out, report, Boolean(flags.json));
      if (!report.ok) state.code = EXIT_CODES.failure;
    });

  // ── events ─────────────────────────────────────────────────────────────────────────────────────
  const events = program
    .command("events")
    .summary("list and inspect stored webhook events")
    .description("The webhook inbox: every verified delivery Mika stored, with its status.");
  storeOptions(
    events
      .command("list", { isDefault: true })
      .description("List stored events, newest first (the default of `mika events`).")
      .addOption(new Option("--status <status>", "only this status").choices(EVENT_STATUSES))
      .option("--provider <name>", "only this provider")
      .option("--limit <n>", "at most n events", positiveInt("--limit"), 50)
      .option("--cursor <id>", "continue after this page (nextCursor of the previous one)"),
  ).action(async function (this: Command) {
    const flags = this.opts<
      StoreFlags & { status?: string; provider?: string; limit: number; cursor?: string }
    >();
    await withMika(this, async (mika) => {
      const page = unwrap(
        await mika.webhooks.list({
          limit: flags.limit,
          ...(flags.status ? { status: flags.status as (typeof EVENT_STATUSES)[number] } : {}),
          ...(flags.provider ? { provider: flags.provider } : {}),
          ...(flags.cursor ? { cursor: flags.cursor } : {}),
        }),
        flags,
      );
      if (flags.json) return output.out(json(page));
      output.out(eventsTable(page.items));
      if (page.nextCursor) output.out(colors.dim(`more: --cursor ${page.nextCursor}`));
    });
  });
  storeOptions(
    events
      .command("show")
      .description("One stored event: its status, normalized event, handler runs (and raw body with --raw).")
      .argument("<id>", "the event's row id (the first column of `mika events`)")
      .option("--raw", "also print the raw body as received"),
  ).action(async function (this: Command, id: string) {
    const flags = this.opts<StoreFlags & { raw?: boolean }>();
    await withMika(this, async (mika) => {
      const detail = unwrap(await mika.webhooks.get(id), flags);
      if (flags.json) return output.out(json(detail));
      output.out(
        keyValues(
          [
            ["id", detail.id],
            ["provider", detail.provider],
            ["event id", detail.eventId],
            ["type", detail.eventType],
            ["kind", detail.kind],
            ["status", paintStatus(detail.status)],
            ["attempts", detail.attempts],
            ["duplicates", detail.duplicates],
            ["livemode", detail.livemode],
            ["occurred", detail.occurredAt],
            ["received", detail.receivedAt],
            ["processed", detail.processedAt],
            ["next attempt", detail.nextAttemptAt],
            ["last error", detail.lastError],
            ["parked", detail.parkedReason],
            ["payload hash", detail.payloadHash],
          ],
          "event",
        ),
      );
      output.out(`${colors.bold("normalized event")}\n${json(detail.event)}`);
      output.out(
        table(
          ["handler", "status", "attempts", "last error"],
          detail.handlers.map((h) => [h.handler, paintStatus(h.status), h.attempts, clip(h.lastError, 60)]),
          "handler runs",
        ),
      );
      if (flags.raw) output.out(`${colors.bold("raw body")}\n${detail.raw ?? colors.dim("(purged)")}`);
    });
  });

  // ── replay ─────────────────────────────────────────────────────────────────────────────────────
  storeOptions(
    program
      .command("replay")
      .summary("process a stored event again")
      .description(
        "Apply a stored event now (failed, parked or pending). A processed event is not applied twice. Uses the stored normalized event: no provider is asked. Host handler runs are recorded for your app to run.",
      )
      .argument("<id>", "the event's row id"),
  ).action(async function (this: Command, id: string) {
    const flags = this.opts<StoreFlags>();
    await withMika(this, async (mika) => {
      const result = unwrap(await mika.webhooks.replay(id), flags);
      const after = await mika.webhooks.get(id);
      if (flags.json) return output.out(json({ ...result, event: after.ok ? after.data : undefined }));
      output.out(`replayed ${result.id}: ${paintStatus(result.status)}`);
      if (after.ok) output.out(eventsTable([after.data]));
    });
  });

  // ── maintenance ────────────────────────────────────────────────────────────────────────────────
  storeOptions(
    program
      .command("maintenance")
      .summary("run one maintenance pass")
      .description(
        "Release expired stock holds, apply due deferred / parked / failed events, reconcile stale checkouts and purge old raw payloads. Runs without provider clients, so a stale checkout is expired rather than asked about; host handler runs are left for your app.",
      ),
  ).action(async function (this: Command) {
    const flags = this.opts<StoreFlags>();
    await withMika(this, async (mika) => {
      const report = unwrap(await mika.maintenance.run(), flags);
      if (flags.json) return output.out(json(report));
      if (!report.ran) output.out(colors.yellow("another process holds the maintenance lease: nothing done"));
      output.out(
        keyValues(
          [
            ["released reservations", report.releasedReservations],
            ["expired checkouts", report.expiredCheckouts],
            ["events processed", report.events.processed],
            ["events ignored", report.events.ignored],
            ["events parked", report.events.parked],
            ["events failed", report.events.failed],
            ["reconciled checkouts", report.reconciledCheckouts],
            ["purged raw payloads", report.purgedPayloads],
          ],
          "maintenance",
        ),
      );
    });
  });

  // ── migrate ────────────────────────────────────────────────────────────────────────────────────
  storeOptions(
    program
      .command("migrate")
      .summary("create or upgrade Mika's tables")
      .description("Create or upgrade the store's tables to the current schema (creates the SQLite file)."),
  ).action(async function (this: Command) {
    const flags = this.opts<StoreFlags>();
    state.json = Boolean(flags.json);
    const target = targetOf(this);
    const store = await openStore(target);
    try {
      const result = await store.migrate();
      if (flags.json) return output.out(json({ store: store.name, ...result }));
      output.out(
        result.from === result.to
          ? `${describeTarget(target)}: schema v${result.to}, up to date`
          : `${describeTarget(target)}: schema v${result.from} → v${result.to}`,
      );
    } finally {
      await store.close();
    }
  });

  // ── ledger views ───────────────────────────────────────────────────────────────────────────────
  storeOptions(
    program
      .command("orders")
      .summary("list orders from the ledger")
      .description("Orders (one per checkout), newest first.")
      .addOption(new Option("--status <status>", "only this status").choices(ORDER_STATUSES))
      .option("--provider <name>", "only this provider")
      .option("--limit <n>", "at most n orders", positiveInt("--limit"), 50),
  ).action(async function (this: Command) {
    const flags = this.opts<StoreFlags & { status?: string; provider?: string; limit: number }>();
    await withMika(this, async (mika) => {
      const page = unwrap(
        await mika.orders.list({
          limit: flags.limit,
          ...(flags.status ? { status: flags.status as (typeof ORDER_STATUSES)[number] } : {}),
          ...(flags.provider ? { provider: flags.provider } : {}),
        }),
        flags,
      );
      if (flags.json) return output.out(json(page));
      output.out(ordersTable(page.items));
    });
  });
  storeOptions(
    program
      .command("subscriptions")
      .summary("list subscriptions from the ledger")
      .description("Subscriptions with the newest applied snapshot.")
      .option("--status <status>", "only this status")
      .option("--provider <name>", "only this provider")
      .option("--limit <n>", "at most n subscriptions", positiveInt("--limit"), 50),
  ).action(async function (this: Command) {
    const flags = this.opts<StoreFlags & { status?: string; provider?: string; limit: number }>();
    await withMika(this, async (mika) => {
      const page = unwrap(
        await mika.subscriptions.list({
          limit: flags.limit,
          ...(flags.status ? { status: flags.status } : {}),
          ...(flags.provider ? { provider: flags.provider } : {}),
        }),
        flags,
      );
      if (flags.json) return output.out(json(page));
      output.out(subscriptionsTable(page.items));
    });
  });

  return program;
}

type WebhookRecordLike = {
  id: string;
  provider: string;
  eventType: string;
  kind: string;
  status: string;
  attempts: number;
  duplicates: number;
  receivedAt: string;
  lastError: string | null;
  parkedReason: string | null;
};

/** The ops view: stored events as a table. */
export function eventsTable(items: readonly WebhookRecordLike[], title?: string): string {
  return table(
    ["id", "provider", "type", "kind", "status", "attempts", "dups", "received", "note"],
    items.map((e) => [
      e.id,
      e.provider,
      e.eventType,
      e.kind,
      paintStatus(e.status),
      e.attempts,
      e.duplicates,
      e.receivedAt.replace("T", " ").slice(0, 19),
      clip(e.lastError ?? e.parkedReason, 40),
    ]),
    title,
  );
}

type OrderLike = {
  id: string;
  provider: string;
  status: string;
  amount: number | null;
  currency: string | null;
  refundedAmount: number;
  paymentRef: string | null;
  customerEmail: string | null;
};

/** The ledger view: orders as a table. */
export function ordersTable(items: readonly OrderLike[], title?: string): string {
  return table(
    ["order", "provider", "status", "amount", "refunded", "payment", "customer"],
    items.map((o) => [
      o.id,
      o.provider,
      paintStatus(o.status),
      money(o.amount, o.currency),
      o.refundedAmount ? money(o.refundedAmount, o.currency) : "-",
      clip(o.paymentRef, 30),
      clip(o.customerEmail, 30),
    ]),
    title,
  );
}

type SubscriptionLike = {
  subscriptionRef: string;
  provider: string;
  status: string;
  priceRef: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  providerUpdatedAt: string;
};

/** The ledger view: subscriptions as a table. */
export function subscriptionsTable(items: readonly SubscriptionLike[], title?: string): string {
  return table(
    ["subscription", "provider", "status", "price", "period end", "cancel at end", "snapshot time"],
    items.map((s) => [
      clip(s.subscriptionRef, 32),
      s.provider,
      paintStatus(s.status),
      clip(s.priceRef, 30),
      s.currentPeriodEnd?.slice(0, 10) ?? "-",
      s.cancelAtPeriodEnd ? "yes" : "no",
      s.providerUpdatedAt.replace("T", " ").slice(0, 19),
    ]),
    title,
  );
}

function printTrigger(output: Output, report: TriggerReport, asJson: boolean): void {
  if (asJson) {
    output.out(json(report));
    return;
  }
  output.out(
    `${colors.bold("POST")} ${report.url}\n${report.provider} ${colors.cyan(report.event)} ${colors.dim(report.eventId ?? "(event id derived by the receiver)")}${report.tampered ? colors.yellow(" tampered after signing") : ""}`,
  );
  if (report.deliveries.length === 1) {
    const [d] = report.deliveries;
    output.out(
      d!.status === 0
        ? colors.red(`no answer: ${d!.error}`)
        : `← ${paintHttp(d!.status)} ${outcomeOf(d!).split(" ").slice(1).join(" ")} ${colors.dim(`${d!.ms} ms`)}`,
    );
    if (d!.status !== 0) output.out(typeof d!.body === "string" ? d!.body : json(d!.body));
    return;
  }
  const times = report.deliveries.map((d) => d.ms).sort((a, b) => a - b);
  output.out(
    table(
      ["outcome", "deliveries"],
      Object.entries(report.summary).map(([outcome, count]) => [outcome, count]),
      `${report.deliveries.length} deliveries of one event (median ${times[Math.floor(times.length / 2)]} ms)`,
    ),
  );
}

/**
 * Runs `mika` with the given arguments (without `node` and the script) and returns the exit code
 * (see {@link EXIT_CODES}). Never calls `process.exit`.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  const output = options.output ?? processOutput;
  const state = { code: EXIT_CODES.ok as number, json: false };
  const program = createProgram(output, state);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return state.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version")
        return EXIT_CODES.ok;
      // `mika help <command>` asked for help (exit code 0); `mika` alone is a usage error
      if (error.code === "commander.help" && error.exitCode === 0) return EXIT_CODES.ok;
      // `mika` alone prints the help (commander's "missing subcommand" path): a usage error.
      return EXIT_CODES.usage;
    }
    if (error instanceof UsageError) {
      output.err(colors.red(`error: ${error.message}`));
      output.err(colors.dim("run the command with --help for its usage"));
      return EXIT_CODES.usage;
    }
    if (error instanceof Failure) return EXIT_CODES.failure;
    const message =
      error instanceof StoreError ? error.message : `${(error as Error)?.message ?? String(error)}`;
    if (state.json) output.out(json({ ok: false, error: { code: "CLI_FAILED", message } }));
    output.err(colors.red(`error: ${message}`));
    return EXIT_CODES.failure;
  }
}
