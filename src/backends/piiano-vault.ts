// Piiano Vault (objects of a collection): one all-or-nothing bulk DELETE per batch; failing objects are split out and the rest resent.
import { z } from "zod";
import { type HttpClient, type HttpResponse, undocumentedAnswer } from "./http.js";
import { notFound, outsideReadRange } from "./read.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  ReadOutcome,
  ReadRequest,
  Target,
} from "./types.js";

/** The access reasons Vault accepts (Traceability); every request must carry one. */
export const ACCESS_REASONS = [
  "AppFunctionality",
  "Analytics",
  "Notifications",
  "Marketing",
  "ThirdPartyMarketing",
  "FraudPreventionSecurityAndCompliance",
  "AccountManagement",
  "Maintenance",
  "DataSubjectRequest",
  "Other",
] as const;

export type AccessReason = (typeof ACCESS_REASONS)[number];

type PiianoVaultOptions = {
  /** Defaults to Other once loaded; optional because a backend built by hand may omit it. */
  accessReason?: AccessReason;
  tenantId?: string;
};

/** The hard cap of a deployment's PVAULT_SERVICE_MAX_PAGE_SIZE that deletegate accepts as maxBatchSize. */
export const PIIANO_MAX_BATCH_SIZE = 10_000;
/** Vault's default PVAULT_SERVICE_MAX_PAGE_SIZE: the batch size unless the config says otherwise. */
export const PIIANO_DEFAULT_BATCH_SIZE = 1000;

const COLLECTIONS_PATH = "/api/pvlt/1.0/data/collections/";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What Vault's documented error codes mean for the person reading a failed job. */
const ERROR_MEANINGS: Record<string, string> = {
  PV1001: "access reason missing",
  PV1002: "invalid access reason",
  PV1004: "collection not found, or the API key may not access it",
  PV1005: "the API key was rejected",
  PV1007: "the API key may not delete objects in this collection",
  PV1009: "the vault timed out",
};

const STATUS_MEANINGS: Record<number, string> = {
  401: "the API key was rejected",
  403: "the API key may not delete objects in this collection",
  404: "collection not found, or the API key may not access it",
};

interface ObjectError {
  error_code?: string;
  message?: string;
}

interface ObjectResult {
  id: string;
  error: ObjectError | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The bulk answer `{ok, results: [{id, ok, error?}]}`, or why it is outside the contract. */
function parseBulkResult(body: unknown): { ok: boolean; results: ObjectResult[] } | string {
  if (!isRecord(body) || typeof body.ok !== "boolean" || !Array.isArray(body.results)) {
    return "HTTP 200 without a boolean ok and a results list";
  }
  const results: ObjectResult[] = [];
  for (const entry of body.results as unknown[]) {
    if (!isRecord(entry) || typeof entry.id !== "string") return "HTTP 200 with a result entry without an id";
    const error = entry.error;
    if (error !== undefined && error !== null && !isRecord(error)) {
      return `HTTP 200 with a malformed error for object ${entry.id}`;
    }
    results.push({ id: entry.id, error: isRecord(error) ? (error as ObjectError) : null });
  }
  return { ok: body.ok, results };
}

/** "message (PV…)" of one object's error. */
function objectErrorText(http: HttpClient, error: ObjectError): string {
  const message = typeof error.message === "string" && error.message !== "" ? error.message : "failed";
  const code = typeof error.error_code === "string" ? ` (${error.error_code})` : "";
  return http.redact(`${message}${code}`);
}

/** A Vault error answer in words: the HTTP status, Vault's message, its code and what that means. */
function errorAnswer(http: HttpClient, response: HttpResponse): string {
  const body = response.body;
  const code = isRecord(body) && typeof body.error_code === "string" ? body.error_code : undefined;
  const meaning = (code && ERROR_MEANINGS[code]) ?? STATUS_MEANINGS[response.status];
  const extra = [code, meaning].filter(Boolean).join(": ");
  return `${http.errorText(response)}${extra ? ` [${http.redact(extra)}]` : ""}`;
}

/** Maps a 200 bulk answer: all deleted, or nothing deleted and the request split by each object's fate. */
function bulkOutcome(http: HttpClient, ids: string[], body: unknown, reference: string): BatchOutcome {
  const parsed = parseBulkResult(body);
  if (typeof parsed === "string") return { type: "retry", error: parsed, httpStatus: 200 };
  const { ok, results } = parsed;
  // Never count an id the vault did not answer for: a misaligned answer is sent again.
  if (results.length !== ids.length || results.some((result, index) => result.id !== ids[index])) {
    return {
      type: "retry",
      error: `HTTP 200 whose results (${results.length}) do not match the ${ids.length} ids sent, in order`,
      httpStatus: 200,
    };
  }
  if (ok) {
    const flagged = results.find((result) => result.error !== null);
    if (flagged) {
      return {
        type: "retry",
        error: `HTTP 200 with ok: true but an error for object ${flagged.id}`,
        httpStatus: 200,
      };
    }
    return { type: "completed", deleted: ids.length, notFound: 0, failed: [], httpStatus: 200, reference };
  }
  let notFound = 0;
  const failed: { id: string; error: string }[] = [];
  const remaining: string[] = [];
  for (const result of results) {
    if (result.error === null) remaining.push(result.id);
    else if (/not found/i.test(result.error.message ?? "")) notFound++;
    else failed.push({ id: result.id, error: objectErrorText(http, result.error) });
  }
  if (remaining.length === ids.length) {
    // Nothing to split out: resending at once would loop, so this counts as a failed attempt.
    return {
      type: "retry",
      error: "HTTP 200 with ok: false but no object carries an error",
      httpStatus: 200,
    };
  }
  const outcome: BatchOutcome = {
    type: "completed",
    deleted: 0,
    notFound,
    failed,
    httpStatus: 200,
    reference,
  };
  if (remaining.length > 0) {
    outcome.retryIds = {
      ids: remaining,
      error: `resent: the vault deleted nothing because ${ids.length - remaining.length} other object(s) in the request failed (all-or-nothing)`,
      countsAsAttempt: false,
    };
  }
  return outcome;
}

/** The access reason every request carries, and `options=archived` when the target names archived objects. */
function scopeQuery(
  accessReason: AccessReason,
  reason: string,
  target: Target | null,
): Record<string, string> {
  const query: Record<string, string> = { reason: accessReason };
  if (accessReason === "Other") query.adhoc_reason = reason;
  if (target?.archived === true) query.options = "archived";
  return query;
}

/**
 * GET one object with `props=id` (no personal data is read), in the scope its delete would use: an active target
 * reads active objects, an archived one (`options=archived`) archived objects. 404 is not found, and an object
 * outside the target's scope is not found too, as its delete would say; a deleted object is gone, so no read is
 * ever already_deleted. PV1004 (collection not found, or no permission) fails the read.
 */
async function readObject(
  http: HttpClient,
  accessReason: AccessReason,
  { target, ids, reason }: ReadRequest,
): Promise<ReadOutcome> {
  const outside = outsideReadRange("Piiano Vault", ids, 1);
  if (outside) return outside;
  const id = ids[0] as string;
  const collection = String(target?.collection ?? "");
  const response = await http.send({
    method: "GET",
    path: `${COLLECTIONS_PATH}${encodeURIComponent(collection)}/objects/${encodeURIComponent(id)}`,
    query: { ...scopeQuery(accessReason, reason, target), props: "id" },
  });
  if (response.type === "network-error") return { type: "retry", error: response.error };
  const { status, body } = response;
  if (status === 200) {
    if (isRecord(body) && typeof body.id === "string" && body.id.toLowerCase() === id) {
      return { type: "read", items: [{ id, state: "found", summary: null, version: null }], httpStatus: 200 };
    }
    // As for deletes: an answer outside the contract is asked again (bounded by the caller's attempts).
    return {
      type: "retry",
      error: `HTTP 200 without the object ${id}'s id: outside the read contract`,
      httpStatus: 200,
    };
  }
  const code = isRecord(body) ? body.error_code : undefined;
  if (status === 404 && typeof code === "string" && code !== "PV1004") {
    return { type: "read", items: [notFound(id)], httpStatus: 404 };
  }
  // A 404 without Vault's error body is not the vault's (a proxy, a wrong base URL).
  const hint =
    status === 404 && code === undefined
      ? " (not Vault's error body: is baseUrl right?)"
      : status === 403
        ? " (a preview needs the CapDataReader capability)"
        : "";
  return undocumentedAnswer(response, {
    transient: errorAnswer(http, response),
    refusal: () => `${errorAnswer(http, response)}${hint}`,
    outside: `HTTP ${status} is not an answer of the read contract`,
  });
}

export const piianoVault: BackendKind<PiianoVaultOptions> = {
  kind: "piiano-vault",
  description:
    "Deletes objects of a Piiano Vault collection by UUID (target: collection, optional archived) synchronously and " +
    "irreversibly; each request is all-or-nothing, so ids that fail (e.g. not found) are split out and the rest are resent at once.",
  targetFields: ["collection", "archived"],
  targetSchema: z.strictObject({
    collection: z.string().min(1).max(256),
    archived: z.boolean().optional(),
  }),
  targetInPath: true,
  targetName: (target: Target) => target.collection as string,
  credentialEnv: "PIIANO_API_KEY",
  defaultBaseUrl: null,
  maxBatchSize: PIIANO_MAX_BATCH_SIZE,
  defaultBatchSize: PIIANO_DEFAULT_BATCH_SIZE,
  defaults: { concurrency: 4, requestsPerSecond: 10 },
  configShape: {
    accessReason: z.enum(ACCESS_REASONS).default("Other"),
    tenantId: z.string().min(1).optional(),
  },
  // UUIDs are case-insensitive: one canonical spelling, so the same id in two cases is one id.
  normalizeId: (id) => id.toLowerCase(),
  validateId: (id) => (UUID.test(id) ? null : "must be a UUID"),
  notes: [
    "Piiano Vault deletes synchronously and irreversibly: an id counted deleted is gone when its batch completes.",
    "Each bulk request is all-or-nothing: when any object in it fails, the vault deletes none of them; deletegate counts ids the vault reports not found as not found, fails ids with other errors with the vault's message, and resends the rest in a new request.",
    "Only active objects are deleted, unless the target sets archived: true, which deletes only archived objects.",
    "Every request carries the backend's configured access reason; with reason Other, the plan's reason is sent as adhoc_reason.",
  ],
  read: { maxIdsPerRequest: 1, supports: () => true },
  asyncJobs: false,
  headers: (backend) => {
    const tenantId = backend.options.tenantId;
    return {
      authorization: `Bearer ${backend.credential}`,
      ...(typeof tenantId === "string" && tenantId !== "" ? { "x-tenant-id": tenantId } : {}),
    };
  },

  createClient(backend: BackendConfig<PiianoVaultOptions>, http: HttpClient): BackendClient {
    const accessReason = backend.options.accessReason ?? "Other";
    return {
      async sendBatch({ target, ids, reason }): Promise<BatchOutcome> {
        const collection = String(target?.collection ?? "");
        const reference = `reason=${accessReason}${target?.archived === true ? " options=archived" : ""}`;
        const response = await http.send({
          method: "DELETE",
          path: `${COLLECTIONS_PATH}${encodeURIComponent(collection)}/bulk/objects`,
          query: scopeQuery(accessReason, reason, target),
          body: ids.map((id) => ({ id })),
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        if (response.status === 200) return bulkOutcome(http, ids, response.body, reference);
        return undocumentedAnswer(response, {
          transient: errorAnswer(http, response),
          refusal: () => errorAnswer(http, response),
          outside: `HTTP ${response.status} is not an answer of the bulk delete contract`,
        });
      },

      readItems: (request) => readObject(http, accessReason, request),
    };
  },
};
