// The langsmith kind end to end: the built server over stdio against the LangSmith simulator over real HTTP.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  LANGSMITH_DELETE_PATH,
  type LangsmithSimulator,
  type LangsmithSimulatorOptions,
  startLangsmithSimulator,
} from "../../tools/simulators/langsmith.js";
import {
  CLI,
  errorText,
  planAndExecute,
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "./harness.js";

const KEY = "lsv2-sim-key-5c8e1a93";
const TENANT = "0b6a5c1e-9d3f-4e2a-8c7b-1f2e3d4c5b6a";
const BACKEND = "langsmith-test";
const REASON = "Remove PII examples from eval dataset";
const ATTACHMENT_NOTE =
  "LangSmith hard delete removes every version of each example: inputs, outputs and metadata are nulled at once, but attachment files can take up to 7 days to be deleted.";
const KEPT_NOTE =
  "The example id, dataset id and creation time are kept; ids LangSmith did not delete (unknown, already deleted or in another workspace) are counted as not found.";

/** A deterministic UUID: uuid(7, "0000aaaa") = "0000aaaa-0000-4000-8000-000000000007". */
function uuid(index: number, group: string): string {
  return `${group}-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
}

function uuids(count: number, group: string): string[] {
  return Array.from({ length: count }, (_, index) => uuid(index, group));
}

let sim: LangsmithSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await sim?.close();
  session = undefined;
  sim = undefined;
});

async function startSim(opts: Partial<LangsmithSimulatorOptions> = {}): Promise<LangsmithSimulator> {
  sim = await startLangsmithSimulator({ apiKey: KEY, ...opts });
  return sim;
}

/** A session against the simulator with one langsmith backend; `backend` adds config keys. */
async function connect(backend: Record<string, unknown> = {}, key = KEY) {
  const config = writeBackendsConfig(tempDir(), {
    [BACKEND]: {
      kind: "langsmith",
      baseUrl: (sim as LangsmithSimulator).url,
      credentialEnv: "LANGSMITH_API_KEY",
      ...backend,
    },
  });
  session = await startSession(config.path, { env: { LANGSMITH_API_KEY: key } });
  return { session, auditLog: config.auditLog };
}

async function runJob(own: Session, ids: string[]) {
  const { plan, job } = await planAndExecute(own, { backend: BACKEND, target: null, ids, reason: REASON });
  return { plan, job: (await waitForJob(own, job.job_id, 60_000)).job };
}

function deletes() {
  return (sim as LangsmithSimulator).requests.filter((request) => request.path === LANGSMITH_DELETE_PATH);
}

function sentIds(request: { body: unknown }): string[] {
  return (request.body as { example_ids: string[] }).example_ids;
}

describe("langsmith: dry run and plan-time rules", () => {
  it("lists the kind: no target, cap 1000, allowTargets not applicable", async () => {
    await startSim();
    const { session: own } = await connect();
    const listed = structured(await own.call("list_backends"));
    expect(listed.backends).toHaveLength(1);
    expect(listed.backends[0]).toMatchObject({
      name: BACKEND,
      kind: "langsmith",
      target_fields: [],
      max_batch_size: 1000,
      read_only: false,
      allow_targets: null,
    });
    expect(listed.backends[0].description).toContain("LangSmith dataset examples");
  });

  it("rejects non-UUID ids at plan time and never sends them; a plan of only invalid ids is refused", async () => {
    await startSim();
    const { session: own } = await connect();
    const valid = uuids(5, "0000bbbb");
    const invalid = ["example-1", "6f1e2d3c4b5a49688776655443322110", `{${uuid(9, "0000bbbb")}}`, "42"];
    const plan = structured(
      await own.call("dry_run_delete", { backend: BACKEND, ids: [...valid, ...invalid, 42], reason: REASON }),
    );
    expect(plan.counts).toEqual({ received: 10, unique: 9, duplicates: 1, invalid: 4, to_delete: 5 });
    expect(plan.invalid_ids).toEqual(invalid.map((id) => ({ id, error: "must be a UUID" })));
    expect(plan.target).toBeNull();
    expect(plan.batches).toEqual({ count: 1, size: 1000 });
    expect(plan.sample_ids).toEqual(valid);
    expect(deletes()).toHaveLength(0);

    const refused = await own.call("dry_run_delete", { backend: BACKEND, ids: invalid, reason: REASON });
    expect(errorText(refused)).toMatch(/^NO_VALID_IDS: .*"example-1": must be a UUID/);
    const targeted = await own.call("dry_run_delete", {
      backend: BACKEND,
      target: { dataset_id: "d" },
      ids: valid,
      reason: REASON,
    });
    expect(errorText(targeted)).toMatch(/^INVALID_TARGET: /);

    const job = structured(
      await own.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 30,
      }),
    );
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 5, deleted: 5, not_found: 0, failed: 0, pending: 0 });
    expect(deletes()).toHaveLength(1);
    expect(sentIds(deletes()[0] as { body: unknown })).toEqual(valid);
    expect(sim?.violations).toEqual([]);
  });
});

describe("langsmith: execution", () => {
  it("deletes 2500 ids with 100 missing: exact counts, each id sent once, key and tenant on every request, notes", async () => {
    const ids = uuids(2500, "0000aaaa");
    // Every 25th example does not exist: 100 ids the backend cannot delete.
    const existing = ids.filter((_, index) => index % 25 !== 0);
    await startSim({ tenantId: TENANT, examples: existing });
    const { session: own, auditLog } = await connect({ tenantId: TENANT });

    const plan = structured(
      await own.call("dry_run_delete", {
        backend: BACKEND,
        ids: [...ids, ...ids.slice(0, 20)],
        reason: REASON,
      }),
    );
    expect(plan.counts).toEqual({
      received: 2520,
      unique: 2500,
      duplicates: 20,
      invalid: 0,
      to_delete: 2500,
    });
    expect(plan.batches).toEqual({ count: 3, size: 1000 });
    expect(plan.notes).toEqual([ATTACHMENT_NOTE, KEPT_NOTE]);
    expect(deletes()).toHaveLength(0);

    const job = structured(
      await own.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 30,
      }),
    );
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 2500, deleted: 2400, not_found: 100, failed: 0, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 3, failed: 0, in_flight: 0 });
    expect(job.backend_jobs).toEqual([]);
    expect(job.failed_ids).toEqual([]);
    expect(job.notes).toEqual([ATTACHMENT_NOTE, KEPT_NOTE]);
    const fetched = structured(await own.call("get_delete_job", { job_id: job.job_id }));
    expect(fetched.notes).toEqual([ATTACHMENT_NOTE, KEPT_NOTE]);

    const requests = deletes();
    expect(requests.map((request) => sentIds(request).length).sort((a, b) => a - b)).toEqual([
      500, 1000, 1000,
    ]);
    for (const request of requests) {
      expect(request.method).toBe("POST");
      expect(request.status).toBe(200);
      expect(request.headers["x-api-key"]).toBe(KEY);
      expect(request.headers["x-tenant-id"]).toBe(TENANT);
      expect(request.headers.authorization).toBeUndefined();
      expect(Object.keys(request.body as object).sort()).toEqual(["example_ids", "hard_delete"]);
      expect((request.body as { hard_delete: unknown }).hard_delete).toBe(true);
    }
    const received = sim?.received() ?? new Map();
    expect(received.size).toBe(2500);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(sim?.deleted()).toEqual(new Set(existing));
    expect(sim?.violations).toEqual([]);

    const batchLines = readAudit(auditLog).filter(
      (line) => line.event === "batch.completed" && line.plan_id === plan.plan_id,
    );
    expect(batchLines).toHaveLength(3);
    expect(batchLines.flatMap((line) => line.ids as string[]).sort()).toEqual([...ids].sort());
    for (const line of batchLines) expect(line).toMatchObject({ http_status: 200, reason: REASON });
    const counted = batchLines.map((line) => line.counts as { deleted: number; not_found: number });
    expect(counted.reduce((sum, counts) => sum + counts.deleted, 0)).toBe(2400);
    expect(counted.reduce((sum, counts) => sum + counts.not_found, 0)).toBe(100);

    // A second delete of the same examples deletes nothing more: every id is not found, which is not a failure.
    const { job: again } = await runJob(own, ids.slice(0, 1000));
    expect(again.status).toBe("succeeded");
    expect(again.counts).toEqual({ total: 1000, deleted: 0, not_found: 1000, failed: 0, pending: 0 });
    expect(sim?.deleted().size).toBe(2400);
    expect(sim?.violations).toEqual([]);
  });

  it("without tenantId sends no X-Tenant-Id; a lower maxBatchSize is the request size; over 1000 is a config error", async () => {
    await startSim();
    const { session: own } = await connect({ maxBatchSize: 300 });
    const ids = uuids(1000, "0000cccc");
    const { plan, job } = await runJob(own, ids);
    expect(plan.batches).toEqual({ count: 4, size: 300 });
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 1000, deleted: 1000, not_found: 0, failed: 0, pending: 0 });
    const requests = deletes();
    expect(requests.map((request) => sentIds(request).length).sort((a, b) => a - b)).toEqual([
      100, 300, 300, 300,
    ]);
    for (const request of requests) {
      expect(request.headers["x-api-key"]).toBe(KEY);
      expect(request.headers["x-tenant-id"]).toBeUndefined();
    }
    expect(sim?.deleted()).toEqual(new Set(ids));
    expect(sim?.violations).toEqual([]);

    const config = writeBackendsConfig(tempDir(), {
      [BACKEND]: { kind: "langsmith", credentialEnv: "LANGSMITH_API_KEY", maxBatchSize: 1001 },
    });
    const check = spawnSync(process.execPath, [CLI, "check-config", "--config", config.path], {
      env: { PATH: process.env.PATH ?? "", LANGSMITH_API_KEY: KEY },
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(check.status).toBe(1);
    expect(check.stderr).toContain(`backends.${BACKEND}.maxBatchSize: must be ≤ 1000`);
    expect(check.stderr).not.toContain(KEY);
  });

  it("retries 429 without Retry-After, 503 with it, a reset and a hang: each id deleted once", async () => {
    await startSim();
    const faults = (sim as LangsmithSimulator).faults;
    faults.add({ route: "delete", fault: { type: "status", status: 429 } });
    faults.add({ route: "delete", fault: { type: "status", status: 503, retryAfterSeconds: 1 } });
    faults.add({ route: "delete", fault: { type: "reset" } });
    faults.add({ route: "delete", fault: { type: "hang" } });
    const { session: own } = await connect({
      maxBatchSize: 50,
      concurrency: 1,
      timeoutMs: 500,
      maxAttempts: 5,
    });
    const ids = uuids(200, "0000dddd");
    const { job } = await runJob(own, ids);
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 200, deleted: 200, not_found: 0, failed: 0, pending: 0 });
    const requests = deletes();
    expect(requests.map((request) => request.status)).toEqual([429, 503, 0, 0, 200, 200, 200, 200]);
    // 429 without Retry-After: an exponential backoff (≥ 200 ms) before the next attempt.
    expect((requests[1]?.time ?? 0) - (requests[0]?.time ?? 0)).toBeGreaterThanOrEqual(190);
    // 503 with Retry-After: 1 is honoured.
    expect((requests[2]?.time ?? 0) - (requests[1]?.time ?? 0)).toBeGreaterThanOrEqual(1_000);
    const received = sim?.received() ?? new Map();
    expect(received.size).toBe(200);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(sim?.deleted()).toEqual(new Set(ids));
    expect(sim?.violations).toEqual([]);
  });

  it("a backend 422 fails only its batch at once, without retries; the other batches are deleted", async () => {
    await startSim();
    (sim as LangsmithSimulator).faults.add({
      route: "delete",
      fault: {
        type: "status",
        status: 422,
        body: { error: "Invalid request: example_ids[0] is not a valid UUID", details: '{"index":0}' },
      },
    });
    const { session: own } = await connect({ maxBatchSize: 10, concurrency: 1 });
    const ids = uuids(30, "0000eeee");
    const { job } = await runJob(own, ids);
    expect(job.status).toBe("partially_failed");
    expect(job.counts).toEqual({ total: 30, deleted: 20, not_found: 0, failed: 10, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 2, failed: 1, in_flight: 0 });
    expect(deletes().map((request) => request.status)).toEqual([422, 200, 200]);
    expect(job.failed_ids).toEqual(
      ids.slice(0, 10).map((id) => ({
        id,
        error: 'HTTP 422: Invalid request: example_ids[0] is not a valid UUID (details: {"index":0})',
      })),
    );
    expect(sim?.deleted()).toEqual(new Set(ids.slice(10)));
  });
});

describe("langsmith: refusals by the backend", () => {
  it("a 401 fails every batch at once, one request each, with a clear message and the key nowhere", async () => {
    await startSim();
    const wrongKey = "lsv2-wrong-key-77310c";
    const { session: own, auditLog } = await connect({ maxBatchSize: 10, maxAttempts: 5 }, wrongKey);
    const { plan, job } = await runJob(own, uuids(30, "0000ffff"));
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 30, deleted: 0, not_found: 0, failed: 30, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 0, failed: 3, in_flight: 0 });
    expect(deletes()).toHaveLength(3);
    expect(deletes().every((request) => request.headers["x-api-key"] === wrongKey)).toBe(true);
    expect(job.failed_ids[0].error).toBe(
      "HTTP 401: Unauthorized: invalid API key — the API key is missing, wrong or revoked",
    );
    expect(sim?.deleted().size).toBe(0);

    const failedLines = readAudit(auditLog).filter((line) => line.event === "batch.failed");
    expect(failedLines.map((line) => line.http_status)).toEqual([401, 401, 401]);
    const listed = structured(await own.call("list_delete_jobs", {}));
    for (const text of [
      JSON.stringify(plan),
      JSON.stringify(job),
      JSON.stringify(listed),
      own.stderr(),
      readFileSync(auditLog, "utf8"),
    ]) {
      expect(text).not.toContain(wrongKey);
    }
  });

  it("a workspace the key cannot access (403) fails at once, saying tenantId is the likely cause", async () => {
    await startSim({ tenantId: TENANT });
    const { session: own } = await connect({ tenantId: "9f8e7d6c-0000-4000-8000-000000000000" });
    const { job } = await runJob(own, uuids(5, "0000abcd"));
    expect(job.status).toBe("failed");
    expect(deletes()).toHaveLength(1);
    expect(deletes()[0]?.headers["x-tenant-id"]).toBe("9f8e7d6c-0000-4000-8000-000000000000");
    expect(job.failed_ids[0].error).toBe(
      "HTTP 403: Invalid request: this API key cannot access the requested workspace " +
        '(details: {"tenant_id":"9f8e7d6c-0000-4000-8000-000000000000"}) — the API key may not act in this ' +
        "workspace; an org-scoped key needs tenantId",
    );
    expect(sim?.deleted().size).toBe(0);
  });
});
