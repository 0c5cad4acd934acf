// kill -9 of the server mid-job, restart on the same sqlite store: the job completes and no accepted batch is sent again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
  planAndExecute,
  range,
  readAudit,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  until,
  waitForJob,
  writeConfig,
} from "./harness.js";

let sim: SplendorSimulator;

beforeAll(async () => {
  // Slow answers and long backend jobs, so the kill lands mid-job with batches in every state.
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    latencyMs: 150,
    jobPendingMs: 1_500,
    jobRunningMs: 1_000,
  });
});
afterAll(async () => {
  await sim.close();
});

describe("crash and resume", () => {
  it("kill -9 during a job, restart on the same store → the job completes, no id deleted twice", async () => {
    const BATCH = 100;
    const ids = range(1_000, "crash-");
    const config = writeConfig(tempDir(), sim.url, { backend: { maxBatchSize: BATCH, concurrency: 1 } });
    const first = await startSession(config.path, { clientName: "before-crash" });
    const { plan, job } = await planAndExecute(first, { ids });
    const accepted = () => deleteRequests(sim).filter((request) => request.status === 202);
    await until(() => accepted().length >= 3);
    process.kill(first.pid() as number, "SIGKILL");
    await first.close().catch(() => undefined);
    const acceptedBeforeKill = sim.jobs().map((backendJob) => backendJob.recordIds);
    expect(acceptedBeforeKill.length).toBeGreaterThanOrEqual(3);
    expect(acceptedBeforeKill.length).toBeLessThan(10);

    // The restarted server resumes on its own; the client only watches.
    const second = await startSession(config.path, { clientName: "after-crash" });
    try {
      const { job: finished } = await waitForJob(second, job.job_id, 40_000);
      expect(finished.status).toBe("succeeded");
      expect(finished.counts).toEqual({ total: 1_000, deleted: 1_000, not_found: 0, failed: 0, pending: 0 });
      expect(finished.backend_jobs).toHaveLength(10);

      const received = sim.received("app-logs");
      expect(new Set(received.keys())).toEqual(new Set(ids));
      // Batches the backend accepted before the kill were polled after it, never sent again — except the newest:
      // with concurrency 1 it is the one that may have been in flight (accepted, not yet stored) at the kill.
      for (const batchIds of acceptedBeforeKill.slice(0, -1)) {
        for (const id of batchIds) expect(received.get(id), id).toBe(1);
      }
      // At most the one batch in flight at the kill (concurrency 1) may have been sent twice.
      const twice = [...received.values()].filter((count) => count > 1).length;
      expect(twice).toBeLessThanOrEqual(BATCH);
      expect(Math.max(...received.values())).toBeLessThanOrEqual(2);
      expect(sim.deleted("app-logs")).toEqual(new Set(ids));

      // The plan still cannot run twice.
      const again = structured(
        await second.call("execute_delete", {
          plan_id: plan.plan_id,
          confirmation_token: plan.confirmation.token,
        }),
      );
      expect(again.job_id).toBe(job.job_id);
      const events = readAudit(config.auditLog).filter((line) => line.job_id === job.job_id);
      expect(events.filter((line) => line.event === "job.finished")).toHaveLength(1);
      expect(events.filter((line) => line.event === "job.started")).toHaveLength(1);
    } finally {
      await second.close();
    }
  }, 60_000);
});
