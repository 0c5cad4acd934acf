// Durable state over Keyv: plans (with their id batches), jobs, per-batch progress, the job index and daily budgets.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import KeyvSqlite from "@keyv/sqlite";
import Keyv from "keyv";
import type { Target } from "../backends/types.js";
import type { InvalidId } from "../gate/plan.js";

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

const DAY_MS = 24 * 60 * 60 * 1000;

export class Store {
  private constructor(
    private readonly keyv: Keyv,
    readonly kind: "memory" | "sqlite" | "redis",
  ) {}

  /** `memory`, `sqlite:<path>` (directory created) or `redis://…` (not supported yet). */
  static open(spec: string): Store {
    if (spec === "memory")
      return new Store(new Keyv({ namespace: "deletegate", throwOnErrors: true }), "memory");
    if (spec.startsWith("sqlite:")) {
      const path = resolve(spec.slice("sqlite:".length));
      mkdirSync(dirname(path), { recursive: true });
      const sqlite = new KeyvSqlite({ uri: `sqlite://${path}`, busyTimeout: 10_000 });
      return new Store(new Keyv({ store: sqlite, namespace: "deletegate", throwOnErrors: true }), "sqlite");
    }
    throw new Error(`store "${spec}" is not supported by this version (use memory or sqlite:<path>)`);
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    return this.keyv.get<PlanRecord>(`plan:${id}`);
  }

  async putPlan(plan: PlanRecord): Promise<void> {
    await this.keyv.set(`plan:${plan.id}`, plan);
  }

  /** Ids are stored per batch so no single value has to hold a whole large plan. */
  async putPlanBatches(planId: string, batches: string[][]): Promise<void> {
    for (const [index, ids] of batches.entries()) await this.keyv.set(`plan:${planId}:ids:${index}`, ids);
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const ids = await this.keyv.get<string[]>(`plan:${planId}:ids:${index}`);
    if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
    return ids;
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return this.keyv.get<JobRecord>(`job:${id}`);
  }

  async putJob(job: JobRecord): Promise<void> {
    await this.keyv.set(`job:${job.id}`, job);
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

  /** Job ids, oldest first. */
  async listJobIds(): Promise<string[]> {
    return (await this.keyv.get<string[]>("jobs:index")) ?? [];
  }

  async addJobToIndex(jobId: string): Promise<void> {
    const ids = await this.listJobIds();
    ids.push(jobId);
    await this.keyv.set("jobs:index", ids);
  }

  /** Items executed on a backend in the 24 h before `now`. */
  async dailyUsage(backend: string, now: number): Promise<number> {
    const entries = (await this.keyv.get<{ at: number; count: number }[]>(`daily:${backend}`)) ?? [];
    return entries.filter((entry) => entry.at > now - DAY_MS).reduce((sum, entry) => sum + entry.count, 0);
  }

  async recordDailyUsage(backend: string, count: number, now: number): Promise<void> {
    const entries = (await this.keyv.get<{ at: number; count: number }[]>(`daily:${backend}`)) ?? [];
    const recent = entries.filter((entry) => entry.at > now - DAY_MS);
    recent.push({ at: now, count });
    await this.keyv.set(`daily:${backend}`, recent);
  }

  async close(): Promise<void> {
    await this.keyv.disconnect();
  }
}

/** Serialises async work per key within this process (plan execution, daily budget checks). */
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
