// LangSmith (dataset examples, hard delete): one synchronous POST per batch of ≤1000 UUIDs; the answer's count is what was deleted.
import { z } from "zod";
import {
  type FailedOutcome,
  type HttpClient,
  type HttpResponse,
  type RetryOutcome,
  undocumentedAnswer,
} from "./http.js";
import { alreadyDeleted, firstChars, notFound, outsideReadRange } from "./read.js";
import type {
  BackendClient,
  BackendConfig,
  BackendKind,
  BatchOutcome,
  ReadItem,
  ReadOutcome,
  ReadRequest,
} from "./types.js";

type LangsmithOptions = {
  /** The workspace an org-scoped key acts in. */
  tenantId?: string;
};

export const LANGSMITH_DELETE_PATH = "/v1/platform/datasets/examples/delete";
export const LANGSMITH_READ_PATH = "/api/v1/examples";
export const LANGSMITH_MAX_READ_IDS = 100;

// Any version, canonical 8-4-4-4-12 form; LangSmith accepts upper or lower case hex.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a documented refusal means for the operator, beside LangSmith's own text. */
const MEANINGS: Record<number, string> = {
  401: "the API key is missing, wrong or revoked",
  403: "the API key may not act in this workspace; an org-scoped key needs tenantId",
  404: "LangSmith found no such resource; check baseUrl and tenantId",
};

const MAX_DETAILS_CHARS = 300;

/** The envelope's `error` (through errorText, which redacts), its optional `details`, and what the status means. */
function refusal(http: HttpClient, response: HttpResponse): string {
  let text = http.errorText(response);
  const body = response.body as { details?: unknown } | null;
  if (body && typeof body === "object" && typeof body.details === "string" && body.details.length > 0) {
    // Redact before cutting: a secret straddling the cut would otherwise survive in part.
    const details = http.redact(body.details);
    text += ` (details: ${details.length > MAX_DETAILS_CHARS ? `${details.slice(0, MAX_DETAILS_CHARS)}…` : details})`;
  }
  const meaning = MEANINGS[response.status];
  return meaning ? `${text} — ${meaning}` : text;
}

/**
 * Any answer but the one the request's contract documents: 429/5xx are sent again, other 4xx are refusals, and
 * 1xx/2xx/3xx outside the contract confirm nothing, so they are asked again (bounded by maxAttempts).
 */
function otherAnswer(
  http: HttpClient,
  response: HttpResponse,
  contract: string,
): RetryOutcome | FailedOutcome {
  const text = http.errorText(response);
  return undocumentedAnswer(response, {
    transient: text,
    refusal: () => refusal(http, response),
    outside: `${text} (not an answer the ${contract} documents)`,
  });
}

/** The 200 body's `count` when the body has the documented shape and the count fits the batch, else null. */
function confirmedCount(body: unknown, batchSize: number): number | null {
  if (!body || typeof body !== "object" || Array.isArray(body)) return null;
  const { count, example_ids: exampleIds } = body as { count?: unknown; example_ids?: unknown };
  if (!Number.isInteger(count) || !Array.isArray(exampleIds)) return null;
  const value = count as number;
  return value >= 0 && value <= batchSize ? value : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A read's 200 body as example (lower-case id) → example, or why it is outside the contract. */
function readExamples(body: unknown, ids: readonly string[]): Map<string, Record<string, unknown>> | string {
  if (!Array.isArray(body)) return "the body is not a JSON array";
  const asked = new Set(ids);
  const examples = new Map<string, Record<string, unknown>>();
  for (const entry of body as unknown[]) {
    if (!isRecord(entry) || typeof entry.id !== "string") return "an entry without a string id";
    if (typeof entry.dataset_id !== "string" || !("inputs" in entry)) {
      return "an example without a string dataset_id and inputs";
    }
    const id = entry.id.toLowerCase();
    if (!asked.has(id)) return "an example that was not asked for";
    if (examples.has(id)) return "an example listed twice";
    examples.set(id, entry);
  }
  return examples;
}

/** One asked id as the read's examples describe it (the Read section's summary: dataset id and inputs). */
function exampleItem(id: string, example: Record<string, unknown> | undefined): ReadItem {
  if (example === undefined) return notFound(id);
  // A hard delete keeps the example's id and nulls its inputs and outputs.
  if (example.inputs === null && example.outputs === null) return alreadyDeleted(id);
  const inputs = JSON.stringify(example.inputs) ?? "null";
  return {
    id,
    state: "found",
    summary: `dataset ${firstChars(String(example.dataset_id))}: ${firstChars(inputs)}`,
    version: typeof example.modified_at === "string" ? example.modified_at : null,
  };
}

/** GET /api/v1/examples with one `id` parameter per asked id; ids the answer leaves out do not exist. */
async function readExampleIds(http: HttpClient, ids: string[]): Promise<ReadOutcome> {
  const outside = outsideReadRange("LangSmith", ids, LANGSMITH_MAX_READ_IDS);
  if (outside) return outside;
  const response = await http.send({ method: "GET", path: LANGSMITH_READ_PATH, query: { id: ids } });
  if (response.type === "network-error") return { type: "retry", error: response.error };
  if (response.status === 200) {
    const examples = readExamples(response.body, ids);
    // As for deletes: an answer outside the contract is asked again (bounded by the caller's attempts).
    if (typeof examples === "string") {
      return {
        type: "retry",
        error: `HTTP 200 outside the LangSmith read contract: ${examples}`,
        httpStatus: 200,
      };
    }
    return { type: "read", items: ids.map((id) => exampleItem(id, examples.get(id))), httpStatus: 200 };
  }
  return otherAnswer(http, response, "LangSmith read contract");
}

export const langsmith: BackendKind<LangsmithOptions> = {
  kind: "langsmith",
  description:
    "Hard-deletes LangSmith dataset examples by example id (UUIDs, no target); each batch of up to 1000 ids is " +
    "one synchronous request, and ids LangSmith reports as not deleted (unknown or already deleted) count as not found.",
  targetFields: [],
  targetSchema: null,
  targetInPath: false,
  targetName: () => null,
  credentialEnv: "LANGSMITH_API_KEY",
  defaultBaseUrl: "https://api.smith.langchain.com",
  maxBatchSize: 1000,
  defaults: { concurrency: 4, requestsPerSecond: 10 },
  configShape: { tenantId: z.string().min(1).optional() },
  // UUIDs are case-insensitive: one canonical spelling, so the same id in two cases is one id.
  normalizeId: (id) => id.toLowerCase(),
  validateId: (id) => (UUID.test(id) ? null : "must be a UUID"),
  notes: [
    "LangSmith hard delete removes every version of each example: inputs, outputs and metadata are nulled at once, but attachment files can take up to 7 days to be deleted.",
    "The example id, dataset id and creation time are kept; ids LangSmith did not delete (unknown, already deleted or in another workspace) are counted as not found.",
  ],
  read: { maxIdsPerRequest: LANGSMITH_MAX_READ_IDS, supports: () => true },
  asyncJobs: false,
  headers: (backend: BackendConfig<LangsmithOptions>) => {
    const tenantId = backend.options.tenantId;
    return {
      "x-api-key": backend.credential,
      // Without it LangSmith acts in the key's home workspace, so it is sent only when configured.
      ...(typeof tenantId === "string" && tenantId.length > 0 ? { "x-tenant-id": tenantId } : {}),
    };
  },

  createClient(_backend: BackendConfig<LangsmithOptions>, http: HttpClient): BackendClient {
    return {
      async sendBatch({ ids }): Promise<BatchOutcome> {
        const response = await http.send({
          method: "POST",
          path: LANGSMITH_DELETE_PATH,
          body: { example_ids: ids, hard_delete: true },
        });
        if (response.type === "network-error") return { type: "retry", error: response.error };
        if (response.status === 200) {
          const count = confirmedCount(response.body, ids.length);
          if (count === null) {
            // Nothing confirmed: sending again is safe (a repeat counts already-deleted ids as not found).
            return {
              type: "retry",
              error: `HTTP 200 without an integer count between 0 and ${ids.length} and an example_ids list`,
              httpStatus: 200,
            };
          }
          return {
            type: "completed",
            deleted: count,
            notFound: ids.length - count,
            failed: [],
            httpStatus: 200,
          };
        }
        return otherAnswer(http, response, "LangSmith contract");
      },

      readItems: ({ ids }: ReadRequest) => readExampleIds(http, ids),
    };
  },
};
