/**
 * `@mika/cli`: the `mika` command, and the pieces it is made of for scripts and tests: build, sign and
 * deliver realistic provider webhooks; open a store; print the ledger and ops views.
 *
 * @packageDocumentation
 */
export { type Output, processOutput } from "./output.js";
export {
  createProgram,
  EXIT_CODES,
  eventsTable,
  ordersTable,
  type RunCliOptions,
  runCli,
  subscriptionsTable,
} from "./program.js";
export { type ServedHandler, serveHandler } from "./serve.js";
export {
  cliLogger,
  describeTarget,
  openStore,
  opsMika,
  StoreError,
  type StoreTarget,
} from "./store.js";
export {
  type BuildEventOptions,
  type BuiltEvent,
  buildEvent,
  type Delivery,
  deliver,
  isTriggerProvider,
  type KnownEvent,
  knownEvents,
  outcomeOf,
  parseSetValue,
  runTrigger,
  setPath,
  signBody,
  TRIGGER_PROVIDERS,
  TRIGGER_SIGNERS,
  type TriggerOptions,
  type TriggerProvider,
  type TriggerReport,
  tamperBody,
  UsageError,
} from "./trigger.js";
export { VERSION } from "./version.js";
