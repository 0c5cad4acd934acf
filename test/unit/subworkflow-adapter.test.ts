// The Subworkflow adapter: the request it builds and how it maps each answer (shared/backends/subworkflow.md).
import { describe, expect, it } from "vitest";
import { CLOCK_SKEW_MS, subworkflow } from "../../src/backends/subworkflow.js";
import type { BackendConfig } from "../../src/config.js";
import { adapterHarness } from "./adapter-harness.js";
import { splendorBackend } from "./fixtures.js";
import { type CannedResponse, refusingUrl } from "./recording-server.js";

const API_KEY = "sw-key-5d1e77a0c4";
const REASON = "Customer asked to remove uploads";

function backendConfig(baseUrl: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return splendorBackend({
    name: "subworkflow-prod",
    kind: "subworkflow",
    baseUrl,
    credentialEnv: "SUBWORKFLOW_API_KEY",
    credential: API_KEY,
    batchSize: 1,
    concurrency: 1,
    requestsPerSecond: 1,
    timeoutMs: 2000,
    options: {},
    ...overrides,
  });
}

const { connect, against } = adapterHarness((url, overrides) => backendConfig(url, overrides));

function dataset(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "ds_abc123",
    workspaceId: "wks_9",
    type: "doc",
    fileName: "contract.pdf",
    fileExt: "pdf",
    fileSize: 48213,
    itemCount: 12,
    mimeType: "application/pdf",
    createdAt: 1_735_689_600_000,
    updatedAt: 1_735_776_000_000,
    expiresAt: 1_735_776_000_000,
    share: { url: "https://share.subworkflow.ai/t0k", token: "t0k", expiresAt: 1_736_380_800_000 },
    ...overrides,
  };
}

function marked(overrides: Record<string, unknown> = {}): CannedResponse {
  return { status: 200, body: { success: true, total: 1, data: dataset(overrides) } };
}

const batch = { target: null, ids: ["ds_abc123"], reason: REASON };

describe("subworkflow kind", () => {
  it("accepts ds_ followed by letters, digits, _ and - only", () => {
    const reason = "must be a Subworkflow dataset id (ds_…)";
    for (const id of ["ds_a", "ds_abc123", "ds_A-b_9", "ds__"]) expect(subworkflow.validateId(id)).toBeNull();
    for (const id of [
      "",
      "ds_",
      "ds",
      "DS_abc",
      "abc",
      "xds_abc",
      "ds_a/../b",
      "ds_a?x=1",
      "ds_a b",
      "ds_é",
    ]) {
      expect(subworkflow.validateId(id), id).toBe(reason);
    }
  });

  it("has no target, cap 1, 1 request at a time at 1 a second, sync completion and the public base URL", () => {
    expect(subworkflow.kind).toBe("subworkflow");
    expect(subworkflow.targetFields).toEqual([]);
    expect(subworkflow.targetSchema).toBeNull();
    expect(subworkflow.targetName({})).toBeNull();
    expect(subworkflow.maxBatchSize).toBe(1);
    expect(subworkflow.defaultBatchSize).toBeUndefined();
    expect(subworkflow.defaults).toEqual({ concurrency: 1, requestsPerSecond: 1 });
    expect(subworkflow.configShape).toEqual({});
    expect(subworkflow.asyncJobs).toBe(false);
    expect(subworkflow.defaultBaseUrl).toBe("https://api.subworkflow.ai");
  });

  it("says in its description and notes that datasets are marked now and purged on Subworkflow's schedule", () => {
    expect(subworkflow.description).toContain("marks it for deletion");
    expect(subworkflow.description).toContain("twice a day");
    expect(subworkflow.notes[0]).toContain("purge, which runs on Subworkflow's schedule (twice a day)");
    expect(subworkflow.notes[1]).toContain("expiresAt");
  });

  it("authenticates with x-api-key only", () => {
    expect(subworkflow.headers(backendConfig("http://x"))).toEqual({ "x-api-key": API_KEY });
  });
});

describe("sendBatch request", () => {
  it("sends DELETE /v1/datasets/{id} with x-api-key and no body", async () => {
    const { server, client } = await against(marked({ expiresAt: Date.now() }));
    await client.sendBatch(batch);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("DELETE");
    expect(request?.path).toBe("/v1/datasets/ds_abc123");
    expect(request?.headers["x-api-key"]).toBe(API_KEY);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers["content-type"]).toBeUndefined();
    expect(request?.body).toBe("");
  });

  it("escapes the id into one path segment", async () => {
    const { server, client } = await against({ status: 404, body: { success: false, error: "Not found" } });
    await client.sendBatch({ ...batch, ids: ["ds_x/../../v1/workspaces?a=b c"] });
    expect(server.requests[0]?.path).toBe("/v1/datasets/ds_x%2F..%2F..%2Fv1%2Fworkspaces%3Fa%3Db%20c");
  });

  it("refuses a batch that is not exactly one id without sending anything", async () => {
    const { server, client } = await against(marked());
    expect(await client.sendBatch({ ...batch, ids: ["ds_a", "ds_b"] })).toEqual({
      type: "failed",
      error: "Subworkflow deletes one dataset per request, got 2",
    });
    expect(await client.sendBatch({ ...batch, ids: [] })).toEqual({
      type: "failed",
      error: "Subworkflow deletes one dataset per request, got 0",
    });
    expect(server.requests).toHaveLength(0);
  });
});

describe("sendBatch response mapping", () => {
  it("maps 200 with an expiresAt now or past to one deleted, recording expiresAt", async () => {
    const expiresAt = Date.now() - 5;
    const { client } = await against(marked({ expiresAt }));
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 1,
      notFound: 0,
      failed: [],
      httpStatus: 200,
      reference: `expiresAt=${new Date(expiresAt).toISOString()}`,
    });
  });

  it("maps 200 for an already-marked dataset (an old expiresAt) to deleted", async () => {
    const { client } = await against(marked({ expiresAt: 1_735_776_000_000 }));
    expect(await client.sendBatch(batch)).toMatchObject({
      type: "completed",
      deleted: 1,
      reference: "expiresAt=2025-01-02T00:00:00.000Z",
    });
  });

  it("tolerates a backend clock slightly ahead of ours", async () => {
    const { client } = await against(marked({ expiresAt: Date.now() + CLOCK_SKEW_MS - 5_000 }));
    expect((await client.sendBatch(batch)).type).toBe("completed");
  });

  it("retries a 200 whose expiresAt is in the future: the dataset is not confirmed marked", async () => {
    const expiresAt = Date.now() + 3_600_000;
    const { client } = await against(marked({ expiresAt }));
    expect(await client.sendBatch(batch)).toEqual({
      type: "retry",
      error: `HTTP 200 with data.expiresAt ${new Date(expiresAt).toISOString()} in the future: Subworkflow did not confirm that ds_abc123 is marked for deletion`,
      httpStatus: 200,
    });
  });

  it("retries a 200 without expiresAt, with a null or text expiresAt, without data, without success, or for another id", async () => {
    const cases: [unknown, string][] = [
      [
        { success: true, total: 1, data: dataset({ expiresAt: undefined }) },
        "without a numeric data.expiresAt",
      ],
      [{ success: true, total: 1, data: dataset({ expiresAt: null }) }, "without a numeric data.expiresAt"],
      [
        { success: true, total: 1, data: dataset({ expiresAt: "1735776000000" }) },
        "without a numeric data.expiresAt",
      ],
      [{ success: true, total: 0 }, "without data"],
      [{ success: false, error: "nope" }, 'without "success": true'],
      ["ok", 'without "success": true'],
      [
        { success: true, total: 1, data: dataset({ id: "ds_other", expiresAt: 1 }) },
        "for another dataset (ds_other)",
      ],
    ];
    for (const [body, why] of cases) {
      const { client } = await against({ status: 200, body });
      expect(await client.sendBatch(batch), why).toEqual({
        type: "retry",
        error: `HTTP 200 ${why}: Subworkflow did not confirm that ds_abc123 is marked for deletion`,
        httpStatus: 200,
      });
    }
  });

  it("maps 404 with Subworkflow's error body to not found", async () => {
    const { client } = await against({ status: 404, body: { success: false, error: "Dataset not found" } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 0,
      notFound: 1,
      failed: [],
      httpStatus: 404,
    });
  });

  it("fails a 404 that is not Subworkflow's answer instead of counting it not found", async () => {
    const { client } = await against({ status: 404, body: "<html>Not Found</html>" });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 404: <html>Not Found</html> (not Subworkflow's error body: is baseUrl right?)",
      httpStatus: 404,
    });
  });

  it("fails a 400 with the backend's error text", async () => {
    const { client } = await against({ status: 400, body: { success: false, error: "dataset is locked" } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 400: dataset is locked",
      httpStatus: 400,
    });
  });

  it("fails a 401 saying the key is missing, wrong or revoked, with the key redacted", async () => {
    const { client } = await against({
      status: 401,
      body: { success: false, error: `API key ${API_KEY} is not valid` },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 401: API key [redacted] is not valid (the API key is missing, wrong or revoked)",
      httpStatus: 401,
    });
  });

  it("fails other client errors with the backend's text", async () => {
    const { client } = await against({ status: 403, body: { success: false, error: "Forbidden" } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 403: Forbidden",
      httpStatus: 403,
    });
  });

  it("retries 429 without Retry-After, and 429/503 with it", async () => {
    const bare = await against({ status: 429, body: { success: false, error: "Rate limit exceeded" } });
    expect(await bare.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 429: Rate limit exceeded",
      retryAfterMs: undefined,
      httpStatus: 429,
    });
    for (const status of [429, 503]) {
      const { client } = await against({
        status,
        headers: { "retry-after": "3" },
        body: { success: false, error: "busy" },
      });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status}: busy`,
        retryAfterMs: 3000,
        httpStatus: status,
      });
    }
  });

  it("retries 500 and 502", async () => {
    for (const status of [500, 502]) {
      const { client } = await against({ status, body: "Bad Gateway" });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status}: Bad Gateway`,
        retryAfterMs: undefined,
        httpStatus: status,
      });
    }
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

describe("readItems (preview)", () => {
  const read = { target: null, ids: ["ds_abc123"], reason: REASON };
  const live = (overrides: Record<string, unknown> = {}) => marked({ expiresAt: null, ...overrides });

  it("reads one dataset per request", () => {
    expect(subworkflow.read?.maxIdsPerRequest).toBe(1);
    expect(subworkflow.read?.supports(null)).toBe(true);
  });

  it("GETs /v1/datasets/{id} with x-api-key, no body, no query", async () => {
    const { server, client } = await against(live());
    await client.readItems?.(read);
    expect(server.requests.map((request) => [request.method, request.path, request.body])).toEqual([
      ["GET", "/v1/datasets/ds_abc123", ""],
    ]);
    expect(server.requests[0]?.headers["x-api-key"]).toBe(API_KEY);
  });

  it("maps a dataset without expiry, or one expiring later, to found with name, type, items and size; updatedAt is its version", async () => {
    for (const expiresAt of [null, Date.now() + 3_600_000]) {
      const { client } = await against(live({ expiresAt, fileName: "contract" }));
      expect(await client.readItems?.(read)).toEqual({
        type: "read",
        httpStatus: 200,
        items: [
          {
            id: "ds_abc123",
            state: "found",
            summary: "contract.pdf, doc, 12 items, 48213 bytes",
            version: "1735776000000",
          },
        ],
      });
    }
    // A name that already ends in its extension is not given it twice; a long one is cut to 80 characters.
    const named = await against(live({ fileName: `${"n".repeat(100)}.pdf` }));
    const outcome = await named.client.readItems?.(read);
    expect(outcome).toMatchObject({ items: [{ summary: `${"n".repeat(80)}, doc, 12 items, 48213 bytes` }] });
  });

  it("maps a marked dataset (expiresAt ≤ now, within the clock skew) to already deleted, and 404 to not found", async () => {
    for (const expiresAt of [1_735_776_000_000, Date.now() + CLOCK_SKEW_MS / 2]) {
      const { client } = await against(marked({ expiresAt }));
      expect(await client.readItems?.(read)).toEqual({
        type: "read",
        httpStatus: 200,
        items: [{ id: "ds_abc123", state: "already_deleted", summary: null, version: null }],
      });
    }
    const { client } = await against({ status: 404, body: { success: false, error: "Dataset not found" } });
    expect(await client.readItems?.(read)).toEqual({
      type: "read",
      httpStatus: 404,
      items: [{ id: "ds_abc123", state: "not_found", summary: null, version: null }],
    });
  });

  it("asks again for a 200 outside the contract; fails a 404 that is not Subworkflow's", async () => {
    const bodies: [unknown, string][] = [
      [{ success: true }, 'without "success": true and data'],
      [{ success: false, data: dataset() }, 'without "success": true and data'],
      [{ success: true, data: dataset({ id: "ds_other" }) }, "for another dataset"],
      [{ success: true, data: dataset({ expiresAt: "soon" }) }, "without a numeric or null data.expiresAt"],
    ];
    for (const [body, why] of bodies) {
      const { client } = await against({ status: 200, body });
      expect(await client.readItems?.(read), why).toEqual({
        type: "retry",
        error: `HTTP 200 ${why}: outside the Subworkflow read contract`,
        httpStatus: 200,
      });
    }
    const proxy = await against({ status: 404, body: "<html>Not Found</html>" });
    expect(await proxy.client.readItems?.(read)).toEqual({
      type: "failed",
      error: "HTTP 404: <html>Not Found</html> (not Subworkflow's error body: is baseUrl right?)",
      httpStatus: 404,
    });
  });

  it("retries 429 and 5xx, fails 401 saying what it means", async () => {
    const limited = await against({
      status: 429,
      headers: { "retry-after": "5" },
      body: { success: false, error: "Rate limit exceeded" },
    });
    expect(await limited.client.readItems?.(read)).toEqual({
      type: "retry",
      error: "HTTP 429: Rate limit exceeded",
      retryAfterMs: 5000,
      httpStatus: 429,
    });
    const down = await against({ status: 503, body: { success: false, error: "down" } });
    expect(await down.client.readItems?.(read)).toMatchObject({ type: "retry", httpStatus: 503 });
    const denied = await against({ status: 401, body: { success: false, error: "Invalid API key" } });
    expect(await denied.client.readItems?.(read)).toEqual({
      type: "failed",
      error: "HTTP 401: Invalid API key (the API key is missing, wrong or revoked)",
      httpStatus: 401,
    });
  });

  it("refuses two ids without a request, and retries a refused connection", async () => {
    const { server, client } = await against(live());
    expect(await client.readItems?.({ ...read, ids: ["ds_a", "ds_b"] })).toEqual({
      type: "failed",
      error: "Subworkflow reads one id per request, got 2",
    });
    expect(server.requests).toHaveLength(0);
    const refused = connect(backendConfig(await refusingUrl()));
    expect(await refused.readItems?.(read)).toMatchObject({ type: "retry" });
  });
});
