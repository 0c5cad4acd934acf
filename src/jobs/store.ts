// Durable state: plans with their id batches, jobs and their batches, plan claims with the daily budget, job leases.
// One interface, two stores: SQLite (the embedded default, `memory` as SQLite :memory:) and Redis.

import type { Target } from "../backends/types.js";
import type { ConfirmationMode } from "../gate/confirmation.js";
import type { InvalidId } from "../gate/plan.js";
import type { PreviewRecord } from "../gate/preview.js";
import type { ClaimResult, ExecutionClaim } from "./coordination.js";

/**
 * A plan that is never executed is kept this long past its expiry (execute_delete answers PLAN_EXPIRED
 * meanwhile, PLAN_NOT_FOUND after), then dropped with its ids, so dry runs alone cannot fill the store.
 */
export const PLAN_GRACE_MS = 15 * 60 * 1000;

/** Finished jobs are kept this many days unless the config says otherwise (SPEC §3 retention.jobDays). */
export const DEFAULT_RETENTION_DAYS = 90;

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/**
 * The only shapes of plan and job ids deletegate makes. Anything else is answered as missing before it becomes a
 * store key, so an id like "x:ids:0" or "job_1:batch:0" cannot read another record.
 */
export const PLAN_ID = new RegExp(`^plan_${UUID}$`);
export const JOB_ID = new RegExp(`^job_${UUID}$`);

export interface PlanRecord {
  id: string;
  backend: string;
  kind: string;
  target: Target | null;
  reason: string;
  digest: string;
  counts: { received: number; unique: number; duplicates: number; invalid: number; to_delete: number };
  invalid_ids: InvalidId[];
  batch_count: number;
  batch_size: number;
  sample_ids: string[];
  notes: string[];
  confirmation: { mode: ConfirmationMode; token_hash: string | null; expires_at: string };
  created_by: string;
  /** The HTTP token's name that made the plan (only it may execute it); null on stdio. */
  owner: string | null;
  created_at: string;
  /** Set once, when the plan is executed; a plan never gets a second job. */
  job_id: string | null;
  /** The file its ids came from (`ids_file`), as read: real path and sha256 of its bytes; null for `ids`. */
  ids_file: { path: string; sha256: string } | null;
  /** What its preview showed, and the found ids the stale check reads again; null without a preview. */
  preview: PreviewRecord | null;
}

/** Every job status (SPEC §4), in the order a job can move through them. */
export const JOB_STATUSES = [
  "awaiting_approval",
  "queued",
  "running",
  "awaiting_backend",
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
  "rejected",
  "expired",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = [
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
  "rejected",
  "expired",
];

export function isTerminal(job: { status: JobStatus }): boolean {
  return TERMINAL_STATUSES.includes(job.status);
}

/** A job's approval in approval mode (SPEC §4, §10): fixed when requested, decided in the console. */
export interface ApprovalRecord {
  /** Distinct approvers needed, fixed when the job was requested. */
  required: number;
  /**
   * `credential` names the password each was given with (a digest of the approver's configured hash, see
   * approvals.ts): one given with a password the operator has changed since no longer counts.
   */
  approvals: { approver: string; at: string; comment: string | null; credential: string }[];
  rejected: { approver: string; at: string; comment: string } | null;
  expires_at: string;
  /** The plan's digest the approvers consent to (audited with every decision). */
  digest: string;
}

export interface JobRecord {
  id: string;
  plan_id: string;
  backend: string;
  kind: string;
  target: Target | null;
  reason: string;
  requested_by: string;
  /** The plan's owner: only that HTTP token sees and cancels the job; null on stdio. */
  owner: string | null;
  status: JobStatus;
  total: number;
  batch_count: number;
  notes: string[];
  cancel_requested: boolean;
  /** Why the job stopped sending for good (the audit log could not be written); it then sends nothing more. */
  halted?: string | null;
  /** Approval mode only: what the approvers decided so far. */
  approval?: ApprovalRecord | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export type BatchStatus = "pending" | "sending" | "awaiting_backend" | "done" | "failed" | "cancelled";

export interface BatchRecord {
  index: number;
  size: number;
  status: BatchStatus;
  /** Attempts made for this batch (what maxAttempts bounds), across restarts. */
  attempts: number;
  deleted: number;
  not_found: number;
  failed: InvalidId[];
  /** Ids of the batch still to send; null means all of them. */
  remaining: string[] | null;
  backend_job: { id: string; status: string } | null;
  last_error: string | null;
}

/** How the store was opened: where its records live and how its instances coordinate. */
export type StoreKind = "memory" | "sqlite" | "redis";

/** A job as read for a decision that must not race another process's: written back only if unchanged. */
export interface VersionedJob {
  job: JobRecord;
  /** Changes with every write of the job (opaque: a counter on SQLite, the stored value on Redis). */
  rev: string;
}

/** A page of listed jobs, newest first: of this owner (null: any), optionally of these statuses. */
export interface JobQuery {
  owner: string | null;
  statuses?: readonly JobStatus[];
  offset: number;
  limit: number;
}

/** What deletegate stores, whichever store holds it. Every method may reject when the store cannot be reached. */
export interface Store {
  readonly kind: StoreKind;
  /** True when several processes may share this store (a SQLite file, Redis): jobs then move between them by lease. */
  readonly shared: boolean;
  /** True when a write does not wait for a disk (Redis): progress that needs no durability is written too. */
  readonly cheapWrites: boolean;
  getPlan(id: string): Promise<PlanRecord | undefined>;
  /** `ttlMs`: dropped after that long (a plan not executed); omitted: kept (an executed plan). */
  putPlan(plan: PlanRecord, ttlMs?: number): Promise<void>;
  /**
   * A plan's ids, batch by batch, each batch one text with one id per line as `batchTexts` makes it (written before
   * the plan, which refers to them); getPlanBatch answers the ids again.
   */
  putPlanBatches(planId: string, batches: readonly string[], ttlMs?: number): Promise<void>;
  /** Sets how long a plan's ids are kept: for good (its job reads them) or `ttlMs` more (not executed). */
  keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void>;
  getPlanBatch(planId: string, index: number): Promise<string[]>;
  /** Drops expired plans and their ids now (the store also does so every minute); returns how many records. */
  sweepExpired(now?: number): Promise<number>;
  /**
   * Gives the plan its job, at most once across every process, if the job's count fits in the backend's budget
   * of the last 24 h, in one atomic step that also lists the job; the job's records must already be stored.
   */
  claimExecution(claim: ExecutionClaim): Promise<ClaimResult>;
  /**
   * Items executed on a backend in the 24 h before `now`; with `except`, without what that plan's claim (its job)
   * counted, so a job awaiting approval can be weighed as if it ran now.
   */
  dailyUsage(backend: string, now: number, except?: { planId: string; jobId: string }): Promise<number>;
  getJob(id: string): Promise<JobRecord | undefined>;
  putJob(job: JobRecord): Promise<void>;
  /**
   * Writes a running job's record, or one of its batches, only while `holder` holds the job's lease, checked in
   * the same atomic step as the write: a process that lost the lease (paused past it, cut off from the store)
   * cannot overwrite what the new holder wrote. False when the lease is not `holder`'s.
   */
  putJobAsHolder(job: JobRecord, holder: string): Promise<boolean>;
  putBatchAsHolder(jobId: string, batch: BatchRecord, holder: string): Promise<boolean>;
  /** The job with its revision, for `replaceJob`. */
  getJobVersioned(id: string): Promise<VersionedJob | undefined>;
  /** Writes the job only if nobody wrote it since it was read at `rev`; false when somebody did. */
  replaceJob(job: JobRecord, rev: string): Promise<boolean>;
  /** Removes a job that never ran (it lost the claim for its plan). */
  deleteJob(jobId: string, batchCount: number): Promise<void>;
  putBatch(jobId: string, batch: BatchRecord): Promise<void>;
  /** A new job's batch records, written before the job record. */
  putBatches(jobId: string, batches: readonly BatchRecord[]): Promise<void>;
  getBatches(jobId: string, count: number): Promise<BatchRecord[]>;
  /** Asks whichever process runs the job to stop sending; kept apart from the job record, which only it writes. */
  requestCancel(jobId: string): Promise<void>;
  cancelRequested(jobId: string): Promise<boolean>;
  /** Listed (claimed) jobs, newest first: `limit` of them from `offset`, of this owner (null: any). */
  recentJobs(query: JobQuery): Promise<JobRecord[]>;
  /** Listed jobs not yet in a terminal status, oldest first. */
  unfinishedJobs(): Promise<JobRecord[]>;
  /** Takes the job's lease for `holder` when nobody holds it (or its holder let it lapse); true when held now. */
  acquireLease(jobId: string, holder: string, ms: number): Promise<boolean>;
  /** Extends the lease by `ms`; false when `holder` no longer holds it and must stop working on the job. */
  renewLease(jobId: string, holder: string, ms: number): Promise<boolean>;
  releaseLease(jobId: string, holder: string): Promise<void>;
  /**
   * The secret stored under `name`, made by `create` the first time any process asks (one value for every process
   * on the store, whoever asks first).
   */
  secret(name: string, create: () => string): Promise<string>;
  /** True the first time `id` is used before `expiresAt` (ms since the epoch); false ever after, across processes. */
  useOnce(id: string, expiresAt: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Finished jobs older than this many days are removed with their batches and plans (SPEC §3 retention.jobDays). */
  retentionDays?: number;
  /** Errors the store meets in the background (a Redis connection lost). */
  onError?: (error: unknown) => void;
}
