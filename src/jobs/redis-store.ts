// The store shared by instances on several machines: records through Keyv on Redis, and claims, budgets, the job
// index and leases through the Lua scripts of RedisCoordination.
import { createRequire } from "node:module";
import Keyv from "keyv";
import type { ClaimResult, ExecutionClaim } from "./coordination.js";
import { RedisCoordination } from "./redis-coordination.js";
import {
  type BatchRecord,
  JOB_ID,
  type JobQuery,
  type JobRecord,
  PLAN_ID,
  type PlanRecord,
  type Store,
  type StoreOptions,
  TERMINAL_STATUSES,
  type VersionedJob,
} from "./store.js";

// @keyv/redis and the Redis client under it (a tenth of a second to load) are loaded only for a redis:// store.
const require = createRequire(import.meta.url);

const NAMESPACE = "deletegate";
/** How many writes of one call (a plan's batches, a job's batch records) are in flight at once. */
const PARALLEL_WRITES = 16;
/** A Redis that does not answer in this long fails the call (and the start-up) instead of hanging it. */
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

// KEYS: the job's record. ARGV: the value read, the value to write. Writes only when nobody wrote since the read.
const REPLACE_IF_UNCHANGED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

interface RawClient {
  get(key: string): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  readonly shared = true;
  readonly cheapWrites = true;

  private constructor(
    private readonly keyv: Keyv,
    private readonly coordination: RedisCoordination,
    private readonly connected: () => Promise<RawClient>,
  ) {}

  static open(url: string, options: StoreOptions = {}): RedisStore {
    const {
      default: KeyvRedis,
      createClient,
      defaultReconnectStrategy,
    } = require("@keyv/redis") as typeof import("@keyv/redis");
    const client = createClient({
      url,
      socket: { reconnectStrategy: defaultReconnectStrategy, connectTimeout: REDIS_CONNECT_TIMEOUT_MS },
    });
    const adapter = new KeyvRedis(client, {
      namespace: NAMESPACE,
      throwOnErrors: true,
      connectionTimeout: REDIS_CONNECT_TIMEOUT_MS,
    });
    // As @keyv/redis's createKeyv: the adapter prefixes keys ("deletegate::plan:…"), Keyv does not again.
    const keyv = new Keyv({ store: adapter, namespace: NAMESPACE, useKeyPrefix: false, throwOnErrors: true });
    // Without a listener a connection error would be thrown from an event emitter and end the process.
    keyv.on("error", options.onError ?? (() => {}));
    const connected = async () => {
      await adapter.getClient();
      return client;
    };
    return new RedisStore(keyv, new RedisCoordination(connected, `${NAMESPACE}::`), connected);
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    if (!PLAN_ID.test(id)) return undefined;
    return this.keyv.get<PlanRecord>(`plan:${id}`);
  }

  async putPlan(plan: PlanRecord, ttlMs?: number): Promise<void> {
    await this.keyv.set(`plan:${plan.id}`, plan, ttlMs);
  }

  /** Each batch of ids as JSON text: Keyv's serializer walks an array id by id, far slower than one string. */
  async putPlanBatches(planId: string, batches: string[][], ttlMs?: number): Promise<void> {
    await this.parallel(batches.length, (index) =>
      this.keyv.set(`plan:${planId}:ids:${index}`, JSON.stringify(batches[index]), ttlMs),
    );
  }

  async keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void> {
    await this.parallel(batchCount, async (index) => {
      const key = `plan:${planId}:ids:${index}`;
      const ids = await this.keyv.get<string>(key);
      if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
      await this.keyv.set(key, ids, ttlMs);
    });
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const ids = await this.keyv.get<string>(`plan:${planId}:ids:${index}`);
    if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
    return JSON.parse(ids) as string[];
  }

  /** Redis expires keys itself. */
  async sweepExpired(): Promise<number> {
    return 0;
  }

  claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    return this.coordination.claimExecution(claim);
  }

  dailyUsage(backend: string, now: number): Promise<number> {
    return this.coordination.dailyUsage(backend, now);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    return this.keyv.get<JobRecord>(`job:${id}`);
  }

  async putJob(job: JobRecord): Promise<void> {
    await this.keyv.set(`job:${job.id}`, job);
    if (TERMINAL_STATUSES.includes(job.status)) await this.coordination.jobFinished(job.id);
  }

  // Not yet one atomic step on Redis: the lease is read, then the record written (a holder paused between the two
  // can still write once). The SQLite store checks both in one statement.
  async putJobAsHolder(job: JobRecord, holder: string): Promise<boolean> {
    if (!(await this.coordination.holds(job.id, holder))) return false;
    await this.putJob(job);
    return true;
  }

  async putBatchAsHolder(jobId: string, batch: BatchRecord, holder: string): Promise<boolean> {
    if (!(await this.coordination.holds(jobId, holder))) return false;
    await this.putBatch(jobId, batch);
    return true;
  }

  async getJobVersioned(id: string): Promise<VersionedJob | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const client = await this.connected();
    const raw = await client.get(this.key(`job:${id}`));
    if (raw === null) return undefined;
    const { value } = (await this.keyv.deserializeData(raw)) as { value: JobRecord };
    return { job: value, rev: raw };
  }

  async replaceJob(job: JobRecord, rev: string): Promise<boolean> {
    const client = await this.connected();
    const value = (await this.keyv.serializeData({ value: job, expires: undefined })) as string;
    const written = await client.eval(REPLACE_IF_UNCHANGED, {
      keys: [this.key(`job:${job.id}`)],
      arguments: [rev, value],
    });
    if (Number(written) !== 1) return false;
    if (TERMINAL_STATUSES.includes(job.status)) await this.coordination.jobFinished(job.id);
    return true;
  }

  async deleteJob(jobId: string, batchCount: number): Promise<void> {
    const keys = Array.from({ length: batchCount }, (_, index) => `job:${jobId}:batch:${index}`);
    await this.keyv.deleteMany([...keys, `job:${jobId}`]);
  }

  async putBatch(jobId: string, batch: BatchRecord): Promise<void> {
    await this.keyv.set(`job:${jobId}:batch:${batch.index}`, batch);
  }

  async putBatches(jobId: string, batches: readonly BatchRecord[]): Promise<void> {
    await this.parallel(batches.length, (index) => this.putBatch(jobId, batches[index] as BatchRecord));
  }

  async getBatches(jobId: string, count: number): Promise<BatchRecord[]> {
    const keys = Array.from({ length: count }, (_, index) => `job:${jobId}:batch:${index}`);
    const batches = await this.keyv.getMany<BatchRecord>(keys);
    return batches.map((batch, index) => {
      if (!batch) throw new Error(`job ${jobId} has no batch ${index}`);
      return batch;
    });
  }

  async requestCancel(jobId: string): Promise<void> {
    await this.keyv.set(`job:${jobId}:cancel`, true);
  }

  async cancelRequested(jobId: string): Promise<boolean> {
    return (await this.keyv.get<boolean>(`job:${jobId}:cancel`)) === true;
  }

  /** Reads the index from its end, a page at a time, until `offset + limit` jobs match. */
  async recentJobs(query: JobQuery): Promise<JobRecord[]> {
    const newestFirst = (await this.coordination.jobIds()).reverse();
    const wanted = query.offset + query.limit;
    const found: JobRecord[] = [];
    for (let start = 0; start < newestFirst.length && found.length < wanted; start += query.limit) {
      const page = newestFirst.slice(start, start + query.limit);
      const jobs = await this.keyv.getMany<JobRecord>(page.map((id) => `job:${id}`));
      for (const job of jobs) {
        if (!job || (query.owner !== null && job.owner !== query.owner)) continue;
        if (query.statuses && !query.statuses.includes(job.status)) continue;
        found.push(job);
      }
    }
    return found.slice(query.offset, wanted);
  }

  indexJob(jobId: string): Promise<void> {
    return this.coordination.indexJob(jobId);
  }

  async unfinishedJobs(): Promise<JobRecord[]> {
    const ids = await this.coordination.unfinishedJobIds();
    const jobs = await this.keyv.getMany<JobRecord>(ids.map((id) => `job:${id}`));
    const unfinished: JobRecord[] = [];
    for (const job of jobs) {
      if (job === undefined || TERMINAL_STATUSES.includes(job.status)) continue;
      // Only a store edited by hand lists a queued job whose plan is not claimed for it: it never ran, and must not.
      if (job.status === "queued" && (await this.coordination.dropUnclaimed(job))) {
        await this.deleteJob(job.id, job.batch_count);
        continue;
      }
      unfinished.push(job);
    }
    return unfinished.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  acquireLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.coordination.acquireLease(jobId, holder, ms);
  }

  renewLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.coordination.renewLease(jobId, holder, ms);
  }

  releaseLease(jobId: string, holder: string): Promise<void> {
    return this.coordination.releaseLease(jobId, holder);
  }

  async close(): Promise<void> {
    await this.keyv.disconnect();
  }

  /** Runs `work(0..count-1)`, at most PARALLEL_WRITES at a time (a million ids are a thousand batches). */
  private async parallel(count: number, work: (index: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) await work(next++);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_WRITES, count) }, worker));
  }

  private key(name: string): string {
    return `${NAMESPACE}::${name}`;
  }
}
