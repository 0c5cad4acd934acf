// Moorcheh (documents or vectors of a namespace): one synchronous POST per batch of ≤1000 ids; 207 leaves ids to retry.
import { z } from "zod";
import { type HttpClient, type HttpResponse, retryIfTransient } from "./http.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  BatchRequest,
  Target,
} from "./types.js";

export const MOORCHEH_TYPES = ["documents", "vectors"] as const;

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

function refusalOrRetry(http: HttpClient, response: HttpResponse): BatchOutcome {
  const text = http.errorText(response);
  const transient = retryIfTransient(response, text);
  if (transient) return transient;
  if (response.status < 400) {
    // A status outside the contract: nothing is known to be deleted, and sending again is safe.
    return {
      type: "retry",
      error: `${text} (not an answer the Moorcheh contract defines)`,
      httpStatus: response.status,
    };
  }
  const meaning = REFUSAL_MEANING[response.status];
  return { type: "failed", error: meaning ? `${text} (${meaning})` : text, httpStatus: response.status };
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
  read: null,
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
    };
  },
};
