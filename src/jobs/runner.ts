// Runs jobs: per-backend concurrency and pacing, retries with backoff, backend-job polling beside sending, resume,
// and, on a store shared by several instances, job leases: one instance runs a job, another takes it over when it stops.
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import type { Audit, AuditEntry } from "../audit/index.js";
import type { HttpClient } from "../backends/http.js";
import { connectBackend } from "../backends/index.js";
import type { BackendClient, PollOutcome } from "../backends/types.js";
import type { BackendConfig } from "../config.js";
import { failpoint } from "../failpoint.js";
import type { LiveConfig } from "../live-config.js";
import type { Logger } from "../logger.js";
import type { ApprovalRecord, BatchRecord, JobRecord, JobStatus, PlanRecord, Store } from "./store.js";
import { TERMINAL_STATUSES } from "./store.js";
import { finalStatus, type JobView, jobView, ownedBy } from "./view.js";

/** Backend-job polling: first look after this long, then doubling up to the maximum. */
export const POLL_FIRST_MS = 500;
export const POLL_MAX_MS = 5_000;
/**
 * Retry backoff before attempt n+1: BACKOFF_MIN_MS × 2^(n−1) × a jitter factor in [1, 2), capped at BACKOFF_MAX_MS;
 * a Retry-After longer than that is waited instead (SPEC §7).
 */
export const BACKOFF_MIN_MS = 200;
export const BACKOFF_MAX_MS = 15_000;
/**
 * How long a backend job may stay unfinished before its batch fails with "still <status>" (config
 * jobs.backendJobMaxMs), so a backend job that never ends cannot keep a deletegate job waiting forever. Counted
 * from when this instance began polling it.
 */
export const DEFAULT_BACKEND_JOB_MAX_MS = 24 * 3_600_000;
/** How long a job's lease lasts unless renewed (renewed every third of it, taken over after it). */
export const DEFAULT_LEASE_MS = 10_000;
/** How often a caller waiting for a job that runs on another instance reads it from the store. */
const FOLLOW_MS = 250;

export interface RunnerOptions {
  /** Job lease length on a shared store. */
  leaseMs?: number;
  /** How long a backend job may stay unfinished (jobs.backendJobMaxMs); default 24 h. */
  backendJobMaxMs?: number;
  /** The console page of a job awaiting approval (its `approval.url`). */
  approvalUrl?: (jobId: string) => string;
}

/** The wait before attempt `failed + 1` after `failed` failed attempts: exponential, jittered, capped. */
export function backoffMs(failed: number, random = Math.random()): number {
  return Math.min(BACKOFF_MAX_MS, Math.round(BACKOFF_MIN_MS * 2 ** (failed - 1) * (1 + random)));
}

/** The shortest pacing window: timers are not finer than a millisecond, and a window of 0.1 ms paced nothing. */
export const MIN_PACING_WINDOW_MS = 10;

/**
 * The lane's pacing: at most `intervalCap` request starts in any rolling `interval` (p-queue strict). Up to
 * 100 requests/s that is one start per 1/rps s, an even pace; above, `rps / 100` starts per 10 ms window, still
 * never more than the rate in any window (one start per 0.1 ms at 10,000/s asked for sub-millisecond timers,
 * which wait at least 1 ms: the pacing itself capped the rate near 1,000/s and delayed every start).
 */
export function pacing(requestsPerSecond: number): { interval: number; intervalCap: number } {
  const interval = 1000 / requestsPerSecond;
  if (interval >= MIN_PACING_WINDOW_MS) return { interval, intervalCap: 1 };
  const intervalCap = Math.max(1, Math.floor((requestsPerSecond * MIN_PACING_WINDOW_MS) / 1000));
  return { interval: (1000 * intervalCap) / requestsPerSecond, intervalCap };
}

interface Lane {
  config: BackendConfig;
  client: BackendClient;
  http: HttpClient;
  /** Every request to this backend (sends and polls, of every job) passes through here. */
  queue: PQueue;
}

interface ActiveJob {
  job: JobRecord;
  batches: BatchRecord[];
  events: EventEmitter;
  done: Promise<void>;
  /** Until when this instance surely holds the job's lease (shared store only). */
  leaseUntil: number;
  /** The lease went to another instance (or could not be renewed in time): stop sending, stop writing. */
  lost: boolean;
  renewal: NodeJS.Timeout | null;
  /** Aborted when the job must stop sending (cancel, kill switch, audit failure, close): wakes its retry waits. */
  halt: AbortController;
}

/** How one send of a batch ended. */
type SendResult = "accepted" | "settled" | "halted";

/** What one attempt of a batch came to: requests that do not count as attempts (all-or-nothing resends) included. */
type AttemptResult =
  | { type: "settled" | "accepted" | "halted" }
  | { type: "retry"; error: string; retryAfterMs?: number }
  | { type: "failed"; error: string };

/** A duration as people read it: "24 h", "90 s", "1500 ms". */
function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1_000 === 0) return `${ms / 1_000} s`;
  return `${ms} ms`;
}

/** The fields every audit line about a job carries. */
export function jobFields(job: JobRecord) {
  return {
    job_id: job.id,
    plan_id: job.plan_id,
    backend: job.backend,
    target: job.target,
    actor: job.requested_by,
    reason: job.reason,
  };
}

export function isTerminal(job: JobRecord): boolean {
  return TERMINAL_STATUSES.includes(job.status);
}

/** The note of a job the kill switch stopped. */
function readOnlyNote(backend: string): string {
  return `Stopped: backend ${backend} became read-only in deletegate's config (the operator's kill switch); no request was sent after that, and batches not yet sent were cancelled.`;
}

export class Runner {
  private readonly lanes = new Map<string, Lane>();
  private readonly active = new Map<string, ActiveJob>();
  /** Jobs between start() and their entry in `active`: a second start() of them must not run them twice. */
  private readonly starting = new Set<string>();
  /** This instance, as a lease holder. */
  private readonly holder = `runner_${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly backendJobMaxMs: number;
  private takeover: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly audit: Audit,
    private readonly logger: Logger,
    private readonly live: LiveConfig,
    options: RunnerOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.backendJobMaxMs = options.backendJobMaxMs ?? DEFAULT_BACKEND_JOB_MAX_MS;
    this.approvalUrl = options.approvalUrl ?? ((jobId) => `/console/approvals/${jobId}`);
    // A backend made read-only stops its jobs now: their retry waits wake up and send nothing more.
    live.onReload(() => {
      for (const active of this.active.values()) {
        if (this.live.backend(active.job.backend)?.readOnly !== false) active.halt.abort();
      }
    });
    // Connections are built once, from the config the process started with (a reload needs a restart for them).
    for (const config of Object.values(live.current.backends)) {
      const { client, http } = connectBackend(config);
      const queue = new PQueue({
        concurrency: config.concurrency,
        strict: true,
        ...pacing(config.requestsPerSecond),
      });
      this.lanes.set(config.name, { config, client, http, queue });
    }
  }

  /** Stores the job and its batch records (not yet indexed: claiming the plan does that). */
  /** The job's page in the approval console. */
  readonly approvalUrl: (jobId: string) => string;

  /** `approval`: the job waits for approvers (approval mode) instead of being queued. */
  async createJob(
    plan: PlanRecord,
    jobId: string,
    actor: string,
    approval: ApprovalRecord | null = null,
  ): Promise<JobRecord> {
    const job: JobRecord = {
      id: jobId,
      plan_id: plan.id,
      backend: plan.backend,
      kind: plan.kind,
      target: plan.target,
      reason: plan.reason,
      requested_by: actor,
      owner: plan.owner ?? null,
      status: approval ? "awaiting_approval" : "queued",
      total: plan.counts.to_delete,
      batch_count: plan.batch_count,
      notes: plan.notes,
      cancel_requested: false,
      halted: null,
      approval,
      created_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
    };
    const batches = Array.from(
      { length: plan.batch_count },
      (_, index): BatchRecord => ({
        index,
        size: Math.min(plan.batch_size, plan.counts.to_delete - index * plan.batch_size),
        status: "pending",
        attempts: 0,
        deleted: 0,
        not_found: 0,
        failed: [],
        remaining: null,
        backend_job: null,
        last_error: null,
      }),
    );
    // Every batch record before the job record: a stored job always has all its batches.
    await this.store.putBatches(job.id, batches);
    await this.store.putJob(job);
    return job;
  }

  static newJobId(): string {
    return `job_${randomUUID()}`;
  }

  /**
   * Starts (or resumes) a job in the background when this instance gets its lease; a job already running
   * here, or on another instance that holds its lease, is left alone. True when it runs here now.
   */
  async start(jobId: string): Promise<boolean> {
    if (this.closed || this.active.has(jobId) || this.starting.has(jobId)) return this.active.has(jobId);
    this.starting.add(jobId);
    try {
      const asked = Date.now();
      if (!(await this.store.acquireLease(jobId, this.holder, this.leaseMs))) return false;
      // Read after taking the lease: a previous holder may have written progress until it lost it.
      const job = await this.store.getJob(jobId);
      // A job awaiting approval sends nothing until the approvers decide (src/approval).
      if (!job || isTerminal(job) || job.status === "awaiting_approval" || this.closed) {
        await this.store.releaseLease(jobId, this.holder);
        return false;
      }
      if (this.store.shared && (await this.store.cancelRequested(jobId))) job.cancel_requested = true;
      const batches = await this.store.getBatches(job.id, job.batch_count);
      const events = new EventEmitter();
      events.setMaxListeners(0);
      const active: ActiveJob = {
        job,
        batches,
        events,
        done: Promise.resolve(),
        leaseUntil: asked + this.leaseMs,
        lost: false,
        renewal: null,
        halt: new AbortController(),
      };
      this.active.set(jobId, active);
      if (this.store.shared) {
        this.logger.info({ job_id: jobId, status: job.status }, "running job on this instance");
        this.keepLease(active);
      }
      active.done = this.run(active)
        .catch((error: Error) => {
          this.logger.error({ err: error, job_id: jobId }, "job runner stopped unexpectedly");
        })
        .finally(() => this.settle(active));
      return true;
    } finally {
      this.starting.delete(jobId);
    }
  }

  /** Resumes every unfinished job in the store (called at start-up); on a shared store, keeps taking over. */
  async resumeAll(): Promise<number> {
    let resumed = 0;
    for (const job of await this.store.unfinishedJobs()) {
      if (await this.start(job.id)) resumed++;
    }
    if (resumed > 0) this.logger.info({ resumed }, "resumed unfinished jobs");
    if (this.store.shared && !this.takeover && !this.closed) {
      // An instance that stops (crash, kill -9) leaves its jobs' leases to expire; whoever scans next takes them.
      let scanning = false;
      this.takeover = setInterval(() => {
        if (scanning) return;
        scanning = true;
        this.takeOverJobs()
          .catch((error: Error) => this.logger.warn({ err: error }, "takeover scan failed"))
          .finally(() => {
            scanning = false;
          });
      }, this.leaseMs / 2);
      this.takeover.unref();
    }
    return resumed;
  }

  /**
   * Stops sending batches that have not started, wherever the job runs: the request is stored, and the
   * instance running it reads it before each batch. False when the job is unknown or already finished.
   */
  async cancel(jobId: string): Promise<boolean> {
    const active = this.active.get(jobId);
    const job = active?.job ?? (await this.store.getJob(jobId));
    if (!job || isTerminal(job)) return false;
    await this.store.requestCancel(jobId);
    if (active && !active.job.cancel_requested) {
      active.job.cancel_requested = true;
      active.halt.abort();
      await this.saveJob(active);
    }
    return true;
  }

  /**
   * Ends a job that must send nothing because the audit log could not be written when it was confirmed: it
   * stops for good with that error (SPEC §7), and its ids count as failed when it finishes.
   */
  async haltForAudit(jobId: string, error: Error): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (!job || isTerminal(job)) return;
    job.halted = auditFailure(error);
    this.logger.error({ err: error, job_id: jobId }, "audit log not writable: the job sends nothing");
    await this.store.putJob(job);
  }

  /** Waits until the job is terminal or `ms` passed; `onChange` hears every batch change meanwhile. */
  async waitFor(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    if (ms <= 0) return;
    const active = this.active.get(jobId);
    if (!active) return this.follow(jobId, ms, onChange);
    const listener = () => onChange?.(jobView(active.job, active.batches, null, this.approvalUrl));
    active.events.on("change", listener);
    try {
      await Promise.race([active.done, sleep(ms, undefined, { ref: false })]);
    } finally {
      active.events.off("change", listener);
    }
  }

  /** The newest jobs this owner may see (null: all), optionally of one status, without failed ids. */
  async list(query: { owner: string | null; status?: JobStatus; limit: number }): Promise<JobView[]> {
    const jobs: JobView[] = [];
    // A job awaiting approval past its expiry is shown expired (view.ts): it is stored as awaiting still.
    const statuses: JobStatus[] | undefined = query.status
      ? query.status === "expired"
        ? ["expired", "awaiting_approval"]
        : [query.status]
      : undefined;
    // The store reads its index a page at a time, so the cost follows `limit`, not how many jobs were ever run.
    for (let offset = 0; jobs.length < query.limit; offset += query.limit) {
      const page = await this.store.recentJobs({ owner: query.owner, statuses, offset, limit: query.limit });
      const views = await Promise.all(page.map((job) => this.view(job.id, null, query.owner)));
      for (const view of views) {
        if (view && (!query.status || view.status === query.status) && jobs.length < query.limit)
          jobs.push(view);
      }
      if (page.length < query.limit) break;
    }
    return jobs;
  }

  /**
   * The current view of a job: from memory while it runs here, else from the store. On a shared store always
   * from the store, so every instance answers the same.
   */
  async view(
    jobId: string,
    failedPage: { offset: number; limit: number } | null,
    owner: string | null,
  ): Promise<JobView | undefined> {
    const active = this.store.shared ? undefined : this.active.get(jobId);
    if (active)
      return ownedBy(active.job, owner)
        ? jobView(active.job, active.batches, failedPage, this.approvalUrl)
        : undefined;
    const job = await this.store.getJob(jobId);
    if (!job || !ownedBy(job, owner)) return undefined;
    return jobView(job, await this.store.getBatches(job.id, job.batch_count), failedPage, this.approvalUrl);
  }

  /** Stops taking work and closes connections; unfinished jobs resume at the next start (or on another instance). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.takeover) clearInterval(this.takeover);
    for (const active of this.active.values()) {
      if (active.renewal) clearTimeout(active.renewal);
      active.halt.abort();
      if (!this.store.shared) continue;
      // Handed over now rather than when the lease expires; what is in flight here is not recorded.
      active.lost = true;
      await this.store.releaseLease(active.job.id, this.holder).catch(() => undefined);
    }
    for (const lane of this.lanes.values()) {
      lane.queue.clear();
      await lane.http.close().catch(() => undefined);
    }
  }

  private lane(backend: string): Lane {
    const lane = this.lanes.get(backend);
    if (!lane) throw new Error(`backend ${backend} is not configured`);
    return lane;
  }

  /** Follows a job that does not run here through the store, until it is terminal or `ms` passed. */
  private async follow(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const job = await this.store.getJob(jobId);
      if (!job || isTerminal(job)) return;
      if (onChange) onChange(jobView(job, await this.store.getBatches(job.id, job.batch_count), null));
      const left = deadline - Date.now();
      if (left <= 0) return;
      await sleep(Math.min(FOLLOW_MS, left), undefined, { ref: false });
    }
  }

  private async takeOverJobs(): Promise<void> {
    for (const job of await this.store.unfinishedJobs()) {
      if (this.closed) return;
      if (!this.active.has(job.id)) await this.start(job.id);
    }
  }

  /** Renews the lease every third of its length; a refusal, or no renewal in time, loses the job here. */
  private keepLease(active: ActiveJob): void {
    const running = () => this.active.get(active.job.id) === active && !this.stopped(active);
    const renew = async () => {
      const asked = Date.now();
      try {
        const held = await this.store.renewLease(active.job.id, this.holder, this.leaseMs);
        if (held) active.leaseUntil = asked + this.leaseMs;
        else if (running()) this.loseLease(active, "another instance holds the lease");
      } catch (error) {
        this.logger.warn({ err: error, job_id: active.job.id }, "job lease not renewed");
      }
    };
    const schedule = () => {
      active.renewal = setTimeout(() => {
        void renew().finally(() => {
          if (running()) schedule();
        });
      }, this.leaseMs / 3);
      active.renewal.unref();
    };
    schedule();
  }

  private loseLease(active: ActiveJob, why: string): void {
    if (active.lost) return;
    active.lost = true;
    this.logger.warn(
      { job_id: active.job.id, why },
      "job lease lost: this instance stops working on the job",
    );
  }

  /** Whether this instance must stop working on the job: closing, or its lease is (or may be) gone. */
  private stopped(active: ActiveJob): boolean {
    if (this.store.shared && !active.lost && Date.now() >= active.leaseUntil) {
      this.loseLease(active, "the lease could not be renewed in time");
    }
    return this.closed || active.lost;
  }

  /** After the job's run ends here, finished or not. */
  private async settle(active: ActiveJob): Promise<void> {
    if (active.renewal) clearTimeout(active.renewal);
    if (this.active.get(active.job.id) === active) this.active.delete(active.job.id);
    if (!active.lost) await this.store.releaseLease(active.job.id, this.holder).catch(() => undefined);
  }

  /** Another instance may have asked to cancel: its request is in the store, not in this job's memory. */
  private async checkCancel(active: ActiveJob): Promise<void> {
    if (!this.store.shared || active.job.cancel_requested) return;
    if (await this.store.cancelRequested(active.job.id)) {
      active.job.cancel_requested = true;
      active.halt.abort();
      await this.saveJob(active);
    }
  }

  /**
   * Whether the job must send nothing more, for good: cancelled, its backend made read-only (the kill switch,
   * read before every batch and every request), or its audit log not writable. Closing or losing the lease is
   * `stopped`: another run sends the rest.
   */
  private halting(active: ActiveJob): boolean {
    const { job } = active;
    if (this.stopped(active) || job.halted || job.cancel_requested) return true;
    if (this.live.backend(job.backend)?.readOnly === false) return false;
    job.cancel_requested = true;
    job.notes = [...job.notes, readOnlyNote(job.backend)];
    active.halt.abort();
    this.logger.warn(
      { job_id: job.id, backend: job.backend },
      "backend is read-only now: the job stops sending",
    );
    this.saveJob(active).catch((error: Error) =>
      this.logger.error({ err: error, job_id: job.id }, "job not stored"),
    );
    return true;
  }

  /** A batch the job will not send: cancelled, unless the audit failed (then it fails at finish) or work stopped here. */
  private async haltBatch(active: ActiveJob, batch: BatchRecord): Promise<void> {
    if (this.stopped(active) || active.job.halted) return;
    batch.status = "cancelled";
    await this.saveBatch(active, batch);
  }

  /**
   * Writes an audit line of the job; false when it cannot be written. The job then stops sending for good: no
   * delete goes out that the audit log does not name (SPEC §8), and the failure is never a backend attempt.
   */
  private async record(active: ActiveJob, entry: AuditEntry): Promise<boolean> {
    try {
      this.audit.record(entry);
      return true;
    } catch (error) {
      const { job } = active;
      if (!job.halted) {
        job.halted = auditFailure(error as Error);
        active.halt.abort();
        this.logger.error({ err: error, job_id: job.id }, "audit log not writable: the job stops sending");
        await this.saveJob(active);
      }
      return false;
    }
  }

  /** Waits, unless the job halts first. */
  private async pause(active: ActiveJob, ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: active.halt.signal }).catch(() => undefined);
  }

  // An instance that lost the lease writes nothing more: the job's new holder owns its records.
  private async saveBatch(active: ActiveJob, batch: BatchRecord): Promise<void> {
    if (active.lost) return;
    await this.store.putBatch(active.job.id, batch);
    active.events.emit("change");
  }

  private async saveJob(active: ActiveJob): Promise<void> {
    if (active.lost) return;
    await this.store.putJob(active.job);
    active.events.emit("change");
  }

  private async run(active: ActiveJob): Promise<void> {
    const { job, batches } = active;
    const lane = this.lane(job.backend);
    // The HTTP client is loaded at the first job, not at start-up; before any pacing slot is taken.
    await lane.http.ready();
    if (job.status === "queued") {
      job.status = "running";
      job.started_at = new Date().toISOString();
      await this.saveJob(active);
      await this.record(active, {
        event: "job.started",
        ...jobFields(job),
        counts: { total: job.total, batches: job.batch_count },
      });
    }
    const polls: Promise<void>[] = batches
      .filter((batch) => batch.status === "awaiting_backend")
      .map((batch) => this.pollBatch(active, batch));
    // A batch left `sending` by a crash has an unknown outcome: it is sent again (deletes are idempotent). The
    // attempt the crash cut short got no answer, so it is not counted against maxAttempts.
    for (const batch of batches) {
      if (batch.status === "sending") batch.attempts = Math.max(0, batch.attempts - 1);
    }
    const toSend = batches.filter((batch) => batch.status === "pending" || batch.status === "sending");
    // The ids of the next few batches are read while earlier ones are in flight, so no request waits for its
    // read; only these few batches of ids are held, never the whole plan.
    const reads = new Map<number, Promise<string[]>>();
    const readAhead = (position: number) => {
      const batch = toSend[position];
      if (!batch || batch.remaining || reads.has(position)) return;
      const read = this.store.getPlanBatch(job.plan_id, batch.index);
      // Its failure is thrown where it is awaited.
      read.catch(() => undefined);
      reads.set(position, read);
    };
    let next = 0;
    const worker = async () => {
      while (next < toSend.length && !this.stopped(active)) {
        const position = next++;
        const batch = toSend[position] as BatchRecord;
        for (let ahead = 0; ahead <= lane.config.concurrency; ahead++) readAhead(position + ahead);
        const ids = reads.get(position);
        reads.delete(position);
        await this.checkCancel(active);
        const sent = this.halting(active) ? "halted" : await this.sendBatch(active, lane, batch, ids);
        if (sent === "accepted") polls.push(this.pollBatch(active, batch));
        if (sent === "halted") await this.haltBatch(active, batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(lane.config.concurrency, toSend.length) }, worker));
    if (polls.length > 0 && batches.some((batch) => batch.status === "awaiting_backend")) {
      job.status = "awaiting_backend";
      await this.saveJob(active);
    }
    await Promise.all(polls);
    if (this.stopped(active)) return;
    await this.finish(active);
  }

  /**
   * Sends one batch: its `batch.sending` audit line first (write-ahead), then attempts up to maxAttempts with
   * backoff between them. "accepted": the backend runs it as a job to poll. `ids`: read ahead.
   */
  private async sendBatch(
    active: ActiveJob,
    lane: Lane,
    batch: BatchRecord,
    ids?: Promise<string[]>,
  ): Promise<SendResult> {
    const { job } = active;
    const maxAttempts = lane.config.maxAttempts;
    const state = {
      remaining: batch.remaining ?? (await (ids ?? this.store.getPlanBatch(job.plan_id, batch.index))),
      lastStatus: null as number | null,
      // Earlier partial answers of this batch (a 207, an all-or-nothing refusal), kept for its audit line.
      partials: [] as string[],
    };
    const announced = await this.record(active, {
      event: "batch.sending",
      ...jobFields(job),
      batch: batch.index,
      ids: state.remaining,
      attempts: batch.attempts,
    });
    if (!announced) return "halted";
    // Every attempt was answered before a restart (the last one in the retry wait): nothing is left to try.
    let failure: string | null =
      batch.attempts >= maxAttempts ? (batch.last_error ?? `${batch.attempts} attempts made`) : null;
    while (failure === null) {
      await this.checkCancel(active);
      if (this.halting(active)) return "halted";
      batch.attempts++;
      const result = await this.attempt(active, lane, batch, state);
      if (result.type === "failed") {
        failure = result.error;
        break;
      }
      if (result.type !== "retry") return result.type;
      this.logger.warn(
        {
          job_id: job.id,
          batch: batch.index,
          attempt: batch.attempts,
          max_attempts: maxAttempts,
          error: result.error,
        },
        "batch attempt failed",
      );
      if (batch.attempts >= maxAttempts) {
        failure = result.error;
        break;
      }
      // Answered and waiting for the next try: not in flight, and a restart must not count it again.
      batch.status = "pending";
      await this.saveBatch(active, batch);
      // The longer of the backoff and Retry-After, not their sum; a halt (cancel, kill switch) ends the wait.
      await this.pause(active, Math.max(result.retryAfterMs ?? 0, backoffMs(batch.attempts)));
    }
    // Stopped here (closing, lease lost): the batch is not failed, whoever runs the job next sends it.
    if (this.stopped(active)) return "halted";
    const error = failure as string;
    batch.status = "failed";
    batch.failed.push(...state.remaining.map((id) => ({ id, error })));
    batch.remaining = null;
    batch.last_error = error;
    await this.saveBatch(active, batch);
    await this.auditBatch(active, batch, "batch.failed", state.remaining, state.lastStatus, null, error);
    return "settled";
  }

  /** One attempt: a request, and the resends of an all-or-nothing backend's remaining ids that it does not count. */
  private async attempt(
    active: ActiveJob,
    lane: Lane,
    batch: BatchRecord,
    state: { remaining: string[]; lastStatus: number | null; partials: string[] },
  ): Promise<AttemptResult> {
    const { job } = active;
    for (;;) {
      batch.status = "sending";
      // Not stored on a store of one instance: a resume sends a stored "pending" batch again just as it would a
      // "sending" one, with the same attempts (the stored count is of answered attempts either way, "sending"
      // being stored with this attempt and resumed one less). That write before every request cost as much as
      // the request. On a shared store other instances read progress from the store, so it is written there.
      if (this.store.shared) await this.saveBatch(active, batch);
      else active.events.emit("change");
      const ids = state.remaining;
      const outcome = await lane.queue.add(async () =>
        // Read again right before the request leaves: the lease, a cancel or the kill switch may have come
        // while it waited for its turn.
        this.halting(active) ? null : lane.client.sendBatch({ target: job.target, ids, reason: job.reason }),
      );
      if (outcome === null) {
        // Never sent: the attempt is given back.
        batch.attempts--;
        batch.status = "pending";
        return { type: "halted" };
      }
      failpoint("batch.after-answer");
      state.lastStatus = "httpStatus" in outcome ? (outcome.httpStatus ?? null) : null;
      if (outcome.type === "retry") {
        batch.last_error = outcome.error;
        return { type: "retry", error: outcome.error, retryAfterMs: outcome.retryAfterMs };
      }
      if (outcome.type === "failed") return { type: "failed", error: outcome.error };
      if (outcome.type === "accepted") {
        batch.status = "awaiting_backend";
        batch.backend_job = { id: outcome.backendJobId, status: "pending" };
        batch.remaining = null;
        await this.saveBatch(active, batch);
        return { type: "accepted" };
      }
      batch.deleted += outcome.deleted;
      batch.not_found += outcome.notFound;
      batch.failed.push(...outcome.failed);
      if (outcome.retryIds && outcome.retryIds.ids.length > 0) {
        state.partials.push(
          `HTTP ${outcome.httpStatus}${outcome.reference ? ` (${outcome.reference})` : ""}: ` +
            `${outcome.retryIds.ids.length} of ${ids.length} ids sent again`,
        );
        state.remaining = outcome.retryIds.ids;
        batch.remaining = state.remaining;
        batch.last_error = outcome.retryIds.error;
        await this.saveBatch(active, batch);
        if (outcome.retryIds.countsAsAttempt) return { type: "retry", error: outcome.retryIds.error };
        if (this.halting(active)) {
          batch.status = "pending";
          return { type: "halted" };
        }
        continue;
      }
      batch.status = "done";
      batch.remaining = null;
      await this.saveBatch(active, batch);
      // The whole batch, not just the last request's ids: earlier requests of it settled ids too.
      const batchIds =
        ids.length === batch.size ? ids : await this.store.getPlanBatch(job.plan_id, batch.index);
      await this.auditBatch(
        active,
        batch,
        "batch.completed",
        batchIds,
        outcome.httpStatus,
        [...state.partials, outcome.reference].filter(Boolean).join("; ") || null,
      );
      return { type: "settled" };
    }
  }

  private async pollBatch(active: ActiveJob, batch: BatchRecord): Promise<void> {
    const lane = this.lane(active.job.backend);
    const backendJob = batch.backend_job;
    const poll = lane.client.pollJob;
    if (!backendJob || !poll) throw new Error(`batch ${batch.index} has no backend job to poll`);
    let delay = POLL_FIRST_MS;
    let failures = 0;
    const giveUpAt = Date.now() + this.backendJobMaxMs;
    while (!this.stopped(active)) {
      // The last look comes at the limit, not a whole poll interval after it.
      await sleep(Math.max(0, Math.min(delay, giveUpAt - Date.now())));
      if (this.stopped(active)) return;
      const outcome: PollOutcome = await lane.queue.add(() => poll(backendJob.id));
      if (outcome.type === "succeeded" || outcome.type === "failed") failpoint("poll.after-answer");
      const late = Date.now() >= giveUpAt;
      if (outcome.type === "running" && !late) {
        failures = 0;
        delay = Math.min(delay * 2, POLL_MAX_MS);
        if (backendJob.status !== outcome.status) {
          backendJob.status = outcome.status;
          await this.saveBatch(active, batch);
        }
        continue;
      }
      if (outcome.type === "retry" && ++failures < lane.config.maxAttempts && !late) {
        delay = Math.max(outcome.retryAfterMs ?? 0, Math.min(delay * 2, POLL_MAX_MS));
        continue;
      }
      // Unfinished at the limit: the outcome is unknown, and the ids fail saying so.
      const gaveUp = late && (outcome.type === "running" || outcome.type === "retry");
      if (outcome.type === "running") backendJob.status = outcome.status;
      const ids = await this.store.getPlanBatch(active.job.plan_id, batch.index);
      if (outcome.type === "succeeded") {
        backendJob.status = outcome.status;
        batch.deleted = batch.size;
        batch.status = "done";
        await this.saveBatch(active, batch);
        await this.auditBatch(active, batch, "batch.completed", ids, 202, backendJob.id);
        return;
      }
      const error = gaveUp
        ? `backend job ${backendJob.id} still ${backendJob.status} after ${formatMs(this.backendJobMaxMs)}: ` +
          `deletegate stopped waiting, the backend may still finish it` +
          (outcome.type === "retry" ? ` (last status read failed: ${outcome.error})` : "")
        : outcome.type === "failed"
          ? `backend job ${backendJob.id} failed: ${outcome.error}`
          : `status of backend job ${backendJob.id} could not be read: ${outcome.type === "running" ? outcome.status : outcome.error}`;
      if (outcome.type === "failed") backendJob.status = outcome.status;
      batch.failed = ids.map((id) => ({ id, error }));
      batch.status = "failed";
      batch.last_error = error;
      await this.saveBatch(active, batch);
      await this.auditBatch(active, batch, "batch.failed", ids, null, backendJob.id, error);
      return;
    }
  }

  private async auditBatch(
    active: ActiveJob,
    batch: BatchRecord,
    event: "batch.completed" | "batch.failed",
    ids: string[],
    httpStatus: number | null,
    reference: string | null,
    error?: string,
  ): Promise<void> {
    const { job } = active;
    await this.record(active, {
      event,
      ...jobFields(job),
      batch: batch.index,
      ids,
      http_status: httpStatus,
      backend_ref: reference,
      attempts: batch.attempts,
      counts: { deleted: batch.deleted, not_found: batch.not_found, failed: batch.failed.length },
      ...(error ? { error } : {}),
    });
  }

  private async finish(active: ActiveJob): Promise<void> {
    const { job, batches } = active;
    // The final status is written by the lease's holder only; an instance that lost it leaves that to the next.
    if (this.store.shared && !(await this.store.renewLease(job.id, this.holder, this.leaseMs))) {
      this.loseLease(active, "another instance holds the lease");
      return;
    }
    if (job.halted) await this.failUnsent(active);
    let status = this.finalStatusOf(active);
    // Audited before the status is stored: a crash in between repeats the line at resume, never loses it.
    const audited = await this.record(active, {
      event: status === "cancelled" ? "job.cancelled" : "job.finished",
      ...jobFields(job),
      status,
      counts: { ...jobView(job, batches, null).counts },
    });
    if (!audited) {
      await this.failUnsent(active);
      status = this.finalStatusOf(active);
    }
    job.status = status;
    job.finished_at = new Date().toISOString();
    await this.saveJob(active);
    this.logger.info(
      { job_id: job.id, status: job.status, counts: jobView(job, batches, null).counts },
      "job finished",
    );
  }

  /** SPEC §7: a job whose audit log failed ends failed, or partially_failed when some ids were deleted. */
  private finalStatusOf(active: ActiveJob): JobStatus {
    const { job, batches } = active;
    if (!job.halted) return finalStatus(job, batches);
    return batches.some((batch) => batch.deleted > 0) ? "partially_failed" : "failed";
  }

  /** The ids a halted job never sent count as failed with the reason it stopped; the note says so once. */
  private async failUnsent(active: ActiveJob): Promise<void> {
    const { job, batches } = active;
    const error = `not sent: ${job.halted}`;
    let unsent = 0;
    for (const batch of batches) {
      if (batch.status !== "pending" && batch.status !== "sending" && batch.status !== "cancelled") continue;
      const ids = batch.remaining ?? (await this.store.getPlanBatch(job.plan_id, batch.index));
      batch.failed.push(...ids.map((id) => ({ id, error })));
      batch.status = "failed";
      batch.remaining = null;
      batch.last_error = error;
      unsent += ids.length;
      await this.saveBatch(active, batch);
    }
    job.notes = [
      ...job.notes,
      `Stopped: ${job.halted}. Nothing more was sent; ${unsent} id(s) not sent count as failed. Every id that was sent is named by a batch.sending line of the audit log.`,
    ];
  }
}

/** The reason a job stops when the audit log cannot be written. */
function auditFailure(error: Error): string {
  return `the audit log could not be written (${error.message})`;
}
