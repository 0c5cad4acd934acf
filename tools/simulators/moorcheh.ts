// A stand-in Moorcheh API (delete documents or vectors of a namespace) that follows shared/backends/moorcheh.md and reports every contract violation.
import {
  isObject,
  type RateLimit,
  type RecordedRequest,
  type Route,
  type SimReply,
  type SimRequest,
  type SimulatorServer,
  startSimulatorServer,
  truncate,
} from "./base.js";
import type { FaultInjector } from "./faults.js";

export type { RateLimit, RecordedRequest } from "./base.js";

export type MoorchehItemType = "documents" | "vectors";

export interface MoorchehSimulatorOptions {
  /** Expected value of the x-api-key header. */
  apiKey: string;
  /** Namespaces that exist, with the ids of the items they hold; any other namespace answers 404. */
  namespaces?: Record<string, { documents?: string[]; vectors?: string[] }>;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (OS-chosen). */
  port?: number;
  /** Added to every request; default 0. */
  latencyMs?: number;
  /**
   * Above this rate delete requests get 429 `{"message":"Too Many Requests"}` (Retry-After only when
   * `retryAfterSeconds` is set: the contract says to honour it "if sent") and are not processed.
   */
  rateLimit?: RateLimit;
  /**
   * Default true. False keeps only what each namespace holds (`remaining`): no per-id counts (`received`,
   * `deleted`, `deletions` stay empty) and no request bodies, so a benchmark of a million ids stays small.
   */
  trackIds?: boolean;
}

export interface MoorchehSimulator {
  /** The API base URL, ending in /v1 like https://api.moorcheh.ai/v1, e.g. http://127.0.0.1:54321/v1. */
  url: string;
  /** Route name: "delete" (documents and vectors alike); unmatched requests use "unmatched". */
  faults: FaultInjector;
  /** Every request received, in order, including rejected ones; paths include the /v1 prefix. */
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  /** Id → how many processed (200/207) delete requests for this namespace and type contained it. */
  received(namespace: string, type: MoorchehItemType): Map<string, number>;
  /** Ids deleted from this namespace and type (each at most once). */
  deleted(namespace: string, type: MoorchehItemType): Set<string>;
  /** Id → how many times a request removed it from this namespace and type (a repeat finds it gone). */
  deletions(namespace: string, type: MoorchehItemType): Map<string, number>;
  /** Ids still held by this namespace and type. */
  remaining(namespace: string, type: MoorchehItemType): Set<string>;
  /** How many ids this namespace and type still holds (without copying them). */
  remainingCount(namespace: string, type: MoorchehItemType): number;
  /** Adds items to a namespace (created when missing). */
  addItems(namespace: string, type: MoorchehItemType, ids: Iterable<string>): void;
  /** How many requests the rate limit answered 429. */
  rateLimited(): number;
  /**
   * The next `times` processed requests that contain each of these ids leave it unprocessed (listed in a 207's
   * unprocessed_ids, not deleted); default 1, `Infinity` for every request. Applies to any namespace and type.
   */
  unprocessNext(ids: readonly string[], times?: number): void;
  close(): Promise<void>;
}

/** One processed delete request, as the simulator answered it. */
interface DeleteResponse {
  status: "success" | "partial";
  message: string;
  requested_deletions: number;
  actual_deletions: number;
  remaining_items: number;
  requested_ids: string[];
  unprocessed_ids?: string[];
}

type RouteName = "delete";

export const MOORCHEH_MAX_IDS = 1000;
const API_PREFIX = "/v1";
const DELETE_PATH = /^\/v1\/namespaces\/([^/]+)\/(documents|vectors)\/delete$/;

/** Starts the simulator; resolves once it is listening. */
export async function startMoorchehSimulator(opts: MoorchehSimulatorOptions): Promise<MoorchehSimulator> {
  const stores = new Map<string, Record<MoorchehItemType, Set<string>>>();
  const deletedIds = new Map<string, Set<string>>();
  const deletionCounts = new Map<string, Map<string, number>>();
  const receivedIds = new Map<string, Map<string, number>>();
  /** Id → how many more processed requests leave it unprocessed. */
  const unprocessed = new Map<string, number>();

  for (const [name, items] of Object.entries(opts.namespaces ?? {})) {
    stores.set(name, { documents: new Set(items.documents ?? []), vectors: new Set(items.vectors ?? []) });
  }
  const key = (namespace: string, type: MoorchehItemType) => `${type}\u0000${namespace}`;
  const trackIds = opts.trackIds !== false;

  function handle(
    request: SimRequest,
    route: Route<RouteName>,
    violate: (message: string) => void,
  ): SimReply {
    const apiKey = request.header("x-api-key");
    if (apiKey === undefined || apiKey === "") {
      violate("missing x-api-key header (401).");
      return { status: 401, body: { message: "Missing API key" } };
    }
    if (apiKey !== opts.apiKey) {
      violate("wrong API key (401).");
      return { status: 401, body: { message: "Invalid API key" } };
    }
    const namespace = route.params?.namespace ?? "";
    const type = route.params?.type as MoorchehItemType;
    const parsed = parseIds(request);
    if (typeof parsed === "string") {
      violate(`${parsed} (400).`);
      return { status: 400, body: { message: parsed } };
    }
    const store = stores.get(namespace);
    // A documented answer, not a contract break: the gate may be asked to delete from a namespace that is gone.
    if (store === undefined) return { status: 404, body: { message: `Namespace '${namespace}' not found` } };
    return remove(namespace, type, store[type], parsed);
  }

  function remove(namespace: string, type: MoorchehItemType, items: Set<string>, ids: string[]): SimReply {
    const where = key(namespace, type);
    const received = receivedIds.get(where) ?? new Map<string, number>();
    receivedIds.set(where, received);
    const deleted = deletedIds.get(where) ?? new Set<string>();
    deletedIds.set(where, deleted);
    const deletions = deletionCounts.get(where) ?? new Map<string, number>();
    deletionCounts.set(where, deletions);

    const left: string[] = [];
    let actual = 0;
    // Counted once per request: the question is how many requests asked for the id.
    for (const id of new Set(ids)) {
      if (trackIds) received.set(id, (received.get(id) ?? 0) + 1);
      const times = unprocessed.get(id) ?? 0;
      if (times > 0) {
        if (times === 1) unprocessed.delete(id);
        else unprocessed.set(id, times - 1);
        left.push(id);
        continue;
      }
      if (items.delete(id)) {
        if (trackIds) {
          deleted.add(id);
          deletions.set(id, (deletions.get(id) ?? 0) + 1);
        }
        actual++;
      }
    }
    const counts = `Requested: ${ids.length}, Actually deleted: ${actual}`;
    const body: DeleteResponse =
      left.length === 0
        ? {
            status: "success",
            message: `Successfully processed ${type} deletion. ${counts}`,
            requested_deletions: ids.length,
            actual_deletions: actual,
            remaining_items: items.size,
            requested_ids: ids,
          }
        : {
            status: "partial",
            message: `Partially processed ${type} deletion. ${counts}, Unprocessed: ${left.length}`,
            requested_deletions: ids.length,
            actual_deletions: actual,
            remaining_items: items.size,
            requested_ids: ids,
            unprocessed_ids: left,
          };
    return { status: left.length === 0 ? 200 : 207, body };
  }

  const server: SimulatorServer = await startSimulatorServer<RouteName>(
    {
      service: "Moorcheh",
      route: matchRoute,
      faultBody,
      errorBody: (message) => ({ message }),
      handle,
    },
    {
      host: opts.host,
      port: opts.port,
      latencyMs: opts.latencyMs,
      rateLimit: opts.rateLimit,
      recordBodies: trackIds,
    },
  );

  return {
    url: server.url + API_PREFIX,
    faults: server.faults,
    requests: server.requests,
    violations: server.violations,
    received: (namespace, type) => new Map(receivedIds.get(key(namespace, type)) ?? []),
    deleted: (namespace, type) => new Set(deletedIds.get(key(namespace, type)) ?? []),
    deletions: (namespace, type) => new Map(deletionCounts.get(key(namespace, type)) ?? []),
    remaining: (namespace, type) => new Set(stores.get(namespace)?.[type] ?? []),
    remainingCount: (namespace, type) => stores.get(namespace)?.[type].size ?? 0,
    addItems(namespace, type, ids) {
      const store = stores.get(namespace) ?? { documents: new Set<string>(), vectors: new Set<string>() };
      stores.set(namespace, store);
      for (const id of ids) store[type].add(id);
    },
    rateLimited: () => server.rateLimited(),
    unprocessNext(ids, times = 1) {
      if (!(times > 0)) throw new RangeError(`unprocessNext times must be > 0, got ${times}`);
      for (const id of ids) unprocessed.set(id, (unprocessed.get(id) ?? 0) + times);
    },
    close: () => server.close(),
  };
}

function matchRoute(pathname: string): Route<RouteName> | null {
  const match = DELETE_PATH.exec(pathname);
  if (!match) return null;
  try {
    const namespace = decodeURIComponent(match[1] as string);
    return { name: "delete", allowed: ["POST"], params: { namespace, type: match[2] as string } };
  } catch {
    // A malformed escape cannot name a namespace; treat it as an unknown path rather than a simulator crash.
    return null;
  }
}

/** The ids of a delete body (numbers become strings, as Moorcheh converts them), or what is wrong with it. */
function parseIds(request: SimRequest): string[] | string {
  const mediaType = request.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json")
    return `Content-Type must be application/json, got ${mediaType ?? "none"}`;
  const body = request.body;
  if (!isObject(body)) return 'body must be a JSON object {"ids": [...]}';
  const extra = Object.keys(body).filter((name) => name !== "ids");
  if (extra.length > 0) return `unknown body field(s): ${truncate(extra.join(", "), 200)}`;
  const ids = body.ids;
  if (!Array.isArray(ids)) return "ids must be a list";
  if (ids.length < 1 || ids.length > MOORCHEH_MAX_IDS) {
    return `ids must contain 1..${MOORCHEH_MAX_IDS} items, got ${ids.length}`;
  }
  const out: string[] = [];
  for (const [index, id] of ids.entries()) {
    if (typeof id === "number" && Number.isFinite(id)) out.push(String(id));
    else if (typeof id === "string" && id.length > 0) out.push(id);
    else return `ids[${index}] must be a non-empty string or a number`;
  }
  return out;
}

/** Error bodies are undocumented; the simulator answers `message`, as the gate reads message/detail/error. */
function faultBody(status: number): unknown {
  if (status === 429) return { message: "Too Many Requests" };
  return { message: `simulator: injected fault ${status}` };
}
