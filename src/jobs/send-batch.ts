// Sending one batch: its write-ahead audit line, then attempts up to maxAttempts with backoff between them, the
// resends of an all-or-nothing backend's remaining ids, and the batch's outcome stored and audited.
import { failpoint } from "../failpoint.js";
import { type JobRun, jobFields } from "./job-run.js";
import { type Lane, LaneClosedError } from "./lanes.js";
import type { BatchRecord } from "./store.js";

/**
 * Retry backoff before attempt n+1: BACKOFF_MIN_MS × 2^(n−1) × a jitter factor in [1, 2), capped at BACKOFF_MAX_MS;
 * a Retry-After longer than that is waited instead (SPEC §7).
 */
export const BACKOFF_MIN_MS = 200;
export const BACKOFF_MAX_MS = 15_000;

/** The wait before attempt `failed + 1` after `failed` failed attempts: exponential, jittered, capped. */
export function backoffMs(failed: number, random = Math.random()): number {
  return Math.min(BACKOFF_MAX_MS, Math.round(BACKOFF_MIN_MS * 2 ** (failed - 1) * (1 + random)));
}

/** How one send of a batch ended. */
export type SendResult = "accepted" | "settled" | "halted";

/** What one attempt of a batch came to: requests that do not count as attempts (all-or-nothing resends) included. */
type AttemptResult =
  | { type: "settled" | "accepted" | "halted" }
  | { type: "retry"; error: string; retryAfterMs?: number }
  | { type: "failed"; error: string };

/**
 * Sends one batch: its `batch.sending` audit line first (write-ahead), then attempts up to maxAttempts with
 * backoff between them. "accepted": the backend runs it as a job to poll. `ids`: read ahead.
 */
export async function sendBatch(
  run: JobRun,
  lane: Lane,
  batch: BatchRecord,
  ids?: Promise<string[]>,
): Promise<SendResult> {
  const { job } = run;
  const maxAttempts = lane.config.maxAttempts;
  const state = {
    remaining: batch.remaining ?? (await (ids ?? run.ctx.store.getPlanBatch(job.plan_id, batch.index))),
    lastStatus: null as number | null,
    // Earlier partial answers of this batch (a 207, an all-or-nothing refusal), kept for its audit line.
    partials: [] as string[],
  };
  const announced = await run.record({
    event: "batch.sending",
    ...jobFields(job),
    batch: batch.index,
    ids: state.remaining,
    attempts: batch.attempts,
  });
  if (!announced) return "halted";
  // Every attempt was answered before a restart (the last one in the retry wait): nothing is left to try.
  let failure: string | null =
    batch.attempts >= maxAttempts ? (batch.last_error ?? `${batch.attempts} attempts made`) : null;
  // A cancel made in another process is read by the runner right before this batch, and again before each retry.
  while (failure === null) {
    if (run.halting()) return "halted";
    batch.attempts++;
    const result = await attempt(run, lane, batch, state);
    if (result.type === "failed") {
      failure = result.error;
      break;
    }
    if (result.type !== "retry") return result.type;
    run.ctx.logger.warn(
      {
        job_id: job.id,
        batch: batch.index,
        attempt: batch.attempts,
        max_attempts: maxAttempts,
        error: result.error,
      },
      "batch attempt failed",
    );
    if (batch.attempts >= maxAttempts) {
      failure = result.error;
      break;
    }
    // Answered and waiting for the next try: not in flight, and a restart must not count it again.
    batch.status = "pending";
    await run.saveBatch(batch);
    // The longer of the backoff and Retry-After, not their sum; a halt (cancel, kill switch) ends the wait.
    await run.pause(Math.max(result.retryAfterMs ?? 0, backoffMs(batch.attempts)));
    await run.checkCancel();
  }
  // Stopped here (closing, lease lost): the batch is not failed, whoever runs the job next sends it.
  if (run.stopped()) return "halted";
  const error = failure as string;
  batch.status = "failed";
  batch.failed.push(...state.remaining.map((id) => ({ id, error })));
  batch.remaining = null;
  batch.last_error = error;
  await run.saveBatch(batch);
  await run.auditBatch(batch, "batch.failed", state.remaining, state.lastStatus, null, error);
  return "settled";
}

/** One attempt: a request, and the resends of an all-or-nothing backend's remaining ids that it does not count. */
async function attempt(
  run: JobRun,
  lane: Lane,
  batch: BatchRecord,
  state: { remaining: string[]; lastStatus: number | null; partials: string[] },
): Promise<AttemptResult> {
  const { job } = run;
  for (;;) {
    batch.status = "sending";
    // Stored only where it is cheap (Redis, written without waiting for a disk): a resume sends a stored "pending"
    // batch again just as it would a "sending" one, with the same attempts (the stored count is of answered
    // attempts either way, "sending" being stored with this attempt and resumed one less). On SQLite that write
    // waits for the disk (synchronous=FULL) before every request; other processes then count the batch in
    // flight only once it is answered.
    if (run.ctx.store.cheapWrites) await run.saveBatch(batch);
    else run.events.emit("change");
    const ids = state.remaining;
    const outcome = await lane
      .run(
        async () =>
          // Read again right before the request leaves: the lease, a cancel or the kill switch may have come
          // while it waited for its turn.
          run.halting() ? null : lane.client.sendBatch({ target: job.target, ids, reason: job.reason }),
        run.halt.signal,
      )
      .catch((error: Error) => {
        // A halt while it waited for its turn: never sent.
        if (run.halt.signal.aborted && !(error instanceof LaneClosedError)) return null;
        throw error;
      });
    if (outcome !== null) lane.observe("httpStatus" in outcome ? outcome.httpStatus : null);
    if (outcome === null) {
      // Never sent: the attempt is given back.
      batch.attempts--;
      batch.status = "pending";
      return { type: "halted" };
    }
    failpoint("batch.after-answer");
    state.lastStatus = "httpStatus" in outcome ? (outcome.httpStatus ?? null) : null;
    if (outcome.type === "retry") {
      batch.last_error = outcome.error;
      return { type: "retry", error: outcome.error, retryAfterMs: outcome.retryAfterMs };
    }
    if (outcome.type === "failed") return { type: "failed", error: outcome.error };
    if (outcome.type === "accepted") {
      batch.status = "awaiting_backend";
      batch.backend_job = { id: outcome.backendJobId, status: "pending" };
      batch.remaining = null;
      await run.saveBatch(batch);
      return { type: "accepted" };
    }
    batch.deleted += outcome.deleted;
    batch.not_found += outcome.notFound;
    batch.failed.push(...outcome.failed);
    if (outcome.retryIds && outcome.retryIds.ids.length > 0) {
      state.partials.push(
        `HTTP ${outcome.httpStatus}${outcome.reference ? ` (${outcome.reference})` : ""}: ` +
          `${outcome.retryIds.ids.length} of ${ids.length} ids sent again`,
      );
      state.remaining = outcome.retryIds.ids;
      batch.remaining = state.remaining;
      batch.last_error = outcome.retryIds.error;
      await run.saveBatch(batch);
      if (outcome.retryIds.countsAsAttempt) return { type: "retry", error: outcome.retryIds.error };
      if (run.halting()) {
        batch.status = "pending";
        return { type: "halted" };
      }
      continue;
    }
    batch.status = "done";
    batch.remaining = null;
    await run.saveBatch(batch);
    // The whole batch, not just the last request's ids: earlier requests of it settled ids too.
    const batchIds =
      ids.length === batch.size ? ids : await run.ctx.store.getPlanBatch(job.plan_id, batch.index);
    await run.auditBatch(
      batch,
      "batch.completed",
      batchIds,
      outcome.httpStatus,
      [...state.partials, outcome.reference].filter(Boolean).join("; ") || null,
    );
    return { type: "settled" };
  }
}
