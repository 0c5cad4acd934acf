// The Redis coordination's Lua scripts against a real redis-server: claims, budgets, index, unfinished set, leases.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecutionClaim } from "../../src/jobs/coordination.js";
import { openStore } from "../../src/jobs/open-store.js";
import type { JobRecord, Store } from "../../src/jobs/store.js";
import { type RedisServer, skipWithoutRedis, startRedisServer } from "../integration/redis-server.js";
import { jobRecord, recordId, recordNumber } from "./fixtures.js";

const NOW = Date.parse("2026-03-01T12:00:00.000Z");
const DAY_MS = 24 * 60 * 60 * 1000;

let redis: RedisServer;
let store: Store;
let other: Store;
let prefix = 0;
const skip = skipWithoutRedis("the Redis store unit tests");

beforeAll(async () => {
  if (skip) return;
  redis = await startRedisServer();
  store = openStore(redis.url);
  other = openStore(redis.url);
});
afterAll(async () => {
  await store?.close();
  await other?.close();
  await redis?.stop();
});

/** Unique names per test on the one server. */
function names() {
  prefix++;
  return {
    plan: (n: number) => recordId("plan", prefix * 1000 + n),
    job: (n: number) => recordId("job", prefix * 1000 + n),
    backend: `be${prefix}`,
  };
}

function claim(overrides: Partial<ExecutionClaim>): ExecutionClaim {
  return { planId: "p", jobId: "j", backend: "b", count: 10, dailyLimit: null, now: NOW, ...overrides };
}

function job(id: string, status: JobRecord["status"]): JobRecord {
  const fields = { backend: "b", batch_count: 1, notes: [], created_at: "2026-03-01T12:00:00.000Z" };
  return jobRecord({ ...fields, id, plan_id: `plan_of_${id}`, status, started_at: null });
}

describe.skipIf(skip)("Store on Redis", () => {
  it("is shared, and two stores on one Redis see the same records", async () => {
    const { job: jobId } = names();
    expect(store.shared).toBe(true);
    expect(store.kind).toBe("redis");
    await store.putJob(job(jobId(1), "running"));
    expect((await other.getJob(jobId(1)))?.status).toBe("running");
  });

  it("lets one of many simultaneous claims of a plan win, from two connections", async () => {
    const { plan, job: jobId, backend } = names();
    for (let index = 0; index < 20; index++) await store.putJob(job(jobId(index), "queued"));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        (index % 2 ? store : other).claimExecution(claim({ planId: plan(1), jobId: jobId(index), backend })),
      ),
    );
    const claimed = results.filter((result) => result.outcome === "claimed");
    expect(claimed).toHaveLength(1);
    const winner = (claimed[0] as { jobId: string }).jobId;
    expect(results.every((result) => "jobId" in result && result.jobId === winner)).toBe(true);
    const listed = await store.recentJobs({ owner: null, offset: 0, limit: 100 });
    expect(
      listed.map((record) => record.id).filter((id) => Math.floor(recordNumber(id) / 1000) === prefix),
    ).toEqual([winner]);
    expect(await store.dailyUsage(backend, NOW)).toBe(10);
  });

  it("keeps simultaneous claims of different plans within the daily budget", async () => {
    const { plan, job: jobId, backend } = names();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        (index % 2 ? store : other).claimExecution(
          claim({ planId: plan(index), jobId: jobId(index), backend, count: 300, dailyLimit: 1_000 }),
        ),
      ),
    );
    expect(results.filter((result) => result.outcome === "claimed")).toHaveLength(3);
    for (const result of results.filter((result) => result.outcome === "over_budget")) {
      expect(result).toEqual({ outcome: "over_budget", used: 900 });
    }
    expect(await other.dailyUsage(backend, NOW)).toBe(900);
    // Usage older than 24 h no longer counts.
    expect(await store.dailyUsage(backend, NOW + DAY_MS)).toBe(0);
    const later = claim({ planId: plan(9), jobId: jobId(9), backend, count: 1_000, dailyLimit: 1_000 });
    expect((await store.claimExecution({ ...later, now: NOW + DAY_MS })).outcome).toBe("claimed");
  });

  it("lists unfinished jobs until their terminal status is stored", async () => {
    const { job: jobId, backend } = names();
    for (const index of [1, 2]) {
      await store.putJob(job(jobId(index), "queued"));
      await store.claimExecution(claim({ planId: `plan_of_${jobId(index)}`, jobId: jobId(index), backend }));
    }
    const mine = async () =>
      (await other.unfinishedJobs())
        .map((record) => record.id)
        .filter((id) => Math.floor(recordNumber(id) / 1000) === prefix);
    expect((await mine()).sort()).toEqual([jobId(1), jobId(2)]);
    await store.putJob(job(jobId(1), "succeeded"));
    expect(await mine()).toEqual([jobId(2)]);
  });

  it("leases: one holder at a time, renewable by it only, free again once expired or released", async () => {
    const { job: jobId } = names();
    expect(await store.acquireLease(jobId(1), "a", 300)).toBe(true);
    expect(await other.acquireLease(jobId(1), "b", 300)).toBe(false);
    expect(await store.renewLease(jobId(1), "a", 300)).toBe(true);
    expect(await other.renewLease(jobId(1), "b", 300)).toBe(false);
    await other.releaseLease(jobId(1), "b");
    expect(await other.acquireLease(jobId(1), "b", 300)).toBe(false);
    await new Promise((done) => setTimeout(done, 450));
    // Expired: the other instance takes it; the old holder can no longer renew it.
    expect(await other.acquireLease(jobId(1), "b", 300)).toBe(true);
    expect(await store.renewLease(jobId(1), "a", 300)).toBe(false);
    await other.releaseLease(jobId(1), "b");
    expect(await store.acquireLease(jobId(1), "a", 300)).toBe(true);
  });

  it("keeps a cancel request where every instance reads it", async () => {
    const { job: jobId } = names();
    expect(await other.cancelRequested(jobId(1))).toBe(false);
    await store.requestCancel(jobId(1));
    expect(await other.cancelRequested(jobId(1))).toBe(true);
  });
});
