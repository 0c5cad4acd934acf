// The adapter interface: everything the gate and the runner need to know about one kind of backend.
import type { z } from "zod";
import type { HttpClient } from "./http.js";

export type Target = Record<string, unknown>;

/** Confirmation modes an operator may configure, for all backends or one (SPEC §5); `auto` resolves per client. */
export const CONFIGURED_MODES = ["token", "human", "approval", "auto"] as const;
export type ConfiguredMode = (typeof CONFIGURED_MODES)[number];

/** How far a preview reads (SPEC §3 `preview`). */
export interface PreviewConfig {
  /** Ids one preview reads at most: above it, a uniform sample of this many. */
  maxChecked: number;
  /** The share of a preview's found ids that may vanish or change before execute refuses the plan as stale. */
  staleShare: number;
}

/** One configured backend with defaults applied and its secret resolved; `Options` are its kind's own keys. */
export interface BackendConfig<Options extends object = Record<string, unknown>> {
  name: string;
  kind: string;
  baseUrl: string;
  credentialEnv: string;
  /** The secret itself. Never log, audit or return it. */
  credential: string;
  allowTargets: string[] | null;
  readOnly: boolean;
  maxItemsPerJob: number;
  maxItemsPerDay: number | null;
  minReasonLength: number;
  batchSize: number;
  concurrency: number;
  requestsPerSecond: number;
  timeoutMs: number;
  maxAttempts: number;
  /** This backend's own confirmation mode; null: `confirmation.mode`. */
  confirmation: ConfiguredMode | null;
  /** The top-level `preview` with this backend's own keys over it. */
  preview: PreviewConfig;
  /** Kind-specific keys (tenantId, accessReason, …), validated by the kind's configShape. */
  options: Options;
}

/** A zod schema per kind-specific config key, each producing the type `Options` gives the key. */
export type ConfigShape<Options extends object> = { [Key in keyof Options]-?: z.ZodType<Options[Key]> };

/** What one request for a batch came to. Adapters return these; they do not throw for backend answers. */
export type BatchOutcome =
  /** The backend finished the batch (synchronous kinds). `retryIds` are ids to send again in a new request. */
  | {
      type: "completed";
      deleted: number;
      notFound: number;
      failed: { id: string; error: string }[];
      retryIds?: { ids: string[]; error: string; countsAsAttempt: boolean };
      httpStatus: number;
      /** What the backend said about the batch worth keeping in the audit line (e.g. an expiry time). */
      reference?: string;
    }
  /** The backend accepted the batch and runs its own job; poll it with `pollJob`. */
  | { type: "accepted"; backendJobId: string; httpStatus: number }
  /** A transient failure: send the same request again after a backoff (at least `retryAfterMs`). */
  | { type: "retry"; error: string; retryAfterMs?: number; httpStatus?: number }
  /** A permanent failure of the whole batch: no retry. */
  | { type: "failed"; error: string; httpStatus?: number };

export type PollOutcome =
  | { type: "running"; status: string }
  | { type: "succeeded"; status: string }
  | { type: "failed"; status: string; error: string }
  | { type: "retry"; error: string; retryAfterMs?: number }
  /** The status cannot be read and never will be (e.g. 401, 404). */
  | { type: "unreadable"; error: string };

export interface BatchRequest {
  target: Target | null;
  ids: string[];
  reason: string;
}

/** What a read found about one id (SPEC §4 `preview`). */
export type ReadState = "found" | "not_found" | "already_deleted";

export interface ReadItem {
  id: string;
  state: ReadState;
  /**
   * One short line about a found item, built as the kind's "Read" section says (never data it says not to read);
   * null when the section names none. Backend text: the gate strips and shortens it before anyone sees it.
   */
  summary: string | null;
  /**
   * What changes when the item changes (a modification time, a size, a digest of the text), so the stale check can
   * tell an item changed since the preview; null when a read tells nothing beyond existence.
   */
  version: string | null;
}

/** What one read request came to. Adapters return these; they do not throw for backend answers. */
export type ReadOutcome =
  /** Exactly one item per id asked (in any order). */
  | { type: "read"; items: ReadItem[]; httpStatus: number }
  /**
   * A transient failure (429, 5xx, network), or an answer outside the contract (as deletes treat one): ask again after
   * a backoff (at least `retryAfterMs`), a bounded number of times.
   */
  | { type: "retry"; error: string; retryAfterMs?: number; httpStatus?: number }
  /** A permanent failure (401, 403, other refusals, a 404 that is not the service's): the preview stops and says so. */
  | { type: "failed"; error: string; httpStatus?: number };

export interface ReadRequest {
  target: Target | null;
  /** 1..`read.maxIdsPerRequest` ids, normalised. */
  ids: string[];
  reason: string;
}

export interface BackendClient {
  sendBatch(request: BatchRequest): Promise<BatchOutcome>;
  /** Kinds whose deletes complete in a backend job of their own. */
  pollJob?(backendJobId: string): Promise<PollOutcome>;
  /** Reads ids without changing anything (preview, stale check); present when the kind has `read`. */
  readItems?(request: ReadRequest): Promise<ReadOutcome>;
}

export interface BackendKind<Options extends object = Record<string, unknown>> {
  kind: string;
  /** One sentence for list_backends: what it deletes and how completion works. */
  description: string;
  /** Target fields, e.g. ["dataset_id"]; empty for kinds without a target. */
  targetFields: string[];
  /** Strict schema of the target object, or null when the kind takes none. */
  targetSchema: z.ZodType<Target> | null;
  /** True when the target name becomes a URL path segment (it must then survive URL parsing unchanged). */
  targetInPath: boolean;
  /** The value allowTargets globs are matched against, or null when allowTargets does not apply. */
  targetName(target: Target): string | null;
  /**
   * The environment variable a config names in `credentialEnv` for this kind's key, by convention: `deletegate init`'s
   * default, the simulators', and the secrets the MCP Bundle and server.json list.
   */
  credentialEnv: string;
  /** The service's public base URL, used when the config gives none; null when every deployment has its own. */
  defaultBaseUrl: string | null;
  /** The hard per-request cap; config may lower it. */
  maxBatchSize: number;
  /** The batch size when the config sets none, if lower than the cap (e.g. a server setting's default). */
  defaultBatchSize?: number;
  defaults: { concurrency: number; requestsPerSecond: number };
  /** Kind-specific config keys (beside the common ones); a backend's `options` hold their values. */
  configShape: ConfigShape<Options>;
  /** The canonical form of an id, so ids the backend treats as equal dedupe (e.g. UUIDs in lower case). */
  normalizeId?(id: string): string;
  /** Why the normalised id breaks the kind's rule, or null when it is valid. */
  validateId(id: string): string | null;
  /** Semantics an agent must know, carried by the plan and the job. */
  notes: string[];
  /**
   * How the kind reads items by id (backends/<kind>.md, "Read"): ids per request, and whether a given target can be
   * read (Moorcheh vectors cannot). Null for kinds with no read API: their preview is `{ supported: false }`.
   */
  read: { maxIdsPerRequest: number; supports(target: Target | null): boolean } | null;
  /** True when the kind completes through backend jobs that must be polled. */
  asyncJobs: boolean;
  /** Headers sent with every request: auth and tenant, built from the resolved config. */
  headers(backend: BackendConfig<Options>): Record<string, string>;
  createClient(backend: BackendConfig<Options>, http: HttpClient): BackendClient;
}
