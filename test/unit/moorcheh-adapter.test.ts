// The Moorcheh adapter: the request it builds and how it maps each answer (shared/backends/moorcheh.md).
import { describe, expect, it } from "vitest";
import { moorcheh, UNPROCESSED_ERROR } from "../../src/backends/moorcheh.js";
import type { BatchRequest } from "../../src/backends/types.js";
import { type BackendConfig, parseConfig } from "../../src/config.js";
import { adapterHarness } from "./adapter-harness.js";
import { splendorBackend } from "./fixtures.js";
import { type CannedResponse, refusingUrl } from "./recording-server.js";

const API_KEY = "moorcheh-key-5c1e8d0a";
const REASON = "GDPR erasure request #4411";

function backendConfig(baseUrl: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return splendorBackend({
    name: "moorcheh-prod",
    kind: "moorcheh",
    baseUrl,
    credentialEnv: "MOORCHEH_API_KEY",
    credential: API_KEY,
    batchSize: 1000,
    timeoutMs: 2000,
    options: {},
    ...overrides,
  });
}

const { connect, against } = adapterHarness((url, overrides) => backendConfig(`${url}/v1`, overrides));

/** A server answering `answer` to every request, and an adapter client pointed at its /v1 base. */

const batch: BatchRequest = {
  target: { namespace: "kb-prod", type: "documents" },
  ids: ["d1", "d2", "d3", "d4"],
  reason: REASON,
};

function success(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    status: "success",
    message: "Successfully processed documents deletion. Requested: 4, Actually deleted: 3",
    requested_deletions: 4,
    actual_deletions: 3,
    remaining_items: 96,
    requested_ids: ["d1", "d2", "d3", "d4"],
    ...overrides,
  };
}

function partial(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    status: "partial",
    message: "Partially processed documents deletion. Requested: 4, Actually deleted: 1, Unprocessed: 2",
    requested_deletions: 4,
    actual_deletions: 1,
    remaining_items: 98,
    requested_ids: ["d1", "d2", "d3", "d4"],
    unprocessed_ids: ["d2", "d4"],
    ...overrides,
  };
}

describe("moorcheh kind", () => {
  it("accepts any non-empty id", () => {
    expect(moorcheh.validateId("")).toBe("must not be empty");
    expect(moorcheh.validateId("a")).toBeNull();
    expect(moorcheh.validateId("42")).toBeNull();
    expect(moorcheh.validateId("x".repeat(10_000))).toBeNull();
    expect(moorcheh.validateId("doc with spaces/and ünïcode 🙂")).toBeNull();
  });

  it("takes a target of exactly { namespace, type } with type documents or vectors", () => {
    const schema = moorcheh.targetSchema;
    expect(schema).not.toBeNull();
    expect(schema?.safeParse({ namespace: "kb-prod", type: "documents" }).success).toBe(true);
    expect(schema?.safeParse({ namespace: "kb-prod", type: "vectors" }).success).toBe(true);
    expect(schema?.safeParse({ namespace: "kb-prod", type: "items" }).success).toBe(false);
    expect(schema?.safeParse({ namespace: "kb-prod" }).success).toBe(false);
    expect(schema?.safeParse({ type: "documents" }).success).toBe(false);
    expect(schema?.safeParse({ namespace: "", type: "documents" }).success).toBe(false);
    expect(schema?.safeParse({ namespace: 7, type: "documents" }).success).toBe(false);
    expect(schema?.safeParse({ namespace: "kb", type: "documents", extra: 1 }).success).toBe(false);
    expect(moorcheh.targetFields).toEqual(["namespace", "type"]);
    expect(moorcheh.targetName({ namespace: "kb-prod", type: "vectors" })).toBe("kb-prod");
  });

  it("has the documented cap, defaults, base URL and synchronous completion", () => {
    expect(moorcheh.kind).toBe("moorcheh");
    expect(moorcheh.maxBatchSize).toBe(1000);
    expect(moorcheh.defaultBatchSize).toBeUndefined();
    expect(moorcheh.defaults).toEqual({ concurrency: 4, requestsPerSecond: 10 });
    expect(moorcheh.defaultBaseUrl).toBe("https://api.moorcheh.ai/v1");
    expect(moorcheh.asyncJobs).toBe(false);
    expect(moorcheh.configShape).toEqual({});
    expect(moorcheh.notes).toHaveLength(4);
    expect(moorcheh.notes.join(" ")).toMatch(/permanently/);
    expect(moorcheh.notes.join(" ")).toMatch(/not_found is a count/);
    expect(moorcheh.notes.join(" ")).toMatch(/unprocessed \(HTTP 207\)/);
  });

  it("sends the API key as x-api-key and nothing else", () => {
    expect(moorcheh.headers(backendConfig("http://x"))).toEqual({ "x-api-key": API_KEY });
  });

  it("loads from a config with the kind's defaults; maxBatchSize may lower the cap, never raise it", () => {
    const env = { MOORCHEH_API_KEY: API_KEY };
    const config = parseConfig(
      { backends: { kb: { kind: "moorcheh", credentialEnv: "MOORCHEH_API_KEY", allowTargets: ["kb-*"] } } },
      env,
    );
    expect(config.backends.kb).toMatchObject({
      baseUrl: "https://api.moorcheh.ai/v1",
      batchSize: 1000,
      concurrency: 4,
      requestsPerSecond: 10,
      options: {},
    });
    const lowered = parseConfig(
      { backends: { kb: { kind: "moorcheh", credentialEnv: "MOORCHEH_API_KEY", maxBatchSize: 250 } } },
      env,
    );
    expect(lowered.backends.kb?.batchSize).toBe(250);
    expect(() =>
      parseConfig(
        { backends: { kb: { kind: "moorcheh", credentialEnv: "MOORCHEH_API_KEY", maxBatchSize: 1001 } } },
        env,
      ),
    ).toThrow("backends.kb.maxBatchSize: must be ≤ 1000");
    expect(() =>
      parseConfig(
        { backends: { kb: { kind: "moorcheh", credentialEnv: "MOORCHEH_API_KEY", tenantId: "x" } } },
        env,
      ),
    ).toThrow("backends.kb.tenantId: unknown key");
  });
});

describe("sendBatch request", () => {
  it("POSTs {ids} to {base}/namespaces/{namespace}/documents/delete with x-api-key, no reason", async () => {
    const { server, client } = await against({ status: 200, body: success() });
    await client.sendBatch(batch);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/namespaces/kb-prod/documents/delete");
    expect(request?.headers["x-api-key"]).toBe(API_KEY);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual({ ids: ["d1", "d2", "d3", "d4"] });
  });

  it("uses the vectors path for type vectors and escapes the namespace", async () => {
    const { server, client } = await against({ status: 200, body: success() });
    await client.sendBatch({ ...batch, target: { namespace: "kb-prod", type: "vectors" } });
    await client.sendBatch({ ...batch, target: { namespace: "team a/../b?x#y", type: "documents" } });
    expect(server.requests.map((request) => request.path)).toEqual([
      "/v1/namespaces/kb-prod/vectors/delete",
      "/v1/namespaces/team%20a%2F..%2Fb%3Fx%23y/documents/delete",
    ]);
  });
});

describe("sendBatch response mapping", () => {
  it("maps 200 to completed: actual_deletions deleted, the rest not found", async () => {
    const { client } = await against({ status: 200, body: success() });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 3,
      notFound: 1,
      failed: [],
      httpStatus: 200,
      reference: "requested 4, deleted 3, not found 1, remaining_items 96",
    });
  });

  it("maps 200 with every id deleted, and with none found", async () => {
    const all = await against({ status: 200, body: success({ actual_deletions: 4, remaining_items: 0 }) });
    expect(await all.client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 4,
      notFound: 0,
      failed: [],
      httpStatus: 200,
      reference: "requested 4, deleted 4, not found 0, remaining_items 0",
    });
    const none = await against({ status: 200, body: success({ actual_deletions: 0 }) });
    expect(await none.client.sendBatch(batch)).toMatchObject({ type: "completed", deleted: 0, notFound: 4 });
  });

  it("does without remaining_items in the reference when it is absent", async () => {
    const { client } = await against({ status: 200, body: success({ remaining_items: undefined }) });
    expect(await client.sendBatch(batch)).toMatchObject({
      type: "completed",
      reference: "requested 4, deleted 3, not found 1",
    });
  });

  it("maps 207 to completed with the unprocessed ids to retry as a new attempt", async () => {
    const { client } = await against({ status: 207, body: partial() });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 1,
      notFound: 1,
      failed: [],
      retryIds: { ids: ["d2", "d4"], error: UNPROCESSED_ERROR, countsAsAttempt: true },
      httpStatus: 207,
      reference: "requested 4, deleted 1, not found 1, unprocessed 2, remaining_items 98",
    });
    expect(UNPROCESSED_ERROR).toBe("unprocessed by Moorcheh (HTTP 207)");
  });

  it("maps 207 where every id is unprocessed, and a number echoed back as its string", async () => {
    const { client } = await against({
      status: 207,
      body: partial({ actual_deletions: 0, unprocessed_ids: ["d1", "d2", "d3", 4] }),
    });
    const numeric: BatchRequest = { ...batch, ids: ["d1", "d2", "d3", "4"] };
    expect(await client.sendBatch(numeric)).toMatchObject({
      type: "completed",
      deleted: 0,
      notFound: 0,
      retryIds: { ids: ["d1", "d2", "d3", "4"], error: UNPROCESSED_ERROR, countsAsAttempt: true },
    });
  });

  it("maps 207 with an empty unprocessed_ids to a plain completion", async () => {
    const { client } = await against({
      status: 207,
      body: partial({ actual_deletions: 4, unprocessed_ids: [] }),
    });
    const outcome = await client.sendBatch(batch);
    expect(outcome).toMatchObject({ type: "completed", deleted: 4, notFound: 0, httpStatus: 207 });
    expect(outcome).not.toHaveProperty("retryIds");
  });

  it("retries 200/207 bodies that break the contract, counting nothing", async () => {
    const cases: [CannedResponse, string][] = [
      [{ status: 200, body: "OK" }, "HTTP 200 outside the Moorcheh contract: the body is not a JSON object"],
      [
        { status: 200, body: success({ actual_deletions: "3" }) },
        "HTTP 200 outside the Moorcheh contract: requested_deletions/actual_deletions missing or not counts",
      ],
      [
        { status: 200, body: success({ requested_deletions: 3 }) },
        "HTTP 200 outside the Moorcheh contract: requested_deletions is 3 for 4 ids sent",
      ],
      [
        { status: 200, body: success({ actual_deletions: 5 }) },
        "HTTP 200 outside the Moorcheh contract: actual_deletions 5 plus 0 unprocessed exceeds the 4 requested",
      ],
      [
        { status: 207, body: partial({ unprocessed_ids: undefined }) },
        "HTTP 207 outside the Moorcheh contract: unprocessed_ids missing",
      ],
      [
        { status: 207, body: partial({ unprocessed_ids: "d2" }) },
        "HTTP 207 outside the Moorcheh contract: unprocessed_ids is not a list",
      ],
      [
        { status: 207, body: partial({ unprocessed_ids: ["d2", "zz"] }) },
        "HTTP 207 outside the Moorcheh contract: unprocessed_ids names ids that were not sent",
      ],
      [
        { status: 207, body: partial({ actual_deletions: 3 }) },
        "HTTP 207 outside the Moorcheh contract: actual_deletions 3 plus 2 unprocessed exceeds the 4 requested",
      ],
    ];
    for (const [answer, error] of cases) {
      const { client } = await against(answer);
      expect(await client.sendBatch(batch)).toEqual({ type: "retry", error, httpStatus: answer.status });
    }
  });

  it("retries 429 after the Retry-After delay", async () => {
    const { client } = await against({
      status: 429,
      headers: { "retry-after": "3" },
      body: { message: "Too Many Requests" },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 429: Too Many Requests",
      retryAfterMs: 3000,
      httpStatus: 429,
    });
  });

  it("retries 500, 502 and 503, reading message, detail or error", async () => {
    const cases: [number, Record<string, unknown>, string][] = [
      [500, { message: "Internal server error" }, "HTTP 500: Internal server error"],
      [502, { detail: "Bad gateway" }, "HTTP 502: Bad gateway"],
      [503, { error: "Unavailable" }, "HTTP 503: Unavailable"],
    ];
    for (const [status, body, error] of cases) {
      const { client } = await against({ status, body });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error,
        retryAfterMs: undefined,
        httpStatus: status,
      });
    }
  });

  it("fails 401, 403 and 404 at once, saying what they mean", async () => {
    const cases: [number, Record<string, unknown>, string][] = [
      [401, { message: "Invalid API key" }, "HTTP 401: Invalid API key (API key missing or invalid)"],
      [403, { detail: "Forbidden" }, "HTTP 403: Forbidden (API key not allowed to do this)"],
      [
        404,
        { message: "Namespace 'kb-prod' not found" },
        "HTTP 404: Namespace 'kb-prod' not found (namespace not found or not yours)",
      ],
    ];
    for (const [status, body, error] of cases) {
      const { client } = await against({ status, body });
      expect(await client.sendBatch(batch)).toEqual({ type: "failed", error, httpStatus: status });
    }
  });

  it("fails an undocumented client error (400) with the backend's text, and a 404 without a body", async () => {
    const bad = await against({ status: 400, body: { message: "ids must contain 1..1000 items, got 1001" } });
    expect(await bad.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 400: ids must contain 1..1000 items, got 1001",
      httpStatus: 400,
    });
    const bare = await against({ status: 404 });
    expect(await bare.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 404 (namespace not found or not yours)",
      httpStatus: 404,
    });
  });

  it("retries a status the contract does not define (204, 302)", async () => {
    for (const status of [204, 302]) {
      const { client } = await against({ status });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status} (not an answer the Moorcheh contract defines)`,
        httpStatus: status,
      });
    }
  });

  it("never puts the API key into an error, even when the backend echoes it", async () => {
    const { client } = await against({ status: 401, body: { message: `key ${API_KEY} is revoked` } });
    expect(await client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 401: key [redacted] is revoked (API key missing or invalid)",
      httpStatus: 401,
    });
  });

  it("retries a refused connection and a timeout", async () => {
    const refused = connect(backendConfig(`${await refusingUrl()}/v1`));
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
  const read = {
    target: { namespace: "kb prod", type: "documents" },
    ids: ["d1", "d2", "7"],
    reason: REASON,
  };
  const found = (items: unknown[], status = 200): CannedResponse => ({
    status,
    body: { requested_ids: read.ids, found_items: items.length, items },
  });
  const long = "Ä".repeat(50) + "😀".repeat(50);

  it("reads up to 100 documents per request; vectors have no read", () => {
    expect(moorcheh.read?.maxIdsPerRequest).toBe(100);
    expect(moorcheh.read?.supports({ namespace: "kb", type: "documents" })).toBe(true);
    expect(moorcheh.read?.supports({ namespace: "kb", type: "vectors" })).toBe(false);
  });

  it("POSTs {ids} to {base}/namespaces/{namespace}/documents/get with x-api-key, no reason", async () => {
    const { server, client } = await against(found([]));
    await client.readItems?.(read);
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/namespaces/kb%20prod/documents/get");
    expect(request?.headers["x-api-key"]).toBe(API_KEY);
    expect(JSON.parse(request?.body ?? "")).toEqual({ ids: read.ids });
  });

  it("maps items to found (the text's first 80 characters, a digest of text and metadata), the rest to not found; 207 alike", async () => {
    const items = [
      { id: "d1", text: long, metadata: { lang: "de" } },
      { id: 7, text: "short", metadata: null },
    ];
    for (const status of [200, 207]) {
      const { client } = await against(found(items, status));
      const outcome = await client.readItems?.(read);
      expect(outcome).toMatchObject({
        type: "read",
        httpStatus: status,
        items: [
          { id: "d1", state: "found", summary: Array.from(long).slice(0, 80).join("") },
          { id: "d2", state: "not_found", summary: null, version: null },
          { id: "7", state: "found", summary: "short" },
        ],
      });
      const versions = outcome?.type === "read" ? outcome.items.map((item) => item.version) : [];
      expect(versions[0]).toMatch(/^[0-9a-f]{16}$/);
      expect(versions[2]).toMatch(/^[0-9a-f]{16}$/);
      expect(versions[0]).not.toBe(versions[2]);
    }
  });

  it("a change of metadata alone changes the version", async () => {
    const versionOf = async (metadata: unknown) => {
      const { client } = await against(found([{ id: "d1", text: "same", metadata }]));
      const outcome = await client.readItems?.({ ...read, ids: ["d1"] });
      return outcome?.type === "read" ? outcome.items[0]?.version : undefined;
    };
    expect(await versionOf({ v: 1 })).not.toBe(await versionOf({ v: 2 }));
  });

  it("asks again for a 200/207 outside the contract: no items list, an id not asked for or twice, no text, a wrong count", async () => {
    const bodies: [unknown, string][] = [
      [["d1"], "the body is not a JSON object"],
      [{ found_items: 0 }, "items is not a list"],
      [{ items: [{ id: "other", text: "x" }] }, "an item names an id that was not asked for"],
      [
        {
          items: [
            { id: "d1", text: "x" },
            { id: "d1", text: "x" },
          ],
        },
        "an item is listed twice",
      ],
      [{ items: [{ id: "d1", text: 5 }] }, "an item without a string text"],
      [{ found_items: 2, items: [{ id: "d1", text: "x" }] }, "found_items differs from the items listed"],
    ];
    for (const [body, why] of bodies) {
      const { client } = await against({ status: 207, body });
      expect(await client.readItems?.(read), why).toEqual({
        type: "retry",
        error: `HTTP 207 outside the Moorcheh read contract: ${why}`,
        httpStatus: 207,
      });
    }
  });

  it("retries 429 after Retry-After, fails 401 and 404 saying what they mean", async () => {
    const limited = await against({
      status: 429,
      headers: { "retry-after": "60" },
      body: { message: "Too Many Requests" },
    });
    expect(await limited.client.readItems?.(read)).toEqual({
      type: "retry",
      error: "HTTP 429: Too Many Requests",
      retryAfterMs: 60_000,
      httpStatus: 429,
    });
    const denied = await against({ status: 401, body: { message: "Invalid API key" } });
    expect(await denied.client.readItems?.(read)).toEqual({
      type: "failed",
      error: "HTTP 401: Invalid API key (API key missing or invalid)",
      httpStatus: 401,
    });
    const gone = await against({ status: 404, body: { message: "Namespace 'kb prod' not found" } });
    expect(await gone.client.readItems?.(read)).toMatchObject({
      type: "failed",
      error: expect.stringContaining("namespace not found or not yours"),
    });
  });

  it("reads no vectors and no more than 100 ids: failed without a request", async () => {
    const { server, client } = await against(found([]));
    expect(await client.readItems?.({ ...read, target: { namespace: "kb", type: "vectors" } })).toEqual({
      type: "failed",
      error: "Moorcheh reads documents only, not vectors",
    });
    expect(
      await client.readItems?.({ ...read, ids: Array.from({ length: 101 }, (_, index) => `d${index}`) }),
    ).toMatchObject({ type: "failed" });
    expect(server.requests).toHaveLength(0);
    const refused = connect(backendConfig(`${await refusingUrl()}/v1`));
    expect(await refused.readItems?.(read)).toMatchObject({ type: "retry" });
  });
});
