// Durable state over Keyv (memory, sqlite or Redis): plans with their id batches, jobs, per-batch progress, and,
// through the store's coordination, plan claims, daily budgets, the job index and job leases.
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import KeyvSqlite from "@keyv/sqlite";
import Keyv from "keyv";
import type { Target } from "../backends/types.js";
import type { ConfirmationMode } from "../gate/confirmation.js";
import type { InvalidId } from "../gate/plan.js";
import {
  type ClaimResult,
  type Coordination,
  type ExecutionClaim,
  InProcessCoordination,
} from "./coordination.js";
import { RedisCoordination } from "./redis-coordination.js";

// @keyv/redis and the Redis client under it (a tenth of a second to load) are loaded only for a redis:// store.
const require = createRequire(import.meta.url);

const NAMESPACE = "deletegate";
/** Rows per multi-row INSERT: two bound parameters each, well under SQLite's limit of 32766. */
const SQLITE_ROWS_PER_STATEMENT = 1000;
/**
 * A plan that is never executed is kept this long past its expiry (execute_delete answers PLAN_EXPIRED
 * meanwhile, PLAN_NOT_FOUND after), then dropped with its ids, so dry runs alone cannot fill the store.
 */
export const PLAN_GRACE_MS = 15 * 60 * 1000;
/** How often memory and sqlite stores drop expired records (Redis expires them itself). */
const SWEEP_INTERVAL_MS = 60_000;
/** Keyv stores each value as JSON ending in its expiry, when it has one. */
const EXPIRES_AT_END = /"expires":(\d+)\}$/;
/** How many writes of one call (a plan's batches, a job's batch records) are in flight at once. */
const PARALLEL_WRITES = 16;
/** How many bytes of values one sqlite statement of setMany writes (a 1M-id plan is about 20 MB). */
const SET_MANY_BYTES = 4 * 1024 * 1024;
/** A Redis that does not answer in this long fails the call (and the start-up) instead of hanging it. */
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/**
 * The only shapes of plan and job ids deletegate makes. Anything else is answered as missing before it becomes a
 * store key, so an id like "x:ids:0" or "job_1:batch:0" cannot read another record.
 */
const PLAN_ID = new RegExp(`^plan_${UUID}$`);
const JOB_ID = new RegExp(`^job_${UUID}$`);

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
  confirmation: { mode: ConfirmationMode; token_hash: string | null; expires_at: string };
  created_by: string;
  /** The HTTP token's name that made the plan (only it may execute it); null on stdio. */
  owner: string | null;
  created_at: string;
  /** Set once, when the plan is executed; a plan never gets a second job. */
  job_id: string | null;
}

/** Every job status (SPEC §4), in the order a job can move through them. */
export const JOB_STATUSES = [
  "awaiting_approval",
  "queued",
  "running",
  "awaiting_backend",
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
  "rejected",
  "expired",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = [
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
  "rejected",
  "expired",
];

/** A job's approval in approval mode (SPEC §4, §10): fixed when requested, decided in the console. */
export interface ApprovalRecord {
  /** Distinct approvers needed, fixed when the job was requested. */
  required: number;
  approvals: { approver: string; at: string; comment: string | null }[];
  rejected: { approver: string; at: string; comment: string } | null;
  expires_at: string;
  /** The plan's digest the approvers consent to (audited with every decision). */
  digest: string;
}

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
  /** Why the job stopped sending for good (the audit log could not be written); it then sends nothing more. */
  halted?: string | null;
  /** Approval mode only: what the approvers decided so far. */
  approval?: ApprovalRecord | null;
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

/** What a store does better than through Keyv one key at a time; a missing one is done through Keyv. */
interface NativeOps {
  /** Deletes expired records; missing when the store expires them itself (Redis). */
  sweep?: (now: number) => Promise<number>;
  /** Drops the expiry of these (prefixed) keys where not expired at `now`, in one step; returns how many it kept. */
  persist?: (keys: string[], now: number) => Promise<number>;
  /** Upserts [prefixed key, serialized value] rows, a statement per SQLITE_ROWS_PER_STATEMENT. */
  upsertRows?: (rows: [string, string][]) => Promise<void>;
}

export class Store {
  private sweeper: NodeJS.Timeout | null = null;

  private constructor(
    private readonly keyv: Keyv,
    private readonly coordination: Coordination,
    readonly kind: StoreKind,
    private readonly native: NativeOps = {},
  ) {
    if (native.sweep) {
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
      store = new Store(keyv, new InProcessCoordination(keyv), "memory", { sweep });
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
      // Keyv's value is JSON {"value":…,"expires":…}: without `expires` it is what Keyv writes with no TTL.
      const persist = async (keys: string[], now: number) => {
        const rows = (await sqlite.query(
          `UPDATE keyv SET value = json_remove(value, '$.expires') WHERE key IN (SELECT value FROM json_each(?)) AND (json_extract(value, '$.expires') IS NULL OR json_extract(value, '$.expires') > ?) RETURNING key`,
          JSON.stringify(keys),
          now,
        )) as unknown[];
        return rows.length;
      };
      // Bound parameters, not one JSON text of all rows: no second escaping of every value, no json_each.
      const upsertRows = async (rows: [string, string][]) => {
        for (let start = 0; start < rows.length; start += SQLITE_ROWS_PER_STATEMENT) {
          const chunk = rows.slice(start, start + SQLITE_ROWS_PER_STATEMENT);
          await sqlite.query(
            `INSERT INTO keyv (key, value) VALUES ${chunk.map(() => "(?, ?)").join(", ")} ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
            ...chunk.flat(),
          );
        }
      };
      store = new Store(keyv, new InProcessCoordination(keyv), "sqlite", { sweep, persist, upsertRows });
    } else if (spec.startsWith("redis://")) {
      const {
        default: KeyvRedis,
        createClient,
        defaultReconnectStrategy,
      } = require("@keyv/redis") as typeof import("@keyv/redis");
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
    if (!PLAN_ID.test(id)) return undefined;
    return this.keyv.get<PlanRecord>(`plan:${id}`);
  }

  /** `ttlMs`: dropped after that long (a plan not executed); omitted: kept (an executed plan). */
  async putPlan(plan: PlanRecord, ttlMs?: number): Promise<void> {
    await this.keyv.set(`plan:${plan.id}`, plan, ttlMs);
  }

  /**
   * Ids are stored per batch so no single value has to hold a whole large plan, each as JSON text: Keyv's own
   * serializer walks an array id by id in JavaScript (and its parser revives each one), several times slower
   * than the native JSON of one string.
   */
  async putPlanBatches(planId: string, batches: string[][], ttlMs?: number): Promise<void> {
    await this.setMany(
      batches.map((ids, index) => ({ key: `plan:${planId}:ids:${index}`, value: JSON.stringify(ids) })),
      ttlMs,
    );
  }

  /**
   * Writes several values: on sqlite a statement per SET_MANY_BYTES of values (each one transaction, where one
   * write each waited for its own), elsewhere in parallel. Not atomic as a whole: callers write what refers to
   * these values afterwards.
   */
  private async setMany(entries: { key: string; value: unknown }[], ttlMs?: number): Promise<void> {
    if (!this.native.upsertRows) {
      await this.parallel(entries.length, (index) => {
        const entry = entries[index] as { key: string; value: unknown };
        return this.keyv.set(entry.key, entry.value, ttlMs);
      });
      return;
    }
    const expires = ttlMs === undefined ? undefined : Date.now() + ttlMs;
    let rows: [string, string][] = [];
    let bytes = 0;
    for (const entry of entries) {
      // As Keyv.set stores it: the prefixed key, the serialized {value, expires}.
      const value = (await this.keyv.serializeData({ value: entry.value, expires })) as string;
      rows.push([`${NAMESPACE}:${entry.key}`, value]);
      bytes += value.length;
      if (bytes >= SET_MANY_BYTES) {
        await this.native.upsertRows(rows);
        rows = [];
        bytes = 0;
      }
    }
    if (rows.length > 0) await this.native.upsertRows(rows);
  }

  /** Sets how long a plan's ids are kept: for good (its job reads them) or `ttlMs` more (not executed). */
  async keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void> {
    if (ttlMs === undefined && this.native.persist) {
      // One statement (one transaction) instead of reading and rewriting every batch of ids.
      const kept = await this.native.persist(
        Array.from({ length: batchCount }, (_, index) => `${NAMESPACE}:plan:${planId}:ids:${index}`),
        Date.now(),
      );
      if (kept < batchCount) throw new Error(`plan ${planId} has ${kept} of its ${batchCount} batches`);
      return;
    }
    await this.parallel(batchCount, async (index) => {
      const key = `plan:${planId}:ids:${index}`;
      const ids = await this.keyv.get<string | string[]>(key);
      if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
      await this.keyv.set(key, ids, ttlMs);
    });
  }

  /** Runs `work(0..count-1)`, at most PARALLEL_WRITES at a time (a million ids are a thousand batches). */
  private async parallel(count: number, work: (index: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) await work(next++);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_WRITES, count) }, worker));
  }

  /** Drops expired records now (the store also does so every minute); returns how many. */
  async sweepExpired(now = Date.now()): Promise<number> {
    return this.native.sweep ? this.native.sweep(now) : 0;
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const ids = await this.keyv.get<string | string[]>(`plan:${planId}:ids:${index}`);
    if (!ids) throw new Error(`plan ${planId} has no batch ${index}`);
    // A store written before ids were kept as JSON text holds the array itself.
    return typeof ids === "string" ? (JSON.parse(ids) as string[]) : ids;
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
    if (!JOB_ID.test(id)) return undefined;
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

  /** A new job's batch records (see setMany). */
  async putBatches(jobId: string, batches: readonly BatchRecord[]): Promise<void> {
    await this.setMany(batches.map((batch) => ({ key: `job:${jobId}:batch:${batch.index}`, value: batch })));
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
