// Runs jobs: per-backend concurrency and pacing, retries with backoff, backend-job polling beside sending, resume,
// and, on a store shared by several instances, job leases: one instance runs a job, another takes it over when it stops.
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Audit } from "../audit/index.js";
import type { LiveConfig } from "../live-config.js";
import type { Logger } from "../logger.js";
import { sleep } from "./clock.js";
import { auditFailure, JobRun, jobFields, type RunContext } from "./job-run.js";
import { type Lane, LaneClosedError, Lanes } from "./lanes.js";
import { pollBatch } from "./poll-batch.js";
import { JobQueries } from "./queries.js";
import { sendBatch } from "./send-batch.js";
import type { ApprovalRecord, BatchRecord, JobRecord, JobStatus, PlanRecord, Store } from "./store.js";
import { isTerminal } from "./store.js";
import { countJob, finalStatus, type JobView } from "./view.js";

/**
 * How long a backend job may stay unfinished before its batch fails with "still <status>" (config
 * jobs.backendJobMaxMs), so a backend job that never ends cannot keep a deletegate job waiting forever. Counted
 * from when this instance began polling it.
 */
const DEFAULT_BACKEND_JOB_MAX_MS = 24 * 3_600_000;
/** How long a job's lease lasts unless renewed (renewed every third of it, taken over after it). */
const DEFAULT_LEASE_MS = 10_000;

export interface RunnerOptions {
  /** Job lease length on a shared store. */
  leaseMs?: number;
  /** How long a backend job may stay unfinished (jobs.backendJobMaxMs); default 24 h. */
  backendJobMaxMs?: number;
  /** The console page of a job awaiting approval (its `approval.url`). */
  approvalUrl?: (jobId: string) => string;
  /** The backends' lanes; default: built from the config. */
  lanes?: Lanes;
}

/** A job whose run stopped on an error (a store that failed) is started again after this long, doubling to the max. */
export const RESTART_FIRST_MS = 1_000;
export const RESTART_MAX_MS = 30_000;
/** After this many failed runs of one job, this process leaves it (logged); the next process start tries again. */
export const RESTART_LIMIT = 8;
/** close() waits this long for runs to finish their requests in flight, then closes the store under them. */
const CLOSE_WAIT_MS = 5_000;
/**
 * How many batches past its own a worker reads before sending: one. Ids read further ahead live longer, survive more
 * young-generation collections and are copied to the old one: reading `concurrency` ahead made a 200k job's
 * collections promote 3.6 and 2.4 MB instead of 2.0 and 1.5, and the job 6 % slower (BENCHMARKS.md, sixth session).
 */
const READ_AHEAD = 1;

export class Runner {
  private readonly lanes: Lanes;
  /** Aborted by close(): wakes every wait of every job run here. */
  private readonly lifetime = new AbortController();
  /** Jobs whose run stopped on an error, to start again (the timer, and the next delay). */
  private readonly restarts = new Map<
    string,
    { timer: NodeJS.Timeout | null; delay: number; failures: number }
  >();
  private readonly active = new Map<string, JobRun>();
  /** Jobs between start() and their entry in `active`: a second start() of them must not run them twice. */
  private readonly starting = new Set<string>();
  /** This instance, as a lease holder. */
  private readonly holder = `runner_${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly backendJobMaxMs: number;
  private takeover: NodeJS.Timeout | null = null;
  private closed = false;
  /** What every job run here shares with this runner. */
  private readonly context: RunContext;
  private readonly queries: JobQueries;

  constructor(
    private readonly store: Store,
    readonly audit: Audit,
    private readonly logger: Logger,
    private readonly live: LiveConfig,
    options: RunnerOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.backendJobMaxMs = options.backendJobMaxMs ?? DEFAULT_BACKEND_JOB_MAX_MS;
    this.approvalUrl = options.approvalUrl ?? ((jobId) => `/console/approvals/${jobId}`);
    this.context = {
      store,
      audit,
      logger,
      live,
      holder: this.holder,
      leaseMs: this.leaseMs,
      closed: () => this.closed,
      isActive: (run) => this.active.get(run.job.id) === run,
    };
    this.queries = new JobQueries(store, (jobId) => this.active.get(jobId), this.approvalUrl);
    // A backend made read-only stops its jobs now: their retry waits wake up and send nothing more.
    live.onReload(() => {
      for (const active of this.active.values()) {
        if (this.live.backend(active.job.backend)?.readOnly !== false) active.halt.abort();
      }
    });
    // Connections are built once, from the config the process started with (a reload needs a restart for them).
    this.lanes = options.lanes ?? new Lanes(Object.values(live.current.backends));
  }

  /** The job's page in the approval console. */
  readonly approvalUrl: (jobId: string) => string;

  /**
   * Stores the job and its batch records (not yet listed: claiming the plan does that). `approval`: the job waits
   * for approvers (approval mode) instead of being queued.
   */
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
    // A job whose runs kept failing here is left to the next process start (failedRun), the takeover scan included.
    if ((this.restarts.get(jobId)?.failures ?? 0) >= RESTART_LIMIT) return false;
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
      // A cancel stored while no run held the job (another instance's, or this one's between a failed run and its
      // restart) is read here, on every store.
      if (await this.store.cancelRequested(jobId)) job.cancel_requested = true;
      const batches = await this.store.getBatches(job.id, job.batch_count);
      const events = new EventEmitter();
      events.setMaxListeners(0);
      const active = new JobRun(this.context, job, batches, events, asked + this.leaseMs);
      this.active.set(jobId, active);
      if (this.store.shared) {
        this.logger.info({ job_id: jobId, status: job.status }, "running job on this instance");
        active.keepLease();
      }
      active.done = this.run(active)
        .then(
          () => {
            this.restarts.delete(jobId);
          },
          (error: Error) => this.failedRun(active, error),
        )
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
      if (job.status !== "awaiting_approval" && (await this.start(job.id))) resumed++;
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
      await active.saveJob();
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
  waitFor(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    return this.queries.waitFor(jobId, ms, onChange);
  }

  /** The newest jobs this owner may see (null: all), optionally of one status, without failed ids. */
  list(query: { owner: string | null; status?: JobStatus; limit: number }): Promise<JobView[]> {
    return this.queries.list(query);
  }

  /** The current view of a job (see JobQueries.view). */
  view(
    jobId: string,
    failedPage: { offset: number; limit: number } | null,
    owner: string | null,
  ): Promise<JobView | undefined> {
    return this.queries.view(jobId, failedPage, owner);
  }

  /** Stops taking work and closes connections; unfinished jobs resume at the next start (or on another instance). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.takeover) clearInterval(this.takeover);
    for (const restart of this.restarts.values()) if (restart.timer) clearTimeout(restart.timer);
    this.lifetime.abort();
    const runs: Promise<void>[] = [];
    for (const active of this.active.values()) {
      if (active.renewal) clearTimeout(active.renewal);
      active.halt.abort();
      runs.push(active.done);
      // Nothing more is written for the job here: what is in flight is not recorded, the next run sends it again.
      active.lost = true;
      if (this.store.shared) await this.store.releaseLease(active.job.id, this.holder).catch(() => undefined);
    }
    // Requests in flight finish (and their connections with them) before the store and the audit log close.
    await Promise.race([Promise.allSettled(runs), sleep(CLOSE_WAIT_MS, { ref: false })]);
    await this.lanes.close();
  }

  private lane(backend: string): Lane {
    return this.lanes.get(backend);
  }

  /**
   * A run that stopped on an error (the store failed, say) leaves its job unfinished: it is started again here
   * after a delay that doubles up to RESTART_MAX_MS, instead of staying `running` until the next process start.
   */
  private failedRun(active: JobRun, error: Error): void {
    const jobId = active.job.id;
    if (this.closed || error instanceof LaneClosedError) return;
    const previous = this.restarts.get(jobId);
    const failures = (previous?.failures ?? 0) + 1;
    if (failures >= RESTART_LIMIT) {
      // Not a passing fault: a loop of failing runs helps nobody. The job stays unfinished in the store.
      this.restarts.set(jobId, { timer: null, delay: RESTART_MAX_MS, failures });
      this.logger.error(
        { err: error, job_id: jobId, failures },
        "job run failed again: this process leaves the job; the next process start tries it again",
      );
      return;
    }
    this.logger.error(
      { err: error, job_id: jobId, failures },
      "job run stopped on an error; it is started again",
    );
    const delay = previous ? Math.min(previous.delay * 2, RESTART_MAX_MS) : RESTART_FIRST_MS;
    const restart = { timer: null as NodeJS.Timeout | null, delay, failures };
    restart.timer = setTimeout(() => {
      restart.timer = null;
      this.start(jobId).catch((failure: Error) => this.failedRun(active, failure));
    }, delay);
    restart.timer.unref();
    this.restarts.set(jobId, restart);
  }

  private async takeOverJobs(): Promise<void> {
    for (const job of await this.store.unfinishedJobs()) {
      if (this.closed) return;
      // A job awaiting approval sends nothing: taking its lease only to give it back would cost two writes a scan.
      if (job.status !== "awaiting_approval" && !this.active.has(job.id)) await this.start(job.id);
    }
  }

  /** After the job's run ends here, finished or not. */
  private async settle(active: JobRun): Promise<void> {
    if (active.renewal) clearTimeout(active.renewal);
    if (this.active.get(active.job.id) === active) this.active.delete(active.job.id);
    if (!active.lost) await this.store.releaseLease(active.job.id, this.holder).catch(() => undefined);
  }

  private async run(active: JobRun): Promise<void> {
    const { job, batches } = active;
    const lane = this.lane(job.backend);
    // The HTTP client is loaded at the first job, not at start-up; before any pacing slot is taken.
    await lane.http.ready();
    if (job.status === "queued") {
      job.status = "running";
      job.started_at = new Date().toISOString();
      await active.saveJob();
      await active.record({
        event: "job.started",
        ...jobFields(job),
        counts: { total: job.total, batches: job.batch_count },
      });
    }
    // Each poll's failure is kept from the start (not an unhandled rejection while sending goes on), thrown at the end.
    const polls: Promise<Error | null>[] = [];
    const poll = (batch: BatchRecord) =>
      polls.push(
        pollBatch(active, lane, batch, {
          backendJobMaxMs: this.backendJobMaxMs,
          signal: this.lifetime.signal,
        }).then(
          () => null,
          (error: Error) => error,
        ),
      );
    for (const batch of batches) if (batch.status === "awaiting_backend") poll(batch);
    // A batch left `sending` by a crash has an unknown outcome: it is sent again (deletes are idempotent). The
    // attempt the crash cut short got no answer, so it is not counted against maxAttempts.
    for (const batch of batches) {
      if (batch.status === "sending") batch.attempts = Math.max(0, batch.attempts - 1);
    }
    const toSend = batches.filter((batch) => batch.status === "pending" || batch.status === "sending");
    // The ids of the next batch are read while earlier ones are in flight, so no request waits for its read; only
    // the batches in flight and the next one are held, never the whole plan.
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
      while (next < toSend.length && !active.stopped()) {
        const position = next++;
        const batch = toSend[position] as BatchRecord;
        for (let ahead = 0; ahead <= READ_AHEAD; ahead++) readAhead(position + ahead);
        const ids = reads.get(position);
        reads.delete(position);
        await active.checkCancel();
        const sent = active.halting() ? "halted" : await sendBatch(active, lane, batch, ids);
        if (sent === "accepted") poll(batch);
        if (sent === "halted") await active.haltBatch(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(lane.config.concurrency, toSend.length) }, worker));
    if (polls.length > 0 && batches.some((batch) => batch.status === "awaiting_backend")) {
      job.status = "awaiting_backend";
      await active.saveJob();
    }
    const failure = (await Promise.all(polls)).find((error) => error !== null);
    if (failure) throw failure;
    if (active.stopped()) return;
    await this.finish(active);
  }

  private async finish(active: JobRun): Promise<void> {
    const { job, batches } = active;
    // The final status is written by the lease's holder only; an instance that lost it leaves that to the next.
    if (this.store.shared && !(await this.store.renewLease(job.id, this.holder, this.leaseMs))) {
      active.loseLease("another instance holds the lease");
      return;
    }
    if (job.halted) await this.failUnsent(active);
    let status = finalStatus(job, batches);
    // Audited before the status is stored: a crash in between repeats the line at resume, never loses it.
    const audited = await active.record({
      event: status === "cancelled" ? "job.cancelled" : "job.finished",
      ...jobFields(job),
      status,
      counts: { ...countJob(job.total, batches) },
    });
    if (!audited) {
      await this.failUnsent(active);
      status = finalStatus(job, batches);
    }
    job.status = status;
    job.finished_at = new Date().toISOString();
    await active.saveJob();
    this.logger.info(
      { job_id: job.id, status: job.status, counts: countJob(job.total, batches) },
      "job finished",
    );
  }

  /** The ids a halted job never sent count as failed with the reason it stopped; the note says so once. */
  private async failUnsent(active: JobRun): Promise<void> {
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
      await active.saveBatch(batch);
    }
    job.notes = [
      ...job.notes,
      `Stopped: ${job.halted}. Nothing more was sent; ${unsent} id(s) not sent count as failed. Every id that was sent is named by a batch.sending line of the audit log.`,
    ];
  }
}
