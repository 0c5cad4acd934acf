// A stand-in Piiano Vault (bulk delete and read of objects) that follows shared/backends/piiano-vault.md and reports every contract violation.

import { piianoVault } from "../../src/backends/piiano-vault.js";
import type { DemoPrint, DemoSection } from "../demo-section.js";
import {
  isObject,
  type RecordedRequest,
  type Route,
  type SimReply,
  type SimRequest,
  type SimulatorServer,
  startSimulatorServer,
  truncate,
} from "./base.js";
import type { FaultInjector } from "./faults.js";
import { demoUuid, type KindFixture, type KindSimulator, TEXT_KEY } from "./fixture.js";

export type { RecordedRequest } from "./base.js";

export interface PiianoVaultCollectionSeed {
  /** Ids of active objects. */
  active?: string[];
  /** Ids of archived objects (deleted only with options=archived). */
  archived?: string[];
}

export interface PiianoVaultSimulatorOptions {
  /** The API key expected as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** When set, every request must carry `X-Tenant-Id` with this value (else 403); when unset any or none is accepted. */
  tenantId?: string;
  /** Collections that exist and the objects they hold; any other collection answers 404 PV1004. */
  collections: Record<string, PiianoVaultCollectionSeed>;
  /** The deployment's PVAULT_SERVICE_MAX_PAGE_SIZE; default 1000. */
  maxPageSize?: number;
  /** Object id → message: these objects fail with that (non-not-found) error whenever a request names them. */
  failIds?: Record<string, string>;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (OS-chosen). */
  port?: number;
  /** Added to every request; default 0. */
  latencyMs?: number;
}

export interface PiianoVaultSimulator {
  /** Base URL, e.g. http://127.0.0.1:54321. */
  url: string;
  /** Route names: "bulk-delete", "read" (GET of one object); unmatched requests use "unmatched". */
  faults: FaultInjector;
  /** Every request received, in order, including rejected ones. */
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  /** Object ids that fail with a non-not-found error (id → message); change it at any time. */
  failIds: Map<string, string>;
  /** Object id → how many bulk requests on this collection answered 200 named it (deleted or not). */
  received(collection: string): Map<string, number>;
  /** Object ids deleted from this collection (active and archived), each at most once. */
  deleted(collection: string): Set<string>;
  /** Object id → how many requests deleted it from this collection (a repeat finds it gone). */
  deletions(collection: string): Map<string, number>;
  /** The objects the collection still holds. */
  objects(collection: string): { active: Set<string>; archived: Set<string> };
  close(): Promise<void>;
}

type RouteName = "bulk-delete" | "read";

export const ACCESS_REASONS = new Set([
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
]);

/** Documented error codes. */
export const PV = {
  reasonMissing: "PV1001",
  reasonInvalid: "PV1002",
  collectionNotFound: "PV1004",
  unauthorized: "PV1005",
  forbidden: "PV1007",
  timeout: "PV1009",
} as const;
/**
 * Codes the contract does not document, chosen by this simulator: a malformed request, and per-object
 * errors (the gate must recognise not-found by the message alone).
 */
export const SIM_CODES = {
  badRequest: "PV1000",
  objectNotFound: "PV3205",
  objectFailed: "PV3299",
} as const;
export const OBJECT_NOT_FOUND_MESSAGE = "The object is not found.";

const PREFIX = "/api/pvlt/1.0/data/collections/";
const SUFFIX = "/bulk/objects";
const OBJECT_PATH = /^\/api\/pvlt\/1\.0\/data\/collections\/([^/]+)\/objects\/([^/]+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The query parameters each route's contract names. */
const QUERY_KEYS: Record<RouteName, Set<string>> = {
  "bulk-delete": new Set(["reason", "adhoc_reason", "options", "reload_cache"]),
  read: new Set(["reason", "adhoc_reason", "options", "props"]),
};

interface VaultError {
  error_code: string;
  message: string;
  context: Record<string, unknown>;
}

interface ObjectResult {
  id: string;
  ok: boolean;
  error?: VaultError;
}

interface Collection {
  active: Set<string>;
  archived: Set<string>;
  deleted: Set<string>;
  deletions: Map<string, number>;
  received: Map<string, number>;
}

function vaultError(code: string, message: string, context: Record<string, unknown> = {}): VaultError {
  return { error_code: code, message, context };
}

/** Vault compares object ids as UUIDs, so case does not matter. */
function key(id: string): string {
  return id.toLowerCase();
}

/** Starts the simulator; resolves once it is listening. */
export async function startPiianoVaultSimulator(
  opts: PiianoVaultSimulatorOptions,
): Promise<PiianoVaultSimulator> {
  const maxPageSize = opts.maxPageSize ?? 1000;
  const failIds = new Map(Object.entries(opts.failIds ?? {}));
  const collections = new Map<string, Collection>();
  for (const [name, seed] of Object.entries(opts.collections)) {
    collections.set(name, {
      active: new Set((seed.active ?? []).map(key)),
      archived: new Set((seed.archived ?? []).map(key)),
      deleted: new Set(),
      deletions: new Map(),
      received: new Map(),
    });
  }

  function reject(
    violate: (message: string) => void,
    status: number,
    code: string,
    message: string,
    context: Record<string, unknown> = {},
  ): SimReply {
    violate(`${message} (${status} ${code}).`);
    return { status, body: vaultError(code, message, context) };
  }

  function handle(
    request: SimRequest,
    route: Route<RouteName>,
    violate: (message: string) => void,
  ): SimReply {
    const authorization = request.header("authorization");
    if (authorization === undefined || !/^bearer /i.test(authorization)) {
      return reject(violate, 401, PV.unauthorized, "The caller is not authenticated: missing bearer token.");
    }
    if (authorization.slice("bearer ".length) !== opts.apiKey) {
      return reject(violate, 401, PV.unauthorized, "The caller is not authenticated: invalid API key.");
    }
    if (opts.tenantId !== undefined) {
      const tenant = request.header("x-tenant-id");
      if (tenant !== opts.tenantId) {
        return reject(
          violate,
          403,
          PV.forbidden,
          `The caller is not allowed to access tenant ${tenant === undefined ? "(none)" : JSON.stringify(tenant)}.`,
        );
      }
    }
    const query = request.url.searchParams;
    for (const name of new Set(query.keys())) {
      if (!QUERY_KEYS[route.name].has(name)) {
        return reject(violate, 400, SIM_CODES.badRequest, `Unknown query parameter ${name}.`);
      }
      if (query.getAll(name).length > 1) {
        return reject(violate, 400, SIM_CODES.badRequest, `Query parameter ${name} is repeated.`);
      }
    }
    const reason = query.get("reason");
    if (reason === null || reason === "") {
      return reject(violate, 400, PV.reasonMissing, "Access reason is missing.");
    }
    if (!ACCESS_REASONS.has(reason)) {
      return reject(violate, 400, PV.reasonInvalid, `Access reason ${JSON.stringify(reason)} is invalid.`);
    }
    const adhoc = query.get("adhoc_reason");
    if (reason === "Other" && (adhoc === null || adhoc.trim() === "")) {
      return reject(
        violate,
        400,
        PV.reasonMissing,
        "Access reason is missing: adhoc_reason is required when reason is Other.",
      );
    }
    const options = query.get("options");
    if (options !== null && options !== "archived") {
      return reject(violate, 400, SIM_CODES.badRequest, `Unsupported options ${JSON.stringify(options)}.`);
    }
    const reload = query.get("reload_cache");
    if (reload !== null && reload !== "true" && reload !== "false") {
      return reject(violate, 400, SIM_CODES.badRequest, "reload_cache must be a boolean.");
    }

    const name = route.params?.collection ?? "";
    const collection = collections.get(name);
    if (collection === undefined) {
      // A documented answer, not a contract break: the collection may be gone or the key may not see it.
      return {
        status: 404,
        body: vaultError(
          PV.collectionNotFound,
          `Collection ${name} is not found or the caller has no permission.`,
          { collection: name },
        ),
      };
    }

    if (route.name === "read") {
      return read(request, collection, route.params?.id ?? "", options === "archived", violate);
    }
    const ids = parseBody(request);
    if (typeof ids === "string") return reject(violate, 400, SIM_CODES.badRequest, ids);
    if (ids.length > maxPageSize) {
      return reject(
        violate,
        400,
        SIM_CODES.badRequest,
        `The number of objects (${ids.length}) exceeds the maximum page size of ${maxPageSize}.`,
        { max_page_size: maxPageSize },
      );
    }
    return bulkDelete(collection, ids, options === "archived");
  }

  /** One object by id with `props=id` only (the gate reads no personal data); 404 unless it is in the scope asked. */
  function read(
    request: SimRequest,
    collection: Collection,
    id: string,
    archived: boolean,
    violate: (message: string) => void,
  ): SimReply {
    const props = request.url.searchParams.get("props");
    if (props !== "id") {
      return reject(
        violate,
        400,
        SIM_CODES.badRequest,
        `props must be "id" for a preview, got ${truncate(JSON.stringify(props), 80)}.`,
      );
    }
    if (request.text !== "") return reject(violate, 400, SIM_CODES.badRequest, "A GET carries no body.");
    if (!UUID.test(id)) {
      return reject(
        violate,
        400,
        SIM_CODES.badRequest,
        `Object id ${truncate(JSON.stringify(id), 80)} is not a UUID.`,
      );
    }
    // As Vault scopes reads: archived objects only with options=archived, active ones only without.
    const pool = archived ? collection.archived : collection.active;
    if (!pool.has(key(id))) {
      return { status: 404, body: vaultError(SIM_CODES.objectNotFound, OBJECT_NOT_FOUND_MESSAGE, { id }) };
    }
    return { status: 200, body: { id: key(id) } };
  }

  /** All-or-nothing: every object deletable → all deleted; else nothing deleted and the failing ones carry an error. */
  function bulkDelete(collection: Collection, ids: string[], archived: boolean): SimReply {
    const pool = archived ? collection.archived : collection.active;
    for (const id of ids) collection.received.set(key(id), (collection.received.get(key(id)) ?? 0) + 1);
    const results: ObjectResult[] = ids.map((id) => {
      const failure = failIds.get(id) ?? failIds.get(key(id));
      if (failure !== undefined) {
        return { id, ok: false, error: vaultError(SIM_CODES.objectFailed, failure, { id }) };
      }
      if (!pool.has(key(id))) {
        return {
          id,
          ok: false,
          error: vaultError(SIM_CODES.objectNotFound, OBJECT_NOT_FOUND_MESSAGE, { id }),
        };
      }
      return { id, ok: true };
    });
    const ok = results.every((result) => result.ok);
    if (ok) {
      for (const id of ids) {
        if (pool.delete(key(id))) {
          collection.deletions.set(key(id), (collection.deletions.get(key(id)) ?? 0) + 1);
        }
        collection.deleted.add(key(id));
      }
    }
    return { status: 200, body: { ok, results } };
  }

  const server: SimulatorServer = await startSimulatorServer<RouteName>(
    {
      service: "Piiano Vault",
      route: matchRoute,
      faultBody,
      errorBody: (message) => vaultError(SIM_CODES.badRequest, message),
      handle,
    },
    { host: opts.host, port: opts.port, latencyMs: opts.latencyMs },
  );

  function collectionOf(name: string): Collection {
    const collection = collections.get(name);
    if (collection === undefined) throw new Error(`simulator: no collection ${name}`);
    return collection;
  }

  return {
    url: server.url,
    faults: server.faults,
    requests: server.requests,
    violations: server.violations,
    failIds,
    received: (name) => new Map(collectionOf(name).received),
    deleted: (name) => new Set(collectionOf(name).deleted),
    deletions: (name) => new Map(collectionOf(name).deletions),
    objects: (name) => {
      const collection = collectionOf(name);
      return { active: new Set(collection.active), archived: new Set(collection.archived) };
    },
    close: () => server.close(),
  };
}

function matchRoute(pathname: string): Route<RouteName> | null {
  const object = OBJECT_PATH.exec(pathname);
  if (object) {
    try {
      return {
        name: "read",
        allowed: ["GET"],
        params: {
          collection: decodeURIComponent(object[1] as string),
          id: decodeURIComponent(object[2] as string),
        },
      };
    } catch {
      // A malformed escape cannot name an object: an unknown path rather than a simulator crash.
      return null;
    }
  }
  if (!pathname.startsWith(PREFIX) || !pathname.endsWith(SUFFIX)) return null;
  const raw = pathname.slice(PREFIX.length, pathname.length - SUFFIX.length);
  if (raw === "" || raw.includes("/")) return null;
  try {
    return { name: "bulk-delete", allowed: ["DELETE"], params: { collection: decodeURIComponent(raw) } };
  } catch {
    // A malformed escape cannot name a collection: an unknown path rather than a simulator crash.
    return null;
  }
}

/** The ids of a `[{"id": "<uuid>"}, …]` body, or what is wrong with it. */
function parseBody(request: SimRequest): string[] | string {
  const mediaType = request.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") return `Content-Type must be application/json, got ${mediaType}.`;
  if (request.text === "") return "The request body is missing.";
  let value: unknown;
  try {
    value = JSON.parse(request.text);
  } catch {
    return "The request body is not valid JSON.";
  }
  if (!Array.isArray(value)) return "The request body must be an array of {id} objects.";
  if (value.length === 0) return "The request body must name at least one object.";
  const ids: string[] = [];
  const seen = new Set<string>();
  for (const [index, entry] of (value as unknown[]).entries()) {
    if (!isObject(entry) || Object.keys(entry).some((field) => field !== "id")) {
      return `Entry ${index} must be an object with only an id.`;
    }
    const id = entry.id;
    if (typeof id !== "string" || !UUID.test(id)) {
      return `Entry ${index}: id ${truncate(JSON.stringify(id) ?? "undefined", 80)} is not a UUID.`;
    }
    if (seen.has(key(id))) return `Entry ${index}: id ${id} is repeated.`;
    seen.add(key(id));
    ids.push(id);
  }
  return ids;
}

/** Injected errors in Vault's error shape; 503 is the documented timeout. */
function faultBody(status: number): VaultError {
  if (status === 503) return vaultError(PV.timeout, "The operation timed out.");
  if (status === 401) return vaultError(PV.unauthorized, "The caller is not authenticated.");
  if (status === 403) return vaultError(PV.forbidden, "The caller is not allowed to perform this operation.");
  if (status === 404) return vaultError(PV.collectionNotFound, "Collection is not found or no permission.");
  return vaultError(SIM_CODES.badRequest, `simulator: injected fault ${status}`);
}

// ─── The fixture: the kind as the contract test, the reliability suites and the demos use it ─────────────────

/** The object ids of a bulk delete body. */
function objectIds(request: { method: string; body: unknown }): string[] | null {
  return request.method === "DELETE" && Array.isArray(request.body)
    ? request.body.map((entry: unknown) => String((entry as { id?: unknown }).id))
    : null;
}

function view(sim: PiianoVaultSimulator, collection: string): KindSimulator<PiianoVaultSimulator> {
  return {
    url: sim.url,
    faults: sim.faults,
    requests: sim.requests,
    violations: sim.violations,
    raw: sim,
    deleteIds: objectIds,
    readIds: (request) => {
      const match = request.method === "GET" ? OBJECT_PATH.exec(request.path.split("?")[0] ?? "") : null;
      return match ? [decodeURIComponent(match[2] as string)] : null;
    },
    received: () => sim.received(collection),
    deletions: () => sim.deletions(collection),
    close: () => sim.close(),
  };
}

/** What `npm run simulators` and `npm run demo` start with. */
const DEMO = {
  collection: "customers",
  active: Array.from({ length: 2_000 }, (_, index) => demoUuid(index + 1)),
  archived: Array.from({ length: 200 }, (_, index) => demoUuid(10_001 + index)),
};
/** The demo's access reason: Other (the default) sends the plan's reason as adhoc_reason. */
const DEMO_ACCESS_REASON = "Other";

// The demo: all-or-nothing bulk delete; the one missing object is split out and the other 999 resent.
function demoSection(sim: KindSimulator<PiianoVaultSimulator>, print: DemoPrint): DemoSection {
  const { collection, active } = DEMO;
  const missing = demoUuid(777_777);
  const idsOf = (request: RecordedRequest) => objectIds(request) ?? [];
  return {
    title: `piiano-vault — objects of collection ${collection}; an all-or-nothing bulk with one missing object`,
    target: { collection },
    ids: {
      existing: active.slice(0, 999),
      missing: [missing],
      duplicates: [(active[0] ?? "").toUpperCase(), active[1] ?? "", active[2] ?? ""],
      invalid: ["cust-00042"],
      summary: "999 objects that exist, 1 that does not, 3 repeats (one in upper case), 1 that is not a UUID",
    },
    reason: "GDPR erasure request #4712: erase the profiles of customers who closed their accounts in 2023",
    noteKeys: ["all-or-nothing", "adhoc_reason"],
    config: { accessReason: DEMO_ACCESS_REASON },
    configLines: [
      `config: accessReason "${DEMO_ACCESS_REASON}" (the default), so the plan's reason is sent as adhoc_reason`,
    ],
    authLabel: "Authorization: Bearer",
    specialTitle: "All-or-nothing, the access reason, and what is left:",
    annotate: (request) =>
      idsOf(request).includes(missing)
        ? `ok: false, the missing object failed "not found", so the vault deleted none of the ${idsOf(request).length}`
        : "ok: true, all deleted (the resend without the missing object)",
    showSpecial({ plan, job, requests }) {
      const [first, resend] = requests;
      const query = new URL(first?.path ?? "/", "http://vault").searchParams;
      const sameQuery = requests.every((request) => request.path.split("?")[1] === first?.path.split("?")[1]);
      print.detail(
        "query of every request",
        `reason=${query.get("reason")}, adhoc_reason="${query.get("adhoc_reason")}"`,
      );
      print.detail(
        "adhoc_reason is the plan's reason",
        query.get("adhoc_reason") === plan.reason ? "yes" : "NO",
      );
      const resent = [...sim.raw.received(collection).values()].filter((count) => count === 2).length;
      print.detail("objects sent twice", `${resent} (the resend)`);
      print.detail(
        "active objects left in the vault",
        `${sim.raw.objects(collection).active.size} of ${active.length}`,
      );
      print.check([
        requests.length !== 2 && `expected 2 requests, the vault received ${requests.length}`,
        resend !== undefined && idsOf(resend).includes(missing) && "the missing object was sent again",
        !sameQuery && "the requests' queries differ",
        query.get("reason") !== DEMO_ACCESS_REASON &&
          `reason is ${query.get("reason")}, not ${DEMO_ACCESS_REASON}`,
        query.get("adhoc_reason") !== plan.reason && "adhoc_reason is not the plan's reason",
        sim.raw.deleted(collection).size !== job.counts.deleted &&
          "the vault's deletions differ from the job's count",
      ]);
    },
  };
}

export const piianoVaultFixture: KindFixture<PiianoVaultSimulator> = {
  kind: "piiano-vault",
  service: "Piiano Vault",
  summary: "objects of a collection, all-or-nothing bulk deletes.",
  credentialEnv: piianoVault.credentialEnv,
  credential: "API key",
  keys: {},
  targets: [{ collection: "customers" }, { collection: "pii-emails", archived: true }],
  allowTargets: ["customers", "pii-*"],
  ids: (count) => Array.from({ length: count }, (_, index) => demoUuid(index)),
  routes: { delete: "bulk-delete" },
  // A deleted object is gone: its read answers 404.
  read: { route: "read", afterDelete: "not_found" },
  auth: (secret) => ["authorization", `Bearer ${secret}`],
  reportsNotFound: true,
  resendIsNotFound: true,
  async start(options) {
    const sim = await startPiianoVaultSimulator({
      apiKey: options.secret,
      host: options.host,
      port: options.port,
      collections: { customers: { active: options.items ?? [] }, "pii-emails": {} },
    });
    return view(sim, "customers");
  },
  partial: {
    title:
      "all-or-nothing: one object fails, the vault deletes none; the failing one is split out, the rest resent",
    arm: (sim, ids) => {
      sim.raw.failIds.set(ids[1] as string, "The object is locked by a legal hold.");
    },
    expect: { deleted: 3, notFound: 0, failed: 1, requests: 2 },
  },
  hostile: {
    backend: "vault-test",
    ids: [
      "0000abcd-0000-4000-8000-00000000000b",
      "0000ABCD-0000-4000-8000-00000000000C",
      "0000abcd-0000-4000-8000-00000000000d",
    ],
  },
  configFuzz: {
    backend: "vault-e",
    entry: { baseUrl: "https://vault.example.com", accessReason: "DataSubjectRequest", maxBatchSize: 500 },
    keys: {
      tenantId: TEXT_KEY,
      accessReason: { good: ["Other", "Maintenance"], bad: ["other", "", "Marketing ", 5, null] },
    },
  },
  demo: {
    backend: "piiano-demo",
    port: 8705,
    portEnv: "PIIANO_SIM_PORT",
    secret: "demo-piiano-key",
    keys: { accessReason: "DataSubjectRequest", allowTargets: [DEMO.collection] },
    async start(options) {
      const sim = await startPiianoVaultSimulator({
        apiKey: options.secret,
        host: options.host,
        port: options.port,
        collections: { [DEMO.collection]: { active: DEMO.active, archived: DEMO.archived } },
      });
      return view(sim, DEMO.collection);
    },
    holds: () =>
      `collection ${DEMO.collection}: ${DEMO.active.length} active, ${DEMO.archived.length} archived objects`,
    items:
      `collection ${DEMO.collection}, objects ${DEMO.active[0]} … ${DEMO.active.at(-1)} (${DEMO.active.length} active), ` +
      `${DEMO.archived[0]} … ${DEMO.archived.at(-1)} (${DEMO.archived.length} archived, target archived: true)`,
    section: demoSection,
  },
};
