// The Splendor adapter: the request it builds and how it maps each answer (shared/backends/splendor.md).
import { describe, expect, it } from "vitest";
import { splendor } from "../../src/backends/splendor.js";
import type { BackendConfig } from "../../src/config.js";
import { adapterHarness } from "./adapter-harness.js";
import { splendorBackend } from "./fixtures.js";
import { refusingUrl } from "./recording-server.js";

const TOKEN = "splendor-jwt-7f3a9b2c";
const REASON = "GDPR erasure request #4411";

function backendConfig(baseUrl: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return splendorBackend({ baseUrl, credential: TOKEN, timeoutMs: 2000, ...overrides });
}

const { connect, against } = adapterHarness((url, overrides) => backendConfig(url, overrides));

function deletionJob(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: "ddl_01",
    tenant_id: "acme",
    scope: "record",
    status: "pending",
    requested_by: "deletegate",
    target_upload_session_id: null,
    target_source_id: null,
    target_dataset_id: "app-logs",
    item_total_count: 1,
    item_pending_count: 1,
    item_running_count: 0,
    item_succeeded_count: 0,
    item_failed_count: 0,
    error_message: null,
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
    started_at: null,
    completed_at: null,
    items: [],
    ...overrides,
  };
}

const batch = { target: { dataset_id: "app-logs" }, ids: ["r1", "r2", "r3"], reason: REASON };

describe("splendor kind", () => {
  it("accepts ids of 1..512 characters", () => {
    expect(splendor.validateId("")).toBe("must be 1..512 characters");
    expect(splendor.validateId("a")).toBeNull();
    expect(splendor.validateId("a".repeat(512))).toBeNull();
    expect(splendor.validateId("a".repeat(513))).toBe("must be 1..512 characters");
  });

  it("takes a target of exactly { dataset_id } with 1..128 characters", () => {
    const schema = splendor.targetSchema;
    expect(schema).not.toBeNull();
    expect(schema?.safeParse({ dataset_id: "app-logs" }).success).toBe(true);
    expect(schema?.safeParse({ dataset_id: "d".repeat(128) }).success).toBe(true);
    expect(schema?.safeParse({ dataset_id: "d".repeat(129) }).success).toBe(false);
    expect(schema?.safeParse({ dataset_id: "" }).success).toBe(false);
    expect(schema?.safeParse({ dataset_id: 7 }).success).toBe(false);
    expect(schema?.safeParse({}).success).toBe(false);
    expect(schema?.safeParse({ dataset_id: "app-logs", tenant: "x" }).success).toBe(false);
    expect(splendor.targetFields).toEqual(["dataset_id"]);
    expect(splendor.targetName({ dataset_id: "app-logs" })).toBe("app-logs");
  });

  it("has the documented cap, defaults and async completion", () => {
    expect(splendor.kind).toBe("splendor");
    expect(splendor.maxBatchSize).toBe(1024);
    expect(splendor.defaults).toEqual({ concurrency: 4, requestsPerSecond: 10 });
    expect(splendor.asyncJobs).toBe(true);
  });

  it("builds the bearer and tenant headers from the resolved config", () => {
    const backend = { ...backendConfig("http://x"), options: { tenantId: "globex" } };
    expect(splendor.headers(backend)).toEqual({
      authorization: `Bearer ${TOKEN}`,
      "x-splendor-tenant-id": "globex",
    });
  });
});

describe("sendBatch request", () => {
  it("POSTs dataset_id, record_ids and reason to /v1/records/delete with auth and tenant", async () => {
    const { server, client } = await against({ status: 202, body: deletionJob() });
    await client.sendBatch(batch);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/records/delete");
    expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request?.headers["x-splendor-tenant-id"]).toBe("acme");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual({
      dataset_id: "app-logs",
      record_ids: ["r1", "r2", "r3"],
      reason: REASON,
    });
  });
});

describe("sendBatch response mapping", () => {
  it("maps 202 with a job_id to accepted", async () => {
    const { client } = await against({ status: 202, body: deletionJob({ job_id: "ddl_abc" }) });
    expect(await client.sendBatch(batch)).toEqual({
      type: "accepted",
      backendJobId: "ddl_abc",
      httpStatus: 202,
    });
  });

  it("retries a 202 without a job_id", async () => {
    const { client } = await against({ status: 202, body: { status: "pending" } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 202 without a job_id",
      httpStatus: 202,
    });
  });

  it("retries 503 after the Retry-After delay", async () => {
    const { client } = await against({
      status: 503,
      headers: { "retry-after": "2" },
      body: { detail: { code: "overloaded", message: "Try again shortly" } },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "retry",
      error: 'HTTP 503: {"code":"overloaded","message":"Try again shortly"}',
      retryAfterMs: 2000,
      httpStatus: 503,
    });
  });

  it("retries 429, 502 and 500", async () => {
    for (const status of [429, 502, 500]) {
      const { client } = await against({ status, body: { detail: "busy" } });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status}: busy`,
        retryAfterMs: undefined,
        httpStatus: status,
      });
    }
  });

  it("fails 400, 401 and 403 with the backend's detail", async () => {
    const cases: [number, string][] = [
      [400, "Missing X-Splendor-Tenant-Id header"],
      [401, "Invalid token"],
      [403, "Admin role required"],
    ];
    for (const [status, detail] of cases) {
      const { client } = await against({ status, body: { detail } });
      expect(await client.sendBatch(batch)).toEqual({
        type: "failed",
        error: `HTTP ${status}: ${detail}`,
        httpStatus: status,
      });
    }
  });

  it("fails 422 with the validation detail written out readably", async () => {
    const { client } = await against({
      status: 422,
      body: {
        detail: [
          { loc: ["body", "record_ids"], msg: "List should have at most 1024 items", type: "too_long" },
        ],
      },
    });
    const outcome = await client.sendBatch(batch);
    expect(outcome).toEqual({
      type: "failed",
      error:
        'HTTP 422: [{"loc":["body","record_ids"],"msg":"List should have at most 1024 items","type":"too_long"}]',
      httpStatus: 422,
    });
  });

  it("fails 404 saying the dataset was not found", async () => {
    const { client } = await against({ status: 404, body: { detail: "Dataset not found" } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 404: Dataset not found (dataset not found)",
      httpStatus: 404,
    });
  });

  it("never puts the token into an error, even when the backend echoes it", async () => {
    const { client } = await against({ status: 401, body: { detail: `Bearer ${TOKEN} has expired` } });
    const outcome = await client.sendBatch(batch);
    expect(outcome).toEqual({
      type: "failed",
      error: "HTTP 401: Bearer [redacted] has expired",
      httpStatus: 401,
    });
  });

  it("retries a refused connection and a timeout", async () => {
    const refused = connect(backendConfig(await refusingUrl()));
    const outcome = await refused.sendBatch(batch);
    expect(outcome.type).toBe("retry");
    if (outcome.type === "retry") expect(outcome.error).toContain("ECONNREFUSED");

    const { server, client: slow } = await against("hang", { timeoutMs: 150 });
    expect(await slow.sendBatch(batch)).toEqual({
      type: "retry",
      error: `request to ${new URL(server.url).host} failed: no answer within 150 ms`,
    });
  });
});

describe("pollJob", () => {
  it("GETs /v1/admin/data-deletion-jobs/{job_id} with auth and tenant, the id escaped", async () => {
    const { server, client } = await against({ status: 200, body: deletionJob() });
    await client.pollJob?.("ddl_01");
    await client.pollJob?.("ddl/../x y");
    expect(server.requests.map((request) => [request.method, request.path])).toEqual([
      ["GET", "/v1/admin/data-deletion-jobs/ddl_01"],
      ["GET", "/v1/admin/data-deletion-jobs/ddl%2F..%2Fx%20y"],
    ]);
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.requests[0]?.headers["x-splendor-tenant-id"]).toBe("acme");
  });

  it("maps pending and running to running", async () => {
    for (const status of ["pending", "running"]) {
      const { client } = await against({ status: 200, body: deletionJob({ status }) });
      expect(await client.pollJob?.("ddl_01")).toEqual({ type: "running", status });
    }
  });

  it("retries a status outside the contract instead of polling it forever", async () => {
    const { client } = await against({ status: 200, body: deletionJob({ status: "cancelled" }) });
    expect(await client.pollJob?.("ddl_01")).toEqual({
      type: "retry",
      error: 'backend job ddl_01 has an unknown status "cancelled"',
    });
  });

  it("maps succeeded", async () => {
    const { client } = await against({ status: 200, body: deletionJob({ status: "succeeded" }) });
    expect(await client.pollJob?.("ddl_01")).toEqual({ type: "succeeded", status: "succeeded" });
  });

  it("maps failed with the backend's error_message, redacted", async () => {
    const { client } = await against({
      status: 200,
      body: deletionJob({ status: "failed", error_message: `index shard 3 unavailable (auth ${TOKEN})` }),
    });
    expect(await client.pollJob?.("ddl_01")).toEqual({
      type: "failed",
      status: "failed",
      error: "index shard 3 unavailable (auth [redacted])",
    });
  });

  it("maps failed without a message to a generic error", async () => {
    const { client } = await against({
      status: 200,
      body: deletionJob({ status: "failed", error_message: null }),
    });
    expect(await client.pollJob?.("ddl_01")).toEqual({
      type: "failed",
      status: "failed",
      error: "backend job failed without a message",
    });
  });

  it("maps 404 and 401 to unreadable", async () => {
    const notFound = await against({ status: 404, body: { detail: "Job not found" } });
    expect(await notFound.client.pollJob?.("ddl_01")).toEqual({
      type: "unreadable",
      error: "HTTP 404: Job not found",
    });
    const unauthorized = await against({ status: 401, body: { detail: "Invalid token" } });
    expect(await unauthorized.client.pollJob?.("ddl_01")).toEqual({
      type: "unreadable",
      error: "HTTP 401: Invalid token",
    });
  });

  it("retries 503 with its Retry-After, a body without a status, and a refused connection", async () => {
    const overloaded = await against({
      status: 503,
      headers: { "retry-after": "4" },
      body: { detail: { code: "overloaded", message: "busy" } },
    });
    expect(await overloaded.client.pollJob?.("ddl_01")).toEqual({
      type: "retry",
      error: 'HTTP 503: {"code":"overloaded","message":"busy"}',
      retryAfterMs: 4000,
    });
    const garbled = await against({ status: 200, body: { job_id: "ddl_01" } });
    expect(await garbled.client.pollJob?.("ddl_01")).toEqual({
      type: "retry",
      error: "status response without job_id/status",
    });
    const refused = connect(backendConfig(await refusingUrl()));
    expect((await refused.pollJob?.("ddl_01"))?.type).toBe("retry");
  });
});
