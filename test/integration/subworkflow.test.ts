// The subworkflow kind end to end: the built server over stdio against the Subworkflow simulator over real HTTP.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { subworkflow } from "../../src/backends/subworkflow.js";
import {
  type SubworkflowSimulator,
  type SubworkflowSimulatorOptions,
  startSubworkflowSimulator,
} from "../../tools/simulators/subworkflow.js";
import {
  CLI,
  errorText,
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "./harness.js";

const API_KEY = "sim-subworkflow-key-4b8e91";
const BACKEND = "subworkflow-test";
const REASON = "Customer #5512 asked to remove their uploads";

let sim: SubworkflowSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await sim?.close();
  session = undefined;
  sim = undefined;
});

function ids(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, index) => `ds_${prefix}${index}`);
}

async function startSim(opts: Partial<SubworkflowSimulatorOptions> = {}): Promise<SubworkflowSimulator> {
  sim = await startSubworkflowSimulator({ apiKey: API_KEY, ...opts });
  return sim;
}

/** A session on a config with one subworkflow backend; fast pacing unless the test overrides it. */
async function open(backend: Record<string, unknown> = {}, key = API_KEY) {
  const config = writeBackendsConfig(tempDir(), {
    [BACKEND]: {
      kind: "subworkflow",
      baseUrl: (sim as SubworkflowSimulator).url,
      credentialEnv: "SUBWORKFLOW_API_KEY",
      requestsPerSecond: 20,
      ...backend,
    },
  });
  session = await startSession(config.path, {
    clientName: "subworkflow-agent",
    env: { SUBWORKFLOW_API_KEY: key },
  });
  return { session, auditLog: config.auditLog };
}

async function dryRun(own: Session, datasetIds: string[]) {
  return structured(await own.call("dry_run_delete", { backend: BACKEND, ids: datasetIds, reason: REASON }));
}

async function execute(own: Session, plan: { plan_id: string; confirmation: { token: string } }) {
  const result = await own.call("execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: 0,
  });
  const job = structured(result);
  return { result, job: (await waitForJob(own, job.job_id, 60_000)).job };
}

function deletes() {
  return (sim as SubworkflowSimulator).requests.filter((request) => request.method === "DELETE");
}

function batchLines(auditLog: string, planId: string) {
  return readAudit(auditLog).filter(
    (line) => line.plan_id === planId && (line.event === "batch.completed" || line.event === "batch.failed"),
  );
}

function lineFor(lines: Record<string, unknown>[], id: string) {
  return lines.find((line) => (line.ids as string[]).includes(id));
}

describe("subworkflow backend", () => {
  it("lists the backend: no target, cap 1, its description", async () => {
    await startSim();
    const { session: own } = await open();
    const { backends } = structured(await own.call("list_backends"));
    expect(backends).toHaveLength(1);
    expect(backends[0]).toMatchObject({
      name: BACKEND,
      kind: "subworkflow",
      description: subworkflow.description,
      target_fields: [],
      max_batch_size: 1,
      allow_targets: null,
      read_only: false,
    });
    expect(
      errorText(
        await own.call("dry_run_delete", {
          backend: BACKEND,
          target: { dataset_id: "x" },
          ids: ["ds_a"],
          reason: REASON,
        }),
      ),
    ).toMatch(/^INVALID_TARGET: /);
  });

  it("happy path: one DELETE per dataset with x-api-key, every dataset marked once, expiresAt audited, purge note shown", async () => {
    const datasets = ids(6, "happy");
    await startSim({ datasets });
    const { session: own, auditLog } = await open();

    const plan = await dryRun(own, [...datasets, "ds_happy0", "not-a-dataset", " ds_happy1 "]);
    expect(plan.target).toBeNull();
    expect(plan.counts).toEqual({ received: 9, unique: 7, duplicates: 2, invalid: 1, to_delete: 6 });
    expect(plan.invalid_ids).toEqual([
      { id: "not-a-dataset", error: "must be a Subworkflow dataset id (ds_…)" },
    ]);
    expect(plan.batches).toEqual({ count: 6, size: 1 });
    expect(plan.sample_ids).toEqual(datasets);
    expect(plan.notes).toEqual(subworkflow.notes);
    expect(plan.notes[0]).toContain("Subworkflow's schedule (twice a day)");
    expect(deletes()).toHaveLength(0);

    const { job } = await execute(own, plan);
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 6, deleted: 6, not_found: 0, failed: 0, pending: 0 });
    expect(job.batches).toEqual({ total: 6, done: 6, failed: 0, in_flight: 0 });
    expect(job.backend_jobs).toEqual([]);
    expect(job.target).toBeNull();
    expect(job.notes).toEqual(subworkflow.notes);
    expect(job.failed_ids).toEqual([]);

    const requests = deletes();
    expect(requests).toHaveLength(6);
    expect(requests.map((request) => request.path).sort()).toEqual(
      datasets.map((id) => `/v1/datasets/${id}`).sort(),
    );
    for (const request of requests) {
      expect(request.headers["x-api-key"]).toBe(API_KEY);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.body).toBeUndefined();
      expect(request.status).toBe(200);
    }
    const simulator = sim as SubworkflowSimulator;
    for (const id of datasets) expect(simulator.received(id), id).toBe(1);
    expect(simulator.marked()).toEqual(new Set(datasets));

    const lines = batchLines(auditLog, plan.plan_id);
    expect(lines).toHaveLength(6);
    for (const id of datasets) {
      const line = lineFor(lines, id);
      const expiresAt = simulator.dataset(id)?.expiresAt as number;
      expect(line).toMatchObject({
        event: "batch.completed",
        ids: [id],
        http_status: 200,
        backend_ref: `expiresAt=${new Date(expiresAt).toISOString()}`,
        actor: "subworkflow-agent",
        reason: REASON,
        counts: { deleted: 1, not_found: 0, failed: 0 },
      });
    }
    expect(simulator.violations).toEqual([]);
  });

  it("404 counts as not found, 400 fails that id with its text, the rest are deleted → partially_failed", async () => {
    await startSim({ datasets: ["ds_p0", "ds_p1", "ds_p2"], rejected: { ds_p1: "dataset is locked" } });
    const { session: own, auditLog } = await open({ maxAttempts: 5 });
    const plan = await dryRun(own, ["ds_p0", "ds_p1", "ds_p2", "ds_gone"]);
    const { job } = await execute(own, plan);
    expect(job.status).toBe("partially_failed");
    expect(job.counts).toEqual({ total: 4, deleted: 2, not_found: 1, failed: 1, pending: 0 });
    expect(job.batches).toEqual({ total: 4, done: 3, failed: 1, in_flight: 0 });
    expect(job.failed_ids).toEqual([{ id: "ds_p1", error: "HTTP 400: dataset is locked" }]);

    const simulator = sim as SubworkflowSimulator;
    // A 400 is final: sent once, never retried.
    expect(["ds_p0", "ds_p1", "ds_p2", "ds_gone"].map((id) => simulator.received(id))).toEqual([1, 1, 1, 1]);
    expect(deletes()).toHaveLength(4);
    expect(simulator.marked()).toEqual(new Set(["ds_p0", "ds_p2"]));

    const lines = batchLines(auditLog, plan.plan_id);
    expect(lineFor(lines, "ds_p1")).toMatchObject({
      event: "batch.failed",
      http_status: 400,
      error: "HTTP 400: dataset is locked",
      backend_ref: null,
    });
    expect(lineFor(lines, "ds_gone")).toMatchObject({
      event: "batch.completed",
      http_status: 404,
      backend_ref: null,
      counts: { deleted: 0, not_found: 1, failed: 0 },
    });

    // Only not-found ids, and a dataset already marked (answered 200 again): succeeded, the first expiry recorded.
    const firstExpiry = simulator.dataset("ds_p0")?.expiresAt as number;
    const again = await dryRun(own, ["ds_p0", "ds_gone2"]);
    const { job: second } = await execute(own, again);
    expect(second.status).toBe("succeeded");
    expect(second.counts).toEqual({ total: 2, deleted: 1, not_found: 1, failed: 0, pending: 0 });
    expect(lineFor(batchLines(auditLog, again.plan_id), "ds_p0")?.backend_ref).toBe(
      `expiresAt=${new Date(firstExpiry).toISOString()}`,
    );
    expect(simulator.violations).toEqual([]);
  });

  it("429, 503 with Retry-After and an unconfirmed 200 are retried: each dataset marked once", async () => {
    const datasets = ids(3, "retry");
    const simulator = await startSim({ datasets });
    const first = simulator.dataset("ds_retry0");
    simulator.faults.add({ route: "dataset", fault: { type: "status", status: 429 } });
    simulator.faults.add({ route: "dataset", fault: { type: "status", status: 503, retryAfterSeconds: 1 } });
    simulator.faults.add({
      route: "dataset",
      fault: {
        type: "status",
        status: 200,
        body: { success: true, total: 1, data: { ...first, expiresAt: Date.now() + 86_400_000 } },
      },
    });
    const { session: own } = await open({ maxAttempts: 4 });
    const { job } = await execute(own, await dryRun(own, datasets));
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 3, deleted: 3, not_found: 0, failed: 0, pending: 0 });

    const requests = deletes();
    expect(requests.map((request) => [request.path, request.status])).toEqual([
      ["/v1/datasets/ds_retry0", 429],
      ["/v1/datasets/ds_retry0", 503],
      ["/v1/datasets/ds_retry0", 200],
      ["/v1/datasets/ds_retry0", 200],
      ["/v1/datasets/ds_retry1", 200],
      ["/v1/datasets/ds_retry2", 200],
    ]);
    // Retry-After: 1 was honoured.
    expect((requests[2]?.time ?? 0) - (requests[1]?.time ?? 0)).toBeGreaterThanOrEqual(1_000);
    for (const id of datasets) expect(simulator.received(id), id).toBe(1);
    expect(simulator.marked()).toEqual(new Set(datasets));
    expect(simulator.violations).toEqual([]);
  });

  it("the simulator's write limit (429 without Retry-After) is retried with backoff until every dataset is marked", async () => {
    const datasets = ids(4, "limit");
    const simulator = await startSim({ datasets, writesPerMinute: 2, rateWindowMs: 1_000 });
    const { session: own } = await open({ maxAttempts: 8 });
    const { job } = await execute(own, await dryRun(own, datasets));
    expect(job.status).toBe("succeeded");
    expect(job.counts.deleted).toBe(4);
    expect(deletes().filter((request) => request.status === 429).length).toBeGreaterThan(0);
    for (const id of datasets) expect(simulator.received(id), id).toBe(1);
    expect(simulator.marked()).toEqual(new Set(datasets));
    expect(simulator.violations).toEqual([]);
  });

  it("a 200 that never confirms the mark fails after maxAttempts with a clear error, counting nothing deleted", async () => {
    const simulator = await startSim({ datasets: ["ds_never"] });
    const data = simulator.dataset("ds_never");
    simulator.faults.add({
      route: "dataset",
      times: Number.POSITIVE_INFINITY,
      fault: { type: "status", status: 200, body: { success: true, total: 1, data } },
    });
    const { session: own } = await open({ maxAttempts: 2 });
    const { job } = await execute(own, await dryRun(own, ["ds_never"]));
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 1, deleted: 0, not_found: 0, failed: 1, pending: 0 });
    expect(job.failed_ids).toEqual([
      {
        id: "ds_never",
        error:
          "HTTP 200 without a numeric data.expiresAt: Subworkflow did not confirm that ds_never is marked for deletion",
      },
    ]);
    expect(deletes()).toHaveLength(2);
  });

  it("a 401 fails each dataset at once, without retries, with a clear message, and the key never leaks", async () => {
    const datasets = ids(3, "auth");
    const simulator = await startSim({ datasets });
    const wrongKey = "wrong-subworkflow-key-7731";
    const { session: own, auditLog } = await open({ maxAttempts: 5 }, wrongKey);
    const plan = await dryRun(own, datasets);
    const { result, job } = await execute(own, plan);
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 3, deleted: 0, not_found: 0, failed: 3, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 0, failed: 3, in_flight: 0 });
    expect(job.failed_ids).toEqual(
      datasets.map((id) => ({
        id,
        error: "HTTP 401: Invalid API key (the API key is missing, wrong or revoked)",
      })),
    );
    // One request per dataset, none retried.
    expect(deletes().map((request) => request.status)).toEqual([401, 401, 401]);
    expect(deletes().every((request) => request.headers["x-api-key"] === wrongKey)).toBe(true);
    expect(simulator.marked().size).toBe(0);

    const listed: CallToolResult = await own.call("list_delete_jobs", {});
    for (const text of [
      JSON.stringify(job),
      JSON.stringify(plan),
      JSON.stringify(result),
      JSON.stringify(listed),
      own.stderr(),
      readFileSync(auditLog, "utf8"),
    ]) {
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain(API_KEY);
    }
  });

  it("paces at the default 1 request a second", async () => {
    const datasets = ids(3, "pace");
    await startSim({ datasets });
    const { session: own } = await open({ requestsPerSecond: undefined });
    const { job } = await execute(own, await dryRun(own, datasets));
    expect(job.status).toBe("succeeded");
    const times = deletes().map((request) => request.time);
    expect(times).toHaveLength(3);
    for (let index = 1; index < times.length; index++) {
      expect(
        (times[index] as number) - (times[index - 1] as number),
        `request ${index}`,
      ).toBeGreaterThanOrEqual(950);
    }
  });

  it("check-config refuses a maxBatchSize above 1", () => {
    const config = writeBackendsConfig(tempDir(), {
      [BACKEND]: {
        kind: "subworkflow",
        baseUrl: "http://127.0.0.1:9",
        credentialEnv: "SUBWORKFLOW_API_KEY",
        maxBatchSize: 2,
      },
    });
    const result = spawnSync(process.execPath, [CLI, "check-config", "--config", config.path], {
      env: { PATH: process.env.PATH ?? "", SUBWORKFLOW_API_KEY: API_KEY },
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`CONFIG_INVALID: backends.${BACKEND}.maxBatchSize: must be ≤ 1`);
  });
});
