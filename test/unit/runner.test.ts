// The runner in process: a fake backend client behind a real lane, the memory store, an audit kept in memory.
// Sending, retries, pacing that adapts to 429, close() waiting for requests in flight, a run that a failing store
// stopped being started again.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Audit, AuditEntry } from "../../src/audit/index.js";
import type { HttpClient } from "../../src/backends/http.js";
import type { BackendClient, BatchOutcome, BatchRequest } from "../../src/backends/types.js";
import { parseConfig } from "../../src/config.js";
import { batchTexts } from "../../src/gate/plan.js";
import { Lane, Lanes, PACE_MAX_CUT, PACE_MIN_CUT, PACE_OF_TAKEN } from "../../src/jobs/lanes.js";
import { openStore } from "../../src/jobs/open-store.js";
import { RESTART_FIRST_MS, RESTART_LIMIT, Runner } from "../../src/jobs/runner.js";
import { BACKOFF_MIN_MS } from "../../src/jobs/send-batch.js";
import type { PlanRecord, Store } from "../../src/jobs/store.js";
import { LiveConfig } from "../../src/live-config.js";
import { createLogger } from "../../src/logger.js";
import { recordId, splendorBackend } from "./fixtures.js";

const logger = createLogger("silent");
const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** A backend that answers with `answer(request)` after `latencyMs`, and records what it was sent. */
function fakeBackend(answer: (request: BatchRequest, call: number) => BatchOutcome, latencyMs = 1) {
  const sent: { ids: string[]; at: number }[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const client: BackendClient = {
    async sendBatch(request) {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      sent.push({ ids: request.ids, at: Date.now() });
      const call = sent.length;
      await new Promise((done) => setTimeout(done, latencyMs));
      inFlight--;
      return answer(request, call);
    },
  };
  const http = { ready: async () => {}, close: async () => {} } as unknown as HttpClient;
  return { client, http, sent, mostInFlight: () => mostInFlight };
}

const completed = (request: BatchRequest): BatchOutcome => ({
  type: "completed",
  deleted: request.ids.length,
  notFound: 0,
  failed: [],
  httpStatus: 200,
});

function memoryAudit() {
  const entries: AuditEntry[] = [];
  const audit: Audit = { record: (entry) => void entries.push(entry), close: () => {} };
  return { audit, entries };
}

interface Setup {
  runner: Runner;
  store: Store;
  entries: AuditEntry[];
  lane: Lane;
}

function setup(
  backend: ReturnType<typeof fakeBackend>,
  overrides: Record<string, unknown> = {},
  store?: Store,
) {
  const config = parseConfig(
    {
      store: "memory",
      backends: {
        "splendor-prod": {
          kind: "splendor",
          baseUrl: "http://127.0.0.1:1",
          credentialEnv: "T",
          tenantId: "acme",
          requestsPerSecond: 1000,
          maxBatchSize: 10,
          ...overrides,
        },
      },
    },
    { T: "secret" },
  );
  const live = new LiveConfig(config);
  const backendConfig = config.backends["splendor-prod"] ?? splendorBackend();
  const lane = new Lane(backendConfig, backend);
  const lanes = new Lanes([backendConfig], () => lane);
  const jobs = store ?? openStore("memory");
  const { audit, entries } = memoryAudit();
  const runner = new Runner(jobs, audit, logger, live, { lanes });
  closing.push(async () => {
    await runner.close();
    await jobs.close();
  });
  return { runner, store: jobs, entries, lane } satisfies Setup;
}

/** The memory store, whose first write of a batch done fails (a disk error): the run stops on it. */
function storeFailingOnce(): Store {
  const store = openStore("memory");
  let failures = 1;
  const flaky: Store = Object.create(store);
  flaky.putBatch = async (jobId, batch) => {
    if (batch.status === "done" && failures-- > 0) throw new Error("disk I/O error");
    return store.putBatch(jobId, batch);
  };
  return flaky;
}

let planNumber = 0;

/** Stores a plan of `count` ids in batches of `size`, its job, and its claim; returns the job id. */
async function jobOf({ runner, store }: Setup, count: number, size = 10): Promise<string> {
  planNumber++;
  const ids = Array.from({ length: count }, (_, index) => `rec-${planNumber}-${index}`);
  const batches = batchTexts(ids, size);
  const plan: PlanRecord = {
    id: recordId("plan", planNumber),
    backend: "splendor-prod",
    kind: "splendor",
    target: { dataset_id: "app-logs" },
    reason: "runner unit test",
    digest: "d",
    counts: { received: count, unique: count, duplicates: 0, invalid: 0, to_delete: count },
    invalid_ids: [],
    batch_count: batches.length,
    batch_size: size,
    sample_ids: [],
    notes: [],
    confirmation: {
      mode: "token",
      token_hash: null,
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    },
    created_by: "test",
    owner: null,
    created_at: new Date().toISOString(),
    job_id: null,
    ids_file: null,
    preview: null,
  };
  await store.putPlanBatches(plan.id, batches);
  await store.putPlan(plan);
  const jobId = recordId("job", planNumber);
  await runner.createJob(plan, jobId, "test");
  await store.claimExecution({
    planId: plan.id,
    jobId,
    backend: plan.backend,
    count,
    dailyLimit: null,
    now: Date.now(),
  });
  return jobId;
}

async function finished(setupOf: Setup, jobId: string, ms = 10_000) {
  await setupOf.runner.waitFor(jobId, ms);
  return setupOf.runner.view(jobId, { offset: 0, limit: 100 }, null);
}

describe("Runner", () => {
  it("sends every batch once, at most `concurrency` at a time, and audits the job from start to finish", async () => {
    const backend = fakeBackend(completed, 5);
    const run = setup(backend, { concurrency: 3 });
    const jobId = await jobOf(run, 95);
    expect(await run.runner.start(jobId)).toBe(true);
    const view = await finished(run, jobId);
    expect(view?.status).toBe("succeeded");
    expect(view?.counts.deleted).toBe(95);
    expect(backend.sent.flatMap((request) => request.ids).sort()).toHaveLength(95);
    expect(new Set(backend.sent.flatMap((request) => request.ids)).size).toBe(95);
    expect(backend.mostInFlight()).toBe(3);
    const events = run.entries.map((entry) => entry.event);
    expect(events[0]).toBe("job.started");
    expect(events.filter((event) => event === "batch.sending")).toHaveLength(10);
    expect(events.filter((event) => event === "batch.completed")).toHaveLength(10);
    expect(events.at(-1)).toBe("job.finished");
  });

  it("retries a transient failure after a backoff, counting the attempts", async () => {
    const backend = fakeBackend((request, call) =>
      call <= 2 ? { type: "retry", error: "HTTP 503", httpStatus: 503 } : completed(request),
    );
    const run = setup(backend);
    const jobId = await jobOf(run, 10);
    await run.runner.start(jobId);
    const view = await finished(run, jobId);
    expect(view?.status).toBe("succeeded");
    expect(backend.sent).toHaveLength(3);
    const gaps = backend.sent.slice(1).map((request, index) => request.at - (backend.sent[index]?.at ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(BACKOFF_MIN_MS);
    expect(run.entries.find((entry) => entry.event === "batch.completed")?.attempts).toBe(3);
  });

  it("close() waits for the request in flight and sends nothing after it", async () => {
    const backend = fakeBackend(completed, 300);
    const run = setup(backend, { concurrency: 1 });
    const jobId = await jobOf(run, 50);
    await run.runner.start(jobId);
    await new Promise((done) => setTimeout(done, 50));
    const started = Date.now();
    await run.runner.close();
    // The one request in flight finished before close() returned; none started after.
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    const sentAtClose = backend.sent.length;
    expect(sentAtClose).toBe(1);
    await new Promise((done) => setTimeout(done, 400));
    expect(backend.sent).toHaveLength(sentAtClose);
  });

  it("a run stopped by a failing store is started again, and the job finishes", async () => {
    const backend = fakeBackend(completed);
    const run = setup(backend, {}, storeFailingOnce());
    const jobId = await jobOf(run, 30);
    await run.runner.start(jobId);
    await new Promise((done) => setTimeout(done, RESTART_FIRST_MS + 500));
    const view = await finished(run, jobId);
    expect(view?.status).toBe("succeeded");
    expect(view?.counts.deleted).toBe(30);
  });

  it("a cancel that arrives while a failed run waits to start again holds: the restart sends nothing more", async () => {
    const backend = fakeBackend(completed);
    const run = setup(backend, {}, storeFailingOnce());
    const jobId = await jobOf(run, 30);
    await run.runner.start(jobId);
    // The run stops on the store error after its first batch; the restart waits RESTART_FIRST_MS.
    await new Promise((done) => setTimeout(done, 200));
    const sentBefore = backend.sent.length;
    expect(await run.runner.cancel(jobId)).toBe(true);
    await new Promise((done) => setTimeout(done, RESTART_FIRST_MS + 500));
    const view = await finished(run, jobId);
    expect(view?.status).toBe("cancelled");
    expect(backend.sent).toHaveLength(sentBefore);
  });
});

describe("Runner in fake time", () => {
  const fake = () =>
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits out a Retry-After of 30 s before the next attempt, and not longer than it needs", async () => {
    fake();
    const backend = fakeBackend((request, call) =>
      call === 1
        ? { type: "retry", error: "HTTP 429", httpStatus: 429, retryAfterMs: 30_000 }
        : completed(request),
    );
    const run = setup(backend);
    const jobId = await jobOf(run, 10);
    const started = Date.now();
    await run.runner.start(jobId);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(backend.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(backend.sent).toHaveLength(2);
    expect((backend.sent[1]?.at ?? 0) - started).toBeGreaterThanOrEqual(30_000);
    expect((backend.sent[1]?.at ?? 0) - started).toBeLessThan(30_100);
    await vi.advanceTimersByTimeAsync(100);
    expect((await run.runner.view(jobId, null, null))?.status).toBe("succeeded");
  });

  it("paces one request a second, and a cancel stops the rest while they wait for their turn", async () => {
    fake();
    const backend = fakeBackend(completed);
    const run = setup(backend, { requestsPerSecond: 1, concurrency: 2 });
    const jobId = await jobOf(run, 100);
    const started = Date.now();
    await run.runner.start(jobId);
    await vi.advanceTimersByTimeAsync(4_500);
    expect(backend.sent.map((request) => request.at - started)).toEqual([0, 1_000, 2_000, 3_000, 4_000]);
    expect(await run.runner.cancel(jobId)).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    const view = await run.runner.view(jobId, null, null);
    expect(view?.status).toBe("cancelled");
    expect(backend.sent.length).toBeLessThanOrEqual(6);
    expect(view?.counts.deleted).toBe(backend.sent.length * 10);
  });
});

describe("Runner and a store that keeps failing", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("starts a failing job again with growing delays, then leaves it after RESTART_LIMIT runs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    const backend = fakeBackend(completed);
    const store = openStore("memory");
    let writes = 0;
    const broken: Store = Object.create(store);
    broken.putBatch = async () => {
      writes++;
      throw new Error("disk I/O error");
    };
    const run = setup(backend, {}, broken);
    const jobId = await jobOf(run, 10);
    await run.runner.start(jobId);
    // 1 + 2 + 4 + 8 + 16 + 30 + 30 s of waits between the RESTART_LIMIT runs, then nothing more.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(writes).toBe(RESTART_LIMIT);
    expect(backend.sent).toHaveLength(RESTART_LIMIT);
    expect(await run.runner.start(jobId)).toBe(false);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(writes).toBe(RESTART_LIMIT);
    expect((await store.getJob(jobId))?.status).toBe("running");
  });
});

describe("Lane", () => {
  it("spaces request starts at requestsPerSecond, never more in a rolling second, and at most `concurrency` in flight", async () => {
    const backend = fakeBackend(completed, 120);
    const lane = new Lane(splendorBackend({ requestsPerSecond: 20, concurrency: 2 }), backend);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 30 }, () =>
        lane.run(() => backend.client.sendBatch({ target: null, ids: [], reason: "" })),
      ),
    );
    // 30 starts 50 ms apart: the last one 1,450 ms after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_450);
    expect(backend.mostInFlight()).toBe(2);
    const times = backend.sent.map((request) => request.at);
    for (let index = 20; index < times.length; index++) {
      expect((times[index] as number) - (times[index - 20] as number)).toBeGreaterThanOrEqual(1_000);
    }
    await lane.close();
  });

  it("on 429 slows down to a little under what the backend took in the last second, once per second of them", () => {
    const backend = fakeBackend(completed);
    const lane = new Lane(splendorBackend({ requestsPerSecond: 60 }), backend);
    let now = 1_000_000;
    // 40 successes in the last second (and 30 before it, forgotten): the backend takes about 40 a second.
    for (let index = 0; index < 30; index++) lane.observe(200, now - 2_000 + index);
    for (let index = 0; index < 40; index++) lane.observe(200, now - 900 + index * 20);
    lane.observe(429, now);
    expect(lane.rate).toBeCloseTo(40 * PACE_OF_TAKEN);
    // The other requests of the same moment were too many as well: one decrease for them all.
    lane.observe(429, now + 100);
    expect(lane.rate).toBeCloseTo(40 * PACE_OF_TAKEN);
    // The backend took more than the pace (which these successes raised a little): still a small cut.
    now += 1_000;
    for (let index = 0; index < 45; index++) lane.observe(200, now - 950 + index * 20);
    const pace = lane.rate;
    expect(pace).toBeGreaterThan(40 * PACE_OF_TAKEN);
    lane.observe(429, now);
    expect(lane.rate).toBeCloseTo(pace * PACE_MIN_CUT);
    // Nothing taken: at most a halving each time.
    const before = lane.rate;
    now += 1_000;
    lane.observe(429, now);
    expect(lane.rate).toBeCloseTo(before * PACE_MAX_CUT);
  });

  it("slows down to its floor on 429s alone, and recovers slowly to the configured rate, never above", () => {
    const backend = fakeBackend(completed);
    const lane = new Lane(splendorBackend({ requestsPerSecond: 100 }), backend);
    let now = 1_000_000;
    for (let second = 0; second < 10; second++) {
      now += 1_000;
      lane.observe(429, now);
    }
    const low = lane.rate;
    // 5 % of the configured rate.
    expect(low).toBeCloseTo(5);
    // A success a second for 5 s: +4 % of the configured rate a second.
    for (let second = 0; second < 5; second++) {
      now += 1_000;
      lane.observe(200, now);
    }
    expect(lane.rate).toBeCloseTo(low + 5 * 4, 5);
    for (let second = 0; second < 100; second++) {
      now += 1_000;
      lane.observe(200, now);
    }
    expect(lane.rate).toBe(100);
  });

  it("gives up a wait when its signal aborts, and refuses waiters when it closes", async () => {
    const backend = fakeBackend(completed, 200);
    const lane = new Lane(splendorBackend({ requestsPerSecond: 1000, concurrency: 1 }), backend);
    const first = lane.run(() => backend.client.sendBatch({ target: null, ids: ["a"], reason: "" }));
    const halt = new AbortController();
    const second = lane.run(
      () => backend.client.sendBatch({ target: null, ids: ["b"], reason: "" }),
      halt.signal,
    );
    const third = lane.run(() => backend.client.sendBatch({ target: null, ids: ["c"], reason: "" }));
    halt.abort();
    await expect(second).rejects.toThrow();
    await lane.close();
    await expect(third).rejects.toThrow("closed");
    await first;
    expect(backend.sent.map((request) => request.ids[0])).toEqual(["a"]);
  });
});
