// What instances sharing a store must agree on atomically: plan claims, the daily budget, the job index, job leases.
import type Keyv from "keyv";
import { failpoint } from "../failpoint.js";

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A plan about to run as `jobId`, and what it spends of its backend's daily budget. */
export interface ExecutionClaim {
  planId: string;
  jobId: string;
  backend: string;
  count: number;
  /** The backend's maxItemsPerDay; null when unlimited. */
  dailyLimit: number | null;
  now: number;
}

export type ClaimResult =
  /** The plan is now this job's: its count is recorded against the budget and the job is indexed. */
  | { outcome: "claimed"; jobId: string }
  /** The plan already had a job (another call, maybe on another instance, won): nothing was recorded. */
  | { outcome: "taken"; jobId: string }
  /** The count does not fit in the last 24 h's budget: nothing was recorded. */
  | { outcome: "over_budget"; used: number };

export interface Coordination {
  /** True when several instances may share the store, so a job can move to another instance. */
  readonly shared: boolean;
  /** Claims the plan for the job and records the budget in one atomic step: a plan never gets two jobs. */
  claimExecution(claim: ExecutionClaim): Promise<ClaimResult>;
  /** Items executed on a backend in the 24 h before `now`. */
  dailyUsage(backend: string, now: number): Promise<number>;
  /** Every job id, oldest first. */
  jobIds(): Promise<string[]>;
  /** Indexes a job that was not claimed through claimExecution (a plan executed by an earlier version). */
  indexJob(jobId: string): Promise<void>;
  /** Jobs that may be unfinished, for resume and takeover; callers check each job's status. */
  unfinishedJobIds(): Promise<string[]>;
  /**
   * Drops an indexed job from the index when its plan is not claimed for it (a crash inside a claim left
   * it so) and returns true; false when the claim is the job's. Never races a claim in progress.
   */
  dropUnclaimed(job: { id: string; plan_id: string; backend: string }): Promise<boolean>;
  /** Called once a job's terminal status is stored. */
  jobFinished(jobId: string): Promise<void>;
  /** Takes the job's lease for `holder` when nobody holds it (or its holder let it expire); true when held now. */
  acquireLease(jobId: string, holder: string, ms: number): Promise<boolean>;
  /** Extends the lease by `ms`; false when `holder` no longer holds it. */
  renewLease(jobId: string, holder: string, ms: number): Promise<boolean>;
  releaseLease(jobId: string, holder: string): Promise<void>;
}

/** Serialises async work per key within this process. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(work, work);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

interface DailyEntry {
  at: number;
  count: number;
  /** The claimed plan: a claim repeated after a crash replaces its entry instead of counting twice. */
  plan?: string;
}

/**
 * One process owns the store (memory, sqlite): an in-process lock makes claims atomic, and leases never
 * expire (nobody else could take a job over). Claims, budgets and the index live in the Keyv store.
 */
export class InProcessCoordination implements Coordination {
  readonly shared = false;
  private readonly locks = new KeyedLock();
  private readonly leases = new Map<string, string>();

  constructor(private readonly keyv: Keyv) {}

  async claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    // A plan belongs to one backend, so this one lock orders both the plan's claims and the backend's budget.
    return this.locks.run(`daily:${claim.backend}`, async () => {
      const existing = await this.keyv.get<string>(`claim:plan:${claim.planId}`);
      if (existing) return { outcome: "taken", jobId: existing };
      const recent = await this.recentUsage(claim.backend, claim.now);
      const used = recent.reduce((sum, entry) => sum + entry.count, 0);
      if (claim.dailyLimit !== null && used + claim.count > claim.dailyLimit) {
        return { outcome: "over_budget", used };
      }
      // Three writes, and a crash may fall between any two, so the claim is written last: before it, the
      // job is indexed (an indexed job without its claim is dropped at resume, see Store.unfinishedJobs)
      // and its count recorded (a crash there spends budget on a plan not run: the safe side).
      await this.indexJob(claim.jobId);
      failpoint("claim.after-index");
      const others = recent.filter((entry) => entry.plan !== claim.planId);
      await this.keyv.set(`daily:${claim.backend}`, [
        ...others,
        { at: claim.now, count: claim.count, plan: claim.planId },
      ]);
      await this.keyv.set(`claim:plan:${claim.planId}`, claim.jobId);
      return { outcome: "claimed", jobId: claim.jobId };
    });
  }

  async dailyUsage(backend: string, now: number): Promise<number> {
    return (await this.recentUsage(backend, now)).reduce((sum, entry) => sum + entry.count, 0);
  }

  async jobIds(): Promise<string[]> {
    return (await this.keyv.get<string[]>("jobs:index")) ?? [];
  }

  async dropUnclaimed(job: { id: string; plan_id: string; backend: string }): Promise<boolean> {
    // Under the claim's own lock: a claim between its index write and its claim write is never judged.
    return this.locks.run(`daily:${job.backend}`, async () => {
      if ((await this.keyv.get<string>(`claim:plan:${job.plan_id}`)) === job.id) return false;
      await this.locks.run("jobs:index", async () => {
        const ids = await this.jobIds();
        await this.keyv.set(
          "jobs:index",
          ids.filter((id) => id !== job.id),
        );
      });
      return true;
    });
  }

  async indexJob(jobId: string): Promise<void> {
    await this.locks.run("jobs:index", () => this.appendToIndex(jobId));
  }

  /** Every indexed job: a store that only this process uses has no cheaper list, and resume runs once. */
  unfinishedJobIds(): Promise<string[]> {
    return this.jobIds();
  }

  async jobFinished(_jobId: string): Promise<void> {}

  async acquireLease(jobId: string, holder: string, _ms: number): Promise<boolean> {
    const current = this.leases.get(jobId);
    if (current !== undefined && current !== holder) return false;
    this.leases.set(jobId, holder);
    return true;
  }

  async renewLease(jobId: string, holder: string, _ms: number): Promise<boolean> {
    return this.leases.get(jobId) === holder;
  }

  async releaseLease(jobId: string, holder: string): Promise<void> {
    if (this.leases.get(jobId) === holder) this.leases.delete(jobId);
  }

  private async recentUsage(backend: string, now: number): Promise<DailyEntry[]> {
    const entries = (await this.keyv.get<DailyEntry[]>(`daily:${backend}`)) ?? [];
    return entries.filter((entry) => entry.at > now - DAY_MS);
  }

  private async appendToIndex(jobId: string): Promise<void> {
    const ids = await this.jobIds();
    if (ids.includes(jobId)) return;
    ids.push(jobId);
    await this.keyv.set("jobs:index", ids);
  }
}
