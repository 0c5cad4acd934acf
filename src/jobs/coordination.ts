// What processes sharing a store must agree on atomically: a plan's claim with the daily budget; and a lock.

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
