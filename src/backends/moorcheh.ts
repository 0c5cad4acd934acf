// Moorcheh (documents or vectors of a namespace): one synchronous POST per batch of ≤1000 ids; 207 leaves ids to retry.
import { createHash } from "node:crypto";
import { z } from "zod";
import {
  type FailedOutcome,
  type HttpClient,
  type HttpResponse,
  type RetryOutcome,
  undocumentedAnswer,
} from "./http.js";
import { firstChars, notFound, outsideReadRange } from "./read.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  BatchRequest,
  ReadItem,
  ReadOutcome,
  ReadRequest,
  Target,
} from "./types.js";

export const MOORCHEH_TYPES = ["documents", "vectors"] as const;
export const MOORCHEH_MAX_READ_IDS = 100;

/** The error the ids of a 207's `unprocessed_ids` carry when they are still unprocessed after maxAttempts. */
export const UNPROCESSED_ERROR = "unprocessed by Moorcheh (HTTP 207)";

/** What a 200 or 207 body says, once checked against the request. */
interface DeleteResult {
  deleted: number;
  notFound: number;
  unprocessed: string[];
  remainingItems: number | null;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** Reads a 200/207 body; a string is why it does not match the contract (nothing is then counted). */
function readResult(status: 200 | 207, body: unknown, ids: readonly string[]): DeleteResult | string {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return "the body is not a JSON object";
  const fields = body as Record<string, unknown>;
  const requested = fields.requested_deletions;
  const actual = fields.actual_deletions;
  if (!isCount(requested) || !isCount(actual))
    return "requested_deletions/actual_deletions missing or not counts";
  if (requested !== ids.length) return `requested_deletions is ${requested} for ${ids.length} ids sent`;
  let unprocessed: string[] = [];
  const raw = fields.unprocessed_ids;
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) return "unprocessed_ids is not a list";
    const sent = new Set(ids);
    // Numbers are echoed back as the strings that were sent.
    const named = raw.map((id) => (typeof id === "number" ? String(id) : id));
    if (!named.every((id): id is string => typeof id === "string" && sent.has(id))) {
      return "unprocessed_ids names ids that were not sent";
    }
    unprocessed = [...new Set(named)];
  } else if (status === 207) {
    return "unprocessed_ids missing";
  }
  const notFound = requested - actual - unprocessed.length;
  if (notFound < 0) {
    return `actual_deletions ${actual} plus ${unprocessed.length} unprocessed exceeds the ${requested} requested`;
  }
  const remaining = fields.remaining_items;
  return { deleted: actual, notFound, unprocessed, remainingItems: isCount(remaining) ? remaining : null };
}

/** The meaning of a permanent refusal, appended to the backend's own text. */
const REFUSAL_MEANING: Record<number, string> = {
  401: "API key missing or invalid",
  403: "API key not allowed to do this",
  404: "namespace not found or not yours",
};

function refusalOrRetry(http: HttpClient, response: HttpResponse): RetryOutcome | FailedOutcome {
  const text = http.errorText(response);
  const meaning = REFUSAL_MEANING[response.status];
  return undocumentedAnswer(response, {
    transient: text,
    refusal: () => (meaning ? `${text} (${meaning})` : text),
    // Nothing is known to be deleted, and sending again is safe.
    outside: `${text} (not an answer the Moorcheh contract defines)`,
  });
}

interface Document {
  text: string;
  metadata: unknown;
}

/** A read's 200/207 body as id → document, or why it is outside the contract. */
function readDocuments(body: unknown, ids: readonly string[]): Map<string, Document> | string {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return "the body is not a JSON object";
  const { items, found_items: foundItems } = body as Record<string, unknown>;
  if (!Array.isArray(items)) return "items is not a list";
  if (foundItems !== undefined && foundItems !== items.length)
    return "found_items differs from the items listed";
  const asked = new Set(ids);
  const documents = new Map<string, Document>();
  for (const item of items as unknown[]) {
    if (typeof item !== "object" || item === null) return "an item is not an object";
    const { id: raw, text, metadata } = item as Record<string, unknown>;
    // Numbers are echoed back as the strings that were sent.
    const id = typeof raw === "number" ? String(raw) : raw;
    if (typeof id !== "string" || !asked.has(id)) return "an item names an id that was not asked for";
    if (documents.has(id)) return "an item is listed twice";
    if (typeof text !== "string") return "an item without a string text";
    documents.set(id, { text, metadata: metadata ?? null });
  }
  return documents;
}

/** One asked id: found with the Read section's summary (the text's start) and a digest of text and metadata. */
function documentItem(id: string, document: Document | undefined): ReadItem {
  // Moorcheh deletes permanently: a deleted document is simply absent, never already_deleted.
  if (document === undefined) return notFound(id);
  const version = createHash("sha256")
    .update(JSON.stringify([document.text, document.metadata]))
    .digest("hex")
    .slice(0, 16);
  return { id, state: "found", summary: firstChars(document.text), version };
}

/** POST …/documents/get for up to 100 ids; ids left out of `items` do not exist. */
async function readDocumentIds(http: HttpClient, { target, ids }: ReadRequest): Promise<ReadOutcome> {
  if (target?.type !== "documents")
    return { type: "failed", error: "Moorcheh reads documents only, not vectors" };
  const outside = outsideReadRange("Moorcheh", ids, MOORCHEH_MAX_READ_IDS);
  if (outside) return outside;
  const namespace = String(target.namespace);
  const response = await http.send({
    method: "POST",
    path: `/namespaces/${encodeURIComponent(namespace)}/documents/get`,
    body: { ids },
  });
  if (response.type === "network-error") return { type: "retry", error: response.error };
  if (response.status !== 200 && response.status !== 207) return refusalOrRetry(http, response);
  const documents = readDocuments(response.body, ids);
  if (typeof documents === "string") {
    // As for deletes: an answer outside the contract is asked again (bounded by the caller's attempts).
    return {
      type: "retry",
      error: `HTTP ${response.status} outside the Moorcheh read contract: ${documents}`,
      httpStatus: response.status,
    };
  }
  return {
    type: "read",
    items: ids.map((id) => documentItem(id, documents.get(id))),
    httpStatus: response.status,
  };
}

/** Moorcheh takes no keys beyond the common ones. */
export const moorcheh: BackendKind<Record<never, never>> = {
  kind: "moorcheh",
  description:
    'Deletes documents or vectors of a Moorcheh namespace (target: namespace and type "documents" or "vectors") ' +
    "synchronously and permanently, each batch done when its request returns; ids that did not exist are counted " +
    "as not found and ids Moorcheh leaves unprocessed are retried.",
  targetFields: ["namespace", "type"],
  targetSchema: z.strictObject({ namespace: z.string().min(1), type: z.enum(MOORCHEH_TYPES) }),
  targetInPath: true,
  targetName: (target: Target) => target.namespace as string,
  credentialEnv: "MOORCHEH_API_KEY",
  defaultBaseUrl: "https://api.moorcheh.ai/v1",
  maxBatchSize: 1000,
  defaults: { concurrency: 4, requestsPerSecond: 10 },
  configShape: {},
  // The contract takes any string id (numbers are converted at plan time); only an empty one cannot name an item.
  validateId: (id) => (id.length === 0 ? "must not be empty" : null),
  notes: [
    "Moorcheh deletes synchronously and permanently: there is no undo and no backend job.",
    'Only the target\'s type is touched: deleting "documents" leaves vectors with the same ids, and the reverse.',
    "Moorcheh reports how many ids did not exist, not which: not_found is a count and no not-found id is listed.",
    "Ids Moorcheh answers as unprocessed (HTTP 207) are sent again, up to maxAttempts requests each; those still unprocessed are reported as failed.",
  ],
  // Vectors have no read by id.
  read: { maxIdsPerRequest: MOORCHEH_MAX_READ_IDS, supports: (target) => target?.type === "documents" },
  asyncJobs: false,
  headers: (backend) => ({ "x-api-key": backend.credential }),

  createClient(_backend: BackendConfig<Record<never, never>>, http: HttpClient): BackendClient {
    return {
      async sendBatch({ target, ids }: BatchRequest): Promise<BatchOutcome> {
        const namespace = String(target?.namespace);
        const type = String(target?.type);
        const response = await http.send({
          method: "POST",
          path: `/namespaces/${encodeURIComponent(namespace)}/${encodeURIComponent(type)}/delete`,
          body: { ids },
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        if (response.status !== 200 && response.status !== 207) return refusalOrRetry(http, response);

        const result = readResult(response.status, response.body, ids);
        if (typeof result === "string") {
          // Counting on a body we cannot read could report ids deleted that were not; sending again is safe.
          return {
            type: "retry",
            error: `HTTP ${response.status} outside the Moorcheh contract: ${result}`,
            httpStatus: response.status,
          };
        }
        const reference =
          `requested ${ids.length}, deleted ${result.deleted}, not found ${result.notFound}` +
          (result.unprocessed.length > 0 ? `, unprocessed ${result.unprocessed.length}` : "") +
          (result.remainingItems !== null ? `, remaining_items ${result.remainingItems}` : "");
        return {
          type: "completed",
          deleted: result.deleted,
          notFound: result.notFound,
          failed: [],
          ...(result.unprocessed.length > 0
            ? { retryIds: { ids: result.unprocessed, error: UNPROCESSED_ERROR, countsAsAttempt: true } }
            : {}),
          httpStatus: response.status,
          reference,
        };
      },

      readItems: (request) => readDocumentIds(http, request),
    };
  },
};
