// The embedded store: one SQLite file (or `:memory:`) with a table per record type, through better-sqlite3.
//
// Several processes may open one file (stdio servers and `deletegate console`, SPEC §7): every step that must not
// race another process (a plan's claim with its budget, a lease, a versioned job write) is one transaction, taken
// with BEGIN IMMEDIATE so two writers queue on SQLite's lock instead of failing half-way. The file is in WAL mode
// with synchronous=FULL: a commit returns only after its WAL frames are on disk, so a claim, a job's status, a
// lease or an approval decision survives a crash or a power loss, and readers in other processes never
// block the writer. Two exceptions, by design, commit without waiting for the disk (a process crash keeps them:
// they are in the WAL; a power loss may lose the last ones): a dry run's plan and ids (execute_delete then answers
// PLAN_NOT_FOUND: nothing runs without a plan the store still has), and a batch's progress (the batch is sent
// again: deletes are idempotent). The next commit that waits puts them on disk with it.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { failpoint } from "../failpoint.js";
import { batchIds } from "../gate/plan.js";
import { OWN_START_TIME, processAlive } from "../process-alive.js";
import { type ClaimResult, DAY_MS, type ExecutionClaim } from "./coordination.js";
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
  type StoreKind,
  type StoreOptions,
  type VersionedJob,
} from "./store.js";

/** How often expired plans (and finished jobs past their retention) are dropped. */
const SWEEP_INTERVAL_MS = 60_000;
/** How long a write waits for another process's transaction before it fails. */
const BUSY_TIMEOUT_MS = 10_000;
/** A job that never got its plan's claim (a crash between writing it and claiming) is dropped after this long. */
const UNCLAIMED_JOB_MS = 60 * 60 * 1000;

// Plans and their ids are rowid tables, with their keys in a separate unique index: a row is appended at the end of
// the table's tree, where a WITHOUT ROWID table puts it at a random place in its key order (plan ids are random)
// and splits pages of kilobyte rows to make room. Writing 10,000 ids took 2.4x as long that way (median 0.43 vs
// 0.18 ms); HTTP load went from 1,477-1,576 to 1,678-1,689 calls/s (BENCHMARKS.md, sixth session).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS plans (
  id TEXT NOT NULL UNIQUE,
  expires_at INTEGER,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS plans_expiry ON plans (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS plan_batches (
  plan_id TEXT NOT NULL,
  batch INTEGER NOT NULL,
  ids TEXT NOT NULL,
  UNIQUE (plan_id, batch)
);
-- How long a plan's batches are kept, apart from them: keeping an executed plan's ids updates this one row instead
-- of rewriting every batch (SQLite rewrites a whole row, a batch's ids included, to change one column).
CREATE TABLE IF NOT EXISTS plan_batches_kept (
  plan_id TEXT PRIMARY KEY,
  batches INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plan_batches_expiry ON plan_batches_kept (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  plan_id TEXT NOT NULL,
  owner TEXT,
  status TEXT NOT NULL,
  listed INTEGER NOT NULL DEFAULT 0,
  cancel INTEGER NOT NULL DEFAULT 0,
  rev INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (seq) WHERE listed = 1 AND finished_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_unlisted ON jobs (created_at) WHERE listed = 0;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq) WHERE listed = 1;
CREATE TABLE IF NOT EXISTS batches (
  job_id TEXT NOT NULL,
  batch INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (job_id, batch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
  plan_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_usage (
  backend TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (backend, plan_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS daily_usage_at ON daily_usage (backend, at);
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS used_once (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
  job_id TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  until INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  started TEXT
) WITHOUT ROWID;
`;

type Statement = Database.Statement<unknown[], unknown>;

function expiresAt(ttlMs: number | undefined, now = Date.now()): number | null {
  return ttlMs === undefined ? null : now + ttlMs;
}

export class SqliteStore implements Store {
  readonly shared: boolean;
  /** A batch's "sending" mark before each request is not stored: even unsynced, it costs a write per request. */
  readonly cheapWrites = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly statements = new Map<string, Statement>();
  private readonly retentionMs: number;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly kind: StoreKind,
    options: StoreOptions,
  ) {
    // A file may be opened by other processes; :memory: is this connection's alone.
    this.shared = kind === "sqlite";
    this.retentionMs = (options.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS;
    this.sweeper = setInterval(() => {
      try {
        this.sweepNow(Date.now());
      } catch (error) {
        options.onError?.(error);
      }
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Opens (and creates) the store at `path`, or in memory for ":memory:". */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    const memory = path === ":memory:";
    const file = memory ? path : resolve(path);
    if (!memory) mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      if (!memory) {
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = FULL");
      }
      // Two processes creating the schema at once: the second waits for the first, then finds it there.
      db.transaction(() => db.exec(SCHEMA)).immediate();
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteStore(db, memory ? "memory" : "sqlite", options);
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    if (!PLAN_ID.test(id)) return undefined;
    const row = this.get<{ record: string }>(
      "SELECT record FROM plans WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
      id,
      Date.now(),
    );
    return row && (JSON.parse(row.record) as PlanRecord);
  }

  /**
   * A plan not yet executed (`ttlMs` given) is committed without waiting for the disk, like its ids: a power loss
   * may lose a dry run (execute_delete then answers PLAN_NOT_FOUND, and nothing runs), never a claim, a job or a
   * decision. An executed plan's record waits for the disk.
   */
  async putPlan(plan: PlanRecord, ttlMs?: number): Promise<void> {
    const write = () =>
      this.run(
        "INSERT INTO plans (id, expires_at, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, record = excluded.record",
        plan.id,
        expiresAt(ttlMs),
        JSON.stringify(plan),
      );
    if (ttlMs === undefined) write();
    else this.unsynced(write);
  }

  async putPlanBatches(planId: string, batches: readonly string[], ttlMs?: number): Promise<void> {
    const insert = this.statement(
      "INSERT INTO plan_batches (plan_id, batch, ids) VALUES (?, ?, ?) ON CONFLICT (plan_id, batch) DO UPDATE SET ids = excluded.ids",
    );
    const keep = this.statement(
      "INSERT INTO plan_batches_kept (plan_id, batches, expires_at) VALUES (?, ?, ?) ON CONFLICT (plan_id) DO UPDATE SET batches = excluded.batches, expires_at = excluded.expires_at",
    );
    const expires = expiresAt(ttlMs);
    // Committed without waiting for the disk, as the plan that refers to them (putPlan): the claim that executes the
    // plan waits for the disk, and so puts every earlier commit of the WAL there with it.
    this.unsynced(() =>
      this.db.transaction(() => {
        for (const [index, text] of batches.entries()) insert.run(planId, index, text);
        keep.run(planId, batches.length, expires);
      })(),
    );
  }

  async keepPlanBatches(planId: string, batchCount: number, ttlMs?: number): Promise<void> {
    const now = Date.now();
    const kept =
      this.get<{ batches: number }>(
        "UPDATE plan_batches_kept SET expires_at = ? WHERE plan_id = ? AND (expires_at IS NULL OR expires_at > ?) RETURNING batches",
        expiresAt(ttlMs, now),
        planId,
        now,
      )?.batches ?? 0;
    if (kept < batchCount) throw new Error(`plan ${planId} has ${kept} of its ${batchCount} batches`);
  }

  async getPlanBatch(planId: string, index: number): Promise<string[]> {
    const row = this.get<{ ids: string }>(
      `SELECT ids FROM plan_batches JOIN plan_batches_kept USING (plan_id)
       WHERE plan_id = ? AND batch = ? AND (expires_at IS NULL OR expires_at > ?)`,
      planId,
      index,
      Date.now(),
    );
    if (!row) throw new Error(`plan ${planId} has no batch ${index}`);
    return batchIds(row.ids);
  }

  async sweepExpired(now = Date.now()): Promise<number> {
    return this.sweepNow(now);
  }

  async claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    const claimPlan = this.db.transaction((): ClaimResult => {
      const existing = this.get<{ job_id: string }>(
        "SELECT job_id FROM claims WHERE plan_id = ?",
        claim.planId,
      );
      if (existing) return { outcome: "taken", jobId: existing.job_id };
      this.run("DELETE FROM daily_usage WHERE backend = ? AND at <= ?", claim.backend, claim.now - DAY_MS);
      const used = this.usage(claim.backend, claim.now);
      if (claim.dailyLimit !== null && used + claim.count > claim.dailyLimit) {
        return { outcome: "over_budget", used };
      }
      this.run("UPDATE jobs SET listed = 1 WHERE id = ?", claim.jobId);
      // A crash here rolls the whole claim back: the job is unlisted again, the budget unspent.
      failpoint("claim.after-index");
      this.run(
        "INSERT INTO daily_usage (backend, plan_id, at, count) VALUES (?, ?, ?, ?)",
        claim.backend,
        claim.planId,
        claim.now,
        claim.count,
      );
      this.run("INSERT INTO claims (plan_id, job_id) VALUES (?, ?)", claim.planId, claim.jobId);
      return { outcome: "claimed", jobId: claim.jobId };
    });
    return claimPlan.immediate();
  }

  async dailyUsage(backend: string, now: number, except?: { planId: string }): Promise<number> {
    return this.usage(backend, now, except?.planId);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return (await this.getJobVersioned(id))?.job;
  }

  async getJobVersioned(id: string): Promise<VersionedJob | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const row = this.get<{ record: string; rev: number }>("SELECT record, rev FROM jobs WHERE id = ?", id);
    return row && { job: JSON.parse(row.record) as JobRecord, rev: String(row.rev) };
  }

  async putJob(job: JobRecord): Promise<void> {
    this.run(
      `INSERT INTO jobs (id, plan_id, owner, status, created_at, finished_at, record) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = COALESCE(jobs.finished_at, excluded.finished_at),
       record = excluded.record, rev = jobs.rev + 1`,
      job.id,
      job.plan_id,
      job.owner,
      job.status,
      Date.parse(job.created_at),
      isTerminal(job) ? Date.now() : null,
      JSON.stringify(job),
    );
  }

  async putJobAsHolder(job: JobRecord, holder: string): Promise<boolean> {
    const written = this.run(
      `UPDATE jobs SET status = ?, finished_at = COALESCE(finished_at, ?), record = ?, rev = rev + 1
       WHERE id = ? AND EXISTS (SELECT 1 FROM leases WHERE job_id = ? AND holder = ? AND until > ?)`,
      job.status,
      isTerminal(job) ? Date.now() : null,
      JSON.stringify(job),
      job.id,
      job.id,
      holder,
      Date.now(),
    );
    return written.changes === 1;
  }

  /** Unsynced, as putBatch. */
  async putBatchAsHolder(jobId: string, batch: BatchRecord, holder: string): Promise<boolean> {
    let written: Database.RunResult | undefined;
    this.unsynced(() => {
      written = this.run(
        `UPDATE batches SET record = ? WHERE job_id = ? AND batch = ?
       AND EXISTS (SELECT 1 FROM leases WHERE job_id = ? AND holder = ? AND until > ?)`,
        JSON.stringify(batch),
        jobId,
        batch.index,
        jobId,
        holder,
        Date.now(),
      );
    });
    return written?.changes === 1;
  }

  async replaceJob(job: JobRecord, rev: string): Promise<boolean> {
    const written = this.run(
      `UPDATE jobs SET status = ?, finished_at = COALESCE(finished_at, ?), record = ?, rev = rev + 1
       WHERE id = ? AND rev = ?`,
      job.status,
      isTerminal(job) ? Date.now() : null,
      JSON.stringify(job),
      job.id,
      Number(rev),
    );
    return written.changes === 1;
  }

  async deleteJob(jobId: string, _batchCount: number): Promise<void> {
    this.db.transaction(() => {
      this.run("DELETE FROM batches WHERE job_id = ?", jobId);
      this.run("DELETE FROM jobs WHERE id = ?", jobId);
    })();
  }

  /**
   * A batch's progress commits without waiting for the disk: a process crash keeps it (it is in the WAL), and the
   * next commit that waits (the lease renewed every third of jobs.leaseMs, the job's own status) puts it on disk.
   * A power loss in between may lose a few batch outcomes: those batches are sent again after the restart, and the
   * backend answers their ids as not found (deletes are idempotent), so no id is lost or counted twice.
   */
  async putBatch(jobId: string, batch: BatchRecord): Promise<void> {
    this.unsynced(() =>
      this.run(
        "INSERT INTO batches (job_id, batch, record) VALUES (?, ?, ?) ON CONFLICT (job_id, batch) DO UPDATE SET record = excluded.record",
        jobId,
        batch.index,
        JSON.stringify(batch),
      ),
    );
  }

  async putBatches(jobId: string, batches: readonly BatchRecord[]): Promise<void> {
    const insert = this.statement(
      "INSERT INTO batches (job_id, batch, record) VALUES (?, ?, ?) ON CONFLICT (job_id, batch) DO UPDATE SET record = excluded.record",
    );
    // Unsynced, as putBatch: the claim that lists the job waits for the disk and puts these there first.
    this.unsynced(() =>
      this.db.transaction(() => {
        for (const batch of batches) insert.run(jobId, batch.index, JSON.stringify(batch));
      })(),
    );
  }

  async getBatches(jobId: string, count: number): Promise<BatchRecord[]> {
    const rows = this.all<{ record: string }>(
      "SELECT record FROM batches WHERE job_id = ? ORDER BY batch",
      jobId,
    );
    if (rows.length < count) throw new Error(`job ${jobId} has no batch ${rows.length}`);
    return rows.slice(0, count).map((row) => JSON.parse(row.record) as BatchRecord);
  }

  async requestCancel(jobId: string): Promise<void> {
    this.run("UPDATE jobs SET cancel = 1 WHERE id = ?", jobId);
  }

  async cancelRequested(jobId: string): Promise<boolean> {
    return this.get<{ cancel: number }>("SELECT cancel FROM jobs WHERE id = ?", jobId)?.cancel === 1;
  }

  async recentJobs(query: JobQuery): Promise<JobRecord[]> {
    const rows = this.all<{ record: string }>(
      `SELECT record FROM jobs WHERE listed = 1 AND (@owner IS NULL OR owner = @owner)
       AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
       ORDER BY seq DESC LIMIT @limit OFFSET @offset`,
      {
        owner: query.owner,
        statuses: query.statuses ? JSON.stringify(query.statuses) : null,
        limit: query.limit,
        offset: query.offset,
      },
    );
    return rows.map((row) => JSON.parse(row.record) as JobRecord);
  }

  async unfinishedJobs(): Promise<JobRecord[]> {
    return this.all<{ record: string }>(
      "SELECT record FROM jobs WHERE listed = 1 AND finished_at IS NULL ORDER BY seq",
    ).map((row) => JSON.parse(row.record) as JobRecord);
  }

  async acquireLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    const take = this.db.transaction((now: number) => {
      const current = this.get<{ holder: string; until: number; pid: number; started: string | null }>(
        "SELECT holder, until, pid, started FROM leases WHERE job_id = ?",
        jobId,
      );
      // Processes sharing a SQLite file share a machine (WAL needs shared memory): a holder that died (kill -9)
      // frees its lease at once, so a restarted server resumes its jobs without waiting for the lease to lapse.
      if (
        current &&
        current.holder !== holder &&
        current.until > now &&
        processAlive(current.pid, current.started)
      )
        return false;
      this.run(
        `INSERT INTO leases (job_id, holder, until, pid, started) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id)
         DO UPDATE SET holder = excluded.holder, until = excluded.until, pid = excluded.pid, started = excluded.started`,
        jobId,
        holder,
        now + ms,
        process.pid,
        OWN_START_TIME,
      );
      return true;
    });
    return take.immediate(Date.now());
  }

  async renewLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    const now = Date.now();
    // A lapsed lease is lost even when nobody took it yet: its holder may not assume it kept the job meanwhile.
    return (
      this.run(
        "UPDATE leases SET until = ? WHERE job_id = ? AND holder = ? AND until > ?",
        now + ms,
        jobId,
        holder,
        now,
      ).changes === 1
    );
  }

  async releaseLease(jobId: string, holder: string): Promise<void> {
    this.run("DELETE FROM leases WHERE job_id = ? AND holder = ?", jobId, holder);
  }

  async secret(name: string, create: () => string): Promise<string> {
    // The first writer wins; every process then reads the same value.
    this.run("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, create());
    return (
      this.get<{ value: string }>("SELECT value FROM secrets WHERE name = ?", name) as { value: string }
    ).value;
  }

  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    return (
      this.run(
        "INSERT INTO used_once (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE used_once.expires_at <= ?",
        id,
        expiresAt,
        Date.now(),
      ).changes === 1
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.db.close();
  }

  /** Drops expired plans and ids, jobs that never got their claim, and finished jobs past their retention. */
  private sweepNow(now: number): number {
    return this.db.transaction(() => {
      let dropped = this.run("DELETE FROM plans WHERE expires_at <= ?", now).changes;
      dropped += this.run(
        "DELETE FROM plan_batches WHERE plan_id IN (SELECT plan_id FROM plan_batches_kept WHERE expires_at <= ?)",
        now,
      ).changes;
      this.run("DELETE FROM plan_batches_kept WHERE expires_at <= ?", now);
      dropped += this.run("DELETE FROM used_once WHERE expires_at <= ?", now).changes;
      const gone = this.all<{ id: string; plan_id: string; listed: number }>(
        `SELECT id, plan_id, listed FROM jobs WHERE (listed = 0 AND created_at <= ?) OR finished_at <= ?`,
        now - UNCLAIMED_JOB_MS,
        now - this.retentionMs,
      );
      for (const job of gone) {
        this.run("DELETE FROM batches WHERE job_id = ?", job.id);
        this.run("DELETE FROM jobs WHERE id = ?", job.id);
        this.run("DELETE FROM leases WHERE job_id = ?", job.id);
        // A finished job's plan, ids and claim go with it; an unclaimed job's plan may still be executed.
        if (job.listed === 1) {
          this.run("DELETE FROM plan_batches WHERE plan_id = ?", job.plan_id);
          this.run("DELETE FROM plan_batches_kept WHERE plan_id = ?", job.plan_id);
          this.run("DELETE FROM plans WHERE id = ?", job.plan_id);
          this.run("DELETE FROM claims WHERE plan_id = ?", job.plan_id);
        }
      }
      return dropped;
    })();
  }

  /** Runs `write` with commits that do not wait for the disk (a file store; :memory: has no disk to wait for). */
  private unsynced(write: () => unknown): void {
    if (this.kind !== "sqlite") {
      write();
      return;
    }
    this.statement("PRAGMA synchronous = NORMAL").run();
    try {
      write();
    } finally {
      this.statement("PRAGMA synchronous = FULL").run();
    }
  }

  private usage(backend: string, now: number, exceptPlan = ""): number {
    return (
      this.get<{ used: number }>(
        "SELECT COALESCE(SUM(count), 0) AS used FROM daily_usage WHERE backend = ? AND at > ? AND plan_id != ?",
        backend,
        now - DAY_MS,
        exceptPlan,
      )?.used ?? 0
    );
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private run(sql: string, ...params: unknown[]): Database.RunResult {
    return this.statement(sql).run(...params);
  }

  private get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  private all<T>(sql: string, ...params: unknown[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }
}
