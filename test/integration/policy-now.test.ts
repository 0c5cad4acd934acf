// The policy in force now, not the one a plan was made under: tightened by a restart or by SIGHUP, it refuses
// stored plans at execute, stops running jobs (kill switch), and an audit log that cannot be written stops a job.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deletesFor,
  editConfig,
  errorText,
  planAndExecute,
  range,
  readAudit,
  reloadConfig,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  until,
  waitForJob,
  writeConfig,
} from "./harness.js";

const REASON = "Retention policy: purge old logs";
let sim: SplendorSimulator;
const sessions: Session[] = [];

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 10,
    jobRunningMs: 10,
  });
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close().catch(() => undefined)));
});
afterAll(async () => {
  await sim.close();
});

async function open(path: string, options: Parameters<typeof startSession>[1] = {}): Promise<Session> {
  const session = await startSession(path, { clientName: "policy-agent", ...options });
  sessions.push(session);
  return session;
}

/** Delete requests the simulator received for this dataset. */

// biome-ignore lint/suspicious/noExplicitAny: config files are edited key by key
type RawConfig = Record<string, any>;
type Edit = (config: RawConfig) => void;
const backendOf = (config: RawConfig) => config.backends["splendor-test"];

describe("a plan made under a looser policy is judged by the policy in force at execute", () => {
  const cases: [string, string, Edit][] = [
    ["allowTargets narrowed", "TARGET_NOT_ALLOWED", (config) => (backendOf(config).allowTargets = ["crm-*"])],
    ["maxItemsPerJob lowered", "JOB_LIMIT_EXCEEDED", (config) => (backendOf(config).maxItemsPerJob = 4)],
    ["maxItemsPerDay lowered", "DAILY_LIMIT_EXCEEDED", (config) => (backendOf(config).maxItemsPerDay = 4)],
    ["minReasonLength raised", "REASON_REQUIRED", (config) => (backendOf(config).minReasonLength = 200)],
    ["readOnly set", "READ_ONLY", (config) => (backendOf(config).readOnly = true)],
    ["limits.maxIdsPerCall lowered", "TOO_MANY_IDS", (config) => (config.limits.maxIdsPerCall = 3)],
    [
      "confirmation.mode token → human",
      "CONFIRMATION_REQUIRED",
      (config) => (config.confirmation.mode = "human"),
    ],
    [
      "the backend's own confirmation → human",
      "CONFIRMATION_REQUIRED",
      (config) => (backendOf(config).confirmation = "human"),
    ],
  ];

  for (const via of ["restart", "SIGHUP"] as const) {
    it.each(cases)(`%s (${via}) → %s, nothing sent, the refusal audited`, async (_label, code, edit) => {
      const dataset = "app-logs";
      const config = writeConfig(tempDir(), sim.url, { backend: { allowTargets: ["app-*"] } });
      let session = await open(config.path);
      const plan = structured(
        await session.call("dry_run_delete", {
          backend: "splendor-test",
          target: { dataset_id: dataset },
          ids: range(5, `tight-${via}-${code}-`),
          reason: REASON,
        }),
      );
      const before = deletesFor(sim, dataset);
      editConfig(config.path, edit);
      if (via === "SIGHUP") {
        const reloaded = await reloadConfig(session, config.auditLog);
        expect((reloaded.applied as string[]).length).toBeGreaterThan(0);
      } else {
        await session.close();
        // A client that can show forms: the token plan is refused for being weaker, not for lacking a form.
        session = await open(config.path, {
          elicit: () => ({ action: "accept", content: { confirm_count: 5 } }),
        });
      }
      const text = errorText(
        await session.call("execute_delete", {
          plan_id: plan.plan_id,
          confirmation_token: plan.confirmation.token,
          wait_seconds: 2,
        }),
      );
      expect(text.startsWith(`${code}: `), text).toBe(true);
      expect(deletesFor(sim, dataset)).toBe(before);
      expect(readAudit(config.auditLog).at(-1)).toMatchObject({
        event: "delete.refused",
        code,
        plan_id: plan.plan_id,
        backend: "splendor-test",
      });
      expect(structured(await session.call("list_delete_jobs", {})).jobs).toEqual([]);
    });
  }

  it("an invalid config on SIGHUP is refused and the old one stays in force", async () => {
    const config = writeConfig(tempDir(), sim.url);
    const session = await open(config.path);
    editConfig(config.path, (raw) => {
      backendOf(raw).maxItemsPerJob = "lots";
    });
    process.kill(session.pid() as number, "SIGHUP");
    await until(() => session.stderr().includes("config reload refused"), 10_000);
    expect(session.stderr()).toContain("backends.splendor-test.maxItemsPerJob");
    const { job } = await planAndExecute(session, { ids: range(3, "still-"), waitSeconds: 5 });
    expect(job.status).toBe("succeeded");
    expect(readAudit(config.auditLog).some((line) => line.event === "config.reloaded")).toBe(false);
  });

  it("a reload says which changes wait for a restart and applies none of them", async () => {
    const config = writeConfig(tempDir(), sim.url);
    const session = await open(config.path);
    editConfig(config.path, (raw) => {
      backendOf(raw).baseUrl = "http://127.0.0.1:1";
      backendOf(raw).readOnly = true;
    });
    const reloaded = await reloadConfig(session, config.auditLog);
    expect(reloaded).toMatchObject({
      applied: ["backends.splendor-test.readOnly"],
      restart_needed: ["backends.splendor-test.baseUrl"],
    });
    const { backends } = structured(await session.call("list_backends", {}));
    expect(backends[0].read_only).toBe(true);
  });
});

/** A job of `batches` batches of 10 ids paced at 10 requests/s, so it runs for a few seconds. */
async function slowJob(session: Session, dataset: string, batches: number) {
  const { job } = await planAndExecute(session, {
    ids: range(batches * 10, `${dataset}-`),
    target: { dataset_id: dataset },
    waitSeconds: 0,
  });
  return job.job_id as string;
}

const SLOW = { maxBatchSize: 10, requestsPerSecond: 10, concurrency: 2, allowTargets: ["kill-*"] };

describe("the kill switch: a backend made read-only stops its running jobs", () => {
  it("on SIGHUP, at once: no request after the switch but those in flight; the job ends cancelled with a note", async () => {
    const config = writeConfig(tempDir(), sim.url, { backend: SLOW });
    const session = await open(config.path);
    const dataset = "kill-sighup";
    const jobId = await slowJob(session, dataset, 40);
    await until(() => deletesFor(sim, dataset) >= 5);
    editConfig(config.path, (raw) => {
      backendOf(raw).readOnly = true;
    });
    process.kill(session.pid() as number, "SIGHUP");
    const atSwitch = deletesFor(sim, dataset);
    const { job } = await waitForJob(session, jobId, 20_000);
    await new Promise((done) => setTimeout(done, 500));
    expect(deletesFor(sim, dataset) - atSwitch).toBeLessThanOrEqual(SLOW.concurrency);
    expect(job.status).toBe("cancelled");
    expect(job.notes.join(" ")).toMatch(/read-only/);
    expect(job.counts.pending).toBeGreaterThan(0);
    expect(readAudit(config.auditLog).at(-1)).toMatchObject({ event: "job.cancelled", job_id: jobId });
  });

  it("at a restart: the resumed job sends nothing and ends cancelled", async () => {
    const config = writeConfig(tempDir(), sim.url, { backend: SLOW });
    const first = await open(config.path);
    const dataset = "kill-restart";
    const jobId = await slowJob(first, dataset, 40);
    await until(() => deletesFor(sim, dataset) >= 3);
    process.kill(first.pid() as number, "SIGKILL");
    await new Promise((done) => setTimeout(done, 300));
    editConfig(config.path, (raw) => {
      backendOf(raw).readOnly = true;
    });
    const atRestart = deletesFor(sim, dataset);
    const second = await open(config.path);
    const { job } = await waitForJob(second, jobId, 20_000);
    expect(deletesFor(sim, dataset)).toBe(atRestart);
    expect(job.status).toBe("cancelled");
    expect(job.notes.join(" ")).toMatch(/read-only/);
  });
});

describe("write-ahead audit: no delete without a line that names its ids", () => {
  it("every batch's ids are audited in batch.sending before its request", async () => {
    const config = writeConfig(tempDir(), sim.url, { backend: { maxBatchSize: 7 } });
    const session = await open(config.path);
    const { job } = await planAndExecute(session, { ids: range(30, "wa-"), waitSeconds: 10 });
    expect(job.status).toBe("succeeded");
    const audit = readAudit(config.auditLog);
    const sending = audit.filter((line) => line.event === "batch.sending");
    expect(sending.map((line) => line.batch).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const line of audit.filter((entry) => entry.event === "batch.completed")) {
      const announced = sending.find((entry) => entry.batch === line.batch) as Record<string, unknown>;
      expect(audit.indexOf(announced)).toBeLessThan(audit.indexOf(line));
      expect(announced.ids).toEqual(line.ids);
    }
  });

  it("an audit log that cannot be written stops the job: nothing more is sent, no id twice, the job says why", async () => {
    const config = writeConfig(tempDir(), sim.url, {
      store: "memory",
      backend: { ...SLOW, allowTargets: ["full-*"] },
    });
    const session = await open(config.path);
    const dataset = "full-disk";
    const jobId = await slowJob(session, dataset, 40);
    await until(() => deletesFor(sim, dataset) >= 4);
    // The file may not grow past its size now: the next line fails as on a full disk (EFBIG; Node ignores SIGXFSZ).
    const size = statSync(config.auditLog).size;
    execFileSync("prlimit", ["--pid", String(session.pid()), `--fsize=${size}`]);
    const atLimit = deletesFor(sim, dataset);
    const { job } = await waitForJob(session, jobId, 30_000);
    await new Promise((done) => setTimeout(done, 500));
    expect(["failed", "partially_failed"]).toContain(job.status);
    expect(job.notes.join(" ")).toMatch(/audit log could not be written/);
    expect(deletesFor(sim, dataset) - atLimit).toBeLessThanOrEqual(SLOW.concurrency);
    expect(job.counts.pending).toBe(0);
    expect(job.counts.failed).toBeGreaterThan(0);
    // Every id sent was named first by a batch.sending line, and none was sent twice.
    const announced = new Set(
      readAudit(config.auditLog)
        .filter((line) => line.event === "batch.sending")
        .flatMap((line) => line.ids as string[]),
    );
    const received = sim.received(dataset);
    for (const [id, times] of received) {
      expect(announced.has(id), id).toBe(true);
      expect(times, id).toBe(1);
    }
  });

  it("an audit log that cannot be written at confirmation: the job fails before anything is sent", async () => {
    const config = writeConfig(tempDir(), sim.url, {
      store: "memory",
      backend: { allowTargets: ["confirm-*"] },
    });
    const session = await open(config.path);
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "confirm-full" },
        ids: range(12, "cf-"),
        reason: REASON,
      }),
    );
    execFileSync("prlimit", ["--pid", String(session.pid()), `--fsize=${statSync(config.auditLog).size}`]);
    const job = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 5,
      }),
    );
    expect(job.status).toBe("failed");
    expect(job.counts).toMatchObject({ total: 12, deleted: 0, failed: 12, pending: 0 });
    expect(job.failed_ids[0].error).toMatch(/^not sent: the audit log could not be written/);
    expect(deletesFor(sim, "confirm-full")).toBe(0);
  });
});
