// One job's run in this process: its records as they change, its lease, and the steps every part of a run shares:
// writing its records and audit lines, reading whether it must stop (closing, lease lost) or halt for good (cancel,
// kill switch, audit failure).
import type { EventEmitter } from "node:events";
import type { Audit, AuditEntry } from "../audit/index.js";
import type { LiveConfig } from "../live-config.js";
import type { Logger } from "../logger.js";
import { sleep } from "./clock.js";
import type { BatchRecord, JobRecord, Store } from "./store.js";

/** What a run needs of the runner it belongs to. */
export interface RunContext {
  store: Store;
  audit: Audit;
  logger: Logger;
  live: LiveConfig;
  /** This process, as a lease holder, and the lease's length. */
  holder: string;
  leaseMs: number;
  /** True once the runner closes: every run stops. */
  closed(): boolean;
  /** Whether this run is still the one the runner runs for its job. */
  isActive(run: JobRun): boolean;
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

/** The reason a job stops when the audit log cannot be written. */
export function auditFailure(error: Error): string {
  return `the audit log could not be written (${error.message})`;
}

/** The note of a job the kill switch stopped. */
function readOnlyNote(backend: string): string {
  return `Stopped: backend ${backend} became read-only in deletegate's config (the operator's kill switch); no request was sent after that, and batches not yet sent were cancelled.`;
}

export class JobRun {
  done: Promise<void> = Promise.resolve();
  /** The lease went to another process (or could not be renewed in time): stop sending, stop writing. */
  lost = false;
  renewal: NodeJS.Timeout | null = null;
  /** Aborted when the job must stop sending (cancel, kill switch, audit failure, close): wakes its retry waits. */
  readonly halt = new AbortController();

  constructor(
    readonly ctx: RunContext,
    readonly job: JobRecord,
    readonly batches: BatchRecord[],
    readonly events: EventEmitter,
    /** Until when this process surely holds the job's lease (shared store only). */
    public leaseUntil: number,
  ) {}

  /** Renews the lease every third of its length; a refusal, or no renewal in time, loses the job here. */
  keepLease(): void {
    const running = () => this.ctx.isActive(this) && !this.stopped();
    const renew = async () => {
      const asked = Date.now();
      try {
        const held = await this.ctx.store.renewLease(this.job.id, this.ctx.holder, this.ctx.leaseMs);
        if (held) this.leaseUntil = asked + this.ctx.leaseMs;
        else if (running()) this.loseLease("another instance holds the lease");
      } catch (error) {
        this.ctx.logger.warn({ err: error, job_id: this.job.id }, "job lease not renewed");
      }
    };
    const schedule = () => {
      this.renewal = setTimeout(() => {
        void renew().finally(() => {
          if (running()) schedule();
        });
      }, this.ctx.leaseMs / 3);
      this.renewal.unref();
    };
    schedule();
  }

  loseLease(why: string): void {
    if (this.lost) return;
    this.lost = true;
    this.ctx.logger.warn(
      { job_id: this.job.id, why },
      "job lease lost: this instance stops working on the job",
    );
  }

  /** Whether this instance must stop working on the job: closing, or its lease is (or may be) gone. */
  stopped(): boolean {
    if (this.ctx.store.shared && !this.lost && Date.now() >= this.leaseUntil) {
      this.loseLease("the lease could not be renewed in time");
    }
    return this.ctx.closed() || this.lost;
  }

  /** Another instance may have asked to cancel: its request is in the store, not in this job's memory. */
  async checkCancel(): Promise<void> {
    if (!this.ctx.store.shared || this.job.cancel_requested) return;
    if (await this.ctx.store.cancelRequested(this.job.id)) {
      this.job.cancel_requested = true;
      this.halt.abort();
      await this.saveJob();
    }
  }

  /**
   * Whether the job must send nothing more, for good: cancelled, its backend made read-only (the kill switch,
   * read before every batch and every request), or its audit log not writable. Closing or losing the lease is
   * `stopped`: another run sends the rest.
   */
  halting(): boolean {
    const { job } = this;
    if (this.stopped() || job.halted || job.cancel_requested) return true;
    if (this.ctx.live.backend(job.backend)?.readOnly === false) return false;
    job.cancel_requested = true;
    job.notes = [...job.notes, readOnlyNote(job.backend)];
    this.halt.abort();
    this.ctx.logger.warn(
      { job_id: job.id, backend: job.backend },
      "backend is read-only now: the job stops sending",
    );
    this.saveJob().catch((error: Error) =>
      this.ctx.logger.error({ err: error, job_id: job.id }, "job not stored"),
    );
    return true;
  }

  /** A batch the job will not send: cancelled, unless the audit failed (then it fails at finish) or work stopped here. */
  async haltBatch(batch: BatchRecord): Promise<void> {
    if (this.stopped() || this.job.halted) return;
    batch.status = "cancelled";
    await this.saveBatch(batch);
  }

  /**
   * Writes an audit line of the job; false when it cannot be written. The job then stops sending for good: no
   * delete goes out that the audit log does not name (SPEC §8), and the failure is never a backend attempt.
   */
  async record(entry: AuditEntry): Promise<boolean> {
    try {
      this.ctx.audit.record(entry);
      return true;
    } catch (error) {
      const { job } = this;
      if (!job.halted) {
        job.halted = auditFailure(error as Error);
        this.halt.abort();
        this.ctx.logger.error(
          { err: error, job_id: job.id },
          "audit log not writable: the job stops sending",
        );
        await this.saveJob();
      }
      return false;
    }
  }

  /** Waits, unless the job halts first. */
  async pause(ms: number): Promise<void> {
    await sleep(ms, { signal: this.halt.signal }).catch(() => undefined);
  }

  // An instance that lost the lease writes nothing more: the job's new holder owns its records.
  async saveBatch(batch: BatchRecord): Promise<void> {
    if (this.lost) return;
    const { store, holder } = this.ctx;
    // On a shared store the write checks the lease itself: a holder that lost it without knowing writes nothing.
    if (store.shared) {
      if (!(await store.putBatchAsHolder(this.job.id, batch, holder)))
        this.loseLease("the store refused the write: another process holds the lease");
    } else await store.putBatch(this.job.id, batch);
    this.events.emit("change");
  }

  async saveJob(): Promise<void> {
    if (this.lost) return;
    const { store, holder } = this.ctx;
    if (store.shared) {
      if (!(await store.putJobAsHolder(this.job, holder)))
        this.loseLease("the store refused the write: another process holds the lease");
    } else await store.putJob(this.job);
    this.events.emit("change");
  }

  async auditBatch(
    batch: BatchRecord,
    event: "batch.completed" | "batch.failed",
    ids: string[],
    httpStatus: number | null,
    reference: string | null,
    error?: string,
  ): Promise<void> {
    const { job } = this;
    await this.record({
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
}
