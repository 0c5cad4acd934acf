// A stand-in LangSmith API (hard delete and read of dataset examples) that follows shared/backends/langsmith.md and reports every contract violation.

import { langsmith } from "../../src/backends/langsmith.js";
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
import { bodyIds, demoUuid, type KindFixture, type KindSimulator, TEXT_KEY } from "./fixture.js";

export type { RecordedRequest } from "./base.js";

export const LANGSMITH_DELETE_PATH = "/v1/platform/datasets/examples/delete";
export const LANGSMITH_MAX_IDS = 1000;
export const LANGSMITH_READ_PATH = "/api/v1/examples";
export const LANGSMITH_MAX_READ_IDS = 100;
/** The dataset every simulated example belongs to. */
export const LANGSMITH_DATASET_ID = "d5e7a1c0-3b2f-4c6d-9e8f-0a1b2c3d4e5f";

export interface LangsmithSimulatorOptions {
  /** Expected X-API-Key. */
  apiKey: string;
  /**
   * The workspace the key is scoped to (an org-scoped key): when set, a request without X-Tenant-Id or with
   * another one gets 403. When omitted the key acts in its home workspace and X-Tenant-Id is not checked.
   */
  tenantId?: string;
  /** Example ids (UUIDs, any case) that exist; omitted means every UUID exists until it is deleted once. */
  examples?: string[];
  /** Examples hard-deleted before the simulator started: they exist with null inputs and outputs. */
  hardDeleted?: string[];
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (OS-chosen). */
  port?: number;
  /** Added to every request; default 0. */
  latencyMs?: number;
}

export interface LangsmithSimulator {
  /** Base URL, e.g. http://127.0.0.1:54321. */
  url: string;
  /** Route names: "delete", "read"; unmatched requests use "unmatched". */
  faults: FaultInjector;
  /** Every request received, in order, including rejected ones. */
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  /** Example id (lower case) → how many accepted (200) delete requests contained it. */
  received(): Map<string, number>;
  /** Example ids (lower case) hard-deleted so far; each at most once. */
  deleted(): Set<string>;
  /** Example id (lower case) → how many requests hard-deleted it (a repeat finds it already deleted). */
  deletions(): Map<string, number>;
  /** Makes more examples exist (ignored when every UUID exists). */
  addExamples(ids: string[]): void;
  /** The example as a read answers it now, or undefined when it does not exist. */
  example(id: string): LangsmithExample | undefined;
  close(): Promise<void>;
}

type RouteName = "delete" | "read";

/** An example as the read answers it; a hard delete nulls inputs, outputs and metadata and keeps the rest. */
export interface LangsmithExample {
  id: string;
  dataset_id: string;
  inputs: Record<string, unknown> | null;
  outputs: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
  created_at: string;
  modified_at: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const API_KEY_HEADER = "x-api-key";
const TENANT_HEADER = "x-tenant-id";

/** The documented error envelope; `details` is an optional JSON string. */
interface ErrorEnvelope {
  error: string;
  details?: string;
}

/** Starts the simulator; resolves once it is listening. */
export async function startLangsmithSimulator(opts: LangsmithSimulatorOptions): Promise<LangsmithSimulator> {
  const existing = opts.examples === undefined ? undefined : new Set(opts.examples.map(canonical));
  const deleted = new Set<string>();
  const received = new Map<string, number>();
  const deletions = new Map<string, number>();
  /** When each hard-deleted example was deleted (its modified_at from then on). */
  const deletedAt = new Map<string, number>();
  const createdAt = new Date(Date.now() - 86_400_000).toISOString();
  for (const id of (opts.hardDeleted ?? []).map(canonical)) {
    existing?.add(id);
    deleted.add(id);
    deletedAt.set(id, Date.now() - 3_600_000);
  }

  function example(id: string): LangsmithExample | undefined {
    if (existing !== undefined && !existing.has(id)) return undefined;
    const gone = deletedAt.get(id);
    if (gone !== undefined) {
      const at = new Date(gone).toISOString();
      return {
        id,
        dataset_id: LANGSMITH_DATASET_ID,
        inputs: null,
        outputs: null,
        metadata: null,
        created_at: createdAt,
        modified_at: at,
      };
    }
    return {
      id,
      dataset_id: LANGSMITH_DATASET_ID,
      inputs: {
        question: `Which refund rules apply to order ${id}, shipped abroad and returned after 30 days?`,
      },
      outputs: { answer: "A store credit, minus the return shipping." },
      metadata: { source: "simulator" },
      created_at: createdAt,
      modified_at: createdAt,
    };
  }

  function handle(
    request: SimRequest,
    route: Route<RouteName>,
    violate: (message: string) => void,
  ): SimReply {
    return (
      refuseAccess(request, violate) ??
      (route.name === "read" ? read(request, violate) : hardDelete(request, violate))
    );
  }

  /** The 401/403 the key and workspace headers earn, or undefined when they are right. */
  function refuseAccess(request: SimRequest, violate: (message: string) => void): SimReply | undefined {
    const apiKey = request.header(API_KEY_HEADER);
    if (apiKey === undefined || apiKey === "") {
      violate("missing X-API-Key header (401).");
      return reply(401, { error: "Unauthorized: missing X-API-Key header" });
    }
    if (apiKey !== opts.apiKey) {
      violate("wrong API key (401).");
      return reply(401, { error: "Unauthorized: invalid API key" });
    }
    if (opts.tenantId !== undefined) {
      const tenant = request.header(TENANT_HEADER);
      if (tenant === undefined || tenant === "") {
        violate("missing X-Tenant-Id header for an org-scoped key (403).");
        return reply(403, {
          error: "Invalid request: this API key is org-scoped; set the X-Tenant-Id header to a workspace id",
        });
      }
      if (tenant !== opts.tenantId) {
        violate(`workspace "${truncate(tenant, 100)}" is not accessible with this key (403).`);
        return reply(403, {
          error: "Invalid request: this API key cannot access the requested workspace",
          details: JSON.stringify({ tenant_id: truncate(tenant, 100) }),
        });
      }
    }
    return undefined;
  }

  function read(request: SimRequest, violate: (message: string) => void): SimReply {
    const ids = parseReadQuery(request);
    if (typeof ids === "string") {
      violate(`invalid read (422): ${truncate(ids, 300)}`);
      return reply(422, { error: `Invalid request: ${ids}` });
    }
    const found = [...new Set(ids.map(canonical))].map(example).filter((entry) => entry !== undefined);
    return { status: 200, body: found };
  }

  function hardDelete(request: SimRequest, violate: (message: string) => void): SimReply {
    const parsed = parseDeleteBody(request.text);
    if ("problem" in parsed) {
      violate(`invalid delete body (422): ${truncate(parsed.problem, 300)}`);
      return reply(422, { error: `Invalid request: ${parsed.problem}` });
    }
    const deletedNow: string[] = [];
    // Counted once per request, however often the request names the id.
    for (const id of new Set(parsed.ids.map(canonical))) {
      received.set(id, (received.get(id) ?? 0) + 1);
      if (deleted.has(id) || (existing !== undefined && !existing.has(id))) continue;
      deleted.add(id);
      deletedAt.set(id, Date.now());
      deletions.set(id, (deletions.get(id) ?? 0) + 1);
      deletedNow.push(id);
    }
    return { status: 200, body: { count: deletedNow.length, example_ids: deletedNow } };
  }

  const server: SimulatorServer = await startSimulatorServer<RouteName>(
    {
      service: "LangSmith",
      route: (pathname) =>
        pathname === LANGSMITH_DELETE_PATH
          ? { name: "delete", allowed: ["POST"] }
          : pathname === LANGSMITH_READ_PATH
            ? { name: "read", allowed: ["GET"] }
            : null,
      faultBody,
      errorBody: (message) => ({ error: message }),
      handle,
    },
    { host: opts.host, port: opts.port, latencyMs: opts.latencyMs },
  );

  return {
    url: server.url,
    faults: server.faults,
    requests: server.requests,
    violations: server.violations,
    received: () => new Map(received),
    deleted: () => new Set(deleted),
    deletions: () => new Map(deletions),
    addExamples(ids: string[]): void {
      for (const id of ids) existing?.add(canonical(id));
    },
    example: (id) => example(canonical(id)),
    close: () => server.close(),
  };
}

function reply(status: number, body: ErrorEnvelope): SimReply {
  return { status, body };
}

/** UUIDs compare case-insensitively; the simulator answers in lower case, as a UUID type prints. */
function canonical(id: string): string {
  return id.toLowerCase();
}

/** Validates the body against the contract, naming the first problem. */
function parseDeleteBody(text: string): { ids: string[] } | { problem: string } {
  if (text === "") return { problem: "request body is required" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "request body is not valid JSON" };
  }
  if (!isObject(value)) return { problem: "request body must be a JSON object" };
  const extra = Object.keys(value).filter((key) => key !== "example_ids" && key !== "hard_delete");
  if (extra.length > 0) return { problem: `unknown field(s): ${extra.join(", ")}` };
  if (value.hard_delete !== true) {
    return {
      problem:
        value.hard_delete === undefined
          ? "hard_delete is required"
          : `hard_delete must be true, got ${truncate(JSON.stringify(value.hard_delete), 50)}`,
    };
  }
  const ids = value.example_ids;
  if (ids === undefined) return { problem: "example_ids is required" };
  if (!Array.isArray(ids)) return { problem: "example_ids must be a list" };
  if (ids.length === 0) return { problem: "example_ids must contain at least 1 item" };
  if (ids.length > LANGSMITH_MAX_IDS) {
    return { problem: `example_ids must contain at most ${LANGSMITH_MAX_IDS} items, got ${ids.length}` };
  }
  const items: unknown[] = ids;
  const bad = items.findIndex((id) => typeof id !== "string" || !UUID.test(id));
  if (bad !== -1) {
    return {
      problem: `example_ids[${bad}] is not a valid UUID: ${truncate(JSON.stringify(items[bad]), 80)}`,
    };
  }
  return { ids: items as string[] };
}

/** The read's `id` parameters (1..100 UUIDs, nothing else, no body), or what is wrong with the request. */
function parseReadQuery(request: SimRequest): string[] | string {
  if (request.text !== "") return "a GET carries no body";
  const query = request.url.searchParams;
  const extra = [...new Set(query.keys())].filter((name) => name !== "id");
  if (extra.length > 0) return `query parameter(s) outside the read contract: ${extra.join(", ")}`;
  const ids = query.getAll("id");
  // Without ids LangSmith would list the workspace's examples: never a read by id.
  if (ids.length === 0) return "at least one id parameter is required";
  if (ids.length > LANGSMITH_MAX_READ_IDS) {
    return `at most ${LANGSMITH_MAX_READ_IDS} id parameters, got ${ids.length}`;
  }
  const bad = ids.find((id) => !UUID.test(id));
  if (bad !== undefined) return `id ${truncate(JSON.stringify(bad), 80)} is not a valid UUID`;
  return ids;
}

/** Injected faults answer with the documented envelope; client errors carry the "Invalid request" prefix. */
function faultBody(status: number): ErrorEnvelope {
  if (status === 429) return { error: "Too many requests: rate limit exceeded, retry later" };
  if (status >= 500) return { error: `Internal server error (simulator: injected fault ${status})` };
  if (status === 401) return { error: "Unauthorized: invalid API key" };
  return { error: `Invalid request: simulator: injected fault ${status}` };
}

// ─── The fixture: the kind as the contract test, the reliability suites and the demos use it ─────────────────

function view(sim: LangsmithSimulator): KindSimulator<LangsmithSimulator> {
  return {
    url: sim.url,
    faults: sim.faults,
    requests: sim.requests,
    violations: sim.violations,
    raw: sim,
    deleteIds: (request) => bodyIds(request, "example_ids"),
    readIds: (request) => {
      const url = new URL(request.path, "http://simulator");
      return url.pathname === LANGSMITH_READ_PATH ? url.searchParams.getAll("id") : null;
    },
    received: () => sim.received(),
    deletions: () => sim.deletions(),
    close: () => sim.close(),
  };
}

/** What `npm run simulators` and `npm run demo` start with. */
const DEMO_EXAMPLES = Array.from({ length: 2_000 }, (_, index) => demoUuid(index + 1));

// The demo: hard delete by example UUID, no target; LangSmith's count says how many were deleted.
function demoSection(sim: KindSimulator<LangsmithSimulator>, print: DemoPrint): DemoSection {
  const examples = DEMO_EXAMPLES;
  return {
    title: "langsmith — hard delete of dataset examples by UUID (no target)",
    ids: {
      existing: examples.slice(0, 1200),
      missing: [demoUuid(9_001), demoUuid(9_002), demoUuid(9_003)],
      duplicates: [(examples[0] ?? "").toUpperCase(), examples[1] ?? "", examples[2] ?? ""],
      invalid: ["example-1042"],
      summary:
        "1200 examples that exist, 3 UUIDs that do not, 3 repeats (one in upper case), 1 that is not a UUID",
    },
    reason: "Dataset hygiene DH-57: remove evaluation examples that contain customer PII",
    noteKeys: ["7 days"],
    authLabel: "X-API-Key",
    specialTitle: "LangSmith's count, batch by batch (a count lower than the batch means not found):",
    showSpecial({ job, batchLines, requests }) {
      const uncounted: number[] = [];
      for (const entry of batchLines) {
        const sent = entry.ids?.length ?? 0;
        const deleted = entry.counts?.deleted ?? 0;
        const notFound = entry.counts?.not_found ?? 0;
        if (deleted + notFound !== sent) uncounted.push(entry.batch ?? -1);
        print.line(
          `audit batch ${entry.batch}: ${sent} ids sent, LangSmith's count ${deleted} → ${deleted} deleted, ${notFound} not found`,
          5,
        );
      }
      const hard = requests.filter(
        (request) => (request.body as { hard_delete?: unknown } | undefined)?.hard_delete === true,
      );
      print.detail('requests with "hard_delete": true', `${hard.length} of ${requests.length}`);
      print.detail("examples hard-deleted by LangSmith", String(sim.raw.deleted().size));
      print.detail("attachments", "may take up to 7 days to be purged (the plan's and the job's note)");
      print.check([
        hard.length !== requests.length && "a request lacked hard_delete: true",
        uncounted.length > 0 &&
          `batch ${uncounted.join(", ")}: deleted + not found differs from the ids sent`,
        sim.raw.deleted().size !== job.counts.deleted && "LangSmith's deletions differ from the job's count",
        !job.notes.some((note) => note.includes("7 days")) && "the job lacks the 7-day attachment note",
      ]);
    },
  };
}

export const langsmithFixture: KindFixture<LangsmithSimulator> = {
  kind: "langsmith",
  service: "LangSmith",
  summary: "dataset examples, hard delete.",
  credentialEnv: langsmith.credentialEnv,
  credential: "API key",
  keys: {},
  targets: [],
  ids: (count) => Array.from({ length: count }, (_, index) => demoUuid(index)),
  routes: { delete: "delete" },
  // A hard delete keeps the example's id with inputs and outputs null.
  read: { route: "read", afterDelete: "already_deleted" },
  auth: (secret) => ["x-api-key", secret],
  reportsNotFound: true,
  resendIsNotFound: true,
  async start(options) {
    const sim = await startLangsmithSimulator({
      apiKey: options.secret,
      host: options.host,
      port: options.port,
      examples: options.items,
      hardDeleted: options.deletedItems,
    });
    return view(sim);
  },
  partial: {
    title:
      "a count below the batch: two examples were already deleted (by another client), so count not found",
    async arm(sim, ids, secret) {
      const response = await fetch(`${sim.url}${LANGSMITH_DELETE_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": secret },
        body: JSON.stringify({ example_ids: ids.slice(2), hard_delete: true }),
      });
      if (response.status !== 200) throw new Error(`simulator: the other client got HTTP ${response.status}`);
    },
    expect: { deleted: 2, notFound: 2, failed: 0, requests: 1 },
  },
  hostile: {
    backend: "langsmith-test",
    ids: [
      "0000abcd-0000-4000-8000-000000000001",
      "0000abcd-0000-4000-8000-000000000002",
      "0000ABCD-0000-4000-8000-000000000002",
      " 0000abcd-0000-4000-8000-000000000003 ",
    ],
  },
  configFuzz: { backend: "langsmith_c", entry: { tenantId: "ws-1" }, keys: { tenantId: TEXT_KEY } },
  demo: {
    backend: "langsmith-demo",
    port: 8703,
    portEnv: "LANGSMITH_SIM_PORT",
    secret: "demo-langsmith-key",
    keys: {},
    async start(options) {
      const sim = await startLangsmithSimulator({
        apiKey: options.secret,
        host: options.host,
        port: options.port,
        examples: DEMO_EXAMPLES,
      });
      return view(sim);
    },
    holds: () => `${DEMO_EXAMPLES.length} dataset examples`,
    items: `examples ${DEMO_EXAMPLES[0]} … ${DEMO_EXAMPLES.at(-1)} (${DEMO_EXAMPLES.length})`,
    section: demoSection,
  },
};
