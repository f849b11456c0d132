/**
 * Idempotent API calls. A key is claimed in a transaction together with whatever the call must hold
 * (an order, stock); the provider is called outside any transaction; the result is stored under the
 * key. Same key + same request → the stored result and no second provider call; same key + different
 * request → 409 IDEMPOTENCY_MISMATCH; a concurrent call with the key waits for the first one's result.
 * The claim is a lease that the running call renews, so only a call whose process died is retried.
 */
import {
  err,
  type MikaErr,
  type MikaResult,
  OUTCOME_UNKNOWN,
  ok,
  ProviderError,
  type StoreTx,
} from "@mika/types";
import type { Engine } from "./engine.js";
import { errorMessage, sha256Hex, stableStringify } from "./util.js";

/** The steps of one idempotent call. */
export interface IdempotentSteps<S, R> {
  /** Runs in the transaction that claims the key. Return an error envelope to abort (nothing is kept). */
  begin(tx: StoreTx): Promise<{ ok: true; state: S } | MikaErr>;
  /** The provider call (outside any transaction). Throw `ProviderError` for provider refusals. */
  call(state: S): Promise<R>;
  /** Stores the outcome (inside the transaction that records the result). Returns the response data. */
  commit(tx: StoreTx, state: S, result: R): Promise<unknown>;
  /** Undoes `begin`'s holds after a failed call (inside a transaction). */
  fail?(tx: StoreTx, state: S, error: unknown): Promise<void>;
}

/** How long a claimed key stays claimed without a renewal (a process that died frees it after this). */
const LEASE_MS = 60_000;
/** How often a live call renews its key's lease. */
const RENEW_MS = LEASE_MS / 3;

/** Another call claimed the key between our read and our insert: roll back and look again. */
class KeyRace extends Error {}
const WAIT_MS = 15_000;

/** The member of a kept key's stored response that marks an unknown outcome (and says why). */
const UNKNOWN_MARK = "mikaOutcomeUnknown";

function outcomeUnknown(response: unknown): string | undefined {
  if (typeof response !== "object" || response === null) return undefined;
  const why = (response as Record<string, unknown>)[UNKNOWN_MARK];
  return typeof why === "string" ? why : undefined;
}

/** Maps a thrown provider error to a `PROVIDER_FAILED` envelope (never echoing secrets). */
export function providerFailure(engine: Engine, provider: string, error: unknown): MikaErr {
  if (error instanceof ProviderError) {
    engine.logger.warn(`${provider} refused a call`, {
      status: error.providerStatus,
      code: error.providerCode,
      message: error.message,
    });
    // The provider's own verdict on retrying decides what the caller is told to do.
    const advice = error.retryable
      ? "it may succeed when retried later"
      : "retrying the same request will fail again: change the request or the provider account first";
    return err("PROVIDER_FAILED", `${provider}: ${error.message} (${advice}).`, {
      ...(error.retryable && error.retryAfter !== undefined ? { retryAfter: error.retryAfter } : {}),
    });
  }
  engine.logger.error(`${provider} call failed unexpectedly`, { error: errorMessage(error) });
  return err("PROVIDER_FAILED", `${provider} could not be reached or answered unexpectedly; retry later.`);
}

/**
 * Renews a claimed key's lease while its provider call runs, so a slow call (an SDK may wait 80 s) is
 * not taken for a dead one and run a second time. `owns` tells whether a row read later is still
 * this call's claim; `stop` ends the renewals and waits for one in flight.
 */
function holdLease(engine: Engine, id: string, lease: number) {
  let held = lease;
  let inflight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inflight) return;
    inflight = engine.store
      .transaction(async (tx) => {
        const row = await tx.get("idempotency", id, { lock: true });
        if (row?.status !== "in_progress" || Number(row.lease_until) !== held) return undefined;
        const next = engine.now() + LEASE_MS;
        await tx.update("idempotency", id, { lease_until: next });
        return next;
      })
      .then(
        (next) => {
          if (next !== undefined) held = next;
        },
        (error: unknown) =>
          engine.logger.warn("renewing an idempotency key's lease failed", { error: errorMessage(error) }),
      )
      .finally(() => {
        inflight = undefined;
      });
  }, RENEW_MS);
  (timer as { unref?: () => void }).unref?.();
  return {
    owns: (row: { status: string; lease_until: number | null } | undefined) =>
      row?.status === "in_progress" && Number(row.lease_until) === held,
    async stop() {
      clearInterval(timer);
      await inflight;
    },
  };
}

/** Runs `steps` once per (scope, key). */
export async function idempotent<S, R>(
  engine: Engine,
  provider: string,
  scope: string,
  key: string,
  request: unknown,
  steps: IdempotentSteps<S, R>,
): Promise<MikaResult<unknown>> {
  if (typeof key !== "string" || key.length < 8 || key.length > 255) {
    return err(
      "VALIDATION_FAILED",
      "The idempotency key must be 8 to 255 characters (a UUID per attempt is ideal).",
      {
        fields: { idempotencyKey: "8-255 characters" },
      },
    );
  }
  const id = `${scope}:${key}`;
  const requestHash = await sha256Hex(stableStringify(request));
  const deadline = engine.now() + WAIT_MS;

  for (;;) {
    const claim = await engine.store
      .transaction(async (tx) => {
        const now = engine.now();
        const existing = await tx.get("idempotency", id, { lock: true });
        if (existing) {
          if (existing.request_hash !== requestHash) {
            return err(
              "IDEMPOTENCY_MISMATCH",
              "This idempotency key was used with a different request: use a new key for a new request.",
            );
          }
          if (existing.status === "done") {
            const unknown = outcomeUnknown(existing.response);
            if (unknown !== undefined)
              return err(
                "CONFLICT",
                `An earlier call with this idempotency key may have taken effect at the provider (${unknown}): check the provider before retrying with a new key.`,
              );
            return { done: existing.response };
          }
          if (existing.lease_until !== null && existing.lease_until > now) return { wait: true as const };
          await tx.delete("idempotency", id); // the earlier attempt died: start again
        }
        const begun = await steps.begin(tx);
        if (!begun.ok) return begun;
        const lease = now + LEASE_MS;
        const inserted = await tx.insert("idempotency", {
          id,
          request_hash: requestHash,
          status: "in_progress",
          response: null,
          created_at: now,
          lease_until: lease,
        });
        if (!inserted) throw new KeyRace();
        return { state: begun.state, lease };
      })
      .catch((error: unknown) => {
        if (error instanceof KeyRace) return { wait: true as const };
        throw error;
      });
    if ("ok" in claim) return claim;
    if ("done" in claim) return ok(claim.done);
    if ("wait" in claim) {
      if (engine.now() > deadline) {
        return err("CONFLICT", "A request with this idempotency key is still in progress: retry shortly.", {
          retryAfter: 1,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }

    const lease = holdLease(engine, id, claim.lease);
    let result: R;
    try {
      result = await steps.call(claim.state);
    } catch (error) {
      await lease.stop();
      await engine.store.transaction(async (tx) => {
        await steps.fail?.(tx, claim.state, error);
        if (!lease.owns(await tx.get("idempotency", id, { lock: true }))) return;
        // A provider without idempotency keys may have applied a call whose answer was lost: the key
        // stays taken, so a retry cannot apply it a second time (see OUTCOME_UNKNOWN).
        if (error instanceof ProviderError && error.providerCode === OUTCOME_UNKNOWN) {
          await tx.update("idempotency", id, {
            status: "done",
            response: { [UNKNOWN_MARK]: error.message.slice(0, 300) },
            lease_until: null,
          });
        } else await tx.delete("idempotency", id);
      });
      return providerFailure(engine, provider, error);
    }
    await lease.stop();
    const data = await engine.store.transaction(async (tx) => {
      const response = await steps.commit(tx, claim.state, result);
      const row = await tx.get("idempotency", id, { lock: true });
      if (lease.owns(row)) {
        await tx.update("idempotency", id, { status: "done", response, lease_until: null });
      } else if (!row) {
        // the lease lapsed and a retry that claimed the key failed: this result is the only one
        await tx.insert("idempotency", {
          id,
          request_hash: requestHash,
          status: "done",
          response,
          created_at: engine.now(),
          lease_until: null,
        });
      } else {
        // The lease lapsed (renewals failed) and a retry claimed the key: its result stays the stored one.
        engine.logger.warn("an idempotency key's lease lapsed during its provider call", { scope });
      }
      return response;
    });
    return ok(data);
  }
}
