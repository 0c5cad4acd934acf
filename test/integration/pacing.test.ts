// Per-backend pacing over real HTTP: requestsPerSecond spaces request starts, concurrency caps requests in flight.
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
});

async function runBatches(options: { latencyMs: number; backend: Record<string, unknown>; ids: number }) {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    latencyMs: options.latencyMs,
    jobPendingMs: 5,
    jobRunningMs: 5,
  });
  session = await startSession(writeConfig(tempDir(), sim.url, { backend: options.backend }).path);
  const { job } = await planAndExecute(session, { ids: range(options.ids, "pace-") });
  expect((await waitForJob(session, job.job_id)).job.status).toBe("succeeded");
  return deleteRequests(sim).map((request) => request.time);
}

describe("pacing", () => {
  it("requestsPerSecond: 10 single-id batches at 5 req/s take at least 9 intervals of 200 ms", async () => {
    const times = await runBatches({
      latencyMs: 0,
      backend: { maxBatchSize: 1, concurrency: 4, requestsPerSecond: 5 },
      ids: 10,
    });
    expect(times).toHaveLength(10);
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(1_700);
  });

  it("concurrency: with 2 in flight, 6 slow batches go out in 3 waves", async () => {
    const latency = 400;
    const times = await runBatches({
      latencyMs: latency,
      backend: { maxBatchSize: 1, concurrency: 2, requestsPerSecond: 1_000 },
      ids: 6,
    });
    // No request may start while two others are still within their latency window.
    for (const [index, time] of times.entries()) {
      const overlapping = times.slice(0, index).filter((earlier) => time - earlier < latency - 20).length;
      expect(overlapping, `request ${index}`).toBeLessThanOrEqual(1);
    }
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(2 * latency - 50);
  });
});
