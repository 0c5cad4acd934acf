// What callers read about jobs: one job's view, the newest jobs, and waiting for a job with its changes. A job running
// in this process is read from memory; on a shared store, or when it runs elsewhere, from the store.
import { sleep } from "./clock.js";
import type { JobRun } from "./job-run.js";
import { isTerminal, type JobRecord, type JobStatus, type Store } from "./store.js";
import { type JobView, jobView, ownedBy } from "./view.js";

/** How often a caller waiting for a job that runs in another process reads it from the store. */
const FOLLOW_MS = 250;

export class JobQueries {
  constructor(
    private readonly store: Store,
    /** The run of a job in this process, if it runs here. */
    private readonly running: (jobId: string) => JobRun | undefined,
    private readonly approvalUrl: (jobId: string) => string,
  ) {}

  /** Waits until the job is terminal or `ms` passed; `onChange` hears every batch change meanwhile. */
  async waitFor(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    if (ms <= 0) return;
    const active = this.running(jobId);
    if (!active) return this.follow(jobId, ms, onChange);
    // A job's view is made on each batch change only for a caller that listens (a client that asked for progress).
    const listener =
      onChange && (() => onChange(jobView(active.job, active.batches, null, this.approvalUrl)));
    if (listener) active.events.on("change", listener);
    try {
      await Promise.race([active.done, sleep(ms, { ref: false })]);
    } finally {
      if (listener) active.events.off("change", listener);
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
      // The page's records are in hand: only their batches are read.
      const views = await Promise.all(page.map((job) => this.viewOf(job, null, query.owner)));
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
    const active = this.store.shared ? undefined : this.running(jobId);
    if (active)
      return ownedBy(active.job, owner)
        ? jobView(active.job, active.batches, failedPage, this.approvalUrl)
        : undefined;
    const job = await this.store.getJob(jobId);
    return job && this.viewOf(job, failedPage, owner);
  }

  /** The view of a job record read from the store (the run in memory when it runs here, on a store of one process). */
  private async viewOf(
    job: JobRecord,
    failedPage: { offset: number; limit: number } | null,
    owner: string | null,
  ): Promise<JobView | undefined> {
    const active = this.store.shared ? undefined : this.running(job.id);
    const record = active?.job ?? job;
    if (!ownedBy(record, owner)) return undefined;
    const batches = active?.batches ?? (await this.store.getBatches(job.id, job.batch_count));
    return jobView(record, batches, failedPage, this.approvalUrl);
  }

  /** Follows a job that does not run here through the store, until it is terminal or `ms` passed. */
  private async follow(jobId: string, ms: number, onChange?: (view: JobView) => void): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const job = await this.store.getJob(jobId);
      if (!job || isTerminal(job)) return;
      if (onChange)
        onChange(jobView(job, await this.store.getBatches(job.id, job.batch_count), null, this.approvalUrl));
      const left = deadline - Date.now();
      if (left <= 0) return;
      await sleep(Math.min(FOLLOW_MS, left), { ref: false });
    }
  }
}
