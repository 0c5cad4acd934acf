// Runs jobs: per-backend concurrency and pacing, retries with backoff, backend-job polling beside sending, resume.
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import pRetry, { AbortError } from "p-retry";
import type { Audit } from "../audit.js";
import type { HttpClient } from "../backends/http.js";
import { connectBackend } from "../backends/index.js";
import type { BackendClient, BatchOutcome } from "../backends/types.js";
import type { BackendConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { BatchRecord, JobRecord, PlanRecord, Store } from "./store.js";
import { TERMINAL_STATUSES } from "./store.js";
import { finalStatus, type JobView, jobView, ownedBy } from "./view.js";

/** Backend-job polling: first look after this long, then doubling up to the maximum. */
export const POLL_FIRST_MS = 500;
export const POLL_MAX_MS = 5_000;

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
}

class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The fields every audit line about a job carries. */
function jobFields(job: JobRecord) {
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

export class Runner {
  private readonly lanes = new Map<string, Lane>();
  private readonly active = new Map<string, ActiveJob>();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly audit: Audit,
    private readonly logger: Logger,
    backends: Record<string, BackendConfig>,
  ) {
    for (const config of Object.values(backends)) {
      const { client, http } = connectBackend(config);
      const rps = config.requestsPerSecond;
      // One request start per 1/rps seconds in any rolling window (strict): an even pace, never a burst above the rate.
      const queue = new PQueue({
        concurrency: config.concurrency,
        intervalCap: 1,
        interval: 1000 / rps,
        strict: true,
      });
      this.lanes.set(config.name, { config, client, http, queue });
    }
  }

  /** Creates the job and its batch records; the plan must already name `jobId`. */
  async createJob(plan: PlanRecord, jobId: string, actor: string): Promise<JobRecord> {
    const job: JobRecord = {
      id: jobId,
      plan_id: plan.id,
      backend: plan.backend,
      kind: plan.kind,
      target: plan.target,
      reason: plan.reason,
      requested_by: actor,
      owner: plan.owner ?? null,
      status: "queued",
      total: plan.counts.to_delete,
      batch_count: plan.batch_count,
      notes: plan.notes,
      cancel_requested: false,
      created_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
    };
    for (let index = 0; index < plan.batch_count; index++) {
      const size = Math.min(plan.batch_size, plan.counts.to_delete - index * plan.batch_size);
      await this.store.putBatch(job.id, {
        index,
        size,
        status: "pending",
        attempts: 0,
        deleted: 0,
        not_found: 0,
        failed: [],
        remaining: null,
        backend_job: null,
        last_error: null,
      });
    }
    await this.store.putJob(job);
    await this.store.addJobToIndex(job.id);
    return job;
  }

  static newJobId(): string {
    return `job_${randomUUID()}`;
  }

  /** Starts (or resumes) a job in the background; a job already running here is left alone. */
  async start(jobId: string): Promise<void> {
    if (this.active.has(jobId) || this.closed) return;
    const job = await this.store.getJob(jobId);
    if (!job || isTerminal(job)) return;
    const batches = await this.store.getBatches(job.id, job.batch_count);
    const events = new EventEmitter();
    events.setMaxListeners(0);
    const active: ActiveJob = { job, batches, events, done: Promise.resolve() };
    this.active.set(jobId, active);
    active.done = this.run(active).catch((error: Error) => {
      this.logger.error({ err: error, job_id: jobId }, "job runner stopped unexpectedly");
    });
  }

  /** Resumes every unfinished job in the store (called at start-up). */
  async resumeAll(): Promise<number> {
    let resumed = 0;
    for (const id of await this.store.listJobIds()) {
      const job = await this.store.getJob(id);
      if (job && !isTerminal(job)) {
        await this.start(id);
        resumed++;
      }
    }
    if (resumed > 0) this.logger.info({ resumed }, "resumed unfinished jobs");
    return resumed;
  }

  /** Stops sending batches that have not started; returns false when the job is not running here. */
  async cancel(jobId: string): Promise<boolean> {
    const active = this.active.get(jobId);
    if (!active) return false;
    if (!active.job.cancel_requested) {
      active.job.cancel_requested = true;
      await this.store.putJob(active.job);
    }
    return true;
  }

  /** Waits until the job is terminal or `ms` passed; `onChange` hears every batch change meanwhile. */
  async waitFor(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    const active = this.active.get(jobId);
    if (!active || ms <= 0) return;
    const listener = () => onChange?.(jobView(active.job, active.batches, null));
    active.events.on("change", listener);
    try {
      await Promise.race([active.done, sleep(ms, undefined, { ref: false })]);
    } finally {
      active.events.off("change", listener);
    }
  }

  /** The current view of a job, from memory while it runs here, else from the store. */
  async view(
    jobId: string,
    failedPage: { offset: number; limit: number } | null,
    owner: string | null,
  ): Promise<JobView | undefined> {
    const active = this.active.get(jobId);
    if (active)
      return ownedBy(active.job, owner) ? jobView(active.job, active.batches, failedPage) : undefined;
    const job = await this.store.getJob(jobId);
    if (!job || !ownedBy(job, owner)) return undefined;
    return jobView(job, await this.store.getBatches(job.id, job.batch_count), failedPage);
  }

  /** Stops taking work and closes connections; unfinished jobs resume at the next start. */
  async close(): Promise<void> {
    this.closed = true;
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

  private async saveBatch(active: ActiveJob, batch: BatchRecord): Promise<void> {
    await this.store.putBatch(active.job.id, batch);
    active.events.emit("change");
  }

  private async saveJob(active: ActiveJob): Promise<void> {
    await this.store.putJob(active.job);
    active.events.emit("change");
  }

  private async run(active: ActiveJob): Promise<void> {
    const { job, batches } = active;
    const lane = this.lane(job.backend);
    if (job.status === "queued") {
      job.status = "running";
      job.started_at = new Date().toISOString();
      await this.saveJob(active);
      this.audit.record({
        event: "job.started",
        ...jobFields(job),
        counts: { total: job.total, batches: job.batch_count },
      });
    }
    const polls: Promise<void>[] = batches
      .filter((batch) => batch.status === "awaiting_backend")
      .map((batch) => this.pollBatch(active, batch));
    // A batch left `sending` by a crash has an unknown outcome: it is sent again (deletes are idempotent).
    const toSend = batches.filter((batch) => batch.status === "pending" || batch.status === "sending");
    let next = 0;
    const worker = async () => {
      while (next < toSend.length && !this.closed) {
        const batch = toSend[next++] as BatchRecord;
        if (job.cancel_requested) {
          batch.status = "cancelled";
          await this.saveBatch(active, batch);
          continue;
        }
        if (await this.sendBatch(active, lane, batch)) polls.push(this.pollBatch(active, batch));
      }
    };
    await Promise.all(Array.from({ length: Math.min(lane.config.concurrency, toSend.length) }, worker));
    if (polls.length > 0 && batches.some((batch) => batch.status === "awaiting_backend")) {
      job.status = "awaiting_backend";
      await this.saveJob(active);
    }
    await Promise.all(polls);
    if (this.closed) return;
    await this.finish(active);
  }

  /** Sends one batch with retries; true when the backend accepted it as a job to poll. */
  private async sendBatch(active: ActiveJob, lane: Lane, batch: BatchRecord): Promise<boolean> {
    const { job } = active;
    let remaining = batch.remaining ?? (await this.store.getPlanBatch(job.plan_id, batch.index));
    let lastStatus: number | null = null;
    // Earlier partial answers of this batch (a 207, an all-or-nothing refusal), kept for its audit line.
    const partials: string[] = [];
    const attempt = async (): Promise<BatchOutcome> => {
      // Resends that do not count as attempts (an all-or-nothing backend's remaining ids) share this one.
      batch.attempts++;
      for (;;) {
        batch.status = "sending";
        await this.saveBatch(active, batch);
        const ids = remaining;
        const outcome = await lane.queue.add(() =>
          lane.client.sendBatch({ target: job.target, ids, reason: job.reason }),
        );
        lastStatus = "httpStatus" in outcome ? (outcome.httpStatus ?? null) : null;
        if (outcome.type === "retry") {
          batch.last_error = outcome.error;
          throw new TransientError(outcome.error, outcome.retryAfterMs);
        }
        if (outcome.type === "failed") throw new AbortError(outcome.error);
        if (outcome.type === "accepted") {
          batch.status = "awaiting_backend";
          batch.backend_job = { id: outcome.backendJobId, status: "pending" };
          batch.remaining = null;
          await this.saveBatch(active, batch);
          return outcome;
        }
        batch.deleted += outcome.deleted;
        batch.not_found += outcome.notFound;
        batch.failed.push(...outcome.failed);
        if (outcome.retryIds && outcome.retryIds.ids.length > 0) {
          partials.push(
            `HTTP ${outcome.httpStatus}${outcome.reference ? ` (${outcome.reference})` : ""}: ` +
              `${outcome.retryIds.ids.length} of ${ids.length} ids sent again`,
          );
          remaining = outcome.retryIds.ids;
          batch.remaining = remaining;
          batch.last_error = outcome.retryIds.error;
          await this.saveBatch(active, batch);
          if (outcome.retryIds.countsAsAttempt) throw new TransientError(outcome.retryIds.error);
          continue;
        }
        batch.status = "done";
        batch.remaining = null;
        await this.saveBatch(active, batch);
        // The whole batch, not just the last request's ids: earlier requests of it settled ids too.
        const batchIds =
          ids.length === batch.size ? ids : await this.store.getPlanBatch(job.plan_id, batch.index);
        this.auditBatch(
          active,
          batch,
          "batch.completed",
          batchIds,
          outcome.httpStatus,
          [...partials, outcome.reference].filter(Boolean).join("; ") || null,
        );
        return outcome;
      }
    };
    try {
      const outcome = await pRetry(attempt, {
        retries: Math.max(0, lane.config.maxAttempts - batch.attempts - 1),
        factor: 2,
        minTimeout: 200,
        maxTimeout: 15_000,
        randomize: true,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          this.logger.warn(
            {
              job_id: job.id,
              batch: batch.index,
              attempt: attemptNumber,
              retries_left: retriesLeft,
              error: error.message,
            },
            "batch attempt failed",
          );
          const wait = (error as TransientError).retryAfterMs;
          if (retriesLeft > 0 && wait) await sleep(wait);
        },
      });
      return outcome.type === "accepted";
    } catch (error) {
      const message = (error as Error).message;
      batch.status = "failed";
      batch.failed.push(...remaining.map((id) => ({ id, error: message })));
      batch.remaining = null;
      batch.last_error = message;
      await this.saveBatch(active, batch);
      this.auditBatch(active, batch, "batch.failed", remaining, lastStatus, null, message);
      return false;
    }
  }

  private async pollBatch(active: ActiveJob, batch: BatchRecord): Promise<void> {
    const lane = this.lane(active.job.backend);
    const backendJob = batch.backend_job;
    const poll = lane.client.pollJob;
    if (!backendJob || !poll) throw new Error(`batch ${batch.index} has no backend job to poll`);
    let delay = POLL_FIRST_MS;
    let failures = 0;
    while (!this.closed) {
      await sleep(delay);
      const outcome = await lane.queue.add(() => poll(backendJob.id));
      if (outcome.type === "running") {
        failures = 0;
        delay = Math.min(delay * 2, POLL_MAX_MS);
        if (backendJob.status !== outcome.status) {
          backendJob.status = outcome.status;
          await this.saveBatch(active, batch);
        }
        continue;
      }
      if (outcome.type === "retry" && ++failures < lane.config.maxAttempts) {
        delay = Math.max(outcome.retryAfterMs ?? 0, Math.min(delay * 2, POLL_MAX_MS));
        continue;
      }
      const ids = await this.store.getPlanBatch(active.job.plan_id, batch.index);
      if (outcome.type === "succeeded") {
        backendJob.status = outcome.status;
        batch.deleted = batch.size;
        batch.status = "done";
        await this.saveBatch(active, batch);
        this.auditBatch(active, batch, "batch.completed", ids, 202, backendJob.id);
        return;
      }
      const error =
        outcome.type === "failed"
          ? `backend job ${backendJob.id} failed: ${outcome.error}`
          : `status of backend job ${backendJob.id} could not be read: ${outcome.error}`;
      if (outcome.type === "failed") backendJob.status = outcome.status;
      batch.failed = ids.map((id) => ({ id, error }));
      batch.status = "failed";
      batch.last_error = error;
      await this.saveBatch(active, batch);
      this.auditBatch(active, batch, "batch.failed", ids, null, backendJob.id, error);
      return;
    }
  }

  private auditBatch(
    active: ActiveJob,
    batch: BatchRecord,
    event: "batch.completed" | "batch.failed",
    ids: string[],
    httpStatus: number | null,
    reference: string | null,
    error?: string,
  ): void {
    const { job } = active;
    this.audit.record({
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
    const status = finalStatus(job, batches);
    const view = jobView(job, batches, null);
    // Audited before the status is stored: a crash in between repeats the line at resume, never loses it.
    this.audit.record({
      event: status === "cancelled" ? "job.cancelled" : "job.finished",
      ...jobFields(job),
      status,
      counts: { ...view.counts },
    });
    job.status = status;
    job.finished_at = new Date().toISOString();
    await this.saveJob(active);
    this.active.delete(job.id);
    this.logger.info({ job_id: job.id, status: job.status, counts: view.counts }, "job finished");
  }
}
