// Executing with a token: the job passes through awaiting_backend, every id is deleted once, refusals send nothing.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
  errorText,
  planAndExecute,
  range,
  readAudit,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeConfig,
} from "./harness.js";

let sim: SplendorSimulator;
let session: Session;
let auditLog: string;
const REASON = "Erasure request from customer #1187";

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 700,
    jobRunningMs: 700,
  });
  const config = writeConfig(tempDir(), sim.url);
  auditLog = config.auditLog;
  session = await startSession(config.path, { clientName: "exec-agent" });
});
afterAll(async () => {
  await session.close();
  await sim.close();
});

async function dryRun(ids: (string | number)[], datasetId = "app-logs", reason = REASON) {
  return structured(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: datasetId },
      ids,
      reason,
    }),
  );
}

function deletes() {
  return deleteRequests(sim);
}

describe("execute_delete with a token", () => {
  it("runs the plan: awaiting_backend → succeeded, every id deleted exactly once, with auth, tenant and reason", async () => {
    const ids = [...range(2_500, "gdpr-"), ...range(20, "gdpr-")];
    const plan = await dryRun(ids, "crm-contacts");
    expect(plan.counts.to_delete).toBe(2_500);
    expect(deletes()).toHaveLength(0);

    const progress: { progress: number; total?: number }[] = [];
    const first = structured(
      await (session.client.callTool(
        {
          name: "execute_delete",
          arguments: { plan_id: plan.plan_id, confirmation_token: plan.confirmation.token, wait_seconds: 30 },
        },
        undefined,
        { onprogress: (note) => progress.push({ progress: note.progress, total: note.total }) },
      ) as Promise<CallToolResult>),
    );
    expect(first.status).toBe("succeeded");
    expect(first.counts).toEqual({ total: 2_500, deleted: 2_500, not_found: 0, failed: 0, pending: 0 });
    expect(first.batches).toEqual({ total: 3, done: 3, failed: 0, in_flight: 0 });
    expect(first.backend_jobs).toHaveLength(3);
    expect(first.backend_jobs.every((job: { status: string }) => job.status === "succeeded")).toBe(true);
    expect(first.requested_by).toBe("exec-agent");
    expect(first.finished_at).not.toBeNull();

    // Progress notifications reached the call, only ever increasing, ending at the total.
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.map((note) => note.progress)).toEqual(
      [...progress.map((note) => note.progress)].sort((a, b) => a - b),
    );
    expect(progress.at(-1)).toEqual({ progress: 2_500, total: 2_500 });

    const requests = deletes();
    expect(requests).toHaveLength(3);
    for (const request of requests) {
      expect(request.headers.authorization).toBe(`Bearer ${SPLENDOR_TOKEN}`);
      expect(request.headers["x-splendor-tenant-id"]).toBe(SPLENDOR_TENANT);
      expect(request.body).toMatchObject({ dataset_id: "crm-contacts", reason: REASON });
      expect((request.body as { record_ids: string[] }).record_ids.length).toBeLessThanOrEqual(1024);
    }
    const received = sim.received("crm-contacts");
    expect(received.size).toBe(2_500);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(sim.deleted("crm-contacts")).toEqual(new Set(range(2_500, "gdpr-")));
    expect(sim.violations).toEqual([]);

    // Executing again returns the same job and sends nothing.
    const again = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
      }),
    );
    expect(again.job_id).toBe(first.job_id);
    expect(deletes()).toHaveLength(3);

    const events = readAudit(auditLog)
      .filter((line) => line.plan_id === plan.plan_id)
      .map((line) => line.event);
    expect(events).toEqual([
      "plan.created",
      "delete.confirmed",
      "job.started",
      "batch.sending",
      "batch.sending",
      "batch.sending",
      "batch.completed",
      "batch.completed",
      "batch.completed",
      "job.finished",
    ]);
    const batchLines = readAudit(auditLog).filter(
      (line) => line.event === "batch.completed" && line.plan_id === plan.plan_id,
    );
    expect(batchLines.flatMap((line) => line.ids as string[]).sort()).toEqual(range(2_500, "gdpr-").sort());
    for (const line of batchLines) {
      expect(line).toMatchObject({ actor: "exec-agent", reason: REASON, http_status: 202 });
      expect(line.backend_ref).toMatch(/^ddl_/);
    }
  });

  it("reports awaiting_backend while the backend jobs run", async () => {
    const plan = await dryRun(range(30, "await-"));
    const job = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 0,
      }),
    );
    const { job: finished, seen } = await waitForJob(session, job.job_id);
    expect(seen).toContain("awaiting_backend");
    expect(seen.at(-1)).toBe("succeeded");
    expect(finished.counts.deleted).toBe(30);
  });

  it("refuses a missing, wrong, other-plan or reused token with zero backend requests", async () => {
    const before = deletes().length;
    const plan = await dryRun(range(5, "tok-"));
    const other = await dryRun(range(5, "tok-other-"));

    expect(errorText(await session.call("execute_delete", { plan_id: plan.plan_id }))).toMatch(
      /^CONFIRMATION_REQUIRED: /,
    );
    expect(
      errorText(
        await session.call("execute_delete", { plan_id: plan.plan_id, confirmation_token: "dg_forged" }),
      ),
    ).toMatch(/^CONFIRMATION_INVALID: /);
    expect(
      errorText(
        await session.call("execute_delete", {
          plan_id: plan.plan_id,
          confirmation_token: other.confirmation.token,
        }),
      ),
    ).toMatch(/^CONFIRMATION_INVALID: /);
    expect(
      errorText(await session.call("execute_delete", { plan_id: "plan_missing", confirmation_token: "x" })),
    ).toMatch(/^PLAN_NOT_FOUND: /);
    expect(deletes().length).toBe(before);

    const refused = readAudit(auditLog).filter((line) => line.event === "delete.refused");
    expect(refused.map((line) => line.code)).toEqual(
      expect.arrayContaining(["CONFIRMATION_REQUIRED", "CONFIRMATION_INVALID", "PLAN_NOT_FOUND"]),
    );
    const auditText = JSON.stringify(readAudit(auditLog));
    expect(auditText).not.toContain(plan.confirmation.token);
    expect(auditText).not.toContain(other.confirmation.token);
    expect(session.stderr()).not.toContain(plan.confirmation.token);
    expect(session.stderr()).not.toContain(SPLENDOR_TOKEN);

    // The other plan's own token still works for it, once.
    const job = structured(
      await session.call("execute_delete", {
        plan_id: other.plan_id,
        confirmation_token: other.confirmation.token,
      }),
    );
    expect(job.plan_id).toBe(other.plan_id);
  });

  it("cancels a job: batches not started are never sent", async () => {
    const slow = await startSplendorSimulator({
      token: SPLENDOR_TOKEN,
      tenantId: SPLENDOR_TENANT,
      latencyMs: 250,
    });
    const config = writeConfig(tempDir(), slow.url, { backend: { maxBatchSize: 10, concurrency: 1 } });
    const own = await startSession(config.path);
    try {
      const { job } = await planAndExecute(own, { ids: range(200, "cancel-") });
      await new Promise((done) => setTimeout(done, 600));
      const cancelled = structured(await own.call("cancel_delete_job", { job_id: job.job_id }));
      const { job: final } = await waitForJob(own, job.job_id);
      expect(final.status).toBe("cancelled");
      expect(cancelled.job_id).toBe(job.job_id);
      const sent = deleteRequests(slow).length;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(20);
      expect(final.counts.pending).toBe(200 - sent * 10);
      expect(final.counts.deleted).toBe(sent * 10);
      expect(readAudit(config.auditLog).some((line) => line.event === "job.cancelled")).toBe(true);
      // Cancelling a finished job is idempotent and returns its final status.
      expect(structured(await own.call("cancel_delete_job", { job_id: job.job_id })).status).toBe(
        "cancelled",
      );
      const listed = structured(await own.call("list_delete_jobs", { status: "cancelled" }));
      expect(listed.jobs.map((item: { job_id: string }) => item.job_id)).toEqual([job.job_id]);
      expect(listed.jobs[0].failed_ids).toBeUndefined();
    } finally {
      await own.close();
      await slow.close();
    }
  });
});
