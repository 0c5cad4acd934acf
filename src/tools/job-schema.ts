// The output shape of a job (SPEC §4 get_delete_job), shared by every tool that returns jobs.
import { z } from "zod";
import { JOB_STATUSES } from "../jobs/store.js";

const idError = z.object({ id: z.string(), error: z.string() });

export const jobShape = {
  job_id: z.string(),
  plan_id: z.string(),
  backend: z.string(),
  kind: z.string(),
  target: z.record(z.string(), z.unknown()).nullable(),
  reason: z.string(),
  requested_by: z.string(),
  status: z.enum(JOB_STATUSES),
  counts: z.object({
    total: z.number(),
    deleted: z.number(),
    not_found: z.number(),
    failed: z.number(),
    pending: z.number(),
  }),
  batches: z.object({ total: z.number(), done: z.number(), failed: z.number(), in_flight: z.number() }),
  backend_jobs: z.array(z.object({ id: z.string(), status: z.string() })),
  notes: z.array(z.string()),
  failed_ids: z.array(idError),
  approval: z
    .object({
      url: z.string(),
      required: z.number(),
      approvals: z.array(z.object({ approver: z.string(), at: z.string() })),
      rejected: z.object({ approver: z.string(), at: z.string(), comment: z.string() }).nullable(),
      expires_at: z.string(),
    })
    .nullable(),
  /** execute_delete in approval mode: what the agent must do with the approval link. */
  next_step: z.string().optional(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
};

const { failed_ids: _failedIds, ...listedShape } = jobShape;
/** A job in list_delete_jobs: without failed_ids. */
export const listedJobSchema = z.object(listedShape);

export function jobLine(job: {
  job_id: string;
  status: string;
  counts: { total: number; deleted: number; not_found: number; failed: number; pending: number };
}): string {
  const { total, deleted, not_found, failed, pending } = job.counts;
  return `Job ${job.job_id}: ${job.status} — ${deleted} deleted, ${not_found} not found, ${failed} failed, ${pending} pending of ${total}.`;
}
