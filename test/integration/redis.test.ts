// Two `deletegate --http` instances on one real redis-server share plans, jobs and budgets; a job survives kill -9.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
  errorText,
  range,
  readAudit,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  structured,
  tempDir,
  until,
  writeConfig,
} from "./harness.js";
import {
  addHttpTokens,
  connectHttp,
  type HttpServer,
  type HttpSession,
  startHttpServer,
} from "./http-harness.js";
import { type RedisServer, skipWithoutRedis, startRedisServer } from "./redis-server.js";

const TOKEN = "tok-shared-5be1d7";
const REASON = "Redis test: delete synthetic records";
const LEASE_MS = 1_500;

interface Instance {
  server: HttpServer;
  session: HttpSession;
  auditLog: string;
}

let fastSim: SplendorSimulator;
let redis: RedisServer | null = null;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  fastSim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 50,
    jobRunningMs: 50,
  });
});
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup().catch(() => undefined)));
  await redis?.stop();
  redis = null;
});
afterAll(async () => {
  await fastSim.close();
});

/** A fresh redis-server per test, so plans, jobs and budgets never leak between tests. */
async function freshRedis(): Promise<RedisServer> {
  redis = await startRedisServer();
  return redis;
}

/** One `deletegate --http` on the shared Redis store, with its own audit log, and a client with the shared token. */
async function startInstance(
  sim: SplendorSimulator,
  redisUrl: string,
  backend: Record<string, unknown> = {},
): Promise<Instance> {
  const config = writeConfig(tempDir(), sim.url, { store: redisUrl, backend });
  addHttpTokens(config.path, { agent: "DELETEGATE_TOKEN_AGENT" });
  const server = await startHttpServer(config.path, {
    env: { DELETEGATE_TOKEN_AGENT: TOKEN, DELETEGATE_LEASE_MS: String(LEASE_MS) },
  });
  const session = await connectHttp(server.url, TOKEN);
  cleanups.push(async () => {
    await session.close();
    await server.stop();
  });
  return { server, session, auditLog: config.auditLog };
}

async function dryRun(instance: Instance, ids: string[]) {
  return structured(
    await instance.session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "app-logs" },
      ids,
      reason: REASON,
    }),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: the plan's structured result
function execute(instance: Instance, plan: any, waitSeconds = 0) {
  return instance.session.call("execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: waitSeconds,
  });
}

async function getJob(instance: Instance, jobId: string) {
  return structured(await instance.session.call("get_delete_job", { job_id: jobId }));
}

async function waitForTerminal(instance: Instance, jobId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(instance, jobId);
    if (["succeeded", "partially_failed", "failed", "cancelled"].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** The instance that logged it runs the job (it holds the lease). */
function runs(instance: Instance, jobId: string): boolean {
  return instance.server
    .stderr()
    .split("\n")
    .some((line) => line.includes(jobId) && line.includes("running job on this instance"));
}

function auditEvents(instances: Instance[], jobId: string, event: string) {
  return instances.flatMap((instance) =>
    readAudit(instance.auditLog).filter((line) => line.job_id === jobId && line.event === event),
  );
}

/**
 * Two instances on a fresh Redis against a slow simulator, with a job of `count` ids in batches of 100
 * (concurrency 1) executed on A; resolves once one of them runs it: `runner` runs it, `other` does not.
 */
async function jobOnTwoInstances(
  sim: { jobPendingMs: number; jobRunningMs: number },
  count: number,
  prefix: string,
) {
  const { url } = await freshRedis();
  const slowSim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    latencyMs: 150,
    ...sim,
  });
  cleanups.push(() => slowSim.close());
  const backend = { maxBatchSize: 100, concurrency: 1 };
  const a = await startInstance(slowSim, url, backend);
  const b = await startInstance(slowSim, url, backend);
  const ids = range(count, prefix);
  const job = structured(await execute(a, await dryRun(a, ids)));
  await until(() => runs(a, job.job_id) || runs(b, job.job_id));
  const [runner, other] = runs(a, job.job_id) ? [a, b] : [b, a];
  return { slowSim, a, b, ids, job, runner, other };
}

describe.skipIf(skipWithoutRedis("the two-instance Redis tests"))("two instances on one Redis", () => {
  it("a plan made on A executes on B; the job reads the same from both", async () => {
    const { url } = await freshRedis();
    const a = await startInstance(fastSim, url, { maxBatchSize: 100 });
    const b = await startInstance(fastSim, url, { maxBatchSize: 100 });
    const ids = range(300, "share-");
    const plan = await dryRun(a, ids);
    const executed = structured(await execute(b, plan, 10));
    expect(executed.plan_id).toBe(plan.plan_id);
    const finished = await waitForTerminal(a, executed.job_id);
    expect(finished.status).toBe("succeeded");
    expect(finished.counts).toEqual({ total: 300, deleted: 300, not_found: 0, failed: 0, pending: 0 });
    expect(await getJob(b, executed.job_id)).toEqual(await getJob(a, executed.job_id));
    const listedA = structured(await a.session.call("list_delete_jobs", {})).jobs;
    const listedB = structured(await b.session.call("list_delete_jobs", {})).jobs;
    expect(listedA.map((job: { job_id: string }) => job.job_id)).toEqual([executed.job_id]);
    expect(listedB).toEqual(listedA);
    // Executing the plan again, on either instance, returns the same job and sends nothing.
    const requestsBefore = deleteRequests(fastSim).length;
    expect(structured(await execute(a, plan)).job_id).toBe(executed.job_id);
    expect(structured(await execute(b, plan)).job_id).toBe(executed.job_id);
    expect(deleteRequests(fastSim).length).toBe(requestsBefore);
    for (const id of ids) expect(fastSim.received("app-logs").get(id)).toBe(1);
  });

  it("both instances executing the same plan at once make exactly one job; every id is sent once", async () => {
    const { url } = await freshRedis();
    const a = await startInstance(fastSim, url, { maxBatchSize: 100 });
    const b = await startInstance(fastSim, url, { maxBatchSize: 100 });
    for (let round = 0; round < 5; round++) {
      const ids = range(400, `race-${round}-`);
      const plan = await dryRun(round % 2 === 0 ? a : b, ids);
      const [fromA, fromB] = await Promise.all([execute(a, plan), execute(b, plan)]);
      const jobId = structured(fromA).job_id;
      expect(structured(fromB).job_id).toBe(jobId);
      const finished = await waitForTerminal(b, jobId);
      expect(finished.status).toBe("succeeded");
      const received = fastSim.received("app-logs");
      for (const id of ids) expect(received.get(id), id).toBe(1);
      expect(auditEvents([a, b], jobId, "job.started")).toHaveLength(1);
      expect(auditEvents([a, b], jobId, "job.finished")).toHaveLength(1);
      const confirmed = [a, b].flatMap((instance) =>
        readAudit(instance.auditLog).filter(
          (line) => line.plan_id === plan.plan_id && line.event === "delete.confirmed",
        ),
      );
      expect(confirmed).toHaveLength(1);
    }
    const listed = structured(await a.session.call("list_delete_jobs", { limit: 100 })).jobs;
    expect(listed).toHaveLength(5);
  });

  it("racing executes on A and B can never push a backend past maxItemsPerDay", async () => {
    const { url } = await freshRedis();
    // Small batches make each execute write many batch records before its claim: the race window is wide.
    const backend = { maxBatchSize: 2, concurrency: 8, requestsPerSecond: 1_000, maxItemsPerDay: 1_000 };
    const a = await startInstance(fastSim, url, backend);
    const b = await startInstance(fastSim, url, backend);
    // Each plan fits the budget alone (so both dry runs pass); together they do not.
    const planA = await dryRun(a, range(600, "budget-a-"));
    const planB = await dryRun(b, range(600, "budget-b-"));
    const results = await Promise.all([execute(a, planA), execute(b, planB)]);
    const succeeded = results.filter((result) => !result.isError);
    const refused = results.filter((result) => result.isError);
    expect(succeeded).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(errorText(refused[0] as (typeof results)[number])).toMatch(/^DAILY_LIMIT_EXCEEDED: /);
    await waitForTerminal(a, structured(succeeded[0] as (typeof results)[number]).job_id);
    // The budget is one across instances: 400 are left on both.
    for (const instance of [a, b]) {
      expect(
        errorText(
          await instance.session.call("dry_run_delete", {
            backend: "splendor-test",
            target: { dataset_id: "app-logs" },
            ids: range(401, "budget-more-"),
            reason: REASON,
          }),
        ),
      ).toMatch(/^DAILY_LIMIT_EXCEEDED: .*600 were used, 400 are left/);
    }
    // Only one job exists: the refused execute left nothing behind.
    expect(structured(await b.session.call("list_delete_jobs", {})).jobs).toHaveLength(1);
  });

  it("kill -9 of the instance running a job: the other takes it over after the lease and finishes it", async () => {
    const BATCH = 100;
    const {
      slowSim,
      a,
      b,
      ids,
      job,
      runner,
      other: survivor,
    } = await jobOnTwoInstances({ jobPendingMs: 1_000, jobRunningMs: 500 }, 1_000, "takeover-");
    const accepted = () => deleteRequests(slowSim).filter((request) => request.status === 202);
    await until(() => accepted().length >= 3);
    await runner.server.kill();
    const killedAt = Date.now();
    const acceptedBeforeKill = slowSim.jobs().map((backendJob) => backendJob.recordIds);
    expect(acceptedBeforeKill.length).toBeLessThan(10);

    await until(() => runs(survivor, job.job_id), 10_000);
    // Not before the killed instance's lease expired.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(LEASE_MS / 3);
    const finished = await waitForTerminal(survivor, job.job_id, 40_000);
    expect(finished.status).toBe("succeeded");
    expect(finished.counts).toEqual({ total: 1_000, deleted: 1_000, not_found: 0, failed: 0, pending: 0 });
    const received = slowSim.received("app-logs");
    expect(new Set(received.keys())).toEqual(new Set(ids));
    expect(slowSim.deleted("app-logs")).toEqual(new Set(ids));
    // Accepted batches were polled by the survivor, not sent again — except, with concurrency 1, the newest,
    // which may have been accepted while its answer was still on the way to the killed instance.
    for (const batchIds of acceptedBeforeKill.slice(0, -1)) {
      for (const id of batchIds) expect(received.get(id), id).toBe(1);
    }
    expect([...received.values()].filter((count) => count > 1).length).toBeLessThanOrEqual(BATCH);
    expect(Math.max(...received.values())).toBeLessThanOrEqual(2);
    expect(auditEvents([a, b], job.job_id, "job.started")).toHaveLength(1);
    expect(auditEvents([survivor], job.job_id, "job.finished")).toHaveLength(1);
    expect(slowSim.violations).toEqual([]);
  }, 60_000);

  it("an instance frozen past its lease loses the job to the other and, woken, sends nothing more", async () => {
    const BATCH = 100;
    const { slowSim, a, b, ids, job, runner, other } = await jobOnTwoInstances(
      { jobPendingMs: 300, jobRunningMs: 200 },
      2_000,
      "frozen-",
    );
    await until(() => slowSim.jobs().length >= 2);
    runner.server.child.kill("SIGSTOP");
    try {
      await until(() => runs(other, job.job_id), 10_000);
      await new Promise((done) => setTimeout(done, 500));
    } finally {
      runner.server.child.kill("SIGCONT");
    }
    const finished = await waitForTerminal(other, job.job_id, 40_000);
    expect(finished.status).toBe("succeeded");
    expect(finished.counts.deleted).toBe(2_000);
    await until(() => runner.server.stderr().includes("job lease lost"), 5_000);
    await new Promise((done) => setTimeout(done, 1_000));
    const received = slowSim.received("app-logs");
    expect(new Set(received.keys())).toEqual(new Set(ids));
    // Only the batch in flight when it froze may have been sent twice: once woken, it sent nothing more.
    expect([...received.values()].filter((count) => count > 1).length).toBeLessThanOrEqual(BATCH);
    expect(Math.max(...received.values())).toBeLessThanOrEqual(2);
    expect(auditEvents([a, b], job.job_id, "job.finished")).toHaveLength(1);
    expect(auditEvents([other], job.job_id, "job.finished")).toHaveLength(1);
  }, 60_000);

  it("cancel on the instance that does not run the job stops it", async () => {
    const { url } = await freshRedis();
    const slowSim = await startSplendorSimulator({
      token: SPLENDOR_TOKEN,
      tenantId: SPLENDOR_TENANT,
      latencyMs: 150,
      jobPendingMs: 300,
      jobRunningMs: 200,
    });
    cleanups.push(() => slowSim.close());
    const backend = { maxBatchSize: 100, concurrency: 1 };
    const a = await startInstance(slowSim, url, backend);
    const b = await startInstance(slowSim, url, backend);
    const job = structured(await execute(b, await dryRun(b, range(3_000, "cancel-"))));
    await until(() => runs(a, job.job_id) || runs(b, job.job_id));
    const [runner, other] = runs(a, job.job_id) ? [a, b] : [b, a];
    await until(() => slowSim.jobs().length >= 2);
    structured(await other.session.call("cancel_delete_job", { job_id: job.job_id }));
    const finished = await waitForTerminal(runner, job.job_id);
    expect(finished.status).toBe("cancelled");
    const sent = slowSim.jobs().length;
    expect(sent).toBeLessThan(30);
    expect(finished.counts.deleted).toBe(sent * 100);
    expect(finished.counts.pending).toBe(3_000 - sent * 100);
    // Nothing more is sent once the job is cancelled.
    await new Promise((done) => setTimeout(done, 1_000));
    expect(slowSim.jobs().length).toBe(sent);
    expect(await getJob(other, job.job_id)).toEqual(finished);
    expect(auditEvents([runner], job.job_id, "job.cancelled")).toHaveLength(1);
  }, 60_000);
});
