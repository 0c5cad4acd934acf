// The Redis store against a real redis-server, from two connections: claims and budgets, the job index, leases and
// the writes they guard, versioned writes, retention TTLs, scripts after a SCRIPT FLUSH, hash tags, Redis down.
// (The expectations it shares with SQLite run in store-sqlite.test.ts.)
import { createHash } from "node:crypto";
import { createClient } from "@redis/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { batchTexts } from "../../src/gate/plan.js";
import type { ExecutionClaim } from "../../src/jobs/coordination.js";
import { openStore } from "../../src/jobs/open-store.js";
import { SCRIPTS } from "../../src/jobs/redis-scripts.js";
import { RedisStore, redisKeys } from "../../src/jobs/redis-store.js";
import type { JobRecord, PlanRecord, Store } from "../../src/jobs/store.js";
import {
  freePort,
  type RedisServer,
  skipWithoutRedis,
  startRedisServer,
} from "../integration/redis-server.js";
import { batchRecord, jobRecord, planRecord, recordId, recordNumber } from "./fixtures.js";

const NOW = Date.parse("2026-03-01T12:00:00.000Z");
const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

let redis: RedisServer;
let store: Store;
let other: Store;
let raw: ReturnType<typeof createClient>;
const skip = skipWithoutRedis("the Redis store unit tests");

beforeAll(async () => {
  if (skip) return;
  redis = await startRedisServer();
  store = openStore(redis.url);
  other = openStore(redis.url);
  raw = createClient({ url: redis.url });
  await raw.connect();
});
beforeEach(async () => {
  if (!skip) await raw.flushAll();
});
afterAll(async () => {
  await store?.close();
  await other?.close();
  await raw?.close();
  await redis?.stop();
});

const job = (n: number) => recordId("job", n);
const plan = (n: number) => recordId("plan", n);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function claim(n: number, overrides: Partial<ExecutionClaim> = {}): ExecutionClaim {
  return {
    planId: plan(n),
    jobId: job(n),
    backend: "b",
    count: 10,
    dailyLimit: null,
    now: NOW,
    ...overrides,
  };
}

function record(n: number, status: JobRecord["status"], overrides: Partial<JobRecord> = {}): JobRecord {
  return jobRecord({
    id: job(n),
    plan_id: plan(n),
    status,
    batch_count: 2,
    notes: [],
    created_at: new Date(NOW + n).toISOString(),
    ...overrides,
  });
}

const batch = batchRecord;

function planOf(n: number): PlanRecord {
  return planRecord({ id: plan(n), backend: "b", target: null, reason: "redis store test" });
}

/** A job as the gate makes one: its plan and ids, its batches and record, then its claim. */
async function executed(on: Store, n: number, overrides: Partial<JobRecord> = {}) {
  await on.putPlanBatches(plan(n), batchTexts(["a", "b", "c"], 2), 60_000);
  await on.putPlan(planOf(n), 60_000);
  await on.keepPlanBatches(plan(n), 2);
  await on.putBatches(job(n), [batch(0), batch(1)]);
  await on.putJob(record(n, "queued", overrides));
  expect(await on.claimExecution(claim(n))).toEqual({ outcome: "claimed", jobId: job(n) });
  await on.putPlan({ ...planOf(n), job_id: job(n) });
}

/** The hash tag Redis Cluster hashes a key by: the first non-empty {…}, or the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  const close = open === -1 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe.skipIf(skip)("Store on Redis", () => {
  it("is shared, and two stores on one Redis see the same records", async () => {
    expect(store.shared).toBe(true);
    expect(store.kind).toBe("redis");
    expect(store.cheapWrites).toBe(true);
    await store.putJob(record(1, "running"));
    expect((await other.getJob(job(1)))?.status).toBe("running");
  });

  it("lets one of many simultaneous claims of a plan win, from two connections", async () => {
    for (let n = 0; n < 20; n++) await store.putJob(record(n, "queued", { plan_id: plan(1) }));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        (n % 2 ? store : other).claimExecution(claim(1, { jobId: job(n) })),
      ),
    );
    const claimed = results.filter((result) => result.outcome === "claimed");
    expect(claimed).toHaveLength(1);
    const winner = (claimed[0] as { jobId: string }).jobId;
    expect(results.every((result) => "jobId" in result && result.jobId === winner)).toBe(true);
    const listed = await store.recentJobs({ owner: null, offset: 0, limit: 100 });
    expect(listed.map((listedJob) => listedJob.id)).toEqual([winner]);
    expect(await store.dailyUsage("b", NOW)).toBe(10);
  });

  it("keeps simultaneous claims of different plans within the daily budget", async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        (n % 2 ? store : other).claimExecution(claim(n, { count: 300, dailyLimit: 1_000 })),
      ),
    );
    expect(results.filter((result) => result.outcome === "claimed")).toHaveLength(3);
    for (const result of results.filter((result) => result.outcome === "over_budget")) {
      expect(result).toEqual({ outcome: "over_budget", used: 900 });
    }
    expect(await other.dailyUsage("b", NOW)).toBe(900);
    // Without one plan's claim (a job awaiting approval, weighed as if it ran now).
    const n = results.findIndex((result) => result.outcome === "claimed");
    expect(await store.dailyUsage("b", NOW, { planId: plan(n), jobId: job(n) })).toBe(600);
    expect(await store.dailyUsage("b", NOW, { planId: "plan_x", jobId: "job_x" })).toBe(900);
    // Usage older than 24 h no longer counts.
    expect(await store.dailyUsage("b", NOW + DAY_MS)).toBe(0);
    const later = claim(9, { count: 1_000, dailyLimit: 1_000, now: NOW + DAY_MS });
    expect((await store.claimExecution(later)).outcome).toBe("claimed");
  });

  it("lists unfinished jobs until their terminal status is stored", async () => {
    for (const n of [1, 2]) {
      await store.putJob(record(n, "queued"));
      await store.claimExecution(claim(n));
    }
    const unfinished = async () => (await other.unfinishedJobs()).map((listed) => listed.id);
    expect(await unfinished()).toEqual([job(1), job(2)]);
    await store.putJob(record(1, "succeeded"));
    expect(await unfinished()).toEqual([job(2)]);
    expect(await raw.sMembers(redisKeys.unfinished)).toEqual([job(2)]);
  });

  it("leases: one holder at a time, renewable by it only, free again once expired or released", async () => {
    expect(await store.acquireLease(job(1), "a", 300)).toBe(true);
    expect(await other.acquireLease(job(1), "b", 300)).toBe(false);
    expect(await store.renewLease(job(1), "a", 300)).toBe(true);
    expect(await other.renewLease(job(1), "b", 300)).toBe(false);
    await other.releaseLease(job(1), "b");
    expect(await other.acquireLease(job(1), "b", 300)).toBe(false);
    await sleep(450);
    // Expired: the other instance takes it; the old holder can no longer renew it.
    expect(await other.acquireLease(job(1), "b", 300)).toBe(true);
    expect(await store.renewLease(job(1), "a", 300)).toBe(false);
    await other.releaseLease(job(1), "b");
    expect(await store.acquireLease(job(1), "a", 300)).toBe(true);
  });

  it("keeps a cancel request where every instance reads it, and none for a job it does not have", async () => {
    await store.putJob(record(1, "running"));
    expect(await other.cancelRequested(job(1))).toBe(false);
    await store.requestCancel(job(1));
    expect(await other.cancelRequested(job(1))).toBe(true);
    await store.requestCancel(job(2));
    expect(await other.cancelRequested(job(2))).toBe(false);
    expect(await raw.exists(redisKeys.job(job(2)))).toBe(0);
  });

  it("writes a running job only for its lease's holder: one that lost the lease writes nothing, the new one does", async () => {
    await executed(store, 1);
    expect(await store.acquireLease(job(1), "a", 200)).toBe(true);
    expect(await store.putJobAsHolder(record(1, "running", { notes: ["a"] }), "a")).toBe(true);
    expect(await store.putBatchAsHolder(job(1), batch(0, { deleted: 1 }), "a")).toBe(true);
    // a is paused past its lease; b, on the other connection, takes the job over.
    await sleep(300);
    expect(await store.putBatchAsHolder(job(1), batch(0, { deleted: 2 }), "a")).toBe(false);
    expect(await other.acquireLease(job(1), "b", 5_000)).toBe(true);
    expect(await store.putJobAsHolder(record(1, "failed", { notes: ["a again"] }), "a")).toBe(false);
    expect(await store.putBatchAsHolder(job(1), batch(0, { deleted: 3 }), "a")).toBe(false);
    expect(await other.putBatchAsHolder(job(1), batch(0, { deleted: 5 }), "b")).toBe(true);
    expect(await other.putJobAsHolder(record(1, "running", { notes: ["b"] }), "b")).toBe(true);
    expect((await store.getJob(job(1)))?.notes).toEqual(["b"]);
    expect((await store.getBatches(job(1), 2)).map((stored) => stored.deleted)).toEqual([5, 0]);
    // Only records that exist: a batch the job does not have, a job that is gone.
    expect(await other.putBatchAsHolder(job(1), batch(7), "b")).toBe(false);
    expect(await other.acquireLease(job(2), "b", 5_000)).toBe(true);
    expect(await other.putJobAsHolder(record(2, "running"), "b")).toBe(false);
    expect(await store.getJob(job(2))).toBeUndefined();
  });

  it("replaces a job only at the revision it was read at, across two connections racing", async () => {
    await store.putJob(record(1, "awaiting_approval"));
    const [mine, theirs] = await Promise.all([store.getJobVersioned(job(1)), other.getJobVersioned(job(1))]);
    if (!mine || !theirs) throw new Error("job missing");
    expect(mine.rev).toBe(theirs.rev);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        (n % 2 ? store : other).replaceJob({ ...mine.job, notes: [`writer ${n}`] }, mine.rev),
      ),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    const winner = outcomes.indexOf(true);
    const after = await other.getJobVersioned(job(1));
    expect(after?.job.notes).toEqual([`writer ${winner}`]);
    expect(after?.rev).not.toBe(mine.rev);
    // Any write moves the revision on: a plain write, then a holder's.
    await store.putJob(record(1, "queued"));
    expect(await other.replaceJob({ ...mine.job, status: "cancelled" }, after?.rev as string)).toBe(false);
    expect((await store.getJob(job(1)))?.status).toBe("queued");
    expect(await store.replaceJob(record(3, "queued"), "1")).toBe(false);
  });

  it("lists jobs newest first a page at a time, by owner and status, without reading past the page", async () => {
    const statuses = ["running", "succeeded", "queued", "failed"] as const;
    for (let n = 1; n <= 23; n++) {
      await store.putJob(
        record(n, statuses[n % 4] as JobRecord["status"], { owner: n % 3 ? "alice" : "bob" }),
      );
      expect((await (n % 2 ? store : other).claimExecution(claim(n))).outcome).toBe("claimed");
    }
    await store.putJob(record(24, "running", { owner: "alice" })); // never claimed: never listed
    const newestFirst = Array.from({ length: 23 }, (_, at) => job(23 - at));
    const page = async (query: Parameters<Store["recentJobs"]>[0]) =>
      (await other.recentJobs(query)).map((listed) => listed.id);
    const pages: string[] = [];
    for (let offset = 0; offset < 30; offset += 7)
      pages.push(...(await page({ owner: null, offset, limit: 7 })));
    expect(pages).toEqual(newestFirst);
    // A page reads its own jobs' records, no more.
    await raw.configResetStat();
    expect(await page({ owner: null, offset: 14, limit: 7 })).toEqual(newestFirst.slice(14, 21));
    expect(await raw.info("commandstats")).toMatch(/cmdstat_hget:calls=7,/);
    const ofAlice = newestFirst.filter((id) => recordNumber(id) % 3 !== 0);
    expect(await page({ owner: "alice", offset: 0, limit: 100 })).toEqual(ofAlice);
    expect(await page({ owner: "alice", offset: 3, limit: 4 })).toEqual(ofAlice.slice(3, 7));
    const done = newestFirst.filter((id) =>
      ["succeeded", "failed"].includes(statuses[recordNumber(id) % 4] as string),
    );
    expect(await page({ owner: null, statuses: ["succeeded", "failed"], offset: 2, limit: 5 })).toEqual(
      done.slice(2, 7),
    );
    expect(await page({ owner: "bob", statuses: ["queued"], offset: 0, limit: 10 })).toEqual(
      newestFirst.filter((id) => recordNumber(id) % 3 === 0 && recordNumber(id) % 4 === 2),
    );
    expect(await page({ owner: "carol", offset: 0, limit: 10 })).toEqual([]);
    expect(await page({ owner: null, offset: 0, limit: 0 })).toEqual([]);
    // A job past its retention (its keys expired) leaves the indexes as they are read.
    await raw.del(redisKeys.job(job(22)));
    expect(await page({ owner: null, offset: 0, limit: 3 })).toEqual([job(23), job(21), job(20)]);
    expect(await raw.zScore(redisKeys.jobs, job(22))).toBeNull();
    expect(await raw.zCard(redisKeys.jobs)).toBe(22);
  });

  it("sweeps ids of expired jobs from the indexes' old ends", async () => {
    for (let n = 1; n <= 5; n++) {
      await store.putJob(record(n, "queued", { owner: n % 2 ? "alice" : null }));
      await store.claimExecution(claim(n));
    }
    await raw.del([redisKeys.job(job(1)), redisKeys.job(job(2)), redisKeys.job(job(4))]);
    // Three ids in the whole index, one in alice's (job 1; job 3 and 5 are alive).
    expect(await store.sweepExpired()).toBe(4);
    expect(await raw.zRange(redisKeys.jobs, 0, -1)).toEqual([job(3), job(5)]);
    expect(await raw.zRange(redisKeys.ownerJobs("alice"), 0, -1)).toEqual([job(3), job(5)]);
    expect(await store.sweepExpired()).toBe(0);
  });

  it("keeps a claimed job for good, and gives a finished one, its plan, ids and claim the retention TTL", async () => {
    const retained = RedisStore.open(redis.url, { retentionDays: 2 });
    try {
      await retained.putBatches(job(9), [batch(0)]);
      await retained.putJob(record(9, "queued"));
      // Written, not claimed (a crash before its claim): gone within the hour.
      for (const key of [redisKeys.job(job(9)), redisKeys.batches(job(9))]) {
        expect(await raw.pTTL(key)).toBeGreaterThan(HOUR_MS - 60_000);
        expect(await raw.pTTL(key)).toBeLessThanOrEqual(HOUR_MS);
      }
      await executed(retained, 1);
      const keys = [
        redisKeys.job(job(1)),
        redisKeys.batches(job(1)),
        redisKeys.plan(plan(1)),
        redisKeys.planIds(plan(1), 0),
        redisKeys.planIds(plan(1), 1),
        redisKeys.claim(plan(1)),
      ];
      for (const key of keys) expect(await raw.pTTL(key), key).toBe(-1);
      expect(await retained.acquireLease(job(1), "a", 5_000)).toBe(true);
      expect(await retained.putJobAsHolder(record(1, "running"), "a")).toBe(true);
      for (const key of keys) expect(await raw.pTTL(key), key).toBe(-1);
      expect(await retained.putJobAsHolder(record(1, "succeeded"), "a")).toBe(true);
      for (const key of keys) {
        expect(await raw.pTTL(key), key).toBeGreaterThan(2 * DAY_MS - 60_000);
        expect(await raw.pTTL(key), key).toBeLessThanOrEqual(2 * DAY_MS);
      }
      expect(await raw.sIsMember(redisKeys.unfinished, job(1))).toBe(0);
      // Still listed until it expires.
      expect((await retained.recentJobs({ owner: null, offset: 0, limit: 5 })).map((j) => j.id)).toEqual([
        job(1),
      ]);
    } finally {
      await retained.close();
    }
  });

  it("finishes the end of a job whose process died between its terminal write and the rest", async () => {
    await executed(store, 1);
    await store.putJob(record(1, "cancelled"));
    // As if the steps after the write never ran: still unfinished, its records kept for good.
    await raw.sAdd(redisKeys.unfinished, job(1));
    await raw.persist(redisKeys.job(job(1)));
    await raw.persist(redisKeys.plan(plan(1)));
    expect(await other.unfinishedJobs()).toEqual([]);
    expect(await raw.sIsMember(redisKeys.unfinished, job(1))).toBe(0);
    for (const key of [redisKeys.job(job(1)), redisKeys.plan(plan(1))]) {
      expect(await raw.pTTL(key), key).toBeGreaterThan(89 * DAY_MS);
    }
  });

  it("calls its scripts again after Redis lost them (SCRIPT FLUSH: NOSCRIPT, sent whole once more)", async () => {
    const sha = (script: { SCRIPT: string }) => createHash("sha1").update(script.SCRIPT).digest("hex");
    const lease = sha(SCRIPTS.renewLease);
    const claimSha = sha(SCRIPTS.claimExecution);
    expect(await store.acquireLease(job(1), "a", 5_000)).toBe(true);
    await store.putJob(record(1, "queued"));
    expect(await store.renewLease(job(1), "a", 5_000)).toBe(true);
    expect(await raw.scriptExists([lease])).toEqual([1]);
    await raw.scriptFlush();
    expect(await raw.scriptExists([lease, claimSha])).toEqual([0, 0]);
    expect(await store.renewLease(job(1), "a", 5_000)).toBe(true);
    expect(await store.claimExecution(claim(1))).toEqual({ outcome: "claimed", jobId: job(1) });
    expect(await raw.scriptExists([lease, claimSha])).toEqual([1, 1]);
    await raw.scriptFlush();
    expect(await other.claimExecution(claim(1, { jobId: job(2) }))).toEqual({
      outcome: "taken",
      jobId: job(1),
    });
    expect(await other.putJobAsHolder(record(1, "running"), "a")).toBe(true);
    expect(await store.dailyUsage("b", NOW)).toBe(10);
  });

  it("tags every key: a job's records and lease share its slot, a plan's its own, the global ones {dg}", async () => {
    await executed(store, 1, { owner: "alice" });
    await store.acquireLease(job(1), "a", 5_000);
    await store.requestCancel(job(1));
    const keys = await raw.keys("*");
    expect(keys.length).toBeGreaterThan(0);
    const byTag = new Map<string, string[]>();
    for (const key of keys) byTag.set(hashTag(key), [...(byTag.get(hashTag(key)) ?? []), key]);
    expect([...byTag.keys()].sort()).toEqual(["dg", job(1), plan(1)].sort());
    expect(byTag.get(job(1))?.sort()).toEqual(
      [redisKeys.job(job(1)), redisKeys.batches(job(1)), redisKeys.lease(job(1))].sort(),
    );
    expect(byTag.get(plan(1))?.sort()).toEqual(
      [redisKeys.plan(plan(1)), redisKeys.planIds(plan(1), 0), redisKeys.planIds(plan(1), 1)].sort(),
    );
    expect(byTag.get("dg")).toContain(redisKeys.claim(plan(1)));
    expect(byTag.get("dg")).toContain(redisKeys.ownerJobs("alice"));
    // Every key of the job names it in its tag: none slips out of the slot.
    for (const key of keys.filter((key) => key.includes(job(1)))) expect(hashTag(key)).toBe(job(1));
  });

  it("expires a plan not executed with its ids, and keeps an executed one's", async () => {
    await store.putPlanBatches(plan(1), ["a", "b"], 300);
    await store.putPlan(planOf(1), 300);
    await store.putPlanBatches(plan(2), ["c", "d"], 300);
    await store.putPlan(planOf(2), 300);
    await store.keepPlanBatches(plan(2), 2);
    await store.putPlan({ ...planOf(2), job_id: job(2) });
    await sleep(400);
    expect(await other.getPlan(plan(1))).toBeUndefined();
    await expect(other.getPlanBatch(plan(1), 0)).rejects.toThrow(`plan ${plan(1)} has no batch 0`);
    await expect(other.keepPlanBatches(plan(1), 2)).rejects.toThrow(`plan ${plan(1)} has 0 of its 2 batches`);
    expect((await other.getPlan(plan(2)))?.job_id).toBe(job(2));
    expect(await other.getPlanBatch(plan(2), 1)).toEqual(["d"]);
  });
});

describe.skipIf(skip)("Redis down", () => {
  it("fails a call within the connect timeout, saying why, and reports errors to onError", async () => {
    const onError = vi.fn();
    const down = openStore(`redis://127.0.0.1:${await freePort()}`, { onError });
    try {
      const started = Date.now();
      await expect(down.recentJobs({ owner: null, offset: 0, limit: 1 })).rejects.toThrow(
        /^Redis did not answer within 5 s: .*ECONNREFUSED/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
      expect(Date.now() - started).toBeLessThan(7_000);
      expect(onError).toHaveBeenCalled();
    } finally {
      await down.close();
    }
  }, 15_000);
});
