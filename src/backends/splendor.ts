// Splendor (records of a dataset): one POST per batch of ≤1024 ids, accepted as a backend job that is polled.
import { z } from "zod";
import {
  type HttpClient,
  type HttpResponse,
  isTransientStatus,
  retryAfterMs,
  retryIfTransient,
} from "./http.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  PollOutcome,
  Target,
} from "./types.js";

type SplendorOptions = {
  tenantId: string;
};

interface DeletionJob {
  job_id: string;
  status: string;
  error_message: string | null;
}

function asDeletionJob(body: unknown): DeletionJob | null {
  const job = body as Partial<DeletionJob> | null;
  if (!job || typeof job !== "object" || typeof job.job_id !== "string" || typeof job.status !== "string")
    return null;
  return { job_id: job.job_id, status: job.status, error_message: job.error_message ?? null };
}

function transientOrFailed(http: HttpClient, response: HttpResponse): BatchOutcome {
  const error = http.errorText(response);
  return retryIfTransient(response, error) ?? { type: "failed", error, httpStatus: response.status };
}

export const splendor: BackendKind<SplendorOptions> = {
  kind: "splendor",
  description:
    "Deletes records of a Splendor dataset (target: dataset_id). Each batch is accepted as a backend " +
    "data-deletion job; the delete is complete only when that job succeeds, so a job passes through awaiting_backend.",
  targetFields: ["dataset_id"],
  targetSchema: z.strictObject({ dataset_id: z.string().min(1).max(128) }),
  targetInPath: false,
  targetName: (target: Target) => target.dataset_id as string,
  credentialEnv: "SPLENDOR_TOKEN",
  defaultBaseUrl: "https://api.withsplendor.com",
  maxBatchSize: 1024,
  defaults: { concurrency: 4, requestsPerSecond: 10 },
  configShape: { tenantId: z.string().min(1) },
  // Characters, not UTF-16 units: an emoji counts once, as the backend counts it.
  validateId: (id) => {
    // A string has at least as many UTF-16 units as characters: only a long one needs counting.
    const length = id.length <= 512 ? id.length : [...id].length;
    return length < 1 || length > 512 ? "must be 1..512 characters" : null;
  },
  notes: [
    "Splendor tombstones the records at once and purges indexed and semantic data in a backend job; deletegate polls each job until it is terminal.",
  ],
  read: null,
  asyncJobs: true,
  headers: (backend) => ({
    authorization: `Bearer ${backend.credential}`,
    "x-splendor-tenant-id": backend.options.tenantId,
  }),

  createClient(_backend: BackendConfig<SplendorOptions>, http: HttpClient): BackendClient {
    return {
      async sendBatch({ target, ids, reason }): Promise<BatchOutcome> {
        const response = await http.send({
          method: "POST",
          path: "/v1/records/delete",
          body: { dataset_id: target?.dataset_id, record_ids: ids, reason },
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        if (response.status === 202) {
          const job = asDeletionJob(response.body);
          if (job) return { type: "accepted", backendJobId: job.job_id, httpStatus: 202 };
          // Accepted, but we cannot track it: sending again is safe (deletes are idempotent).
          return { type: "retry", error: "HTTP 202 without a job_id", httpStatus: 202 };
        }
        if (response.status === 404) {
          return {
            type: "failed",
            error: `${http.errorText(response)} (dataset not found)`,
            httpStatus: 404,
          };
        }
        return transientOrFailed(http, response);
      },

      async pollJob(backendJobId: string): Promise<PollOutcome> {
        const response = await http.send({
          method: "GET",
          path: `/v1/admin/data-deletion-jobs/${encodeURIComponent(backendJobId)}`,
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        if (response.status !== 200) {
          const error = http.errorText(response);
          return isTransientStatus(response.status)
            ? { type: "retry", error, retryAfterMs: retryAfterMs(response.headers) }
            : { type: "unreadable", error };
        }
        const job = asDeletionJob(response.body);
        if (!job) return { type: "retry", error: "status response without job_id/status" };
        if (job.status === "succeeded") return { type: "succeeded", status: job.status };
        if (job.status === "failed") {
          return {
            type: "failed",
            status: job.status,
            error: http.redact(job.error_message ?? "backend job failed without a message"),
          };
        }
        if (job.status === "pending" || job.status === "running")
          return { type: "running", status: job.status };
        // Outside the contract: treated as a failed read, so it is retried a bounded number of times, never forever.
        return { type: "retry", error: `backend job ${job.job_id} has an unknown status "${job.status}"` };
      },
    };
  },
};
