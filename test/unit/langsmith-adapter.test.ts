// The LangSmith adapter: the request it builds and how it maps each answer (shared/backends/langsmith.md).
import { describe, expect, it } from "vitest";
import { langsmith } from "../../src/backends/langsmith.js";
import type { BackendConfig } from "../../src/config.js";
import { adapterHarness } from "./adapter-harness.js";
import { splendorBackend } from "./fixtures.js";
import { refusingUrl } from "./recording-server.js";

const KEY = "lsv2_pt_4f1c9e2ab7d34c1e";
const TENANT = "0b6a5c1e-9d3f-4e2a-8c7b-1f2e3d4c5b6a";
const IDS = [
  "6f1e2d3c-4b5a-4968-8776-655443322110",
  "A1B2C3D4-E5F6-4789-8ABC-DEF012345678",
  "00000000-0000-0000-0000-000000000000",
];
const batch = { target: null, ids: IDS, reason: "GDPR erasure request #4411" };

function backendConfig(baseUrl: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return splendorBackend({
    name: "langsmith-prod",
    kind: "langsmith",
    baseUrl,
    credentialEnv: "LANGSMITH_API_KEY",
    credential: KEY,
    batchSize: 1000,
    timeoutMs: 2000,
    options: { tenantId: undefined },
    ...overrides,
  });
}

const { connect, against } = adapterHarness((url, overrides) => backendConfig(url, overrides));

describe("langsmith kind", () => {
  it("accepts canonical UUIDs of any version and case, and nothing else", () => {
    for (const id of [
      ...IDS,
      "6f1e2d3c-4b5a-1968-8776-655443322110",
      "6f1e2d3c-4b5a-7968-c776-655443322110",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ]) {
      expect(langsmith.validateId(id)).toBeNull();
    }
    for (const id of [
      "6f1e2d3c4b5a49688776655443322110",
      "{6f1e2d3c-4b5a-4968-8776-655443322110}",
      "urn:uuid:6f1e2d3c-4b5a-4968-8776-655443322110",
      "6f1e2d3c-4b5a-4968-8776-65544332211",
      "6f1e2d3c-4b5a-4968-8776-6554433221100",
      "6f1e2d3c-4b5a-4968-8776-65544332211g",
      "6f1e2d3c-4b5a-4968-8776_655443322110",
      "6f1e2d3c-4b5a-4968-8776-655443322110\n",
      "example-1",
      "42",
    ]) {
      expect(langsmith.validateId(id)).toBe("must be a UUID");
    }
  });

  it("takes no target: allowTargets does not apply", () => {
    expect(langsmith.targetFields).toEqual([]);
    expect(langsmith.targetSchema).toBeNull();
    expect(langsmith.targetName({})).toBeNull();
  });

  it("has the documented base URL, cap, defaults, tenantId option and sync completion", () => {
    expect(langsmith.kind).toBe("langsmith");
    expect(langsmith.defaultBaseUrl).toBe("https://api.smith.langchain.com");
    expect(langsmith.maxBatchSize).toBe(1000);
    expect(langsmith.defaultBatchSize).toBeUndefined();
    expect(langsmith.defaults).toEqual({ concurrency: 4, requestsPerSecond: 10 });
    expect(langsmith.asyncJobs).toBe(false);
    expect(Object.keys(langsmith.configShape)).toEqual(["tenantId"]);
    const tenantId = langsmith.configShape.tenantId;
    expect(tenantId?.safeParse(undefined).success).toBe(true);
    expect(tenantId?.safeParse(TENANT).success).toBe(true);
    expect(tenantId?.safeParse("").success).toBe(false);
    expect(tenantId?.safeParse(7).success).toBe(false);
  });

  it("carries the 7-day attachment note and what is kept", () => {
    expect(langsmith.notes).toEqual([
      "LangSmith hard delete removes every version of each example: inputs, outputs and metadata are nulled at once, but attachment files can take up to 7 days to be deleted.",
      "The example id, dataset id and creation time are kept; ids LangSmith did not delete (unknown, already deleted or in another workspace) are counted as not found.",
    ]);
    expect(langsmith.description).toContain("dataset examples");
  });

  it("sends X-API-Key, and X-Tenant-Id only when tenantId is configured", () => {
    expect(langsmith.headers(backendConfig("http://x"))).toEqual({ "x-api-key": KEY });
    expect(langsmith.headers(backendConfig("http://x", { options: {} }))).toEqual({ "x-api-key": KEY });
    expect(langsmith.headers(backendConfig("http://x", { options: { tenantId: TENANT } }))).toEqual({
      "x-api-key": KEY,
      "x-tenant-id": TENANT,
    });
  });
});

describe("sendBatch request", () => {
  it("POSTs exactly example_ids and hard_delete: true, with the key and without a tenant header", async () => {
    const { server, client } = await against({ status: 200, body: { count: 3, example_ids: IDS } });
    await client.sendBatch(batch);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/platform/datasets/examples/delete");
    expect(request?.headers["x-api-key"]).toBe(KEY);
    expect(request?.headers["x-tenant-id"]).toBeUndefined();
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers.accept).toBe("application/json");
    // The reason is not part of LangSmith's contract, so it is not sent.
    expect(JSON.parse(request?.body ?? "")).toEqual({ example_ids: IDS, hard_delete: true });
  });

  it("adds X-Tenant-Id when tenantId is configured", async () => {
    const { server, client } = await against(
      { status: 200, body: { count: 0, example_ids: [] } },
      { options: { tenantId: TENANT } },
    );
    await client.sendBatch(batch);
    expect(server.requests[0]?.headers["x-api-key"]).toBe(KEY);
    expect(server.requests[0]?.headers["x-tenant-id"]).toBe(TENANT);
  });
});

describe("sendBatch response mapping", () => {
  it("maps 200 with count = batch size to all deleted", async () => {
    const { client } = await against({ status: 200, body: { count: 3, example_ids: IDS } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 3,
      notFound: 0,
      failed: [],
      httpStatus: 200,
    });
  });

  it("maps 200 with a lower count to not found for the difference", async () => {
    const { client } = await against({ status: 200, body: { count: 1, example_ids: [IDS[0]] } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 1,
      notFound: 2,
      failed: [],
      httpStatus: 200,
    });
    const none = await against({ status: 200, body: { count: 0, example_ids: [] } });
    expect(await none.client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 0,
      notFound: 3,
      failed: [],
      httpStatus: 200,
    });
  });

  it("retries a 200 that confirms nothing the contract describes", async () => {
    const bodies: unknown[] = [
      { count: 4, example_ids: IDS },
      { count: -1, example_ids: [] },
      { count: 1.5, example_ids: [] },
      { count: "3", example_ids: IDS },
      { example_ids: IDS },
      { count: 3 },
      { count: 3, example_ids: "all" },
      [3],
      "OK",
      null,
    ];
    for (const body of bodies) {
      const { client } = await against(body === null ? { status: 200 } : { status: 200, body });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: "HTTP 200 without an integer count between 0 and 3 and an example_ids list",
        httpStatus: 200,
      });
    }
  });

  it("retries 429 without Retry-After (backoff) and with it", async () => {
    const plain = await against({ status: 429, body: { error: "Too many requests" } });
    expect(await plain.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 429: Too many requests",
      retryAfterMs: undefined,
      httpStatus: 429,
    });
    const timed = await against({
      status: 429,
      headers: { "retry-after": "3" },
      body: { error: "Too many requests" },
    });
    expect(await timed.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 429: Too many requests",
      retryAfterMs: 3000,
      httpStatus: 429,
    });
  });

  it("retries 500, 502, 503 and 504", async () => {
    for (const status of [500, 502, 503, 504]) {
      const { client } = await against({ status, body: { error: "Internal server error" } });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status}: Internal server error`,
        retryAfterMs: undefined,
        httpStatus: status,
      });
    }
  });

  it("fails 400 and 422 with the envelope's error and details", async () => {
    const bad = await against({
      status: 400,
      body: { error: "Invalid request: malformed body", details: '{"field":"example_ids"}' },
    });
    expect(await bad.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: 'HTTP 400: Invalid request: malformed body (details: {"field":"example_ids"})',
      httpStatus: 400,
    });
    const invalid = await against({
      status: 422,
      body: { error: "Invalid request: example_ids[1] is not a valid UUID" },
    });
    expect(await invalid.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 422: Invalid request: example_ids[1] is not a valid UUID",
      httpStatus: 422,
    });
  });

  it("fails 401, 403 and 404 saying what they mean", async () => {
    const cases: [number, string, string][] = [
      [401, "Unauthorized: invalid API key", "the API key is missing, wrong or revoked"],
      [
        403,
        "Invalid request: this API key cannot access the requested workspace",
        "the API key may not act in this workspace; an org-scoped key needs tenantId",
      ],
      [404, "Invalid request: not found", "LangSmith found no such resource; check baseUrl and tenantId"],
    ];
    for (const [status, error, meaning] of cases) {
      const { client } = await against({ status, body: { error } });
      expect(await client.sendBatch(batch)).toEqual({
        type: "failed",
        error: `HTTP ${status}: ${error} — ${meaning}`,
        httpStatus: status,
      });
    }
  });

  it("fails another 4xx with the status alone when the body has no envelope", async () => {
    const { client } = await against({ status: 409 });
    expect(await client.sendBatch(batch)).toEqual({ type: "failed", error: "HTTP 409", httpStatus: 409 });
  });

  it("never puts the key into an error, even when error or details echo it", async () => {
    const { client } = await against({
      status: 401,
      body: { error: `API key ${KEY} is revoked`, details: JSON.stringify({ key: KEY }) },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error:
        'HTTP 401: API key [redacted] is revoked (details: {"key":"[redacted]"}) — the API key is missing, wrong or revoked',
      httpStatus: 401,
    });
  });

  it("cuts long details to 300 characters", async () => {
    const { client } = await against({
      status: 422,
      body: { error: "Invalid request", details: "d".repeat(400) },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: `HTTP 422: Invalid request (details: ${"d".repeat(300)}…)`,
      httpStatus: 422,
    });
  });

  it("retries statuses outside the contract (204, 301) without counting anything", async () => {
    const empty = await against({ status: 204 });
    expect(await empty.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 204 (not an answer the LangSmith contract documents)",
      httpStatus: 204,
    });
    const moved = await against({ status: 301, headers: { location: "https://eu.example" }, body: "Moved" });
    expect(await moved.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 301: Moved (not an answer the LangSmith contract documents)",
      httpStatus: 301,
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

describe("readItems (preview)", () => {
  const asked = IDS.map((id) => id.toLowerCase());
  const read = { target: null, ids: asked, reason: batch.reason };
  const DATASET = "d5e7a1c0-3b2f-4c6d-9e8f-0a1b2c3d4e5f";
  const example = (id: string, fields: Record<string, unknown> = {}) => ({
    id,
    dataset_id: DATASET,
    inputs: { question: "q".repeat(100) },
    outputs: { answer: "a" },
    metadata: null,
    created_at: "2026-01-01T00:00:00Z",
    modified_at: "2026-02-01T00:00:00Z",
    ...fields,
  });

  it("reads up to 100 ids per request, for any target", () => {
    expect(langsmith.read?.maxIdsPerRequest).toBe(100);
    expect(langsmith.read?.supports(null)).toBe(true);
  });

  it("GETs /api/v1/examples with one id parameter per id, the key, no body and no reason", async () => {
    const { server, client } = await against({ status: 200, body: [] }, { options: { tenantId: TENANT } });
    await client.readItems?.(read);
    const [request] = server.requests;
    expect(request?.method).toBe("GET");
    expect(request?.path).toBe(`/api/v1/examples?${asked.map((id) => `id=${id}`).join("&")}`);
    expect(request?.headers["x-api-key"]).toBe(KEY);
    expect(request?.headers["x-tenant-id"]).toBe(TENANT);
    expect(request?.body).toBe("");
  });

  it("maps examples to found (dataset and the first 80 characters of the inputs' JSON), null inputs and outputs to already deleted, absent ids to not found", async () => {
    const upper = (asked[0] as string).toUpperCase();
    const { client } = await against({
      status: 200,
      body: [example(upper), example(asked[1] as string, { inputs: null, outputs: null })],
    });
    const inputs = JSON.stringify({ question: "q".repeat(100) }).slice(0, 80);
    expect(await client.readItems?.(read)).toEqual({
      type: "read",
      httpStatus: 200,
      items: [
        {
          id: asked[0],
          state: "found",
          summary: `dataset ${DATASET}: ${inputs}`,
          version: "2026-02-01T00:00:00Z",
        },
        { id: asked[1], state: "already_deleted", summary: null, version: null },
        { id: asked[2], state: "not_found", summary: null, version: null },
      ],
    });
  });

  it("an example with null inputs but outputs is found, its summary saying null", async () => {
    const { client } = await against({ status: 200, body: [example(asked[0] as string, { inputs: null })] });
    const outcome = await client.readItems?.({ ...read, ids: [asked[0] as string] });
    expect(outcome).toMatchObject({
      type: "read",
      items: [{ state: "found", summary: `dataset ${DATASET}: null` }],
    });
  });

  it("asks again for a 200 outside the contract: not a list, an id not asked for or twice, no dataset_id", async () => {
    const bodies: [unknown, string][] = [
      [{ examples: [] }, "the body is not a JSON array"],
      ["<html>", "the body is not a JSON array"],
      [[example("6f1e2d3c-0000-4968-8776-655443322110")], "an example that was not asked for"],
      [[example(asked[0] as string), example(asked[0] as string)], "an example listed twice"],
      [[{ id: asked[0] }], "an example without a string dataset_id and inputs"],
      [["x"], "an entry without a string id"],
    ];
    for (const [body, why] of bodies) {
      const { client } = await against({ status: 200, body });
      expect(await client.readItems?.(read), why).toEqual({
        type: "retry",
        error: `HTTP 200 outside the LangSmith read contract: ${why}`,
        httpStatus: 200,
      });
    }
  });

  it("retries 429 (with Retry-After) and 5xx, fails 401 and 403 saying what they mean", async () => {
    const limited = await against({
      status: 429,
      headers: { "retry-after": "4" },
      body: { error: "Too many" },
    });
    expect(await limited.client.readItems?.(read)).toEqual({
      type: "retry",
      error: "HTTP 429: Too many",
      retryAfterMs: 4000,
      httpStatus: 429,
    });
    const down = await against({ status: 502, body: "Bad Gateway" });
    expect(await down.client.readItems?.(read)).toMatchObject({ type: "retry", httpStatus: 502 });
    const denied = await against({ status: 401, body: { error: "Unauthorized: invalid API key" } });
    expect(await denied.client.readItems?.(read)).toEqual({
      type: "failed",
      error: "HTTP 401: Unauthorized: invalid API key — the API key is missing, wrong or revoked",
      httpStatus: 401,
    });
    const forbidden = await against({ status: 403, body: { error: "Invalid request: org-scoped" } });
    expect(await forbidden.client.readItems?.(read)).toMatchObject({ type: "failed", httpStatus: 403 });
  });

  it("retries a refused connection, and refuses no id or more than 100 without a request", async () => {
    const refused = connect(backendConfig(await refusingUrl()));
    expect(await refused.readItems?.(read)).toMatchObject({ type: "retry" });
    const { server, client } = await against({ status: 200, body: [] });
    expect(await client.readItems?.({ ...read, ids: [] })).toMatchObject({ type: "failed" });
    const many = Array.from({ length: 101 }, () => asked[0] as string);
    expect(await client.readItems?.({ ...read, ids: many })).toEqual({
      type: "failed",
      error: "LangSmith reads 1..100 ids per request, got 101",
    });
    expect(server.requests).toHaveLength(0);
  });
});
