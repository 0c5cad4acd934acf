// Crash points for the reliability tests: `DELETEGATE_FAILPOINT=<name>[:<n>]` kills the process with SIGKILL the
// n-th time (default the first) it passes that point. Unset, as in every normal run, a failpoint does nothing.
const spec = process.env.DELETEGATE_FAILPOINT;
const [armed, nth] = spec ? spec.split(":") : [];
let hits = 0;

export type FailpointName =
  /** A dry run has stored its id batches but not yet its plan. */
  | "dry-run.after-batches"
  /** execute_delete: the plan is confirmed, nothing is written yet. */
  | "execute.after-confirm"
  /** execute_delete: the job is written, the plan not yet claimed for it. */
  | "execute.after-job"
  /** Inside a claim (memory/sqlite): the job is indexed, the plan not yet claimed for it. */
  | "claim.after-index"
  /** execute_delete: the plan is claimed for the job, the plan record does not name it yet. */
  | "execute.after-claim"
  /** The backend answered a batch; the answer is not stored yet. */
  | "batch.after-answer"
  /** A backend job's final state was read; it is not stored yet. */
  | "poll.after-answer";

export function failpoint(name: FailpointName): void {
  if (armed !== name) return;
  hits++;
  if (hits >= Number(nth ?? 1)) process.kill(process.pid, "SIGKILL");
}
