// get_delete_job: the status, counts and failed ids of one job.
import { z } from "zod";
import { GateError } from "../gate/errors.js";
import { displayId } from "../gate/plan.js";
import { jobLine, jobShape } from "./job-schema.js";
import { defineTool } from "./tool.js";

export const getDeleteJob = defineTool({
  name: "get_delete_job",
  title: "Get a delete job",
  description:
    "Returns a delete job's status, counts per outcome, batches, backend jobs and a page of failed ids. " +
    "Poll it until the status is succeeded, partially_failed, failed or cancelled.",
  inputSchema: {
    job_id: z.string(),
    failed_offset: z.int().min(0).default(0),
    failed_limit: z.int().min(0).max(1000).default(100),
  },
  outputSchema: jobShape,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handler: async (input, { runner }, { caller }) => {
    const page = { offset: input.failed_offset, limit: input.failed_limit };
    const view = await runner.view(input.job_id, page, caller.owner);
    if (!view)
      throw new GateError(
        "JOB_NOT_FOUND",
        `No job "${displayId(input.job_id)}"; list_delete_jobs shows the known jobs.`,
      );
    return { ...view, failed_ids: view.failed_ids ?? [] };
  },
  summarize: jobLine,
});
