// A stand-in Moorcheh API (delete documents or vectors of a namespace, read documents) that follows shared/backends/moorcheh.md and reports every contract violation.

import { moorcheh } from "../../src/backends/moorcheh.js";
import { bodyList, type DemoPrint, type DemoSection } from "../demo-section.js";
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
import { bodyIds, type KindFixture, type KindSimulator, numbered } from "./fixture.js";

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
   * Above this rate requests (deletes and reads alike, one plan limit) get 429 `{"message":"Too Many Requests"}` (Retry-After only when
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
  /** Route names: "delete" (documents and vectors alike), "read"; unmatched requests use "unmatched". */
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
  /** Replaces the text of a document (adding it when missing), as an edit by someone else would. */
  editDocument(namespace: string, id: string, text: string): void;
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

/** A document as a read answers it. */
export interface MoorchehDocument {
  id: string;
  text: string;
  metadata: Record<string, unknown>;
}

type RouteName = "delete" | "read";

export const MOORCHEH_MAX_IDS = 1000;
export const MOORCHEH_MAX_READ_IDS = 100;
const API_PREFIX = "/v1";
const DELETE_PATH = /^\/v1\/namespaces\/([^/]+)\/(documents|vectors)\/delete$/;
const READ_PATH = /^\/v1\/namespaces\/([^/]+)\/documents\/get$/;

/** Starts the simulator; resolves once it is listening. */
export async function startMoorchehSimulator(opts: MoorchehSimulatorOptions): Promise<MoorchehSimulator> {
  const stores = new Map<string, Record<MoorchehItemType, Set<string>>>();
  const deletedIds = new Map<string, Set<string>>();
  const deletionCounts = new Map<string, Map<string, number>>();
  const receivedIds = new Map<string, Map<string, number>>();
  /** Id → how many more processed requests leave it unprocessed. */
  const unprocessed = new Map<string, number>();
  /** Texts edited by `editDocument`; other documents hold a text made from their id. */
  const edited = new Map<string, string>();

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
    const parsed = parseIds(request, route.name === "read" ? MOORCHEH_MAX_READ_IDS : MOORCHEH_MAX_IDS);
    if (typeof parsed === "string") {
      violate(`${parsed} (400).`);
      return { status: 400, body: { message: parsed } };
    }
    const store = stores.get(namespace);
    // A documented answer, not a contract break: the gate may be asked to delete from a namespace that is gone.
    if (store === undefined) return { status: 404, body: { message: `Namespace '${namespace}' not found` } };
    if (route.name === "read") return read(namespace, store.documents, parsed);
    return remove(namespace, type, store[type], parsed);
  }

  function documentOf(namespace: string, id: string): MoorchehDocument {
    const text =
      edited.get(`${namespace}\u0000${id}`) ??
      `Help-center article ${id}: how to reset a password, step by step, with screenshots for admins.`;
    return { id, text, metadata: { namespace, source: "simulator" } };
  }

  /** The documents that exist among `ids`; a 207 when some do not (they are left out of `items`). */
  function read(namespace: string, documents: Set<string>, ids: string[]): SimReply {
    const items = [...new Set(ids)].filter((id) => documents.has(id)).map((id) => documentOf(namespace, id));
    const missing = new Set(ids).size - items.length;
    return {
      status: missing > 0 ? 207 : 200,
      body: { requested_ids: ids, found_items: items.length, items },
    };
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
    editDocument(namespace, id, text) {
      const store = stores.get(namespace) ?? { documents: new Set<string>(), vectors: new Set<string>() };
      stores.set(namespace, store);
      store.documents.add(id);
      edited.set(`${namespace}\u0000${id}`, text);
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
  const remove = DELETE_PATH.exec(pathname);
  const read = READ_PATH.exec(pathname);
  const match = remove ?? read;
  if (!match) return null;
  try {
    const namespace = decodeURIComponent(match[1] as string);
    return remove
      ? { name: "delete", allowed: ["POST"], params: { namespace, type: match[2] as string } }
      : { name: "read", allowed: ["POST"], params: { namespace, type: "documents" } };
  } catch {
    // A malformed escape cannot name a namespace; treat it as an unknown path rather than a simulator crash.
    return null;
  }
}

/** The ids of a delete or read body (numbers become strings, as Moorcheh converts them), or what is wrong with it. */
function parseIds(request: SimRequest, max: number): string[] | string {
  const mediaType = request.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json")
    return `Content-Type must be application/json, got ${mediaType ?? "none"}`;
  const body = request.body;
  if (!isObject(body)) return 'body must be a JSON object {"ids": [...]}';
  const extra = Object.keys(body).filter((name) => name !== "ids");
  if (extra.length > 0) return `unknown body field(s): ${truncate(extra.join(", "), 200)}`;
  const ids = body.ids;
  if (!Array.isArray(ids)) return "ids must be a list";
  if (ids.length < 1 || ids.length > max) return `ids must contain 1..${max} items, got ${ids.length}`;
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

// ─── The fixture: the kind as the contract test, the reliability suites and the demos use it ─────────────────

function pathOf(request: { path: string }): string {
  return new URL(request.path, "http://simulator").pathname;
}

function view(
  sim: MoorchehSimulator,
  namespace: string,
  type: MoorchehItemType,
): KindSimulator<MoorchehSimulator> {
  return {
    url: sim.url,
    faults: sim.faults,
    requests: sim.requests,
    violations: sim.violations,
    raw: sim,
    deleteIds: (request) => (DELETE_PATH.test(pathOf(request)) ? bodyIds(request, "ids") : null),
    readIds: (request) => (READ_PATH.test(pathOf(request)) ? bodyIds(request, "ids") : null),
    received: () => sim.received(namespace, type),
    deletions: () => sim.deletions(namespace, type),
    close: () => sim.close(),
  };
}

/** What `npm run simulators` and `npm run demo` start with. */
const DEMO = {
  namespace: "kb-support",
  documents: numbered("doc-", 2_000),
  vectors: numbered("vec-", 2_000),
};

// The demo: documents of a namespace; three ids left unprocessed by a 207, retried, then deleted.
function demoSection(sim: KindSimulator<MoorchehSimulator>, print: DemoPrint): DemoSection {
  const { namespace, documents } = DEMO;
  /** Existing documents of the first batch that Moorcheh's first answer leaves unprocessed. */
  const unprocessed = ["doc-0007", "doc-0512", "doc-0900"];
  const isRetry = (request: RecordedRequest) => {
    const ids = bodyList(request.body, "ids");
    return ids.length === unprocessed.length && ids.every((id) => unprocessed.includes(id));
  };
  return {
    title: `moorcheh — documents of namespace ${namespace}; a 207 leaves ids unprocessed, and they are retried`,
    target: { namespace, type: "documents" },
    ids: {
      existing: documents.slice(0, 1200),
      missing: ["doc-9001", "doc-9002", "doc-9003", "doc-9004"],
      duplicates: ["doc-0001", " doc-0010 ", "doc-0100"],
      invalid: ["   "],
      summary: "1200 documents that exist, 4 that do not, 3 repeats, 1 blank",
    },
    reason: "Support ticket #8812: remove the help-center articles retired with the v1 product from search",
    noteKeys: ["not_found is a count", "HTTP 207"],
    authLabel: "x-api-key",
    specialTitle: "HTTP 207 and the retry of the unprocessed ids:",
    annotate(request) {
      if (request.status === 207) {
        const left = bodyList(request.body, "ids").filter((id) => unprocessed.includes(id));
        const settled = bodyList(request.body, "ids").length - left.length;
        return `${left.length} left unprocessed (${left.join(", ")}); the other ${settled} deleted or not found`;
      }
      return isRetry(request) ? "the unprocessed ids, sent again after a backoff — deleted" : "";
    },
    prepare() {
      sim.raw.unprocessNext(unprocessed, 1);
      return `unprocessNext([${unprocessed.join(", ")}], 1): Moorcheh's next request naming them answers HTTP 207 and leaves them unprocessed`;
    },
    showSpecial({ job, batchLines, requests }) {
      const received = sim.raw.received(namespace, "documents");
      const deleted = sim.raw.deleted(namespace, "documents");
      const retried = batchLines.find((entry) => entry.attempts === 2);
      print.detail(
        "ids received twice",
        `${[...received.values()].filter((count) => count === 2).length} (the unprocessed ones)`,
      );
      print.detail(
        "documents deleted by Moorcheh",
        `${deleted.size}; ${unprocessed.filter((id) => deleted.has(id)).length} of the ${unprocessed.length} unprocessed`,
      );
      print.detail(
        `audit line of batch ${retried?.batch ?? "?"}`,
        `completed after ${retried?.attempts ?? "?"} attempts; backend_ref "${retried?.backend_ref ?? ""}"`,
      );
      print.detail(
        "not found",
        `${job.counts.not_found}, a count: Moorcheh says how many ids did not exist, not which (none is listed)`,
      );
      print.check([
        requests.filter((request) => request.status === 207).length !== 1 && "expected exactly one HTTP 207",
        !requests.some(isRetry) && "the unprocessed ids were not sent again",
        unprocessed.some((id) => received.get(id) !== 2 || !deleted.has(id)) &&
          "an unprocessed id was not retried once and deleted",
        retried === undefined && "no audit line shows the batch's second attempt",
        job.failed_ids.length > 0 && "ids failed",
      ]);
    },
  };
}

export const moorchehFixture: KindFixture<MoorchehSimulator> = {
  kind: "moorcheh",
  service: "Moorcheh",
  summary: "documents or vectors of a namespace.",
  credentialEnv: moorcheh.credentialEnv,
  credential: "API key",
  keys: {},
  targets: [
    { namespace: "kb-main", type: "documents" },
    { namespace: "docs", type: "vectors" },
  ],
  allowTargets: ["kb-*", "docs"],
  ids: (count) => Array.from({ length: count }, (_, index) => `doc-${index}`),
  routes: { delete: "delete" },
  // Moorcheh deletes permanently: a deleted document is left out of a read like one that never existed.
  read: { route: "read", afterDelete: "not_found" },
  auth: (secret) => ["x-api-key", secret],
  reportsNotFound: true,
  resendIsNotFound: true,
  async start(options) {
    const sim = await startMoorchehSimulator({
      apiKey: options.secret,
      host: options.host,
      port: options.port,
      namespaces: { "kb-main": { documents: options.items ?? [] }, docs: {} },
    });
    return view(sim, "kb-main", "documents");
  },
  partial: {
    title: "HTTP 207 leaves two ids unprocessed; they are sent again and deleted",
    arm: (sim, ids) => sim.raw.unprocessNext(ids.slice(0, 2), 1),
    expect: { deleted: 4, notFound: 0, failed: 0, requests: 2 },
  },
  hostile: {
    backend: "moorcheh-test",
    ids: ["doc-1", " doc-2", 7, "文档-三", "مستند-٤", "😀", "y".repeat(4096)],
  },
  configFuzz: { backend: "moorcheh.b", entry: { allowTargets: ["kb-*"] }, keys: {} },
  demo: {
    backend: "moorcheh-demo",
    port: 8702,
    portEnv: "MOORCHEH_SIM_PORT",
    secret: "demo-moorcheh-key",
    keys: { allowTargets: ["kb-*"] },
    async start(options) {
      const { namespace, documents, vectors } = DEMO;
      const sim = await startMoorchehSimulator({
        apiKey: options.secret,
        host: options.host,
        port: options.port,
        namespaces: { [namespace]: { documents, vectors } },
      });
      return view(sim, namespace, "documents");
    },
    holds: () =>
      `namespace ${DEMO.namespace}: ${DEMO.documents.length} documents, ${DEMO.vectors.length} vectors`,
    items: `namespace ${DEMO.namespace}, ${DEMO.documents[0]} … ${DEMO.documents.at(-1)} (documents), ${DEMO.vectors[0]} … ${DEMO.vectors.at(-1)} (vectors)`,
    section: demoSection,
  },
};
