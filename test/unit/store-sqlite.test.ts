// The SQLite store, in memory and on a file shared by two connections: plan claims with the daily budget, the job
// list, leases, versioned job writes, cancel requests and retention. The same expectations run on Redis (two
// connections to a real redis-server), whose own tests are in store-redis.test.ts. (Several processes: test/integration.)
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createClient } from "@redis/client";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { batchTexts } from "../../src/gate/plan.js";
import { DAY_MS, type ExecutionClaim, KeyedLock } from "../../src/jobs/coordination.js";
import { openStore } from "../../src/jobs/open-store.js";
import { SqliteStore } from "../../src/jobs/sqlite-store.js";
import type { JobRecord, Store } from "../../src/jobs/store.js";
import { tempDir } from "../integration/harness.js";
import { type RedisServer, skipWithoutRedis, startRedisServer } from "../integration/redis-server.js";
import { batchRecord, jobRecord, planRecord, recordId } from "./fixtures.js";

/** The built sources: the lease-holding child process runs them. */
const DIST = resolve(import.meta.dirname, "../../dist");
const NOW = Date.parse("2026-03-01T12:00:00.000Z");
const BACKEND = "splendor-prod";

const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

const skipRedis = skipWithoutRedis("the shared store tests on Redis");
const redisClient = (url: string) => createClient({ url });
/** Started by the first Redis test, emptied before each. */
let redis: { server: RedisServer; client: ReturnType<typeof redisClient> } | undefined;
afterAll(async () => {
  await redis?.client.close();
  await redis?.server.stop();
});

type Spec = "memory" | "sqlite" | "redis";

/** Two connections on one store: the same one for memory, two on one file for sqlite, two clients of one Redis. */
function pair(spec: Spec): [Store, Store] {
  if (spec === "memory") {
    const store = openStore("memory");
    opened.push(store);
    return [store, store];
  }
  const where = spec === "redis" ? (redis?.server.url as string) : `sqlite:${join(tempDir(), "state.db")}`;
  const first = openStore(where);
  const second = openStore(where);
  opened.push(first, second);
  return [first, second];
}

const job = (n: number) => recordId("job", n);
const plan = (n: number) => recordId("plan", n);

function record(n: number, status: JobRecord["status"], overrides: Partial<JobRecord> = {}): JobRecord {
  return jobRecord({
    id: job(n),
    plan_id: plan(n),
    status,
    batch_count: 1,
    created_at: new Date(NOW + n).toISOString(),
    ...overrides,
  });
}

function claim(n: number, overrides: Partial<ExecutionClaim> = {}): ExecutionClaim {
  return {
    planId: plan(n),
    jobId: job(n),
    backend: BACKEND,
    count: 10,
    dailyLimit: null,
    now: NOW,
    ...overrides,
  };
}

const batch = (index: number) => batchRecord(index);

/** Stores job n and claims its plan. */
async function claimed(
  store: Store,
  n: number,
  status: JobRecord["status"],
  overrides: Partial<JobRecord> = {},
) {
  await store.putJob(record(n, status, overrides));
  return store.claimExecution(claim(n));
}

for (const spec of ["memory", "sqlite", "redis"] as const) {
  describe.skipIf(spec === "redis" && skipRedis)(`${spec} store`, () => {
    if (spec === "redis") {
      beforeEach(async () => {
        if (!redis) {
          const server = await startRedisServer();
          const client = redisClient(server.url);
          redis = { server, client };
          await client.connect();
        }
        await redis.client.flushAll();
      });
    }

    it(`is ${spec === "memory" ? "not " : ""}shared`, () => {
      const [store] = pair(spec);
      expect(store.kind).toBe(spec);
      expect(store.shared).toBe(spec !== "memory");
    });

    it("gives a plan its first job only; a later claim is told which job won and records nothing", async () => {
      const [store, other] = pair(spec);
      await store.putJob(record(1, "queued"));
      await store.putJob(record(2, "queued", { plan_id: plan(1) }));
      expect(await store.claimExecution(claim(1))).toEqual({ outcome: "claimed", jobId: job(1) });
      expect(await other.claimExecution(claim(1, { jobId: job(2) }))).toEqual({
        outcome: "taken",
        jobId: job(1),
      });
      expect(await other.dailyUsage(BACKEND, NOW)).toBe(10);
      // Only the claimed job is listed; the loser is not.
      expect((await other.recentJobs({ owner: null, offset: 0, limit: 10 })).map((j) => j.id)).toEqual([
        job(1),
      ]);
    });

    it("refuses a count over the budget of the last 24 h, and counts only those 24 h, per backend", async () => {
      const [store, other] = pair(spec);
      const results = [];
      for (let n = 1; n <= 5; n++) {
        await store.putJob(record(n, "queued"));
        results.push(
          await (n % 2 ? store : other).claimExecution(claim(n, { count: 400, dailyLimit: 1_000 })),
        );
      }
      expect(results.map((result) => result.outcome)).toEqual([
        "claimed",
        "claimed",
        "over_budget",
        "over_budget",
        "over_budget",
      ]);
      expect(results[2]).toEqual({ outcome: "over_budget", used: 800 });
      expect(await store.dailyUsage(BACKEND, NOW)).toBe(800);
      expect(await store.dailyUsage(BACKEND, NOW + DAY_MS)).toBe(0);
      expect(await store.dailyUsage("other", NOW)).toBe(0);
      // Without one plan's claim (a job awaiting approval, weighed as if it ran now), from either process.
      expect(await other.dailyUsage(BACKEND, NOW, { planId: plan(1), jobId: job(1) })).toBe(400);
      expect(await store.dailyUsage(BACKEND, NOW, { planId: plan(3), jobId: job(3) })).toBe(800);
      const later = claim(6, { count: 1_000, dailyLimit: 1_000, now: NOW + DAY_MS });
      expect((await other.claimExecution(later)).outcome).toBe("claimed");
    });

    it("lists jobs newest first by owner and status, a page at a time, and unfinished ones oldest first", async () => {
      const [store, other] = pair(spec);
      await claimed(store, 1, "running", { owner: "alice" });
      await claimed(store, 2, "succeeded", { owner: "bob" });
      await claimed(store, 3, "queued", { owner: "alice" });
      await store.putJob(record(4, "queued")); // never claimed: not listed
      const ids = async (query: Parameters<Store["recentJobs"]>[0]) =>
        (await other.recentJobs(query)).map((j) => j.id);
      expect(await ids({ owner: null, offset: 0, limit: 10 })).toEqual([job(3), job(2), job(1)]);
      expect(await ids({ owner: "alice", offset: 0, limit: 10 })).toEqual([job(3), job(1)]);
      expect(await ids({ owner: null, statuses: ["succeeded"], offset: 0, limit: 10 })).toEqual([job(2)]);
      expect(await ids({ owner: null, offset: 1, limit: 1 })).toEqual([job(2)]);
      expect((await other.unfinishedJobs()).map((j) => j.id)).toEqual([job(1), job(3)]);
      await store.putJob(record(1, "succeeded"));
      expect((await other.unfinishedJobs()).map((j) => j.id)).toEqual([job(3)]);
    });

    it("gives a plan's ids back as written, batch by batch", async () => {
      const [store, other] = pair(spec);
      await store.putPlanBatches(plan(1), batchTexts(["a", "b c", "d,e", 'q"uote', "f"], 4), 60_000);
      expect(await other.getPlanBatch(plan(1), 0)).toEqual(["a", "b c", "d,e", 'q"uote']);
      expect(await other.getPlanBatch(plan(1), 1)).toEqual(["f"]);
    });

    it("writes a versioned job only when nobody wrote it since it was read", async () => {
      const [store, other] = pair(spec);
      await store.putJob(record(1, "awaiting_approval"));
      const mine = await store.getJobVersioned(job(1));
      const theirs = await other.getJobVersioned(job(1));
      if (!mine || !theirs) throw new Error("job missing");
      expect(await other.replaceJob({ ...theirs.job, status: "cancelled" }, theirs.rev)).toBe(true);
      expect(await store.replaceJob({ ...mine.job, status: "queued" }, mine.rev)).toBe(false);
      expect((await store.getJob(job(1)))?.status).toBe("cancelled");
    });

    it("writes a running job and its batches only for the lease's holder, checked in the write itself", async () => {
      const [store, other] = pair(spec);
      await store.putJob(record(1, "running"));
      await store.putBatches(job(1), [batch(0)]);
      expect(await store.acquireLease(job(1), "a", 200)).toBe(true);
      expect(await store.putJobAsHolder(record(1, "running", { notes: ["a wrote"] }), "a")).toBe(true);
      expect(await store.putBatchAsHolder(job(1), { ...batch(0), deleted: 1 }, "a")).toBe(true);
      expect(await other.putJobAsHolder(record(1, "succeeded"), "b")).toBe(false);
      // a pauses past its lease; b takes the job over and writes; a, back, writes nothing more.
      await new Promise((done) => setTimeout(done, 250));
      expect(await other.acquireLease(job(1), "b", 1_000)).toBe(true);
      expect(await other.putBatchAsHolder(job(1), { ...batch(0), deleted: 5 }, "b")).toBe(true);
      expect(await store.putBatchAsHolder(job(1), { ...batch(0), deleted: 2 }, "a")).toBe(false);
      expect(await store.putJobAsHolder(record(1, "failed"), "a")).toBe(false);
      expect((await other.getBatches(job(1), 1))[0]?.deleted).toBe(5);
      expect((await other.getJob(job(1)))?.status).toBe("running");
    });

    it("keeps a cancel request apart from the job record, and deletes a job that lost its claim", async () => {
      const [store, other] = pair(spec);
      await store.putJob(record(1, "running"));
      await store.putBatches(job(1), [batch(0)]);
      expect(await other.cancelRequested(job(1))).toBe(false);
      await other.requestCancel(job(1));
      expect(await store.cancelRequested(job(1))).toBe(true);
      // The runner's own writes of the job do not undo a request made elsewhere.
      await store.putJob(record(1, "running"));
      expect(await store.cancelRequested(job(1))).toBe(true);
      expect((await store.getJob(job(1)))?.cancel_requested).toBe(false);
      await store.deleteJob(job(1), 1);
      expect(await store.getJob(job(1))).toBeUndefined();
      await expect(store.getBatches(job(1), 1)).rejects.toThrow(`job ${job(1)} has no batch 0`);
    });

    it("leases: one holder at a time, renewable by it only, free again once lapsed or released", async () => {
      const [store, other] = pair(spec);
      expect(await store.acquireLease(job(1), "a", 300)).toBe(true);
      expect(await other.acquireLease(job(1), "b", 300)).toBe(false);
      expect(await store.acquireLease(job(1), "a", 300)).toBe(true);
      expect(await store.renewLease(job(1), "a", 300)).toBe(true);
      expect(await other.renewLease(job(1), "b", 300)).toBe(false);
      await other.releaseLease(job(1), "b");
      expect(await other.acquireLease(job(1), "b", 300)).toBe(false);
      await new Promise((done) => setTimeout(done, 400));
      // Lapsed: its holder can no longer renew it, and another takes it.
      expect(await store.renewLease(job(1), "a", 300)).toBe(false);
      expect(await other.acquireLease(job(1), "b", 300)).toBe(true);
      await other.releaseLease(job(1), "b");
      expect(await store.acquireLease(job(1), "a", 300)).toBe(true);
    });

    it("keeps one secret for every connection, made by whoever asks first", async () => {
      const [store, other] = pair(spec);
      const first = await store.secret("k", () => "made-by-first");
      const second = await other.secret("k", () => "made-by-second");
      expect(first).toBe("made-by-first");
      expect(second).toBe("made-by-first");
      expect(await store.secret("another", () => "x")).toBe("x");
    });

    it("lets an id be used once across connections, and again only after it expired", async () => {
      const [store, other] = pair(spec);
      const soon = Date.now() + 200;
      expect(await store.useOnce("state-1", soon)).toBe(true);
      expect(await other.useOnce("state-1", soon)).toBe(false);
      expect(await store.useOnce("state-1", soon)).toBe(false);
      expect(await other.useOnce("state-2", soon)).toBe(true);
      await new Promise((done) => setTimeout(done, 300));
      expect(await other.useOnce("state-1", Date.now() + 200)).toBe(true);
    });
  });
}

describe("SQLite leases of a process that died", () => {
  /** A child process that takes job 1's lease for a minute on `file`, says so, then waits to be killed. */
  function holder(file: string): Promise<ChildProcess> {
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(pathToFileURL(join(DIST, "jobs/sqlite-store.js")).href)});
      const store = SqliteStore.open(${JSON.stringify(file)});
      console.log(await store.acquireLease(${JSON.stringify(job(1))}, "child", 60_000));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve, reject) => {
      child.stdout?.once("data", (chunk: Buffer) =>
        chunk.toString().trim() === "true" ? resolve(child) : reject(new Error(chunk.toString())),
      );
      child.once("exit", (code) => reject(new Error(`holder exited with ${code}`)));
    });
  }

  it("is taken at once, while a living holder's is not", async () => {
    const file = join(tempDir(), "state.db");
    const store = openStore(`sqlite:${file}`);
    opened.push(store);
    const child = await holder(file);
    try {
      expect(await store.acquireLease(job(1), "parent", 60_000)).toBe(false);
    } finally {
      child.kill("SIGKILL");
      await new Promise((done) => child.once("exit", done));
    }
    // kill -9 released nothing, and the lease has 59 s left: its holder's death frees it.
    expect(await store.acquireLease(job(1), "parent", 60_000)).toBe(true);
  });
});

describe("retention", () => {
  it("removes finished jobs past their retention with their batches, plan and ids, and jobs never claimed", async () => {
    const store = SqliteStore.open(":memory:", { retentionDays: 1 });
    opened.push(store);
    await store.putPlanBatches(plan(1), ["a"]);
    await store.putPlan({ ...planOf(1), job_id: job(1) });
    await claimed(store, 1, "succeeded");
    await store.putBatches(job(1), [batch(0)]);
    await claimed(store, 2, "running");
    await store.putJob(record(3, "queued", { created_at: new Date().toISOString() })); // never claimed
    const now = Date.now();
    // Within retention and the hour an unclaimed job is given: all kept.
    await store.sweepExpired(now + 30 * 60_000);
    expect(await store.getJob(job(3))).toBeDefined();
    expect(await store.getJob(job(1))).toBeDefined();
    await store.sweepExpired(now + DAY_MS - 60_000);
    expect(await store.getJob(job(1))).toBeDefined();
    expect(await store.getJob(job(3))).toBeUndefined();
    await store.sweepExpired(now + DAY_MS + 60_000);
    expect(await store.getJob(job(1))).toBeUndefined();
    expect(await store.getPlan(plan(1))).toBeUndefined();
    await expect(store.getPlanBatch(plan(1), 0)).rejects.toThrow("has no batch 0");
    expect(await store.getJob(job(3))).toBeUndefined();
    expect((await store.getJob(job(2)))?.status).toBe("running");
    expect((await store.recentJobs({ owner: null, offset: 0, limit: 10 })).map((j) => j.id)).toEqual([
      job(2),
    ]);
  });
});

function planOf(n: number) {
  return planRecord({
    id: plan(n),
    backend: BACKEND,
    target: null,
    reason: "retention test",
    counts: { received: 1, unique: 1, duplicates: 0, invalid: 0, to_delete: 1 },
    batch_count: 1,
    batch_size: 1,
  });
}

describe("KeyedLock", () => {
  it("runs work for one key one at a time, and other keys beside it", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const step = (name: string, ms: number) => async () => {
      order.push(`${name} start`);
      await new Promise((done) => setTimeout(done, ms));
      order.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      lock.run("k", step("first", 30)),
      lock.run("k", step("second", 1)),
      lock.run("other", step("beside", 1)),
    ]);
    expect(results).toEqual(["first", "second", "beside"]);
    expect(order.indexOf("second start")).toBeGreaterThan(order.indexOf("first end"));
    expect(order.indexOf("beside end")).toBeLessThan(order.indexOf("first end"));
  });

  it("goes on after a failed piece of work", async () => {
    const lock = new KeyedLock();
    await expect(lock.run("k", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await lock.run("k", async () => "after")).toBe("after");
  });
});
