// The store shared by instances on several machines: one Redis through node-redis, where every step that must not
// race another instance (a claim with its budget, a lease, a write guarded by the lease, a versioned write) is one
// Lua script (redis-scripts.ts).
//
// Keys, laid out for Redis Cluster: a script may only touch keys of one hash slot, so every key carries a hash tag.
// - `{dg}`, global: plan claims, daily budgets, the job index (with one index per owner) and the unfinished set.
//   A claim checks the budget, records it and lists the job in one script, so they must share a slot; they are
//   small (ids and counters), and one shard holding them all is the price of an atomic claim.
// - `{job_<id>}`: a job's record (a hash: JSON record, revision, cancel flag), its batches (a hash of JSON, one
//   field a batch) and its lease, so a write guarded by the lease checks it and writes in one script.
// - `{plan_<id>}`: a plan's record and its ids, JSON text per batch.
// A job's end spans three slots: the write itself (its records expire after retention.jobDays) is atomic; then,
// in steps that may be repeated, the job leaves the unfinished set and its claim, plan and ids get the same TTL.
// A crash between them leaves a finished job in the unfinished set, and unfinishedJobs finishes its end.
//
// TTLs: a job written but not yet claimed, 1 h (a crash before its claim leaves nothing for good); claimed, none;
// finished, retention.jobDays (record, batches, plan, ids, claim). A plan not executed: the time its caller gives.
// A lease: its ms. A daily budget: 24 h after its last claim. The indexes hold ids only: an id whose job expired is
// dropped when a page reads it, and every minute from the index's old end.
import { batchIds } from "../gate/plan.js";
import { type ClaimResult, DAY_MS, type ExecutionClaim } from "./coordination.js";
import { type RedisClient, RedisConnection } from "./redis-connection.js";
import {
  type BatchRecord,
  DEFAULT_RETENTION_DAYS,
  isTerminal,
  JOB_ID,
  type JobQuery,
  type JobRecord,
  PLAN_ID,
  type PlanRecord,
  type Store,
  type StoreOptions,
  type VersionedJob,
} from "./store.js";

/** A job written before its claim is dropped after this long if the claim never comes (a crash in between). */
const UNCLAIMED_JOB_MS = 60 * 60 * 1000;
/** How many writes of one call (a plan's batches) are in flight at once. */
const PARALLEL_WRITES = 16;
/** Ids read at once when a page must skip jobs of other statuses, and when the index's old end is trimmed. */
const INDEX_PAGE = 100;
/** How often the indexes' old ends are trimmed of jobs past their retention. */
const SWEEP_INTERVAL_MS = 60_000;

const PREFIX = "deletegate";
const GLOBAL = `${PREFIX}:{dg}`;

/** Every key the store writes (exported for the tests that check their hash tags). */
export const redisKeys = {
  claim: (planId: string) => `${GLOBAL}:claim:${planId}`,
  daily: (backend: string) => `${GLOBAL}:daily:${backend}`,
  jobs: `${GLOBAL}:jobs`,
  ownerJobs: (owner: string) => `${GLOBAL}:jobs:owner:${owner}`,
  owners: `${GLOBAL}:jobs:owners`,
  sequence: `${GLOBAL}:jobs:seq`,
  unfinished: `${GLOBAL}:jobs:unfinished`,
  job: (jobId: string) => `${PREFIX}:{${jobId}}:job`,
  batches: (jobId: string) => `${PREFIX}:{${jobId}}:batches`,
  lease: (jobId: string) => `${PREFIX}:{${jobId}}:lease`,
  plan: (planId: string) => `${PREFIX}:{${planId}}:plan`,
  planIds: (planId: string, index: number) => `${PREFIX}:{${planId}}:ids:${index}`,
  secret: (name: string) => `${PREFIX}:{secret:${name}}`,
  usedOnce: (id: string) => `${PREFIX}:{once:${id}}`,
};
const KEYS = redisKeys;

function parse<T>(text: string | null | undefined): T | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as T);
}

function planIdKeys(planId: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => KEYS.planIds(planId, index));
}

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  readonly shared = true;
  readonly cheapWrites = true;
  private readonly retentionMs: number;
  private readonly connection: RedisConnection;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(url: string, options: StoreOptions) {
    this.retentionMs = Math.round((options.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS);
    const onError = options.onError ?? (() => {});
    this.connection = new RedisConnection(url, onError);
    this.sweeper = setInterval(() => {
      if (this.connection.ready) this.sweepExpired().catch(onError);
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Connects on first use (a store opened and closed unused never connects). */
  static open(url: string, options: StoreOptions = {}): RedisStore {
    return new RedisStore(url, options);
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    if (!PLAN_ID.test(id)) return undefined;
    return this.run(async (client) => parse<PlanRecord>(await client.get(KEYS.plan(id))));
  }

  async putPlan(plan: PlanRecord, ttlMs?: number): Promise<void> {
    await this.run((client) => client.set(KEYS.plan(plan.id), JSON.stringify(plan), expiry(ttlMs)));
  }

  async putPlanBatches(planId: string, batches: readonly string[], ttlMs?: number): Promise<void> {
    await this.run((client) =>
      parallel(batches.length, (index) =>
        client.set(KEYS.planIds(planId, index), batches[index] as string, expiry(ttlMs)),
      ),
    );
  }

  async keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void> {
    const kept = await this.run((client) => client.keepKeys(planIdKeys(planId, batchCount), [ttlMs ?? ""]));
    if (kept < batchCount) throw new Error(`plan ${planId} has ${kept} of its ${batchCount} batches`);
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const ids = await this.run((client) => client.get(KEYS.planIds(planId, index)));
    if (ids === null) throw new Error(`plan ${planId} has no batch ${index}`);
    return batchIds(ids);
  }

  /**
   * Redis expires plans and jobs itself; this drops the ids of expired jobs from the indexes' old ends (also done
   * every minute) and answers how many it dropped.
   */
  async sweepExpired(): Promise<number> {
    return this.run(async (client) => {
      const owners = await client.sMembers(KEYS.owners);
      let dropped = 0;
      for (const index of [KEYS.jobs, ...owners.map(KEYS.ownerJobs)])
        dropped += await trimOldEnd(client, index);
      return dropped;
    });
  }

  async claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    return this.run(async (client) => {
      // Kept for good before it is claimed: a claimed job must outlive any crash (an unclaimed one expires).
      const record = await client.holdJob([KEYS.job(claim.jobId), KEYS.batches(claim.jobId)], []);
      const owner = parse<JobRecord>(record)?.owner ?? null;
      const [outcome, value] = (await client.claimExecution(
        [KEYS.claim(claim.planId), KEYS.daily(claim.backend), ...this.indexKeys(owner)],
        [claim.jobId, claim.count, claim.dailyLimit ?? "", claim.now, DAY_MS, owner ?? ""],
      )) as [string, string];
      if (outcome === "over_budget") return { outcome, used: Number(value) };
      if (outcome === "claimed" || outcome === "taken") return { outcome, jobId: value };
      throw new Error(`unexpected claim answer from Redis: ${outcome}`);
    });
  }

  async dailyUsage(backend: string, now: number, except?: { jobId: string }): Promise<number> {
    return this.run((client) => client.dailyUsage([KEYS.daily(backend)], [now, DAY_MS, except?.jobId ?? ""]));
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    return this.run(async (client) => parse<JobRecord>(await client.hGet(KEYS.job(id), "record")));
  }

  async getJobVersioned(id: string): Promise<VersionedJob | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const [record, rev] = await this.run((client) => client.hmGet(KEYS.job(id), ["record", "rev"]));
    const job = parse<JobRecord>(record);
    return job && { job, rev: rev ?? "" };
  }

  async putJob(job: JobRecord): Promise<void> {
    await this.run(async (client) => {
      await client.putJob(
        [KEYS.job(job.id), KEYS.batches(job.id)],
        [JSON.stringify(job), this.retention(job), UNCLAIMED_JOB_MS],
      );
      if (isTerminal(job)) await this.jobEnded(client, job);
    });
  }

  async putJobAsHolder(job: JobRecord, holder: string): Promise<boolean> {
    return this.run(async (client) => {
      const written = await client.putJobAsHolder(
        [KEYS.lease(job.id), KEYS.job(job.id), KEYS.batches(job.id)],
        [holder, JSON.stringify(job), this.retention(job)],
      );
      if (written !== 1) return false;
      if (isTerminal(job)) await this.jobEnded(client, job);
      return true;
    });
  }

  async putBatchAsHolder(jobId: string, batch: BatchRecord, holder: string): Promise<boolean> {
    const written = await this.run((client) =>
      client.putBatchAsHolder(
        [KEYS.lease(jobId), KEYS.batches(jobId)],
        [holder, batch.index, JSON.stringify(batch)],
      ),
    );
    return written === 1;
  }

  async replaceJob(job: JobRecord, rev: string): Promise<boolean> {
    return this.run(async (client) => {
      const written = await client.replaceJob(
        [KEYS.job(job.id), KEYS.batches(job.id)],
        [rev, JSON.stringify(job), this.retention(job)],
      );
      if (written !== 1) return false;
      if (isTerminal(job)) await this.jobEnded(client, job);
      return true;
    });
  }

  async deleteJob(jobId: string, _batchCount: number): Promise<void> {
    await this.run((client) => client.del([KEYS.job(jobId), KEYS.batches(jobId), KEYS.lease(jobId)]));
  }

  async putBatch(jobId: string, batch: BatchRecord): Promise<void> {
    await this.run((client) => client.hSet(KEYS.batches(jobId), String(batch.index), JSON.stringify(batch)));
  }

  async putBatches(jobId: string, batches: readonly BatchRecord[]): Promise<void> {
    if (batches.length === 0) return;
    const fields = batches.flatMap((batch) => [batch.index, JSON.stringify(batch)]);
    await this.run((client) =>
      client.putBatches([KEYS.job(jobId), KEYS.batches(jobId)], [UNCLAIMED_JOB_MS, ...fields]),
    );
  }

  async getBatches(jobId: string, count: number): Promise<BatchRecord[]> {
    if (count === 0) return [];
    const fields = Array.from({ length: count }, (_, index) => String(index));
    const records = await this.run((client) => client.hmGet(KEYS.batches(jobId), fields));
    return records.map((record, index) => {
      const batch = parse<BatchRecord>(record);
      if (!batch) throw new Error(`job ${jobId} has no batch ${index}`);
      return batch;
    });
  }

  async requestCancel(jobId: string): Promise<void> {
    await this.run((client) => client.requestCancel([KEYS.job(jobId)], []));
  }

  async cancelRequested(jobId: string): Promise<boolean> {
    return (await this.run((client) => client.hGet(KEYS.job(jobId), "cancel"))) === "1";
  }

  /**
   * Reads the owner's index (or the whole one) from its newest end, a page at a time, until `limit` jobs of the
   * statuses asked for are found past `offset`; ids whose job expired are dropped from the index on the way.
   */
  async recentJobs(query: JobQuery): Promise<JobRecord[]> {
    if (query.limit <= 0) return [];
    return this.run(async (client) => {
      const index = query.owner === null ? KEYS.jobs : KEYS.ownerJobs(query.owner);
      const { statuses } = query;
      // Without a status filter every listed job counts, so the offset is a rank in the index.
      const pageSize = statuses ? Math.max(query.limit, INDEX_PAGE) : query.limit;
      let rank = statuses ? 0 : query.offset;
      let skip = statuses ? query.offset : 0;
      const found: JobRecord[] = [];
      while (found.length < query.limit) {
        const ids = await client.zRange(index, rank, rank + pageSize - 1, { REV: true });
        const jobs = await readJobs(client, ids);
        const gone = ids.filter((_, at) => jobs[at] === undefined);
        if (gone.length > 0) await client.zRem(index, gone);
        rank += ids.length - gone.length;
        for (const job of jobs) {
          if (!job || (query.owner !== null && job.owner !== query.owner)) continue;
          if (statuses && !statuses.includes(job.status)) continue;
          if (skip > 0) skip--;
          else if (found.length < query.limit) found.push(job);
        }
        if (ids.length < pageSize) break;
      }
      return found;
    });
  }

  /** Listed jobs not finished, oldest first; a finished one still in the set (a crash mid-end) ends now. */
  async unfinishedJobs(): Promise<JobRecord[]> {
    return this.run(async (client) => {
      const ids = await client.sMembers(KEYS.unfinished);
      const jobs = await readJobs(client, ids);
      const gone = ids.filter((_, at) => jobs[at] === undefined);
      if (gone.length > 0) await client.sRem(KEYS.unfinished, gone);
      const unfinished: JobRecord[] = [];
      for (const job of jobs) {
        if (!job) continue;
        if (isTerminal(job)) {
          await client.keepKeys([KEYS.job(job.id), KEYS.batches(job.id)], [this.retentionMs]);
          await this.jobEnded(client, job);
        } else unfinished.push(job);
      }
      return unfinished.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    });
  }

  async acquireLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return (await this.run((client) => client.acquireLease([KEYS.lease(jobId)], [holder, ms]))) === 1;
  }

  async renewLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return (await this.run((client) => client.renewLease([KEYS.lease(jobId)], [holder, ms]))) === 1;
  }

  async releaseLease(jobId: string, holder: string): Promise<void> {
    await this.run((client) => client.releaseLease([KEYS.lease(jobId)], [holder]));
  }

  async secret(name: string, create: () => string): Promise<string> {
    return this.run(async (client) => {
      // SET NX: the first writer wins; every process then reads the same value.
      await client.set(KEYS.secret(name), create(), { condition: "NX" });
      return (await client.get(KEYS.secret(name))) as string;
    });
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    const ms = Math.max(1, expiresAt - Date.now());
    const set = await this.run((client) =>
      client.set(KEYS.usedOnce(id), "1", { condition: "NX", expiration: { type: "PX", value: ms } }),
    );
    return set === "OK";
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.connection.close();
  }

  private run<T>(work: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.connection.run(work);
  }

  /** The rest of a job's end, outside its slot: it leaves the unfinished set; its claim, plan and ids expire. */
  private async jobEnded(client: RedisClient, job: JobRecord): Promise<void> {
    await Promise.all([
      client.jobFinished([KEYS.unfinished, KEYS.claim(job.plan_id)], [job.id, this.retentionMs]),
      client.keepKeys(
        [KEYS.plan(job.plan_id), ...planIdKeys(job.plan_id, job.batch_count)],
        [this.retentionMs],
      ),
    ]);
  }

  /** How long a job's records are kept from this write: retention once terminal, "" (no change) before. */
  private retention(job: JobRecord): number | "" {
    return isTerminal(job) ? this.retentionMs : "";
  }

  /** The keys a listed job is indexed under, as claimExecution expects them. */
  private indexKeys(owner: string | null): string[] {
    const keys = [KEYS.jobs, KEYS.unfinished, KEYS.sequence, KEYS.owners];
    return owner === null ? keys : [...keys, KEYS.ownerJobs(owner)];
  }
}

function expiry(ttlMs: number | undefined) {
  return ttlMs === undefined ? undefined : { expiration: { type: "PX" as const, value: ttlMs } };
}

/** Each job's record, undefined where it no longer exists (expired past its retention, or deleted). */
async function readJobs(client: RedisClient, ids: readonly string[]): Promise<(JobRecord | undefined)[]> {
  // Concurrent commands are pipelined by node-redis; one per key, so each may live on its own cluster node.
  const records = await Promise.all(ids.map((id) => client.hGet(KEYS.job(id), "record")));
  return records.map((record) => parse<JobRecord>(record));
}

/** Drops ids of jobs that expired from the index's oldest end, a page at a time, until a page has none. */
async function trimOldEnd(client: RedisClient, index: string): Promise<number> {
  let rank = 0;
  let dropped = 0;
  for (;;) {
    const ids = await client.zRange(index, rank, rank + INDEX_PAGE - 1);
    const exist = await Promise.all(ids.map((id) => client.exists(KEYS.job(id))));
    const gone = ids.filter((_, at) => exist[at] === 0);
    if (gone.length > 0) await client.zRem(index, gone);
    dropped += gone.length;
    rank += ids.length - gone.length;
    if (gone.length === 0 || ids.length < INDEX_PAGE) return dropped;
  }
}

/** Runs `work(0..count-1)`, at most PARALLEL_WRITES at a time (a million ids are a thousand batches). */
async function parallel(count: number, work: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_WRITES, count) }, worker));
}
