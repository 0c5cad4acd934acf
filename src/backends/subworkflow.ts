// Subworkflow (datasets): one DELETE per dataset id; a 200 marks the dataset for deletion, the backend purges it later.
import { type HttpClient, type HttpResponse, retryIfTransient } from "./http.js";
import type { BackendClient, BackendConfig, BackendKind, BatchOutcome } from "./types.js";

/** `ds_` and at least one URL-safe character: nothing that could leave the path segment. */
const DATASET_ID = /^ds_[A-Za-z0-9_-]+$/;

/** How far the backend's clock may run ahead of ours before a fresh `expiresAt` looks like a future expiry. */
export const CLOCK_SKEW_MS = 60_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The envelope every documented Subworkflow error carries: `{"success": false, "error": "..."}`. */
function isErrorEnvelope(body: unknown): boolean {
  return isRecord(body) && body.success === false;
}

/** Maps a 200: deleted only when the body confirms this dataset's expiry is now or past. */
function markedOutcome(id: string, response: HttpResponse, now: number): BatchOutcome {
  const body = response.body;
  const unconfirmed = (why: string): BatchOutcome => ({
    type: "retry",
    error: `HTTP 200 ${why}: Subworkflow did not confirm that ${id} is marked for deletion`,
    httpStatus: 200,
  });
  if (!isRecord(body) || body.success !== true) return unconfirmed('without "success": true');
  const data = body.data;
  if (!isRecord(data)) return unconfirmed("without data");
  if (data.id !== undefined && data.id !== id) return unconfirmed(`for another dataset (${String(data.id)})`);
  const expiresAt = data.expiresAt;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
    return unconfirmed("without a numeric data.expiresAt");
  }
  const iso = new Date(expiresAt).toISOString();
  if (expiresAt > now + CLOCK_SKEW_MS) return unconfirmed(`with data.expiresAt ${iso} in the future`);
  return {
    type: "completed",
    deleted: 1,
    notFound: 0,
    failed: [],
    httpStatus: 200,
    reference: `expiresAt=${iso}`,
  };
}

/** Subworkflow takes no keys beyond the common ones. */
export const subworkflow: BackendKind<Record<never, never>> = {
  kind: "subworkflow",
  description:
    "Deletes Subworkflow datasets by dataset id (ds_…, no target), one request per dataset: a dataset counts as " +
    "deleted once Subworkflow marks it for deletion (immediate expiry), and Subworkflow's own background job " +
    "purges its records, binaries and vectors later, twice a day.",
  targetFields: [],
  targetSchema: null,
  targetInPath: false,
  targetName: () => null,
  defaultBaseUrl: "https://api.subworkflow.ai",
  maxBatchSize: 1,
  // The Starter plan allows 60 writes a minute: one request at a time, one a second.
  defaults: { concurrency: 1, requestsPerSecond: 1 },
  configShape: {},
  validateId: (id) => (DATASET_ID.test(id) ? null : "must be a Subworkflow dataset id (ds_…)"),
  notes: [
    "Subworkflow marks each dataset for deletion at once (its expiresAt becomes now) and deletegate reports it deleted then; " +
      "the dataset's records, binaries and vectors are hard-deleted by Subworkflow's background purge, which runs on " +
      "Subworkflow's schedule (twice a day), so they can remain on the backend for up to about 12 hours.",
    "Each dataset's expiresAt is recorded in the audit log (backend_ref of its batch.completed line).",
    "One request per dataset, paced by requestsPerSecond (default 1 a second, the Starter plan's write limit): " +
      "a thousand datasets take about 17 minutes.",
  ],
  read: null,
  asyncJobs: false,
  headers: (backend) => ({ "x-api-key": backend.credential }),

  createClient(_backend: BackendConfig<Record<never, never>>, http: HttpClient): BackendClient {
    return {
      async sendBatch({ ids }): Promise<BatchOutcome> {
        const [id] = ids;
        if (id === undefined || ids.length !== 1) {
          return { type: "failed", error: `Subworkflow deletes one dataset per request, got ${ids.length}` };
        }
        const response = await http.send({
          method: "DELETE",
          path: `/v1/datasets/${encodeURIComponent(id)}`,
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        const { status } = response;
        if (status === 200) return markedOutcome(id, response, Date.now());
        if (status === 404) {
          if (isErrorEnvelope(response.body)) {
            return { type: "completed", deleted: 0, notFound: 1, failed: [], httpStatus: 404 };
          }
          // Not Subworkflow's answer (e.g. a proxy or a wrong base URL): counting it as not found would hide the mistake.
          return {
            type: "failed",
            error: `${http.errorText(response)} (not Subworkflow's error body: is baseUrl right?)`,
            httpStatus: 404,
          };
        }
        if (status === 400) return { type: "failed", error: http.errorText(response), httpStatus: 400 };
        if (status === 401) {
          return {
            type: "failed",
            error: `${http.errorText(response)} (the API key is missing, wrong or revoked)`,
            httpStatus: 401,
          };
        }
        return (
          retryIfTransient(response, http.errorText(response)) ?? {
            type: "failed",
            error: http.errorText(response),
            httpStatus: status,
          }
        );
      },
    };
  },
};
