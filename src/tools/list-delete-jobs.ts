// list_delete_jobs: the newest jobs, optionally of one status.
import { z } from "zod";
import type { JobView } from "../jobs/view.js";
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
  handler: async (input, { runner, store }, { caller }) => {
    const jobs: JobView[] = [];
    const newestFirst = (await store.listJobIds()).reverse();
    // Views are read a page at a time in parallel: one by one, the call grew slower with every job it read.
    for (let start = 0; start < newestFirst.length && jobs.length < input.limit; start += input.limit) {
      const page = newestFirst.slice(start, start + input.limit);
      const views = await Promise.all(page.map((id) => runner.view(id, null, caller.owner)));
      for (const view of views) {
        if (view && (!input.status || view.status === input.status) && jobs.length < input.limit)
          jobs.push(view);
      }
    }
    return { jobs };
  },
  summarize: ({ jobs }) =>
    `${jobs.length} job(s).${jobs.length ? ` Newest: ${jobs[0]?.job_id} (${jobs[0]?.status}).` : ""}`,
});
