// A stand-in Subworkflow API (delete and read datasets) that follows shared/backends/subworkflow.md and reports every contract violation.
import { createHash } from "node:crypto";
import { subworkflow } from "../../src/backends/subworkflow.js";
import { type DemoPrint, type DemoSection, seconds } from "../demo-section.js";
import {
  type RecordedRequest,
  type Route,
  type SimReply,
  type SimRequest,
  type SimulatorServer,
  startSimulatorServer,
} from "./base.js";
import type { FaultInjector } from "./faults.js";
import { type KindFixture, type KindSimulator, numbered } from "./fixture.js";

export type { RecordedRequest } from "./base.js";

export interface SubworkflowSimulatorOptions {
  /** Expected `x-api-key`. */
  apiKey: string;
  /** Datasets that exist (unmarked); any other id answers 404. */
  datasets?: string[];
  /** Datasets marked for deletion (an hour ago) before the simulator started; GET still answers them. */
  marked?: string[];
  /** Dataset id → the `error` its DELETE answers with 400 (e.g. "dataset is locked"); it is never marked. */
  rejected?: Record<string, string>;
  /** Writes (DELETEs) allowed per window; above it DELETE answers 429. Default unlimited. */
  writesPerMinute?: number;
  /** The rate-limit window; default 60 000 ms (tests shorten it). */
  rateWindowMs?: number;
  /** Retry-After on a rate-limit 429; the contract documents none, so none by default. */
  retryAfterSeconds?: number;
  /** `workspaceId` of every dataset; default "wks_simulator". */
  workspaceId?: string;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (OS-chosen). */
  port?: number;
  /** Added to every request; default 0. */
  latencyMs?: number;
}

/** The documented `data` of a dataset. Timestamps are epoch milliseconds. */
export interface SubworkflowDataset {
  id: string;
  workspaceId: string;
  type: "doc" | "audio" | "video" | "image";
  fileName: string;
  fileExt: string;
  fileSize: number;
  itemCount: number;
  mimeType: string;
  createdAt: number;
  updatedAt: number;
  /** Null until the dataset is marked; then the moment it was marked. */
  expiresAt: number | null;
  share: { url: string; token: string; expiresAt: number };
}

export interface SubworkflowSimulator {
  /** Base URL, e.g. http://127.0.0.1:54321. */
  url: string;
  /** Route names: "dataset" (DELETE /v1/datasets/{id}), "read" (GET of the same path); unmatched requests use "unmatched". */
  faults: FaultInjector;
  /** Every request received, in order, including rejected ones. */
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  /** How many DELETEs for this id were processed (authenticated, within the rate limit, not faulted). */
  received(id: string): number;
  /** Datasets marked for deletion by a DELETE and not yet purged. */
  marked(): Set<string>;
  /** Dataset id → how many DELETEs marked it (a repeat on a marked dataset answers 200 but marks nothing). */
  deletions(): Map<string, number>;
  /** The dataset as GET would answer it now, or undefined when it does not exist (or was purged). */
  dataset(id: string): SubworkflowDataset | undefined;
  /** Makes this dataset's DELETE answer 400 with `error` (undefined lifts it). */
  reject(id: string, error: string | undefined): void;
  /** The backend's twice-daily job: hard-deletes every marked dataset (they answer 404 afterwards); returns their ids. */
  purge(): string[];
  close(): Promise<void>;
}

type RouteName = "dataset" | "read";

const DATASETS_PATH = "/v1/datasets/";
const ID_RULE = /^ds_[A-Za-z0-9_-]+$/;
const TYPES: { type: SubworkflowDataset["type"]; ext: string; mime: string }[] = [
  { type: "doc", ext: "pdf", mime: "application/pdf" },
  { type: "audio", ext: "mp3", mime: "audio/mpeg" },
  { type: "video", ext: "mp4", mime: "video/mp4" },
  { type: "image", ext: "png", mime: "image/png" },
];
const DAY_MS = 86_400_000;

function failure(error: string): { success: false; error: string } {
  return { success: false, error };
}

/** A deterministic, fully populated dataset for an id, created a day before `now`. */
function seedDataset(id: string, workspaceId: string, index: number, now: number): SubworkflowDataset {
  const kind = TYPES[index % TYPES.length] as (typeof TYPES)[number];
  const token = createHash("sha256").update(id).digest("hex").slice(0, 24);
  const createdAt = now - DAY_MS;
  return {
    id,
    workspaceId,
    type: kind.type,
    // Without its extension: the Read section's summary joins `fileName.fileExt`.
    fileName: id,
    fileExt: kind.ext,
    fileSize: 1024 * (index + 1),
    itemCount: index + 1,
    mimeType: kind.mime,
    createdAt,
    updatedAt: createdAt,
    expiresAt: null,
    share: { url: `https://share.subworkflow.ai/${token}`, token, expiresAt: now + 7 * DAY_MS },
  };
}

/** Starts the simulator; resolves once it is listening. */
export async function startSubworkflowSimulator(
  opts: SubworkflowSimulatorOptions,
): Promise<SubworkflowSimulator> {
  const workspaceId = opts.workspaceId ?? "wks_simulator";
  const windowMs = opts.rateWindowMs ?? 60_000;
  const start = Date.now();
  const datasets = new Map<string, SubworkflowDataset>();
  (opts.datasets ?? []).forEach((id, index) => {
    datasets.set(id, seedDataset(id, workspaceId, index, start));
  });
  for (const id of opts.marked ?? []) {
    const dataset = seedDataset(id, workspaceId, datasets.size, start);
    dataset.expiresAt = dataset.updatedAt = start - 3_600_000;
    datasets.set(id, dataset);
  }
  const rejected = new Map(Object.entries(opts.rejected ?? {}));
  const receivedCounts = new Map<string, number>();
  const markCounts = new Map<string, number>();
  /** Times of the writes counted against the rate limit, oldest first. */
  const writes: number[] = [];

  function handle(
    request: SimRequest,
    route: Route<RouteName>,
    violate: (message: string) => void,
  ): SimReply {
    const key = request.header("x-api-key");
    if (key === undefined || key === "") {
      violate("missing x-api-key header (401).");
      return { status: 401, body: failure("Missing API key") };
    }
    if (key !== opts.apiKey) {
      violate("wrong x-api-key (401).");
      return { status: 401, body: failure("Invalid API key") };
    }
    const id = route.params?.id ?? "";
    if (request.method === "DELETE") return handleDelete(request, id, violate);
    return handleGet(request, id, violate);
  }

  function handleDelete(request: SimRequest, id: string, violate: (message: string) => void): SimReply {
    const now = Date.now();
    if (opts.writesPerMinute !== undefined) {
      while (writes.length > 0 && (writes[0] as number) <= now - windowMs) writes.shift();
      if (writes.length >= opts.writesPerMinute) {
        const headers: Record<string, string> =
          opts.retryAfterSeconds === undefined ? {} : { "retry-after": String(opts.retryAfterSeconds) };
        return { status: 429, body: failure("Rate limit exceeded"), headers };
      }
      writes.push(now);
    }
    if (request.text !== "") violate("DELETE with a body; the contract sends none.");
    if (request.url.search !== "") violate(`DELETE with a query string (${request.url.search}).`);
    if (!ID_RULE.test(id)) {
      violate(`"${id}" is not a dataset id (ds_…) (400).`);
      return { status: 400, body: failure("Invalid dataset id") };
    }
    receivedCounts.set(id, (receivedCounts.get(id) ?? 0) + 1);
    const dataset = datasets.get(id);
    if (dataset === undefined) return { status: 404, body: failure("Dataset not found") };
    const refusal = rejected.get(id);
    if (refusal !== undefined) return { status: 400, body: failure(refusal) };
    // Marking an already-marked dataset answers 200 again and keeps the first expiry.
    if (dataset.expiresAt === null || dataset.expiresAt > now) {
      dataset.expiresAt = now;
      dataset.updatedAt = now;
      markCounts.set(id, (markCounts.get(id) ?? 0) + 1);
    }
    return { status: 200, body: { success: true, total: 1, data: structuredClone(dataset) } };
  }

  function handleGet(request: SimRequest, id: string, violate: (message: string) => void): SimReply {
    if (request.text !== "") violate("GET with a body; the contract sends none.");
    if (request.url.search !== "") violate(`GET with a query string (${request.url.search}).`);
    if (!ID_RULE.test(id)) {
      violate(`"${id}" is not a dataset id (ds_…) (400).`);
      return { status: 400, body: failure("Invalid dataset id") };
    }
    const dataset = datasets.get(id);
    if (dataset === undefined) return { status: 404, body: failure("Dataset not found") };
    return { status: 200, body: { success: true, total: 1, data: structuredClone(dataset) } };
  }

  const server: SimulatorServer = await startSimulatorServer<RouteName>(
    {
      service: "Subworkflow",
      route: matchRoute,
      faultBody: (status) => failure(`simulator: injected fault ${status}`),
      errorBody: failure,
      handle,
    },
    { host: opts.host, port: opts.port, latencyMs: opts.latencyMs },
  );

  function isMarked(dataset: SubworkflowDataset, now: number): boolean {
    return dataset.expiresAt !== null && dataset.expiresAt <= now;
  }

  return {
    url: server.url,
    faults: server.faults,
    requests: server.requests,
    violations: server.violations,
    received: (id) => receivedCounts.get(id) ?? 0,
    deletions: () => new Map(markCounts),
    marked(): Set<string> {
      const now = Date.now();
      return new Set([...datasets.values()].filter((dataset) => isMarked(dataset, now)).map((d) => d.id));
    },
    dataset(id: string): SubworkflowDataset | undefined {
      const dataset = datasets.get(id);
      return dataset === undefined ? undefined : structuredClone(dataset);
    },
    reject(id: string, error: string | undefined): void {
      if (error === undefined) rejected.delete(id);
      else rejected.set(id, error);
    },
    purge(): string[] {
      const now = Date.now();
      const purged = [...datasets.values()].filter((dataset) => isMarked(dataset, now)).map((d) => d.id);
      for (const id of purged) datasets.delete(id);
      return purged;
    },
    close: () => server.close(),
  };
}

/** One path, two routes: GET reads a dataset, DELETE marks it (so faults and records tell reads from writes). */
function matchRoute(pathname: string, method: string): Route<RouteName> | null {
  if (!pathname.startsWith(DATASETS_PATH)) return null;
  const rest = pathname.slice(DATASETS_PATH.length);
  if (rest === "" || rest.includes("/")) return null;
  try {
    const name = method === "GET" ? "read" : "dataset";
    return { name, allowed: ["GET", "DELETE"], params: { id: decodeURIComponent(rest) } };
  } catch {
    // A malformed escape cannot name a dataset; treat it as an unknown path rather than a simulator crash.
    return null;
  }
}

// ─── The fixture: the kind as the contract test, the reliability suites and the demos use it ─────────────────

/** The simulator as kind-independent code sees it; `datasets` are the ids its counts cover. */
function view(sim: SubworkflowSimulator, datasets: readonly string[]): KindSimulator<SubworkflowSimulator> {
  return {
    url: sim.url,
    faults: sim.faults,
    requests: sim.requests,
    violations: sim.violations,
    raw: sim,
    deleteIds: (request) =>
      request.method === "DELETE" && request.path.startsWith(DATASETS_PATH)
        ? [decodeURIComponent(request.path.slice(DATASETS_PATH.length))]
        : null,
    readIds: (request) =>
      request.method === "GET" && request.path.startsWith(DATASETS_PATH)
        ? [decodeURIComponent(request.path.slice(DATASETS_PATH.length))]
        : null,
    received: () =>
      new Map(datasets.map((id) => [id, sim.received(id)] as const).filter(([, count]) => count > 0)),
    deletions: () => sim.deletions(),
    close: () => sim.close(),
  };
}

/** What `npm run simulators` and `npm run demo` start with. */
const DEMO_DATASETS = numbered("ds_demo", 20);
/** The demo config's pace for subworkflow-demo, so six datasets take half a second, not six. */
const DEMO_RPS = 10;

// The demo: one DELETE per dataset; "deleted" means marked, the purge comes later; expiresAt is audited.
function demoSection(sim: KindSimulator<SubworkflowSimulator>, print: DemoPrint): DemoSection {
  const existing = DEMO_DATASETS.slice(0, 5);
  return {
    title: "subworkflow — datasets, one request each; deleted means marked, the purge comes later",
    ids: {
      existing,
      missing: ["ds_demo0099"],
      duplicates: ["ds_demo0002", " ds_demo0003"],
      invalid: ["demo0004"],
      summary: "5 datasets that exist, 1 that does not, 2 repeats, 1 without the ds_ prefix",
    },
    reason: "Retention policy RP-3: delete uploaded call recordings older than 90 days",
    noteKeys: ["twice a day", "requestsPerSecond"],
    config: { requestsPerSecond: DEMO_RPS },
    configLines: [
      `config: requestsPerSecond ${DEMO_RPS} for subworkflow-demo, to keep the demo short; the default for subworkflow is 1 per second (and concurrency 1)`,
    ],
    authLabel: "x-api-key",
    specialTitle: "Marked now, purged later:",
    annotate: (request) =>
      request.status === 404 ? "not found (counted, not failed)" : "marked for deletion",
    showSpecial({ job, batchLines, requests }) {
      const span = (requests.at(-1)?.time ?? 0) - (requests[0]?.time ?? 0);
      print.detail(
        "pace",
        `${requests.length} requests over ${seconds(span)} at ${DEMO_RPS}/s; at the default 1/s about ${requests.length - 1} s`,
      );
      print.line("expiresAt recorded in the audit (backend_ref of each batch.completed line):", 5);
      const mismatched: string[] = [];
      for (const entry of batchLines) {
        const id = entry.ids?.[0] ?? "?";
        const expiresAt = sim.raw.dataset(id)?.expiresAt;
        const simulated =
          typeof expiresAt === "number" ? `expiresAt=${new Date(expiresAt).toISOString()}` : null;
        if (entry.backend_ref !== simulated) mismatched.push(id);
        print.line(
          `${id.padEnd(12)} HTTP ${entry.http_status}  ${entry.backend_ref ?? "(none: not found)"}`,
          7,
        );
      }
      const marked = sim.raw.marked();
      print.detail("datasets marked now, awaiting the purge", `${marked.size}: ${[...marked].join(", ")}`);
      print.detail(
        "purge",
        "Subworkflow's background job, twice a day; until then GET shows expiresAt ≤ now",
      );
      print.check([
        mismatched.length > 0 &&
          `the audited expiresAt differs from Subworkflow's for ${mismatched.join(", ")}`,
        existing.some((id) => !marked.has(id)) && "a dataset was not marked for deletion",
        !job.notes.some((note) => note.includes("twice a day")) && "the job lacks the purge note",
      ]);
    },
  };
}

export const subworkflowFixture: KindFixture<SubworkflowSimulator> = {
  kind: "subworkflow",
  service: "Subworkflow",
  summary: "datasets, marked for deletion and purged later by Subworkflow.",
  credentialEnv: subworkflow.credentialEnv,
  credential: "API key",
  keys: {},
  targets: [],
  ids: (count) => Array.from({ length: count }, (_, index) => `ds_f${String(index).padStart(4, "0")}`),
  routes: { delete: "dataset" },
  // A DELETE marks the dataset (expiresAt now); a GET still answers it until the purge.
  read: { route: "read", afterDelete: "already_deleted" },
  auth: (secret) => ["x-api-key", secret],
  reportsNotFound: true,
  // A DELETE on a dataset already marked answers 200 again.
  resendIsNotFound: false,
  async start(options) {
    const datasets = options.items ?? [];
    const sim = await startSubworkflowSimulator({
      apiKey: options.secret,
      host: options.host,
      port: options.port,
      datasets,
      marked: options.deletedItems,
    });
    return view(sim, datasets);
  },
  partial: {
    title: "one dataset refused with HTTP 400 (locked) fails; the others are marked",
    arm: (sim, ids) => sim.raw.reject(ids[1] as string, "dataset is locked"),
    expect: { deleted: 3, notFound: 0, failed: 1, requests: 4 },
  },
  hostile: { backend: "subworkflow-test", ids: ["ds_abc", "ds_A-1_b", " ds_trim "] },
  configFuzz: { backend: "subworkflow-d", entry: {}, keys: {} },
  demo: {
    backend: "subworkflow-demo",
    port: 8704,
    portEnv: "SUBWORKFLOW_SIM_PORT",
    secret: "demo-subworkflow-key",
    keys: {},
    async start(options) {
      const sim = await startSubworkflowSimulator({
        apiKey: options.secret,
        host: options.host,
        port: options.port,
        datasets: DEMO_DATASETS,
      });
      return view(sim, DEMO_DATASETS);
    },
    holds: () => `${DEMO_DATASETS.length} datasets ${DEMO_DATASETS[0]} … ${DEMO_DATASETS.at(-1)}`,
    items: `datasets ${DEMO_DATASETS[0]} … ${DEMO_DATASETS.at(-1)}`,
    section: demoSection,
  },
};
