// Following a backend's own job (a batch the backend accepted): polled with a growing delay until it ends, fails,
// or stays unfinished past jobs.backendJobMaxMs; its outcome stored and audited.

import type { PollOutcome } from "../backends/types.js";
import { failpoint } from "../failpoint.js";
import { sleep } from "./clock.js";
import type { JobRun } from "./job-run.js";
import type { Lane } from "./lanes.js";
import type { BatchRecord } from "./store.js";

/** Backend-job polling: first look after this long, then doubling up to the maximum. */
export const POLL_FIRST_MS = 500;
export const POLL_MAX_MS = 5_000;

/** A duration as people read it: "24 h", "90 s", "1500 ms". */
function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1_000 === 0) return `${ms / 1_000} s`;
  return `${ms} ms`;
}

export async function pollBatch(
  run: JobRun,
  lane: Lane,
  batch: BatchRecord,
  options: { backendJobMaxMs: number; signal: AbortSignal },
): Promise<void> {
  const backendJob = batch.backend_job;
  const poll = lane.client.pollJob;
  if (!backendJob || !poll) throw new Error(`batch ${batch.index} has no backend job to poll`);
  let delay = POLL_FIRST_MS;
  let failures = 0;
  const giveUpAt = Date.now() + options.backendJobMaxMs;
  while (!run.stopped()) {
    // The last look comes at the limit, not a whole poll interval after it.
    // A cancelled job still follows what the backend accepted: only closing the runner ends the wait.
    const { signal } = options;
    await sleep(Math.max(0, Math.min(delay, giveUpAt - Date.now())), { signal }).catch(() => undefined);
    if (run.stopped()) return;
    const outcome: PollOutcome | null = await lane
      .run(() => poll(backendJob.id), signal)
      .catch((error: Error) => {
        if (signal.aborted) return null;
        throw error;
      });
    // Closing: the backend job is read again by whoever runs the job next.
    if (outcome === null) return;
    if (outcome.type === "succeeded" || outcome.type === "failed") failpoint("poll.after-answer");
    const late = Date.now() >= giveUpAt;
    if (outcome.type === "running" && !late) {
      failures = 0;
      delay = Math.min(delay * 2, POLL_MAX_MS);
      if (backendJob.status !== outcome.status) {
        backendJob.status = outcome.status;
        await run.saveBatch(batch);
      }
      continue;
    }
    if (outcome.type === "retry" && ++failures < lane.config.maxAttempts && !late) {
      delay = Math.max(outcome.retryAfterMs ?? 0, Math.min(delay * 2, POLL_MAX_MS));
      continue;
    }
    // Unfinished at the limit: the outcome is unknown, and the ids fail saying so.
    const gaveUp = late && (outcome.type === "running" || outcome.type === "retry");
    if (outcome.type === "running") backendJob.status = outcome.status;
    const ids = await run.ctx.store.getPlanBatch(run.job.plan_id, batch.index);
    if (outcome.type === "succeeded") {
      backendJob.status = outcome.status;
      batch.deleted = batch.size;
      batch.status = "done";
      await run.saveBatch(batch);
      await run.auditBatch(batch, "batch.completed", ids, 202, backendJob.id);
      return;
    }
    const error = gaveUp
      ? `backend job ${backendJob.id} still ${backendJob.status} after ${formatMs(options.backendJobMaxMs)}: ` +
        `deletegate stopped waiting, the backend may still finish it` +
        (outcome.type === "retry" ? ` (last status read failed: ${outcome.error})` : "")
      : outcome.type === "failed"
        ? `backend job ${backendJob.id} failed: ${outcome.error}`
        : `status of backend job ${backendJob.id} could not be read: ${outcome.type === "running" ? outcome.status : outcome.error}`;
    if (outcome.type === "failed") backendJob.status = outcome.status;
    batch.failed = ids.map((id) => ({ id, error }));
    batch.status = "failed";
    batch.last_error = error;
    await run.saveBatch(batch);
    await run.auditBatch(batch, "batch.failed", ids, null, backendJob.id, error);
    return;
  }
}
