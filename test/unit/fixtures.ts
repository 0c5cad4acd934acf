// A resolved Splendor backend config for unit tests, with the defaults SPEC §3 gives.
import type { BackendConfig } from "../../src/config.js";
import type { BatchRecord, JobRecord, PlanRecord } from "../../src/jobs/store.js";

export function splendorBackend(overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: "splendor-prod",
    kind: "splendor",
    baseUrl: "http://127.0.0.1:1",
    credentialEnv: "SPLENDOR_TOKEN",
    credential: "secret-credential",
    allowTargets: null,
    readOnly: false,
    maxItemsPerJob: 100_000,
    maxItemsPerDay: null,
    minReasonLength: 10,
    batchSize: 1024,
    concurrency: 4,
    requestsPerSecond: 10,
    timeoutMs: 30_000,
    maxAttempts: 5,
    confirmation: null,
    preview: { maxChecked: 1_000, staleShare: 0.05 },
    options: { tenantId: "acme" },
    ...overrides,
  };
}

/** A stored job record for unit tests; tests override what they look at. */
export function jobRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: "job_1",
    plan_id: "plan_1",
    backend: "splendor-prod",
    kind: "splendor",
    target: { dataset_id: "app-logs" },
    reason: "GDPR erasure request #4411",
    requested_by: "claude-code",
    owner: null,
    status: "running",
    total: 10,
    batch_count: 2,
    notes: ["purged later"],
    cancel_requested: false,
    created_at: "2025-01-01T00:00:00.000Z",
    started_at: "2025-01-01T00:00:01.000Z",
    finished_at: null,
    ...overrides,
  };
}

/** A plan or job id of the one shape deletegate makes (other shapes are answered as missing), numbered for tests. */
export function recordId(prefix: "plan" | "job", n: number): string {
  return `${prefix}_00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** The number a recordId was made from. */
export function recordNumber(id: string): number {
  return Number.parseInt(id.slice(-12), 16);
}

/** A stored batch record for unit tests: pending, nothing sent yet. */
export function batchRecord(index: number, overrides: Partial<BatchRecord> = {}): BatchRecord {
  return {
    index,
    size: 10,
    status: "pending",
    attempts: 0,
    deleted: 0,
    not_found: 0,
    failed: [],
    remaining: null,
    backend_job: null,
    last_error: null,
    ...overrides,
  };
}

/** A stored plan record for unit tests (token mode, not executed); tests override what they look at. */
export function planRecord(overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    id: "plan_1",
    backend: "splendor-prod",
    kind: "splendor",
    target: { dataset_id: "app-logs" },
    reason: "unit test plan",
    digest: "d",
    counts: { received: 4, unique: 4, duplicates: 0, invalid: 0, to_delete: 4 },
    invalid_ids: [],
    batch_count: 2,
    batch_size: 2,
    sample_ids: [],
    notes: [],
    confirmation: { mode: "token", token_hash: null, expires_at: new Date().toISOString() },
    created_by: "test",
    owner: null,
    created_at: new Date().toISOString(),
    job_id: null,
    ids_file: null,
    preview: null,
    ...overrides,
  };
}
