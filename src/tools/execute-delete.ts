// execute_delete: confirms a plan (token or person) and runs it as a durable job, waiting a little for it.
import { z } from "zod";
import { GateError } from "../gate/errors.js";
import type { JobView } from "../jobs/view.js";
import { jobLine, jobShape } from "./job-schema.js";
import { defineTool } from "./tool.js";

export const executeDelete = defineTool({
  name: "execute_delete",
  title: "Execute a previewed delete",
  description:
    "Runs a plan from dry_run_delete after confirmation (the plan's confirmation token, or the person confirming in a form) and returns its job; " +
    "in approval mode the job waits for approvers in deletegate's console (hand the person its approval.url). " +
    "Calling it again returns the same job; follow progress with get_delete_job.",
  inputSchema: {
    plan_id: z.string().describe("plan_id from dry_run_delete"),
    confirmation_token: z
      .string()
      .optional()
      .describe("Required in token mode: the token dry_run_delete returned"),
    wait_seconds: z
      .number()
      .min(0)
      .max(30)
      .default(5)
      .describe("How long to wait for the job to finish (0..30, default 5)"),
  },
  outputSchema: jobShape,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  refusalEvent: "delete.refused",
  handler: async (input, { gate, runner }, { caller, reportProgress }) => {
    const jobId = await gate.execute(input, caller);
    const requested = await runner.view(jobId, { offset: 0, limit: 100 }, caller.owner);
    // Approval mode: the job waits for people, not for this call (SPEC §4); the agent hands on the link.
    if (requested?.status === "awaiting_approval" && requested.approval) {
      return {
        ...requested,
        failed_ids: [],
        next_step:
          `Give the person this link to approve or reject the delete in deletegate's console: ${requested.approval.url} ` +
          `(approvers sign in there with their own credentials). Then poll get_delete_job until the status is no longer awaiting_approval.`,
      };
    }
    let reported = -1;
    const onChange = reportProgress
      ? (view: JobView) => {
          const settled = view.counts.total - view.counts.pending;
          // Progress must only increase; batch state changes that settle nothing are not reported.
          if (settled > reported) {
            reported = settled;
            reportProgress(settled, view.counts.total, jobLine(view));
          }
        }
      : undefined;
    await runner.waitFor(jobId, input.wait_seconds * 1000, onChange);
    const view = await runner.view(jobId, { offset: 0, limit: 100 }, caller.owner);
    if (!view) throw new GateError("JOB_NOT_FOUND", `Job ${jobId} is missing from the store.`);
    return { ...view, failed_ids: view.failed_ids ?? [] };
  },
  summarize: jobLine,
});
