// Checks the Splendor simulator against shared/backends/splendor.md over real HTTP, so tests built on it can trust it.
import { afterEach, describe, expect, it } from "vitest";
import {
  type SplendorSimulator,
  type SplendorSimulatorOptions,
  startSplendorSimulator,
} from "../../tools/simulators/splendor.js";

const TOKEN = "test-token";
const TENANT = "acme";

const JOB_FIELDS = [
  "job_id",
  "tenant_id",
  "scope",
  "status",
  "requested_by",
  "target_upload_session_id",
  "target_source_id",
  "target_dataset_id",
  "item_total_count",
  "item_pending_count",
  "item_running_count",
  "item_succeeded_count",
  "item_failed_count",
  "error_message",
  "created_at",
  "updated_at",
  "started_at",
  "completed_at",
  "items",
].sort();

const ITEM_FIELDS = [
  "item_id",
  "item_type",
  "status",
  "target",
  "result",
  "error_message",
  "attempt_count",
  "next_attempt_at",
  "created_at",
  "updated_at",
  "started_at",
  "completed_at",
].sort();

let sims: SplendorSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((sim) => sim.close()));
  sims = [];
});

async function start(opts: Partial<SplendorSimulatorOptions> = {}): Promise<SplendorSimulator> {
  const sim = await startSplendorSimulator({ token: TOKEN, tenantId: TENANT, ...opts });
  sims.push(sim);
  return sim;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return {
    authorization: `Bearer ${TOKEN}`,
    "x-splendor-tenant-id": TENANT,
    "content-type": "application/json",
    ...extra,
  };
}

function postDelete(
  sim: SplendorSimulator,
  body: unknown,
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Response> {
  return fetch(`${sim.url}/v1/records/delete`, {
    method: "POST",
    headers: init.headers ?? headers(),
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: init.signal,
  });
}

function getJob(sim: SplendorSimulator, jobId: string): Promise<Response> {
  return fetch(`${sim.url}/v1/admin/data-deletion-jobs/${jobId}`, { headers: headers() });
}

async function jobOf(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("splendor simulator: auth and tenant", () => {
  it("answers 401 without a bearer token and records a violation", async () => {
    const sim = await start();
    const res = await postDelete(
      sim,
      { dataset_id: "d", record_ids: ["a"] },
      {
        headers: { "x-splendor-tenant-id": TENANT, "content-type": "application/json" },
      },
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Not authenticated" });
    expect(sim.violations).toHaveLength(1);
    expect(sim.violations[0]).toContain("401");
    expect(sim.received("d").size).toBe(0);
  });

  it("answers 401 for a wrong token", async () => {
    const sim = await start();
    const res = await postDelete(
      sim,
      { dataset_id: "d", record_ids: ["a"] },
      {
        headers: headers({ authorization: "Bearer nope" }),
      },
    );
    expect(res.status).toBe(401);
    const body = (await res.json()) as { detail: unknown };
    expect(typeof body.detail).toBe("string");
    expect(sim.violations).toHaveLength(1);
  });

  it("answers 400 without the tenant header", async () => {
    const sim = await start();
    const res = await fetch(`${sim.url}/v1/admin/data-deletion-jobs/ddl_x`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { detail: unknown };
    expect(typeof body.detail).toBe("string");
    expect(sim.violations).toHaveLength(1);
    expect(sim.violations[0]).toContain("X-Splendor-Tenant-Id");
  });

  it("answers 403 for a tenant the token cannot access", async () => {
    const sim = await start();
    const res = await postDelete(
      sim,
      { dataset_id: "d", record_ids: ["a"] },
      {
        headers: headers({ "x-splendor-tenant-id": "other" }),
      },
    );
    expect(res.status).toBe(403);
    const body = (await res.json()) as { detail: unknown };
    expect(typeof body.detail).toBe("string");
    expect(sim.violations).toHaveLength(1);
    expect(sim.received("d").size).toBe(0);
  });
});

describe("splendor simulator: delete validation", () => {
  it("rejects 1025 record ids with 422 at body.record_ids", async () => {
    const sim = await start();
    const ids = Array.from({ length: 1025 }, (_, i) => `r${i}`);
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ids, reason: "cleanup" });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: { loc: unknown[]; msg: string; type: string }[] };
    expect(body.detail).toHaveLength(1);
    expect(body.detail[0]?.loc).toEqual(["body", "record_ids"]);
    expect(body.detail[0]?.type).toBe("too_long");
    expect(sim.violations).toHaveLength(1);
    expect(sim.received("d").size).toBe(0);
  });

  it("accepts exactly 1024 record ids", async () => {
    const sim = await start();
    const ids = Array.from({ length: 1024 }, (_, i) => `r${i}`);
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ids });
    expect(res.status).toBe(202);
    expect(sim.received("d").size).toBe(1024);
    expect(sim.violations).toEqual([]);
  });

  it("points 422 at the empty id and the 513-character id", async () => {
    const sim = await start();
    const ids = ["ok", "", "fine", "x".repeat(513), "y".repeat(512)];
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ids });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: { loc: unknown[]; type: string }[] };
    expect(body.detail.map((issue) => issue.loc)).toEqual([
      ["body", "record_ids", 1],
      ["body", "record_ids", 3],
    ]);
    expect(body.detail.map((issue) => issue.type)).toEqual(["string_too_short", "string_too_long"]);
    expect(sim.violations).toHaveLength(1);
  });

  it("rejects an empty record_ids list, a long dataset_id, a long reason and unknown fields", async () => {
    const sim = await start();
    const res = await postDelete(sim, {
      dataset_id: "d".repeat(129),
      record_ids: [],
      reason: "r".repeat(1025),
      force: true,
    });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: { loc: unknown[]; type: string }[] };
    expect(body.detail.map((issue) => [issue.loc, issue.type])).toEqual([
      [["body", "force"], "extra_forbidden"],
      [["body", "dataset_id"], "string_too_long"],
      [["body", "record_ids"], "too_short"],
      [["body", "reason"], "string_too_long"],
    ]);
  });

  it("rejects a non-JSON body with 422", async () => {
    const sim = await start();
    const res = await postDelete(sim, "{not json");
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: { type: string }[] };
    expect(body.detail[0]?.type).toBe("json_invalid");
    expect(sim.violations).toHaveLength(1);
    expect(sim.requests[0]?.body).toBe("{not json");
  });

  it("accepts a null reason and a missing reason", async () => {
    const sim = await start();
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["a"], reason: null })).status).toBe(202);
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["b"] })).status).toBe(202);
    expect(sim.jobs().map((job) => job.reason)).toEqual([null, null]);
    expect(sim.violations).toEqual([]);
  });

  it("answers 404 Dataset not found for an unknown dataset, without a violation", async () => {
    const sim = await start({ datasets: ["app-logs"] });
    const res = await postDelete(sim, { dataset_id: "crm-leads", record_ids: ["a"] });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: "Dataset not found" });
    expect(sim.violations).toEqual([]);
    expect((await postDelete(sim, { dataset_id: "app-logs", record_ids: ["a"] })).status).toBe(202);
  });

  it("answers 413 for a body over 10 MB", async () => {
    const sim = await start();
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ["x".repeat(11 * 1024 * 1024)] });
    expect(res.status).toBe(413);
    expect(sim.violations).toHaveLength(1);
    expect(sim.violations[0]).toContain("413");
  });
});

describe("splendor simulator: jobs", () => {
  it("answers 202 with every DataDeletionJobResponse field", async () => {
    const sim = await start();
    const before = Date.now();
    const res = await postDelete(sim, {
      dataset_id: "app-logs",
      record_ids: ["a", "b", "c"],
      reason: "GDPR",
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("content-type")).toBe("application/json");
    const job = await jobOf(res);
    expect(Object.keys(job).sort()).toEqual(JOB_FIELDS);
    expect(job.job_id).toMatch(/^ddl_[0-9a-f]{24}$/);
    expect(job).toMatchObject({
      tenant_id: TENANT,
      scope: "record",
      status: "pending",
      target_upload_session_id: null,
      target_source_id: null,
      target_dataset_id: "app-logs",
      item_total_count: 3,
      item_pending_count: 3,
      item_running_count: 0,
      item_succeeded_count: 0,
      item_failed_count: 0,
      error_message: null,
      started_at: null,
      completed_at: null,
    });
    expect(Date.parse(String(job.created_at))).toBeGreaterThanOrEqual(before - 1);
    const items = job.items as Record<string, unknown>[];
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0] ?? {}).sort()).toEqual(ITEM_FIELDS);
    expect(items[0]).toMatchObject({ item_type: "record", status: "pending", error_message: null });
    expect(typeof items[0]?.item_id).toBe("number");
    expect(sim.jobs()).toEqual([
      {
        jobId: job.job_id,
        datasetId: "app-logs",
        recordIds: ["a", "b", "c"],
        reason: "GDPR",
        status: "pending",
        errorMessage: null,
      },
    ]);
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]).toMatchObject({ method: "POST", path: "/v1/records/delete", status: 202 });
  });

  it("moves a job pending → running → succeeded and only then deletes its records", async () => {
    // Wide windows so a loaded machine still polls inside each phase.
    const sim = await start({ jobPendingMs: 300, jobRunningMs: 300 });
    const accepted = await jobOf(await postDelete(sim, { dataset_id: "d", record_ids: ["a", "b"] }));
    const jobId = String(accepted.job_id);
    const created = Date.parse(String(accepted.created_at));

    const pending = await jobOf(await getJob(sim, jobId));
    expect(pending.status).toBe("pending");
    expect(sim.deleted("d").size).toBe(0);

    await sleep(Math.max(0, created + 450 - Date.now()));
    const running = await jobOf(await getJob(sim, jobId));
    expect(running).toMatchObject({ status: "running", item_running_count: 2, item_pending_count: 0 });
    expect(running.started_at).toBe(new Date(created + 300).toISOString());
    expect(sim.deleted("d").size).toBe(0);

    await sleep(Math.max(0, created + 650 - Date.now()));
    const done = await jobOf(await getJob(sim, jobId));
    expect(done).toMatchObject({
      status: "succeeded",
      item_succeeded_count: 2,
      item_running_count: 0,
      error_message: null,
      completed_at: new Date(created + 600).toISOString(),
    });
    expect([...sim.deleted("d")].sort()).toEqual(["a", "b"]);
    expect(sim.deleted("other").size).toBe(0);
  });

  it("reports deletions by time even when nobody polls", async () => {
    const sim = await start({ jobPendingMs: 100, jobRunningMs: 100 });
    await postDelete(sim, { dataset_id: "d", record_ids: ["a"] });
    expect(sim.deleted("d").size).toBe(0);
    await sleep(250);
    expect([...sim.deleted("d")]).toEqual(["a"]);
  });

  it("ends the next N jobs failed with the message and deletes nothing for them", async () => {
    const sim = await start({ jobPendingMs: 10, jobRunningMs: 10 });
    sim.failNextJobs(1, "delete-by-query timed out");
    const failed = await jobOf(await postDelete(sim, { dataset_id: "d", record_ids: ["a", "b"] }));
    const ok = await jobOf(await postDelete(sim, { dataset_id: "d", record_ids: ["c"] }));
    await sleep(60);
    const failedNow = await jobOf(await getJob(sim, String(failed.job_id)));
    expect(failedNow).toMatchObject({
      status: "failed",
      error_message: "delete-by-query timed out",
      item_failed_count: 2,
      item_succeeded_count: 0,
    });
    expect((await jobOf(await getJob(sim, String(ok.job_id)))).status).toBe("succeeded");
    expect([...sim.deleted("d")]).toEqual(["c"]);
    expect(sim.received("d")).toEqual(
      new Map([
        ["a", 1],
        ["b", 1],
        ["c", 1],
      ]),
    );
  });

  it("answers 404 Job not found for an unknown job id", async () => {
    const sim = await start();
    const res = await getJob(sim, "ddl_missing");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: "Job not found" });
    expect(sim.violations).toEqual([]);
  });

  it("lists job summaries newest first, without items, and rejects a bad limit", async () => {
    const sim = await start();
    const first = await jobOf(await postDelete(sim, { dataset_id: "d", record_ids: ["a"] }));
    const second = await jobOf(await postDelete(sim, { dataset_id: "d", record_ids: ["b"] }));
    const res = await fetch(`${sim.url}/v1/admin/data-deletion-jobs?limit=500`, { headers: headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { jobs: Record<string, unknown>[] };
    expect(body.jobs.map((job) => job.job_id)).toEqual([second.job_id, first.job_id]);
    expect(Object.keys(body.jobs[0] ?? {}).sort()).toEqual(JOB_FIELDS.filter((field) => field !== "items"));

    const one = await fetch(`${sim.url}/v1/admin/data-deletion-jobs?limit=1`, { headers: headers() });
    expect(((await one.json()) as { jobs: unknown[] }).jobs).toHaveLength(1);

    for (const limit of ["0", "501", "ten"]) {
      const bad = await fetch(`${sim.url}/v1/admin/data-deletion-jobs?limit=${limit}`, {
        headers: headers(),
      });
      expect(bad.status).toBe(422);
      const detail = ((await bad.json()) as { detail: { loc: unknown[] }[] }).detail;
      expect(detail[0]?.loc).toEqual(["query", "limit"]);
    }
    expect(sim.violations).toHaveLength(3);
  });

  it("counts received ids per accepted request and ignores rejected ones", async () => {
    const sim = await start();
    await postDelete(sim, { dataset_id: "d", record_ids: ["a", "b"] });
    await postDelete(sim, { dataset_id: "d", record_ids: ["a"] });
    await postDelete(sim, { dataset_id: "e", record_ids: ["a"] });
    await postDelete(sim, { dataset_id: "d", record_ids: ["a", ""] });
    expect(sim.received("d")).toEqual(
      new Map([
        ["a", 2],
        ["b", 1],
      ]),
    );
    expect(sim.received("e")).toEqual(new Map([["a", 1]]));
    expect(sim.requests.map((request) => request.status)).toEqual([202, 202, 202, 422]);
  });
});

describe("splendor simulator: routes", () => {
  it("answers 404 for an unknown path and records a violation", async () => {
    const sim = await start();
    const res = await fetch(`${sim.url}/v1/records`, { method: "DELETE", headers: headers() });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: "simulator: no route DELETE /v1/records" });
    expect(sim.violations).toEqual(["DELETE /v1/records: no such route in the Splendor contract (404)."]);
  });

  it("answers 405 for a wrong method on a known path and records a violation", async () => {
    const sim = await start();
    const res = await fetch(`${sim.url}/v1/records/delete`, { headers: headers() });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toEqual({ detail: "simulator: no route GET /v1/records/delete" });
    expect(sim.violations).toHaveLength(1);
  });
});

describe("splendor simulator: faults", () => {
  it("answers an injected 503 with Retry-After and processes nothing", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "status", status: 503, retryAfterSeconds: 2 } });
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ["a"] });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    const body = (await res.json()) as { detail: { code: string; message: string } };
    expect(typeof body.detail.code).toBe("string");
    expect(typeof body.detail.message).toBe("string");
    expect(sim.received("d").size).toBe(0);
    expect(sim.violations).toEqual([]);
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(503);
    // One use only: the retry goes through.
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["a"] })).status).toBe(202);
  });

  it("answers an injected 429 with a custom body, only on its route, the given number of times", async () => {
    const sim = await start();
    sim.faults.add({
      route: "delete",
      times: 2,
      fault: { type: "status", status: 429, body: { detail: "slow" } },
    });
    expect((await getJob(sim, "ddl_none")).status).toBe(404);
    const first = await postDelete(sim, { dataset_id: "d", record_ids: ["a"] });
    expect(first.status).toBe(429);
    expect(await first.json()).toEqual({ detail: "slow" });
    expect(first.headers.get("retry-after")).toBeNull();
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["a"] })).status).toBe(429);
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["a"] })).status).toBe(202);
    expect(sim.received("d")).toEqual(new Map([["a", 1]]));
  });

  it("resets the connection so fetch throws, and processes nothing", async () => {
    const sim = await start();
    sim.faults.add({ fault: { type: "reset" } });
    await expect(postDelete(sim, { dataset_id: "d", record_ids: ["a"] })).rejects.toThrow(TypeError);
    expect(sim.received("d").size).toBe(0);
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(0);
    expect(sim.violations).toEqual([]);
  });

  it("hangs until the client's timeout, and close() releases the hung socket", async () => {
    const sim = await start();
    sim.faults.add({ route: "job-status", times: Number.POSITIVE_INFINITY, fault: { type: "hang" } });
    const started = Date.now();
    await expect(
      fetch(`${sim.url}/v1/admin/data-deletion-jobs/ddl_x`, {
        headers: headers(),
        signal: AbortSignal.timeout(200),
      }),
    ).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    // A second hung request that the client never abandons: close() must not wait for it.
    const pending = fetch(`${sim.url}/v1/admin/data-deletion-jobs/ddl_y`, { headers: headers() });
    const outcome = pending.then(
      () => "answered",
      () => "failed",
    );
    await sleep(50);
    const closing = Date.now();
    await sim.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    expect(await outcome).toBe("failed");
    expect(sim.requests.map((request) => request.status)).toEqual([0, 0]);
  });

  it("delays by an injected latency and then answers normally", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "latency", ms: 250 } });
    const started = Date.now();
    const res = await postDelete(sim, { dataset_id: "d", record_ids: ["a"] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(res.status).toBe(202);
    expect(sim.received("d")).toEqual(new Map([["a", 1]]));
  });

  it("delays every request by the latencyMs option", async () => {
    const sim = await start({ latencyMs: 150 });
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      expect((await getJob(sim, "ddl_none")).status).toBe(404);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    }
  });

  it("clear() drops pending fault rules", async () => {
    const sim = await start();
    sim.faults.add({ fault: { type: "status", status: 503 }, times: Number.POSITIVE_INFINITY });
    sim.faults.clear();
    expect((await postDelete(sim, { dataset_id: "d", record_ids: ["a"] })).status).toBe(202);
  });
});
