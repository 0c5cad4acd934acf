// The in-process coordination (memory and sqlite stores): plan claims, the daily budget, the job index, leases.
import Keyv from "keyv";
import { describe, expect, it } from "vitest";
import {
  DAY_MS,
  type ExecutionClaim,
  InProcessCoordination,
  KeyedLock,
} from "../../src/jobs/coordination.js";
import { type JobRecord, Store } from "../../src/jobs/store.js";
import { jobRecord, recordId } from "./fixtures.js";

const JOB_1 = recordId("job", 1);

const NOW = Date.parse("2026-03-01T12:00:00.000Z");

function coordination() {
  return new InProcessCoordination(new Keyv({ namespace: "test", throwOnErrors: true }));
}

function claim(overrides: Partial<ExecutionClaim> = {}): ExecutionClaim {
  return {
    planId: "plan_1",
    jobId: "job_1",
    backend: "splendor-prod",
    count: 10,
    dailyLimit: null,
    now: NOW,
    ...overrides,
  };
}

function job(id: string, status: JobRecord["status"]): JobRecord {
  const fields = {
    backend: "splendor-prod",
    batch_count: 1,
    notes: [],
    created_at: "2026-03-01T12:00:00.000Z",
  };
  return jobRecord({ ...fields, id, plan_id: `plan_of_${id}`, status, started_at: null });
}

describe("claimExecution", () => {
  it("gives a plan its first job only; a later claim is told which job won and records nothing", async () => {
    const coord = coordination();
    expect(await coord.claimExecution(claim())).toEqual({ outcome: "claimed", jobId: "job_1" });
    expect(await coord.claimExecution(claim({ jobId: "job_2" }))).toEqual({
      outcome: "taken",
      jobId: "job_1",
    });
    expect(await coord.dailyUsage("splendor-prod", NOW)).toBe(10);
    expect(await coord.jobIds()).toEqual(["job_1"]);
  });

  it("lets exactly one of many simultaneous claims of one plan win", async () => {
    const coord = coordination();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => coord.claimExecution(claim({ jobId: `job_${index}` }))),
    );
    const claimed = results.filter((result) => result.outcome === "claimed");
    expect(claimed).toHaveLength(1);
    const winner = (claimed[0] as { jobId: string }).jobId;
    expect(results.every((result) => "jobId" in result && result.jobId === winner)).toBe(true);
    expect(await coord.jobIds()).toEqual([winner]);
  });

  it("refuses a count over the budget of the last 24 h, atomically across simultaneous plans", async () => {
    const coord = coordination();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, index) =>
        coord.claimExecution(
          claim({ planId: `plan_${index}`, jobId: `job_${index}`, count: 400, dailyLimit: 1_000 }),
        ),
      ),
    );
    expect(results.filter((result) => result.outcome === "claimed")).toHaveLength(2);
    expect(results.filter((result) => result.outcome === "over_budget")).toEqual([
      { outcome: "over_budget", used: 800 },
      { outcome: "over_budget", used: 800 },
      { outcome: "over_budget", used: 800 },
    ]);
    expect(await coord.dailyUsage("splendor-prod", NOW)).toBe(800);
    // Exactly what is left still fits.
    expect(
      (await coord.claimExecution(claim({ planId: "plan_x", jobId: "job_x", count: 200, dailyLimit: 1_000 })))
        .outcome,
    ).toBe("claimed");
    expect(await coord.jobIds()).toHaveLength(3);
  });

  it("counts only the last 24 h, per backend, and records usage when there is no limit", async () => {
    const coord = coordination();
    await coord.claimExecution(claim({ count: 700, dailyLimit: 1_000, now: NOW - DAY_MS }));
    await coord.claimExecution(claim({ planId: "plan_2", jobId: "job_2", backend: "other", count: 5 }));
    expect(await coord.dailyUsage("splendor-prod", NOW)).toBe(0);
    expect(await coord.dailyUsage("splendor-prod", NOW - 1)).toBe(700);
    expect(await coord.dailyUsage("other", NOW)).toBe(5);
    const fresh = claim({ planId: "plan_3", jobId: "job_3", count: 1_000, dailyLimit: 1_000 });
    expect((await coord.claimExecution(fresh)).outcome).toBe("claimed");
  });
});

describe("job index", () => {
  it("indexes a job once, oldest first", async () => {
    const coord = coordination();
    await coord.claimExecution(claim());
    await coord.indexJob("job_legacy");
    await coord.indexJob("job_legacy");
    expect(await coord.jobIds()).toEqual(["job_1", "job_legacy"]);
    expect(await coord.unfinishedJobIds()).toEqual(["job_1", "job_legacy"]);
  });
});

describe("leases", () => {
  it("are held by one holder until released; the holder may take its own again", async () => {
    const coord = coordination();
    expect(await coord.acquireLease("job_1", "a", 1_000)).toBe(true);
    expect(await coord.acquireLease("job_1", "b", 1_000)).toBe(false);
    expect(await coord.acquireLease("job_1", "a", 1_000)).toBe(true);
    expect(await coord.renewLease("job_1", "a", 1_000)).toBe(true);
    expect(await coord.renewLease("job_1", "b", 1_000)).toBe(false);
    await coord.releaseLease("job_1", "b");
    expect(await coord.acquireLease("job_1", "b", 1_000)).toBe(false);
    await coord.releaseLease("job_1", "a");
    expect(await coord.renewLease("job_1", "a", 1_000)).toBe(false);
    expect(await coord.acquireLease("job_1", "b", 1_000)).toBe(true);
  });

  it("never expire in one process: nobody else could take the job over", async () => {
    const coord = coordination();
    expect(await coord.acquireLease("job_1", "a", 1)).toBe(true);
    await new Promise((done) => setTimeout(done, 20));
    expect(await coord.acquireLease("job_1", "b", 1)).toBe(false);
    expect(await coord.renewLease("job_1", "a", 1)).toBe(true);
  });
});

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

describe("Store on memory", () => {
  it("is not shared, and lists unfinished jobs from the index", async () => {
    const store = Store.open("memory");
    expect(store.shared).toBe(false);
    for (const [index, status] of (["running", "succeeded", "queued"] as const).entries()) {
      await store.putJob(job(`job_${index}`, status));
      await store.claimExecution(claim({ planId: `plan_of_job_${index}`, jobId: `job_${index}` }));
    }
    expect((await store.unfinishedJobs()).map((record) => record.id)).toEqual(["job_0", "job_2"]);
    await store.close();
  });

  it("drops a queued job indexed without its plan's claim (a crash inside the claim), and only that one", async () => {
    const store = Store.open("memory");
    await store.putJob(job("job_claimed", "queued"));
    await store.claimExecution(claim({ planId: "plan_of_job_claimed", jobId: "job_claimed" }));
    // The crash: indexed (the claim's first write), never claimed.
    await store.putJob(job("job_orphan", "queued"));
    await store.indexJob("job_orphan");
    // Started jobs were claimed by definition, whatever the claim record says.
    await store.putJob(job("job_running", "running"));
    await store.indexJob("job_running");
    expect((await store.unfinishedJobs()).map((record) => record.id)).toEqual(["job_claimed", "job_running"]);
    expect(await store.getJob("job_orphan")).toBeUndefined();
    expect(await store.listJobIds()).toEqual(["job_claimed", "job_running"]);
    await store.close();
  });

  it("keeps a cancel request apart from the job record, and deletes a job that lost its claim", async () => {
    const store = Store.open("memory");
    await store.putJob(job(JOB_1, "running"));
    await store.putBatch(JOB_1, {
      index: 0,
      size: 10,
      status: "pending",
      attempts: 0,
      deleted: 0,
      not_found: 0,
      failed: [],
      remaining: null,
      backend_job: null,
      last_error: null,
    });
    expect(await store.cancelRequested(JOB_1)).toBe(false);
    await store.requestCancel(JOB_1);
    expect(await store.cancelRequested(JOB_1)).toBe(true);
    expect((await store.getJob(JOB_1))?.cancel_requested).toBe(false);
    await store.deleteJob(JOB_1, 1);
    expect(await store.getJob(JOB_1)).toBeUndefined();
    await expect(store.getBatches(JOB_1, 1)).rejects.toThrow(`job ${JOB_1} has no batch 0`);
    await store.close();
  });
});
