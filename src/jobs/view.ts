// Pure derivations from stored batches: a job's counts, its final status, and the view tools return.
import type { Target } from "../backends/types.js";
import type { InvalidId } from "../gate/plan.js";
import type { BatchRecord, JobRecord, JobStatus } from "./store.js";

/** What a job view says about its approval (SPEC §4); null outside approval mode. */
interface ApprovalView {
  url: string;
  required: number;
  approvals: { approver: string; at: string }[];
  rejected: { approver: string; at: string; comment: string } | null;
  expires_at: string;
}

export interface JobCounts {
  total: number;
  deleted: number;
  not_found: number;
  failed: number;
  pending: number;
}

export interface JobView {
  job_id: string;
  plan_id: string;
  backend: string;
  kind: string;
  target: Target | null;
  reason: string;
  requested_by: string;
  status: JobStatus;
  counts: JobCounts;
  batches: { total: number; done: number; failed: number; in_flight: number };
  backend_jobs: { id: string; status: string }[];
  notes: string[];
  failed_ids?: InvalidId[];
  approval: ApprovalView | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** Whether a caller with this owner (null: any) may see a plan or job. */
export function ownedBy(record: { owner?: string | null }, owner: string | null): boolean {
  return owner === null || record.owner === owner;
}

export function countJob(total: number, batches: readonly BatchRecord[]): JobCounts {
  let deleted = 0;
  let notFound = 0;
  let failed = 0;
  for (const batch of batches) {
    deleted += batch.deleted;
    notFound += batch.not_found;
    failed += batch.failed.length;
  }
  return { total, deleted, not_found: notFound, failed, pending: total - deleted - notFound - failed };
}

/**
 * The status of a job whose batches are all settled (SPEC §7 definitions). A job halted because its audit log could
 * not be written ends failed, or partially_failed when some ids were deleted.
 */
export function finalStatus(job: JobRecord, batches: readonly BatchRecord[]): JobStatus {
  if (job.halted) return batches.some((batch) => batch.deleted > 0) ? "partially_failed" : "failed";
  if (job.cancel_requested && batches.some((batch) => batch.status === "cancelled")) return "cancelled";
  const counts = countJob(job.total, batches);
  if (counts.failed === 0) return "succeeded";
  return counts.deleted === 0 ? "failed" : "partially_failed";
}

/** Awaiting approval past its expiry reads as expired at once, before the sweep stores it (SPEC §4). */
function statusAt(job: JobRecord, now: number): JobStatus {
  if (job.status === "awaiting_approval" && job.approval && Date.parse(job.approval.expires_at) <= now)
    return "expired";
  return job.status;
}

export function jobView(
  job: JobRecord,
  batches: readonly BatchRecord[],
  failedPage: { offset: number; limit: number } | null,
  approvalUrl: (jobId: string) => string = () => "",
): JobView {
  const view: JobView = {
    job_id: job.id,
    plan_id: job.plan_id,
    backend: job.backend,
    kind: job.kind,
    target: job.target,
    reason: job.reason,
    requested_by: job.requested_by,
    status: statusAt(job, Date.now()),
    counts: countJob(job.total, batches),
    batches: {
      total: batches.length,
      done: batches.filter((batch) => batch.status === "done").length,
      failed: batches.filter((batch) => batch.status === "failed").length,
      in_flight: batches.filter((batch) => batch.status === "sending" || batch.status === "awaiting_backend")
        .length,
    },
    backend_jobs: batches.flatMap((batch) => (batch.backend_job ? [{ ...batch.backend_job }] : [])),
    notes: job.notes,
    approval: job.approval
      ? {
          url: approvalUrl(job.id),
          required: job.approval.required,
          approvals: job.approval.approvals.map(({ approver, at }) => ({ approver, at })),
          rejected: job.approval.rejected,
          expires_at: job.approval.expires_at,
        }
      : null,
    created_at: job.created_at,
    started_at: job.started_at,
    finished_at: job.finished_at,
  };
  if (failedPage) {
    const failed = batches.flatMap((batch) => batch.failed);
    view.failed_ids = failed.slice(failedPage.offset, failedPage.offset + failedPage.limit);
  }
  return view;
}
