// A stand-in Splendor API (delete records, data-deletion jobs) that follows shared/backends/splendor.md and reports every contract violation.
import { randomBytes } from "node:crypto";
import { splendor } from "../../src/backends/splendor.js";
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
import { bodyIds, type KindFixture, type KindSimulator, TEXT_KEY } from "./fixture.js";

export type { RecordedRequest } from "./base.js";

export interface SplendorSimulatorOptions {
  /** Expected bearer token. */
  token: string;
  /** The only tenant the token can access; any other tenant gets 403. */
  tenantId: string;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (OS-chosen). */
  port?: number;
  /** Added to every request; default 0. */
  latencyMs?: number;
  /** How long a data-deletion job stays "pending"; default 100. */
  jobPendingMs?: number;
  /** How long it then stays "running" before it ends; default 200. */
  jobRunningMs?: number;
  /** Datasets that exist; omitted means every dataset_id exists. */
  datasets?: string[];
}

export interface SplendorSimulator {
  /** Base URL, e.g. http://127.0.0.1:54321. */
  url: string;
  /** Route names: "delete", "job-status", "job-list"; unmatched requests use "unmatched". */
  faults: FaultInjector;
  /** Every request received, in order, including rejected ones. */
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  /** Record id → how many accepted (202) delete requests contained it. */
  received(datasetId: string): Map<string, number>;
  /** Record ids deleted by jobs that have reached "succeeded" by now. */
  deleted(datasetId: string): Set<string>;
  /**
   * Record id → how many times it was deleted by now. A record is deleted by the first job naming it that did not
   * fail, once that job succeeds; a later job naming it finds it gone and deletes nothing ("the job simply deletes
   * what exists"), so a correct run shows 1 for every id however often it was sent.
   */
  deletions(datasetId: string): Map<string, number>;
  /** The next `count` accepted jobs end "failed" with this error_message, deleting nothing. */
  failNextJobs(count: number, errorMessage: string): void;
  /** The next `count` accepted jobs never end: they stay "running" (a stuck backend worker). */
  stallNextJobs(count: number): void;
  /** Every accepted job in creation order, with its reason and its status as of now. */
  jobs(): SimulatedJob[];
  close(): Promise<void>;
}

/** An accepted data-deletion job as the simulator sees it, for assertions on batches and reasons. */
export interface SimulatedJob {
  jobId: string;
  datasetId: string;
  recordIds: string[];
  reason: string | null;
  status: "pending" | "running" | "succeeded" | "failed";
  errorMessage: string | null;
}

type JobStatus = SimulatedJob["status"];

interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

interface DeleteRequest {
  dataset_id: string;
  record_ids: string[];
  reason: string | null;
}

interface Job {
  jobId: string;
  itemId: number;
  datasetId: string;
  recordIds: string[];
  reason: string | null;
  createdAt: number;
  pendingMs: number;
  runningMs: number;
  /** Set when failNextJobs applied: the job ends "failed" with this message. */
  failWith: string | undefined;
  /** Set when stallNextJobs applied: the job stays "running" forever. */
  stalled: boolean;
}

interface DeletionItemResponse {
  item_id: number;
  item_type: string;
  status: JobStatus;
  target: Record<string, unknown>;
  result: Record<string, unknown>;
  error_message: string | null;
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
}

interface DeletionJobSummary {
  job_id: string;
  tenant_id: string;
  scope: "record";
  status: JobStatus;
  requested_by: string | null;
  target_upload_session_id: string | null;
  target_source_id: string | null;
  target_dataset_id: string | null;
  item_total_count: number;
  item_pending_count: number;
  item_running_count: number;
  item_succeeded_count: number;
  item_failed_count: number;
  error_message: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
}

type DeletionJobResponse = DeletionJobSummary & { items: DeletionItemResponse[] };

type RouteName = "delete" | "job-status" | "job-list";

const DELETE_PATH = "/v1/records/delete";
const DEFAULT_JOB_PENDING_MS = 100;
const DEFAULT_JOB_RUNNING_MS = 200;
const JOBS_PATH = "/v1/admin/data-deletion-jobs";
const DEFAULT_LIST_LIMIT = 50;
const TENANT_HEADER = "x-splendor-tenant-id";

/** Starts the simulator; resolves once it is listening. */
export async function startSplendorSimulator(opts: SplendorSimulatorOptions): Promise<SplendorSimulator> {
  const pendingMs = opts.jobPendingMs ?? DEFAULT_JOB_PENDING_MS;
  const runningMs = opts.jobRunningMs ?? DEFAULT_JOB_RUNNING_MS;
  const knownDatasets = opts.datasets === undefined ? undefined : new Set(opts.datasets);
  const jobs = new Map<string, Job>();
  const failures: string[] = [];
  let stallsLeft = 0;
  let nextItemId = 1;

  function jobStatus(job: Job, now: number): JobStatus {
    const elapsed = now - job.createdAt;
    if (elapsed < job.pendingMs) return "pending";
    if (job.stalled || elapsed < job.pendingMs + job.runningMs) return "running";
    return job.failWith === undefined ? "succeeded" : "failed";
  }

  function summarize(job: Job, now: number): DeletionJobSummary {
    const status = jobStatus(job, now);
    const startedAt = status === "pending" ? null : job.createdAt + job.pendingMs;
    const completedAt =
      status === "succeeded" || status === "failed" ? job.createdAt + job.pendingMs + job.runningMs : null;
    const total = job.recordIds.length;
    return {
      job_id: job.jobId,
      tenant_id: opts.tenantId,
      scope: "record",
      status,
      requested_by: "api-token",
      target_upload_session_id: null,
      target_source_id: null,
      target_dataset_id: job.datasetId,
      item_total_count: total,
      item_pending_count: status === "pending" ? total : 0,
      item_running_count: status === "running" ? total : 0,
      item_succeeded_count: status === "succeeded" ? total : 0,
      item_failed_count: status === "failed" ? total : 0,
      error_message: status === "failed" ? (job.failWith ?? null) : null,
      created_at: iso(job.createdAt),
      updated_at: iso(completedAt ?? startedAt ?? job.createdAt),
      started_at: startedAt === null ? null : iso(startedAt),
      completed_at: completedAt === null ? null : iso(completedAt),
    };
  }

  function describe(job: Job, now: number): DeletionJobResponse {
    const summary = summarize(job, now);
    // One item per request keeps responses small; the counts above are in records, as item_total_count must match the ids sent.
    const item: DeletionItemResponse = {
      item_id: job.itemId,
      item_type: "record",
      status: summary.status,
      target: { dataset_id: job.datasetId, record_count: job.recordIds.length },
      result: summary.status === "succeeded" ? { deleted_records: job.recordIds.length } : {},
      error_message: summary.error_message,
      attempt_count: summary.status === "pending" ? 0 : 1,
      next_attempt_at: null,
      created_at: summary.created_at,
      updated_at: summary.updated_at,
      started_at: summary.started_at,
      completed_at: summary.completed_at,
    };
    return { ...summary, items: [item] };
  }

  function handle(
    request: SimRequest,
    route: Route<RouteName>,
    violate: (message: string) => void,
  ): SimReply {
    const authorization = request.header("authorization");
    if (authorization === undefined || !/^bearer /i.test(authorization)) {
      violate("missing or malformed Authorization header (401).");
      return {
        status: 401,
        body: { detail: "Not authenticated" },
        headers: { "www-authenticate": "Bearer" },
      };
    }
    if (authorization.slice("bearer ".length) !== opts.token) {
      violate("wrong bearer token (401).");
      return {
        status: 401,
        body: { detail: "Invalid authentication credentials" },
        headers: { "www-authenticate": "Bearer" },
      };
    }
    const tenant = request.header(TENANT_HEADER);
    if (tenant === undefined || tenant === "") {
      violate("missing X-Splendor-Tenant-Id header (400).");
      return { status: 400, body: { detail: "Missing X-Splendor-Tenant-Id header" } };
    }
    if (tenant !== opts.tenantId) {
      violate(`tenant "${tenant}" is not accessible with this token (403).`);
      return { status: 403, body: { detail: `Token cannot access tenant ${tenant}` } };
    }
    switch (route.name) {
      case "delete":
        return handleDelete(request, violate);
      case "job-status":
        return handleJobStatus(route.params?.jobId ?? "");
      case "job-list":
        return handleJobList(request.url.searchParams, violate);
    }
  }

  function handleDelete(request: SimRequest, violate: (message: string) => void): SimReply {
    const parsed = parseDeleteBody(request.header("content-type"), request.text);
    if ("issues" in parsed) {
      const summary = parsed.issues.map((issue) => `${issue.loc.join(".")}: ${issue.msg}`).join("; ");
      violate(`invalid delete body (422): ${truncate(summary, 500)}`);
      return { status: 422, body: { detail: parsed.issues } };
    }
    const body = parsed.body;
    if (knownDatasets !== undefined && !knownDatasets.has(body.dataset_id)) {
      // A documented answer, not a contract break: the gate may be asked to delete from a dataset that is gone.
      return { status: 404, body: { detail: "Dataset not found" } };
    }
    const job: Job = {
      jobId: `ddl_${randomBytes(12).toString("hex")}`,
      itemId: nextItemId++,
      datasetId: body.dataset_id,
      recordIds: body.record_ids,
      reason: body.reason,
      createdAt: Date.now(),
      pendingMs,
      runningMs,
      failWith: failures.shift(),
      stalled: stallsLeft > 0,
    };
    if (stallsLeft > 0) stallsLeft--;
    jobs.set(job.jobId, job);
    return { status: 202, body: describe(job, Date.now()) };
  }

  function handleJobStatus(jobId: string): SimReply {
    const job = jobs.get(jobId);
    if (job === undefined) return { status: 404, body: { detail: "Job not found" } };
    return { status: 200, body: describe(job, Date.now()) };
  }

  function handleJobList(query: URLSearchParams, violate: (message: string) => void): SimReply {
    const raw = query.get("limit");
    let limit = DEFAULT_LIST_LIMIT;
    if (raw !== null) {
      const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
      const issue: ValidationIssue | undefined = Number.isNaN(value)
        ? {
            loc: ["query", "limit"],
            msg: "Input should be a valid integer, unable to parse string as an integer",
            type: "int_parsing",
          }
        : value < 1
          ? {
              loc: ["query", "limit"],
              msg: "Input should be greater than or equal to 1",
              type: "greater_than_equal",
            }
          : value > 500
            ? {
                loc: ["query", "limit"],
                msg: "Input should be less than or equal to 500",
                type: "less_than_equal",
              }
            : undefined;
      if (issue !== undefined) {
        violate(`invalid limit "${raw}" (422).`);
        return { status: 422, body: { detail: [issue] } };
      }
      limit = value;
    }
    const now = Date.now();
    // Newest first, as a job list is read to find recent work.
    const listed = [...jobs.values()]
      .reverse()
      .slice(0, limit)
      .map((job) => summarize(job, now));
    return { status: 200, body: { jobs: listed } };
  }

  const server: SimulatorServer = await startSimulatorServer<RouteName>(
    {
      service: "Splendor",
      route: matchRoute,
      faultBody,
      errorBody: (message) => ({ detail: message }),
      handle,
    },
    { host: opts.host, port: opts.port, latencyMs: opts.latencyMs },
  );

  return {
    url: server.url,
    faults: server.faults,
    requests: server.requests,
    violations: server.violations,
    received(datasetId: string): Map<string, number> {
      const counts = new Map<string, number>();
      for (const job of jobs.values()) {
        if (job.datasetId !== datasetId) continue;
        // Counted once per request: the question is how many accepted requests asked for the id.
        for (const id of new Set(job.recordIds)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    },
    deleted(datasetId: string): Set<string> {
      const now = Date.now();
      const ids = new Set<string>();
      for (const job of jobs.values()) {
        if (job.datasetId !== datasetId || jobStatus(job, now) !== "succeeded") continue;
        for (const id of job.recordIds) ids.add(id);
      }
      return ids;
    },
    deletions(datasetId: string): Map<string, number> {
      const now = Date.now();
      const claimed = new Set<string>();
      const counts = new Map<string, number>();
      // Creation order: the first job that did not fail holds the record's tombstone.
      for (const job of jobs.values()) {
        if (job.datasetId !== datasetId) continue;
        const status = jobStatus(job, now);
        if (status === "failed") continue;
        for (const id of new Set(job.recordIds)) {
          if (claimed.has(id)) continue;
          claimed.add(id);
          if (status === "succeeded") counts.set(id, (counts.get(id) ?? 0) + 1);
        }
      }
      return counts;
    },
    failNextJobs(count: number, errorMessage: string): void {
      for (let i = 0; i < count; i++) failures.push(errorMessage);
    },
    stallNextJobs(count: number): void {
      stallsLeft += count;
    },
    jobs(): SimulatedJob[] {
      const now = Date.now();
      return [...jobs.values()].map((job) => {
        const status = jobStatus(job, now);
        return {
          jobId: job.jobId,
          datasetId: job.datasetId,
          recordIds: [...job.recordIds],
          reason: job.reason,
          status,
          errorMessage: status === "failed" ? (job.failWith ?? null) : null,
        };
      });
    },
    close: () => server.close(),
  };
}

function matchRoute(pathname: string): Route<RouteName> | null {
  if (pathname === DELETE_PATH) return { name: "delete", allowed: ["POST"] };
  if (pathname === JOBS_PATH) return { name: "job-list", allowed: ["GET"] };
  if (pathname.startsWith(`${JOBS_PATH}/`)) {
    const rest = pathname.slice(JOBS_PATH.length + 1);
    if (rest !== "" && !rest.includes("/")) {
      try {
        return { name: "job-status", allowed: ["GET"], params: { jobId: decodeURIComponent(rest) } };
      } catch {
        // A malformed escape cannot name a job; treat it as an unknown path rather than a simulator crash.
      }
    }
  }
  return null;
}

/** Validates a delete body the way FastAPI + pydantic would, collecting every issue. */
function parseDeleteBody(
  contentType: string | undefined,
  text: string,
): { body: DeleteRequest } | { issues: ValidationIssue[] } {
  if (text === "") return { issues: [{ loc: ["body"], msg: "Field required", type: "missing" }] };
  // FastAPI parses JSON when the content type is absent or JSON-like, and otherwise validates the raw bytes.
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase();
  const jsonLike =
    mediaType === undefined ||
    mediaType === "application/json" ||
    /^application\/[^/]+\+json$/.test(mediaType);
  if (!jsonLike) return { issues: [notAnObject()] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { issues: [{ loc: ["body", 0], msg: "JSON decode error", type: "json_invalid" }] };
  }
  if (!isObject(value)) return { issues: [notAnObject()] };

  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(value)) {
    if (key !== "dataset_id" && key !== "record_ids" && key !== "reason") {
      issues.push({ loc: ["body", key], msg: "Extra inputs are not permitted", type: "extra_forbidden" });
    }
  }
  const datasetId = value.dataset_id;
  checkString(issues, ["body", "dataset_id"], datasetId, 1, 128, true);
  const recordIds = value.record_ids;
  if (recordIds === undefined) {
    issues.push({ loc: ["body", "record_ids"], msg: "Field required", type: "missing" });
  } else if (!Array.isArray(recordIds)) {
    issues.push({ loc: ["body", "record_ids"], msg: "Input should be a valid list", type: "list_type" });
  } else if (recordIds.length < 1) {
    issues.push({
      loc: ["body", "record_ids"],
      msg: "List should have at least 1 item after validation, not 0",
      type: "too_short",
    });
  } else if (recordIds.length > 1024) {
    issues.push({
      loc: ["body", "record_ids"],
      msg: `List should have at most 1024 items after validation, not ${recordIds.length}`,
      type: "too_long",
    });
  } else {
    const ids: unknown[] = recordIds;
    ids.forEach((id, index) => {
      checkString(issues, ["body", "record_ids", index], id, 1, 512, true);
    });
  }
  const reason = value.reason;
  if (reason !== undefined && reason !== null)
    checkString(issues, ["body", "reason"], reason, 0, 1024, false);

  if (issues.length > 0) return { issues };
  return {
    body: {
      dataset_id: datasetId as string,
      record_ids: recordIds as string[],
      reason: typeof reason === "string" ? reason : null,
    },
  };
}

function checkString(
  issues: ValidationIssue[],
  loc: (string | number)[],
  value: unknown,
  min: number,
  max: number,
  required: boolean,
): void {
  if (value === undefined && required) {
    issues.push({ loc, msg: "Field required", type: "missing" });
    return;
  }
  if (typeof value !== "string") {
    issues.push({ loc, msg: "Input should be a valid string", type: "string_type" });
    return;
  }
  // pydantic counts code points, not UTF-16 units.
  const length = [...value].length;
  if (length < min) {
    issues.push({
      loc,
      msg: `String should have at least ${min} character${min === 1 ? "" : "s"}`,
      type: "string_too_short",
    });
  } else if (length > max) {
    issues.push({ loc, msg: `String should have at most ${max} characters`, type: "string_too_long" });
  }
}

function notAnObject(): ValidationIssue {
  return {
    loc: ["body"],
    msg: "Input should be a valid dictionary or object to extract fields from",
    type: "model_attributes_type",
  };
}

/** The documented overload body; other injected statuses get a plain ApiError. */
function faultBody(status: number): unknown {
  if (status === 503 || status === 429) {
    return { detail: { code: "overloaded", message: "Splendor is overloaded, retry later" } };
  }
  return { detail: `simulator: injected fault ${status}` };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

// ─── The fixture: the kind as the contract test, the reliability suites and the demos use it ─────────────────

/** The tenant of the simulators tests start (the demo's is DEMO_TENANT). */
const TENANT = "acme";
const DEMO_TENANT = "demo";

/** The simulator as kind-independent code sees it, its counts about one dataset. */
function view(sim: SplendorSimulator, datasetId: string): KindSimulator<SplendorSimulator> {
  const jobsPath = `${JOBS_PATH}/`;
  const firstIds = new Map<string, string>();
  return {
    url: sim.url,
    faults: sim.faults,
    requests: sim.requests,
    violations: sim.violations,
    raw: sim,
    deleteIds: (request) => (request.path === DELETE_PATH ? bodyIds(request, "record_ids") : null),
    received: () => sim.received(datasetId),
    deletions: () => sim.deletions(datasetId),
    polledFirstId(request) {
      if (!request.path.startsWith(jobsPath)) return null;
      const jobId = decodeURIComponent(request.path.slice(jobsPath.length).split("?")[0] as string);
      if (!firstIds.has(jobId)) for (const job of sim.jobs()) firstIds.set(job.jobId, job.recordIds[0] ?? "");
      return firstIds.get(jobId) ?? null;
    },
    stallNextJobs: (count) => sim.stallNextJobs(count),
    close: () => sim.close(),
  };
}

export const splendorFixture: KindFixture<SplendorSimulator> = {
  kind: "splendor",
  service: "Splendor",
  summary: "records of a dataset, completed by Splendor's own deletion jobs.",
  credentialEnv: splendor.credentialEnv,
  credential: "token",
  keys: { tenantId: TENANT },
  targets: [{ dataset_id: "app-logs" }, { dataset_id: "crm-contacts" }],
  allowTargets: ["app-logs", "crm-*"],
  ids: (count) => Array.from({ length: count }, (_, index) => `rec-${index}`),
  routes: { delete: "delete", poll: "job-status" },
  auth: (secret) => ["authorization", `Bearer ${secret}`],
  // A data-deletion job deletes what exists; Splendor never says which ids did not.
  reportsNotFound: false,
  resendIsNotFound: false,
  async start(options) {
    const sim = await startSplendorSimulator({
      token: options.secret,
      tenantId: TENANT,
      host: options.host,
      port: options.port,
      jobPendingMs: options.backendJobMs?.pending,
      jobRunningMs: options.backendJobMs?.running,
    });
    return view(sim, "app-logs");
  },
  partial: {
    title: "the backend job fails: it deletes nothing, and every id fails with its error_message",
    arm: (sim) => sim.raw.failNextJobs(1, "purge worker crashed"),
    expect: { deleted: 0, notFound: 0, failed: 4, requests: 1 },
  },
  hostile: {
    backend: "splendor-test",
    ids: [
      "rec-1",
      "rec-2",
      "  rec-3  ",
      42,
      -7,
      1.5,
      "récord-ü",
      "😀-emoji-𝔘",
      "שלום-rtl-text",
      "x".repeat(512),
    ],
  },
  configFuzz: {
    backend: "splendor-a",
    entry: { baseUrl: "http://127.0.0.1:9", tenantId: TENANT, allowTargets: ["app-logs", "crm-*"] },
    keys: { tenantId: TEXT_KEY },
  },
  demo: {
    backend: "splendor-demo",
    port: 8701,
    portEnv: "SPLENDOR_SIM_PORT",
    secret: "demo-splendor-token",
    keys: { tenantId: DEMO_TENANT, allowTargets: ["app-logs", "crm-*"] },
    async start(options) {
      const sim = await startSplendorSimulator({
        token: options.secret,
        tenantId: DEMO_TENANT,
        host: options.host,
        port: options.port,
        jobPendingMs: options.backendJobMs?.pending,
        jobRunningMs: options.backendJobMs?.running,
      });
      return view(sim, "crm-contacts");
    },
    holds: ({ backendJobMs }) =>
      `tenant "${DEMO_TENANT}"; each deletion job ${backendJobMs?.pending ?? DEFAULT_JOB_PENDING_MS} ms pending, ` +
      `then ${backendJobMs?.running ?? DEFAULT_JOB_RUNNING_MS} ms running`,
    items: "any record id in datasets app-logs or crm-*",
  },
};
