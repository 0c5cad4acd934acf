// The output shape of a job (SPEC §4 get_delete_job), shared by every tool that returns jobs.
import { z } from "zod";

const idError = z.object({ id: z.string(), error: z.string() });

export const jobShape = {
  job_id: z.string(),
  plan_id: z.string(),
  backend: z.string(),
  kind: z.string(),
  target: z.record(z.string(), z.unknown()).nullable(),
  reason: z.string(),
  requested_by: z.string(),
  status: z.enum([
    "queued",
    "running",
    "awaiting_backend",
    "succeeded",
    "partially_failed",
    "failed",
    "cancelled",
  ]),
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
