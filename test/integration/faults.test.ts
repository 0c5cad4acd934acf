// Backend faults over real HTTP: transient ones are retried to success, permanent ones fail fast and clearly.
import { afterEach, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
  planAndExecute,
  range,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  tempDir,
  waitForJob,
  writeConfig,
} from "./harness.js";

let sim: SplendorSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await sim?.close();
  session = undefined;
  sim = undefined;
});

async function runJob(backend: Record<string, unknown>, ids: string[], env?: Record<string, string>) {
  const config = writeConfig(tempDir(), (sim as SplendorSimulator).url, { backend });
  session = await startSession(config.path, env ? { env } : {});
  const { job } = await planAndExecute(session, { ids });
  return (await waitForJob(session, job.job_id, 60_000)).job;
}

function deletes() {
  return deleteRequests(sim as SplendorSimulator);
}

describe("backend faults", () => {
  it("503 with Retry-After, 429, a reset and a hung request → the job succeeds, each id deleted once", async () => {
    sim = await startSplendorSimulator({
      token: SPLENDOR_TOKEN,
      tenantId: SPLENDOR_TENANT,
      jobPendingMs: 20,
      jobRunningMs: 20,
    });
    sim.faults.add({ route: "delete", fault: { type: "status", status: 503, retryAfterSeconds: 1 } });
    sim.faults.add({ route: "delete", fault: { type: "status", status: 429 } });
    sim.faults.add({ route: "delete", fault: { type: "reset" } });
    sim.faults.add({ route: "delete", fault: { type: "hang" } });
    sim.faults.add({ route: "job-status", fault: { type: "status", status: 503, retryAfterSeconds: 1 } });
    const ids = range(200, "fault-");
    const job = await runJob({ maxBatchSize: 50, concurrency: 1, timeoutMs: 500, maxAttempts: 5 }, ids);

    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 200, deleted: 200, not_found: 0, failed: 0, pending: 0 });
    const requests = deletes();
    // 4 batches + 4 faulted attempts, in order: 503, 429, reset, hang, then successes.
    expect(requests.map((request) => request.status)).toEqual([503, 429, 0, 0, 202, 202, 202, 202]);
    // Retry-After: 1 was honoured before the second attempt.
    expect((requests[1]?.time ?? 0) - (requests[0]?.time ?? 0)).toBeGreaterThanOrEqual(1_000);
    // The hung request was given up after timeoutMs (500 ms), then retried.
    expect((requests[4]?.time ?? 0) - (requests[3]?.time ?? 0)).toBeGreaterThanOrEqual(500);
    const received = sim.received("app-logs");
    expect(received.size).toBe(200);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(sim.deleted("app-logs")).toEqual(new Set(ids));
    expect(sim.violations).toEqual([]);
  });

  it("a backend that keeps failing → failed after exactly maxAttempts, with per-id errors", async () => {
    sim = await startSplendorSimulator({ token: SPLENDOR_TOKEN, tenantId: SPLENDOR_TENANT });
    sim.faults.add({
      route: "delete",
      times: Number.POSITIVE_INFINITY,
      fault: { type: "status", status: 503 },
    });
    const job = await runJob({ maxBatchSize: 10, concurrency: 2, maxAttempts: 3 }, range(20, "down-"));
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 20, deleted: 0, not_found: 0, failed: 20, pending: 0 });
    expect(job.batches).toEqual({ total: 2, done: 0, failed: 2, in_flight: 0 });
    expect(deletes()).toHaveLength(6);
    expect(job.failed_ids).toHaveLength(20);
    expect(job.failed_ids[0].error).toMatch(/HTTP 503/);
  });

  it("a 401 fails every batch at once, without retries, with a clear message and no secret", async () => {
    sim = await startSplendorSimulator({ token: SPLENDOR_TOKEN, tenantId: SPLENDOR_TENANT });
    const wrongSecret = "wrong-secret-7731";
    const job = await runJob({ maxBatchSize: 10, maxAttempts: 5 }, range(30, "auth-"), {
      SPLENDOR_TOKEN: wrongSecret,
    });
    expect(job.status).toBe("failed");
    expect(deletes()).toHaveLength(3);
    expect(job.failed_ids[0].error).toMatch(/^HTTP 401/);
    expect(JSON.stringify(job)).not.toContain(wrongSecret);
    expect(session?.stderr()).not.toContain(wrongSecret);
  });

  it("a backend job that ends failed fails its batch's ids with the backend's message; the others are deleted", async () => {
    sim = await startSplendorSimulator({
      token: SPLENDOR_TOKEN,
      tenantId: SPLENDOR_TENANT,
      jobPendingMs: 20,
      jobRunningMs: 20,
    });
    sim.failNextJobs(1, "index shard unavailable");
    const job = await runJob({ maxBatchSize: 10, concurrency: 1 }, range(30, "partial-"));
    expect(job.status).toBe("partially_failed");
    expect(job.counts).toEqual({ total: 30, deleted: 20, not_found: 0, failed: 10, pending: 0 });
    expect(job.failed_ids.map((item: { id: string }) => item.id)).toEqual(range(10, "partial-"));
    expect(job.failed_ids[0].error).toContain("index shard unavailable");
  });
});
