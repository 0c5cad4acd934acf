// list_delete_jobs: the newest jobs, optionally of one status.
import { z } from "zod";
import { jobShape, listedJobSchema } from "./job-schema.js";
import { defineTool } from "./tool.js";

export const listDeleteJobs = defineTool({
  name: "list_delete_jobs",
  title: "List delete jobs",
  description:
    "Lists delete jobs, newest first, optionally only those with one status. Use get_delete_job for one job's failed ids.",
  inputSchema: {
    status: jobShape.status.optional(),
    limit: z.int().min(1).max(100).default(20),
  },
  outputSchema: { jobs: z.array(listedJobSchema) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handler: async (input, { runner }, { caller }) => ({
    jobs: await runner.list({ owner: caller.owner, status: input.status, limit: input.limit }),
  }),
  summarize: ({ jobs }) =>
    `${jobs.length} job(s).${jobs.length ? ` Newest: ${jobs[0]?.job_id} (${jobs[0]?.status}).` : ""}`,
});
