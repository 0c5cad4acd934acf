// Durable state over Keyv (memory, sqlite or Redis): plans with their id batches, jobs, per-batch progress, and,
// through the store's coordination, plan claims, daily budgets, the job index and job leases.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import KeyvRedis, { createClient, defaultReconnectStrategy } from "@keyv/redis";
import KeyvSqlite from "@keyv/sqlite";
import Keyv from "keyv";
import type { Target } from "../backends/types.js";
import type { InvalidId } from "../gate/plan.js";
import {
  type ClaimResult,
  type Coordination,
  type ExecutionClaim,
  InProcessCoordination,
} from "./coordination.js";
import { RedisCoordination } from "./redis-coordination.js";

const NAMESPACE = "deletegate";
/**
 * A plan that is never executed is kept this long past its expiry (execute_delete answers PLAN_EXPIRED
 * meanwhile, PLAN_NOT_FOUND after), then dropped with its ids, so dry runs alone cannot fill the store.
 */
export const PLAN_GRACE_MS = 15 * 60 * 1000;
/** How often memory and sqlite stores drop expired records (Redis expires them itself). */
const SWEEP_INTERVAL_MS = 60_000;
/** Keyv stores each value as JSON ending in its expiry, when it has one. */
const EXPIRES_AT_END = /"expires":(\d+)\}$/;
/** A Redis that does not answer in this long fails the call (and the start-up) instead of hanging it. */
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

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
  confirmation: { mode: "token" | "human"; token_hash: string | null; expires_at: string };
  created_by: string;
  /** The HTTP token's name that made the plan (only it may execute it); null on stdio. */
  owner: string | null;
  created_at: string;
  /** Set once, when the plan is executed; a plan never gets a second job. */
  job_id: string | null;
}

export type JobStatus =
  | "queued"
  | "running"
  | "awaiting_backend"
  | "succeeded"
  | "partially_failed"
  | "failed"
  | "cancelled";

export const TERMINAL_STATUSES: readonly JobStatus[] = [
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
];

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

export class Store {
  private sweeper: NodeJS.Timeout | null = null;

  private constructor(
    private readonly keyv: Keyv,
    private readonly coordination: Coordination,
    readonly kind: StoreKind,
    /** Deletes expired records; null when the store expires them itself. */
    private readonly sweep: ((now: number) => Promise<number>) | null = null,
  ) {
    if (sweep) {
      this.sweeper = setInterval(() => void this.sweepExpired().catch(() => undefined), SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
  }

  /** `memory`, `sqlite:<path>` (directory created) or `redis://host:port` (shared by several instances). */
  static open(spec: string, onError: (error: unknown) => void = () => {}): Store {
    let store: Store;
    if (spec === "memory") {
      const map = new Map<string, unknown>();
      const keyv = new Keyv({ store: map, namespace: NAMESPACE, throwOnErrors: true });
      // Keyv drops an expired value only when it is read again: sweep the rest.
      const sweep = async (now: number) => {
        let dropped = 0;
        for (const [key, value] of map) {
          const expires = typeof value === "string" ? EXPIRES_AT_END.exec(value)?.[1] : undefined;
          if (expires !== undefined && Number(expires) <= now && map.delete(key)) dropped++;
        }
        return dropped;
      };
      store = new Store(keyv, new InProcessCoordination(keyv), "memory", sweep);
    } else if (spec.startsWith("sqlite:")) {
      const path = resolve(spec.slice("sqlite:".length));
      mkdirSync(dirname(path), { recursive: true });
      const sqlite = new KeyvSqlite({ uri: `sqlite://${path}`, busyTimeout: 10_000 });
      const keyv = new Keyv({ store: sqlite, namespace: NAMESPACE, throwOnErrors: true });
      // Only values that carry an expiry end in one; the cheap suffix test spares parsing the others.
      const sweep = async (now: number) => {
        const rows = (await sqlite.query(
          `DELETE FROM keyv WHERE substr(value, -40) LIKE '%"expires":%' AND json_extract(value, '$.expires') <= ? RETURNING key`,
          now,
        )) as unknown[];
        return rows.length;
      };
      store = new Store(keyv, new InProcessCoordination(keyv), "sqlite", sweep);
    } else if (spec.startsWith("redis://")) {
      const client = createClient({
        url: spec,
        socket: { reconnectStrategy: defaultReconnectStrategy, connectTimeout: REDIS_CONNECT_TIMEOUT_MS },
      });
      const adapter = new KeyvRedis(client, {
        namespace: NAMESPACE,
        throwOnErrors: true,
        connectionTimeout: REDIS_CONNECT_TIMEOUT_MS,
      });
      // As @keyv/redis's createKeyv: the adapter prefixes keys ("deletegate::plan:…"), Keyv does not again.
      const keyv = new Keyv({
        store: adapter,
        namespace: NAMESPACE,
        useKeyPrefix: false,
        throwOnErrors: true,
      });
      const connected = async () => {
        await adapter.getClient();
        return client;
      };
      store = new Store(keyv, new RedisCoordination(connected, `${NAMESPACE}::`), "redis");
    } else {
      throw new Error(`store "${spec}" is not supported (use memory, sqlite:<path> or redis://host:port)`);
    }
    // Without a listener a connection error would be thrown from an event emitter and end the process.
    store.keyv.on("error", onError);
    return store;
  }

  /** True when several instances may share this store (Redis): jobs then move between instances by lease. */
  get shared(): boolean {
    return this.coordination.shared;
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    return this.keyv.get<PlanRecord>(`plan:${id}`);
  }

  /** `ttlMs`: dropped after that long (a plan not executed); omitted: kept (an executed plan). */
  async putPlan(plan: PlanRecord, ttlMs?: number): Promise<void> {
    await this.keyv.set(`plan:${plan.id}`, plan, ttlMs);
  }

  /** Ids are stored per batch so no single value has to hold a whole large plan. */
  async putPlanBatches(planId: string, batches: string[][], ttlMs?: number): Promise<void> {
    for (const [index, ids] of batches.entries()) {
      await this.keyv.set(`plan:${planId}:ids:${index}`, ids, ttlMs);
    }
  }

  /** Sets how long a plan's ids are kept: for good (its job reads them) or `ttlMs` more (not executed). */
  async keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void> {
    for (let index = 0; index < batchCount; index++) {
      const key = `plan:${planId}:ids:${index}`;
      const ids = await this.keyv.get<string[]>(key);
      if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
      await this.keyv.set(key, ids, ttlMs);
    }
  }

  /** Drops expired records now (the store also does so every minute); returns how many. */
  async sweepExpired(now = Date.now()): Promise<number> {
    return this.sweep ? this.sweep(now) : 0;
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const ids = await this.keyv.get<string[]>(`plan:${planId}:ids:${index}`);
    if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
    return ids;
  }

  /**
   * Gives the plan its job, at most once across every instance, if the job's count fits in the backend's
   * budget of the last 24 h; the job's records must already be stored.
   */
  async claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    return this.coordination.claimExecution(claim);
  }

  /** Items executed on a backend in the 24 h before `now`. */
  async dailyUsage(backend: string, now: number): Promise<number> {
    return this.coordination.dailyUsage(backend, now);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return this.keyv.get<JobRecord>(`job:${id}`);
  }

  async putJob(job: JobRecord): Promise<void> {
    await this.keyv.set(`job:${job.id}`, job);
    if (TERMINAL_STATUSES.includes(job.status)) await this.coordination.jobFinished(job.id);
  }

  /** Removes a job that never ran (it lost the claim for its plan). */
  async deleteJob(jobId: string, batchCount: number): Promise<void> {
    const keys = Array.from({ length: batchCount }, (_, index) => `job:${jobId}:batch:${index}`);
    await this.keyv.deleteMany([...keys, `job:${jobId}`]);
  }

  async putBatch(jobId: string, batch: BatchRecord): Promise<void> {
    await this.keyv.set(`job:${jobId}:batch:${batch.index}`, batch);
  }

  async getBatches(jobId: string, count: number): Promise<BatchRecord[]> {
    const keys = Array.from({ length: count }, (_, index) => `job:${jobId}:batch:${index}`);
    const batches = await this.keyv.getMany<BatchRecord>(keys);
    return batches.map((batch, index) => {
      if (!batch) throw new Error(`job ${jobId} has no batch ${index}`);
      return batch;
    });
  }

  /** Asks whichever instance runs the job to stop sending; kept apart from the job record, which only it writes. */
  async requestCancel(jobId: string): Promise<void> {
    await this.keyv.set(`job:${jobId}:cancel`, true);
  }

  async cancelRequested(jobId: string): Promise<boolean> {
    return (await this.keyv.get<boolean>(`job:${jobId}:cancel`)) === true;
  }

  /** Job ids, oldest first. */
  async listJobIds(): Promise<string[]> {
    return this.coordination.jobIds();
  }

  /** Indexes a job whose plan was executed before claims existed (an older store). */
  async indexJob(jobId: string): Promise<void> {
    await this.coordination.indexJob(jobId);
  }

  /** Jobs not yet in a terminal status, oldest first. */
  async unfinishedJobs(): Promise<JobRecord[]> {
    const ids = await this.coordination.unfinishedJobIds();
    const jobs = await this.keyv.getMany<JobRecord>(ids.map((id) => `job:${id}`));
    const unfinished: JobRecord[] = [];
    for (const job of jobs) {
      if (job === undefined || TERMINAL_STATUSES.includes(job.status)) continue;
      // A crash inside a claim can leave its job indexed but the plan unclaimed: that job never ran and
      // must not (the plan may still be executed, as another job). Such a job is queued by definition.
      if (job.status === "queued" && (await this.coordination.dropUnclaimed(job))) {
        await this.deleteJob(job.id, job.batch_count);
        continue;
      }
      unfinished.push(job);
    }
    return unfinished;
  }

  /** Takes the job's lease for `holder` (one instance runs a job at a time); true when held now. */
  async acquireLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.coordination.acquireLease(jobId, holder, ms);
  }

  /** Extends the lease; false when `holder` lost it and must stop working on the job. */
  async renewLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.coordination.renewLease(jobId, holder, ms);
  }

  async releaseLease(jobId: string, holder: string): Promise<void> {
    await this.coordination.releaseLease(jobId, holder);
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.keyv.disconnect();
  }
}
