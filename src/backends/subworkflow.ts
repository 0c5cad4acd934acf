// Subworkflow (datasets): one DELETE per dataset id; a 200 marks the dataset for deletion, the backend purges it later.
import {
  type FailedOutcome,
  type HttpClient,
  type HttpResponse,
  type RetryOutcome,
  retryIfTransient,
} from "./http.js";
import { alreadyDeleted, firstChars, notFound, outsideReadRange } from "./read.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  ReadItem,
  ReadOutcome,
} from "./types.js";

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

/** Any answer but a 200 or a 404 in Subworkflow's envelope: 429/5xx are retried, the rest fail with what they mean. */
function refusalOrRetry(http: HttpClient, response: HttpResponse): RetryOutcome | FailedOutcome {
  const text = http.errorText(response);
  const transient = retryIfTransient(response, text);
  if (transient) return transient;
  const { status } = response;
  // A 404 without the envelope is not Subworkflow's (a proxy, a wrong base URL): not found would hide the mistake.
  const meaning =
    status === 404
      ? " (not Subworkflow's error body: is baseUrl right?)"
      : status === 401
        ? " (the API key is missing, wrong or revoked)"
        : "";
  return { type: "failed", error: `${text}${meaning}`, httpStatus: status };
}

/** The Read section's line: `fileName.fileExt, type, itemCount items, fileSize`, each backend text cut short. */
function datasetSummary(data: Record<string, unknown>): string {
  const text = (value: unknown) => firstChars(String(value));
  const [name, ext] = [String(data.fileName), String(data.fileExt)];
  // Some names already end in their extension: "a.pdf", not "a.pdf.pdf".
  const file = name.endsWith(`.${ext}`) ? text(name) : `${text(name)}.${text(ext)}`;
  return `${file}, ${text(data.type)}, ${text(data.itemCount)} items, ${text(data.fileSize)} bytes`;
}

/** Maps a read's 200: marked (expiresAt ≤ now, with the delete's clock skew) is already deleted, else found. */
function datasetItem(id: string, response: HttpResponse, now: number): ReadItem | string {
  const body = response.body;
  if (!isRecord(body) || body.success !== true || !isRecord(body.data)) {
    return 'without "success": true and data';
  }
  const data = body.data;
  if (data.id !== id) return "for another dataset";
  const { expiresAt, updatedAt } = data;
  if (expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) {
    return "without a numeric or null data.expiresAt";
  }
  // The skew the delete allows: a dataset this delete marked a moment ago reads as marked, not found.
  if (expiresAt !== null && expiresAt <= now + CLOCK_SKEW_MS) return alreadyDeleted(id);
  return {
    id,
    state: "found",
    summary: datasetSummary(data),
    version: typeof updatedAt === "number" ? String(updatedAt) : null,
  };
}

/** GET /v1/datasets/{id}, one dataset per request: 404 with Subworkflow's envelope is not found. */
async function readDataset(http: HttpClient, ids: string[]): Promise<ReadOutcome> {
  const outside = outsideReadRange("Subworkflow", ids, 1);
  if (outside) return outside;
  const id = ids[0] as string;
  const response = await http.send({ method: "GET", path: `/v1/datasets/${encodeURIComponent(id)}` });
  if (response.type === "network-error") return { type: "retry", error: response.error };
  const { status } = response;
  if (status === 200) {
    const item = datasetItem(id, response, Date.now());
    if (typeof item !== "string") return { type: "read", items: [item], httpStatus: 200 };
    // As for deletes: an answer outside the contract is asked again (bounded by the caller's attempts).
    return {
      type: "retry",
      error: `HTTP 200 ${item}: outside the Subworkflow read contract`,
      httpStatus: 200,
    };
  }
  if (status === 404 && isErrorEnvelope(response.body)) {
    return { type: "read", items: [notFound(id)], httpStatus: 404 };
  }
  return refusalOrRetry(http, response);
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
  credentialEnv: "SUBWORKFLOW_API_KEY",
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
  read: { maxIdsPerRequest: 1, supports: () => true },
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
        if (status === 404 && isErrorEnvelope(response.body)) {
          return { type: "completed", deleted: 0, notFound: 1, failed: [], httpStatus: 404 };
        }
        return refusalOrRetry(http, response);
      },

      readItems: ({ ids }) => readDataset(http, ids),
    };
  },
};
