// cancel_delete_job: stops sending a job's remaining batches; batches in flight finish and are counted.
import { z } from "zod";
import { GateError } from "../gate/errors.js";
import { displayId } from "../gate/plan.js";
import { jobLine, jobShape } from "./job-schema.js";
import { defineTool } from "./tool.js";

/** How long cancel waits for in-flight batches before it answers with the job as it is. */
const CANCEL_WAIT_MS = 5_000;

export const cancelDeleteJob = defineTool({
  name: "cancel_delete_job",
  title: "Cancel a delete job",
  description:
    "Stops a delete job from sending batches that have not started; batches already in flight finish and are counted. " +
    "Returns the job: cancelled once nothing is in flight, or its final status if it had already finished.",
  inputSchema: { job_id: z.string() },
  outputSchema: jobShape,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handler: async ({ job_id }, { runner, approvals }, { caller }) => {
    // Checked first: another token's job is answered as missing and is never cancelled.
    const visible = await runner.view(job_id, null, caller.owner);
    // A job awaiting approval is withdrawn; a queued or running one stops sending.
    const withdrawn =
      visible?.status === "awaiting_approval" && (await approvals.withdraw(job_id, caller.actor));
    if (visible && !withdrawn && (await runner.cancel(job_id))) await runner.waitFor(job_id, CANCEL_WAIT_MS);
    const view = visible && (await runner.view(job_id, { offset: 0, limit: 100 }, caller.owner));
    if (!view)
      throw new GateError(
        "JOB_NOT_FOUND",
        `No job "${displayId(job_id)}"; list_delete_jobs shows the known jobs.`,
      );
    return { ...view, failed_ids: view.failed_ids ?? [] };
  },
  summarize: jobLine,
});
