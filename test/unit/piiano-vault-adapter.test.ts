// The Piiano Vault adapter: the request it builds and how it maps each answer (shared/backends/piiano-vault.md).
import { describe, expect, it } from "vitest";
import { piianoVault } from "../../src/backends/piiano-vault.js";
import type { BatchRequest } from "../../src/backends/types.js";
import { type BackendConfig, parseConfig } from "../../src/config.js";
import { adapterHarness } from "./adapter-harness.js";
import { refusingUrl } from "./recording-server.js";

const KEY = "pvaultauth-key-5d1c9e";
const REASON = "DSR #88: erase the customer's PII";
const ID1 = "0a6b2c48-5a8f-4d7e-9b1c-2f3e4d5a6b7c";
const ID2 = "1b7c3d59-6b9a-4e8f-8c2d-3a4f5e6b7c8d";
const ID3 = "2c8d4e6a-7cab-4f9a-9d3e-4b5a6f7c8d9e";
const ID4 = "3d9e5f7b-8dbc-4a1b-8e4f-5c6b7a8d9e0f";

function backendConfig(baseUrl: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: "vault-prod",
    kind: "piiano-vault",
    baseUrl,
    credentialEnv: "PIIANO_API_KEY",
    credential: KEY,
    allowTargets: null,
    readOnly: false,
    maxItemsPerJob: 100_000,
    maxItemsPerDay: null,
    minReasonLength: 10,
    batchSize: 1000,
    concurrency: 4,
    requestsPerSecond: 10,
    timeoutMs: 2000,
    maxAttempts: 5,
    confirmation: null,
    preview: { maxChecked: 1_000, staleShare: 0.05 },
    options: { accessReason: "Other", tenantId: undefined },
    ...overrides,
  };
}

const { connect, against } = adapterHarness((url, overrides) => backendConfig(url, overrides));

const batch: BatchRequest = { target: { collection: "customers" }, ids: [ID1, ID2, ID3], reason: REASON };

const okBody = (ids: string[]) => ({ ok: true, results: ids.map((id) => ({ id, ok: true })) });
const notFound = { error_code: "PV3205", message: "The object is not found.", context: {} };

describe("piiano-vault kind", () => {
  it("accepts canonical UUIDs only", () => {
    expect(piianoVault.validateId(ID1)).toBeNull();
    expect(piianoVault.validateId(ID1.toUpperCase())).toBeNull();
    expect(piianoVault.validateId("0a6b2c485a8f4d7e9b1c2f3e4d5a6b7c")).toBe("must be a UUID");
    expect(piianoVault.validateId(`{${ID1}}`)).toBe("must be a UUID");
    expect(piianoVault.validateId(`${ID1}0`)).toBe("must be a UUID");
    expect(piianoVault.validateId("0a6b2c48-5a8f-4d7e-9b1c-2f3e4d5a6b7g")).toBe("must be a UUID");
    expect(piianoVault.validateId("42")).toBe("must be a UUID");
  });

  it("takes a target of exactly { collection, archived? }; allowTargets match the collection", () => {
    const schema = piianoVault.targetSchema;
    expect(schema?.safeParse({ collection: "customers" }).success).toBe(true);
    expect(schema?.safeParse({ collection: "customers", archived: true }).success).toBe(true);
    expect(schema?.safeParse({ collection: "customers", archived: false }).success).toBe(true);
    expect(schema?.safeParse({ collection: "customers", archived: "yes" }).success).toBe(false);
    expect(schema?.safeParse({ collection: "" }).success).toBe(false);
    expect(schema?.safeParse({ archived: true }).success).toBe(false);
    expect(schema?.safeParse({ collection: "customers", tenant: "x" }).success).toBe(false);
    expect(piianoVault.targetFields).toEqual(["collection", "archived"]);
    expect(piianoVault.targetName({ collection: "customers", archived: true })).toBe("customers");
  });

  it("has no default host, a cap of 10000 with batches of 1000 by default, and sync completion", () => {
    expect(piianoVault.kind).toBe("piiano-vault");
    expect(piianoVault.defaultBaseUrl).toBeNull();
    expect(piianoVault.maxBatchSize).toBe(10_000);
    expect(piianoVault.defaultBatchSize).toBe(1000);
    expect(piianoVault.defaults).toEqual({ concurrency: 4, requestsPerSecond: 10 });
    expect(piianoVault.asyncJobs).toBe(false);
    expect(piianoVault.notes.join(" ")).toContain("all-or-nothing");
  });

  it("builds the bearer header, and X-Tenant-Id only when tenantId is configured", () => {
    expect(piianoVault.headers(backendConfig("http://x"))).toEqual({ authorization: `Bearer ${KEY}` });
    expect(
      piianoVault.headers(backendConfig("http://x", { options: { accessReason: "Other", tenantId: "t-9" } })),
    ).toEqual({ authorization: `Bearer ${KEY}`, "x-tenant-id": "t-9" });
  });
});

describe("piiano-vault config", () => {
  const entry = { kind: "piiano-vault", baseUrl: "http://vault:8123/", credentialEnv: "PIIANO_API_KEY" };
  const load = (backend: Record<string, unknown>) =>
    parseConfig({ store: "memory", backends: { vault: { ...entry, ...backend } } }, { PIIANO_API_KEY: KEY });

  it("defaults accessReason to Other and batches to 1000; a lower maxBatchSize is kept", () => {
    const plain = load({}).backends.vault;
    expect(plain?.options).toEqual({ accessReason: "Other", tenantId: undefined });
    expect(plain?.batchSize).toBe(1000);
    expect(plain?.baseUrl).toBe("http://vault:8123");
    const tuned = load({ accessReason: "DataSubjectRequest", tenantId: "t-1", maxBatchSize: 250 }).backends
      .vault;
    expect(tuned?.options).toEqual({ accessReason: "DataSubjectRequest", tenantId: "t-1" });
    expect(tuned?.batchSize).toBe(250);
    expect(load({ maxBatchSize: 5000 }).backends.vault?.batchSize).toBe(5000);
  });

  it("rejects an unknown accessReason, an empty tenantId, a cap over 10000 and a missing baseUrl", () => {
    expect(() => load({ accessReason: "Curiosity" })).toThrow(
      /^backends\.vault\.accessReason: must be one of/,
    );
    expect(() => load({ tenantId: "" })).toThrow("backends.vault.tenantId: must not be empty");
    expect(() => load({ maxBatchSize: 10_001 })).toThrow("backends.vault.maxBatchSize: must be ≤ 10000");
    expect(() => load({ baseUrl: undefined })).toThrow(
      "backends.vault.baseUrl: is required for kind piiano-vault",
    );
  });
});

describe("sendBatch request", () => {
  it("DELETEs the ids to the collection's bulk path with reason=Other and the plan's reason as adhoc_reason", async () => {
    const { server, client } = await against({ status: 200, body: okBody(batch.ids) });
    await client.sendBatch(batch);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe("DELETE");
    const url = new URL(request?.path ?? "", "http://x");
    expect(url.pathname).toBe("/api/pvlt/1.0/data/collections/customers/bulk/objects");
    expect([...url.searchParams.entries()]).toEqual([
      ["reason", "Other"],
      ["adhoc_reason", REASON],
    ]);
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.headers["x-tenant-id"]).toBeUndefined();
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual([{ id: ID1 }, { id: ID2 }, { id: ID3 }]);
  });

  it("sends no adhoc_reason for another access reason, options=archived for archived targets, and the tenant", async () => {
    const { server, client } = await against(
      { status: 200, body: okBody([ID1]) },
      { options: { accessReason: "DataSubjectRequest", tenantId: "tenant-7" } },
    );
    await client.sendBatch({
      target: { collection: "pii users", archived: true },
      ids: [ID1],
      reason: REASON,
    });
    await client.sendBatch({ target: { collection: "a/b", archived: false }, ids: [ID1], reason: REASON });
    const [first, second] = server.requests;
    expect(first?.path).toBe(
      "/api/pvlt/1.0/data/collections/pii%20users/bulk/objects?reason=DataSubjectRequest&options=archived",
    );
    expect(second?.path).toBe("/api/pvlt/1.0/data/collections/a%2Fb/bulk/objects?reason=DataSubjectRequest");
    expect(first?.headers["x-tenant-id"]).toBe("tenant-7");
    expect(first?.headers.authorization).toBe(`Bearer ${KEY}`);
  });
});

describe("sendBatch response mapping", () => {
  it("maps 200 ok: true to every id deleted", async () => {
    const { client } = await against({ status: 200, body: okBody(batch.ids) });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 3,
      notFound: 0,
      failed: [],
      httpStatus: 200,
      reference: "reason=Other",
    });
  });

  it("records options=archived in the reference", async () => {
    const { client } = await against(
      { status: 200, body: okBody([ID1]) },
      { options: { accessReason: "Maintenance" } },
    );
    expect(
      await client.sendBatch({ target: { collection: "c", archived: true }, ids: [ID1], reason: REASON }),
    ).toMatchObject({ type: "completed", deleted: 1, reference: "reason=Maintenance options=archived" });
  });

  it("maps 200 ok: false to nothing deleted: not found counted, other errors failed, the rest resent at once", async () => {
    const { client } = await against({
      status: 200,
      body: {
        ok: false,
        results: [
          { id: ID1, ok: true },
          { id: ID2, ok: false, error: notFound },
          { id: ID3, ok: false, error: { error_code: "PV3299", message: "Object is locked", context: {} } },
          { id: ID4, ok: true },
        ],
      },
    });
    expect(await client.sendBatch({ ...batch, ids: [ID1, ID2, ID3, ID4] })).toEqual({
      type: "completed",
      deleted: 0,
      notFound: 1,
      failed: [{ id: ID3, error: "Object is locked (PV3299)" }],
      retryIds: {
        ids: [ID1, ID4],
        error:
          "resent: the vault deleted nothing because 2 other object(s) in the request failed (all-or-nothing)",
        countsAsAttempt: false,
      },
      httpStatus: 200,
      reference: "reason=Other",
    });
  });

  it("recognises not found by the message, whatever its case or code; nothing left to resend → no retryIds", async () => {
    const { client } = await against({
      status: 200,
      body: {
        ok: false,
        results: [
          { id: ID1, ok: false, error: notFound },
          { id: ID2, ok: false, error: { message: "Object NOT FOUND in collection" } },
          { id: ID3, ok: false, error: { error_code: "PV9", message: "" } },
        ],
      },
    });
    expect(await client.sendBatch(batch)).toEqual({
      type: "completed",
      deleted: 0,
      notFound: 2,
      failed: [{ id: ID3, error: "failed (PV9)" }],
      httpStatus: 200,
      reference: "reason=Other",
    });
  });

  it("retries a 200 whose results do not line up with the ids sent", async () => {
    const shorter = await against({ status: 200, body: okBody([ID1, ID2]) });
    expect(await shorter.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 200 whose results (2) do not match the 3 ids sent, in order",
      httpStatus: 200,
    });
    const reordered = await against({ status: 200, body: okBody([ID2, ID1, ID3]) });
    expect(await reordered.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 200 whose results (3) do not match the 3 ids sent, in order",
      httpStatus: 200,
    });
  });

  it("retries 200 bodies outside the contract", async () => {
    const cases: [unknown, string][] = [
      [{ results: [] }, "HTTP 200 without a boolean ok and a results list"],
      ["<html>proxy</html>", "HTTP 200 without a boolean ok and a results list"],
      [{ ok: true, results: [{ ok: true }] }, "HTTP 200 with a result entry without an id"],
      [
        { ok: false, results: [{ id: ID1, ok: false, error: "gone" }] },
        `HTTP 200 with a malformed error for object ${ID1}`,
      ],
      [
        {
          ok: true,
          results: [{ id: ID1, ok: true }, { id: ID2, ok: false, error: notFound }, { id: ID3 }],
        },
        `HTTP 200 with ok: true but an error for object ${ID2}`,
      ],
      [
        {
          ok: false,
          results: [
            { id: ID1, ok: true },
            { id: ID2, ok: false },
            { id: ID3, ok: true },
          ],
        },
        "HTTP 200 with ok: false but no object carries an error",
      ],
    ];
    for (const [body, error] of cases) {
      const { client } = await against({ status: 200, body });
      expect(await client.sendBatch(batch)).toEqual({ type: "retry", error, httpStatus: 200 });
    }
  });

  it("fails 400, 401, 403, 404, 409 and 410 with Vault's message, its code and what it means", async () => {
    const cases: [number, string, string, string][] = [
      [
        400,
        "PV1002",
        "Invalid access reason",
        "HTTP 400: Invalid access reason [PV1002: invalid access reason]",
      ],
      [
        401,
        "PV1005",
        "The caller is not authenticated.",
        "HTTP 401: The caller is not authenticated. [PV1005: the API key was rejected]",
      ],
      [
        403,
        "PV1007",
        "Forbidden",
        "HTTP 403: Forbidden [PV1007: the API key may not delete objects in this collection]",
      ],
      [
        404,
        "PV1004",
        "Collection customers not found",
        "HTTP 404: Collection customers not found [PV1004: collection not found, or the API key may not access it]",
      ],
      [409, "PV1777", "Conflict", "HTTP 409: Conflict [PV1777]"],
      [410, "PV1778", "Gone", "HTTP 410: Gone [PV1778]"],
    ];
    for (const [status, code, message, error] of cases) {
      const { client } = await against({ status, body: { error_code: code, message, context: {} } });
      expect(await client.sendBatch(batch)).toEqual({ type: "failed", error, httpStatus: status });
    }
  });

  it("explains a 401 or 404 by its status when the body has no code", async () => {
    const unauthorized = await against({ status: 401, body: "unauthorized" });
    expect(await unauthorized.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 401: unauthorized [the API key was rejected]",
      httpStatus: 401,
    });
    const missing = await against({ status: 404 });
    expect(await missing.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 404 [collection not found, or the API key may not access it]",
      httpStatus: 404,
    });
  });

  it("retries 429, 500, 502 and 503 (PV1009), honouring Retry-After", async () => {
    const timeout = await against({
      status: 503,
      headers: { "retry-after": "3" },
      body: { error_code: "PV1009", message: "The operation timed out.", context: {} },
    });
    expect(await timeout.client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 503: The operation timed out. [PV1009: the vault timed out]",
      retryAfterMs: 3000,
      httpStatus: 503,
    });
    for (const status of [429, 500, 502]) {
      const { client } = await against({ status, body: { error_code: "PV1000", message: "busy" } });
      expect(await client.sendBatch(batch)).toEqual({
        type: "retry",
        error: `HTTP ${status}: busy [PV1000]`,
        retryAfterMs: undefined,
        httpStatus: status,
      });
    }
  });

  it("retries a status outside the contract", async () => {
    const { client } = await against({ status: 204 });
    expect(await client.sendBatch(batch)).toEqual({
      type: "retry",
      error: "HTTP 204 is not an answer of the bulk delete contract",
      httpStatus: 204,
    });
  });

  it("never puts the key into an error, even when the vault echoes it", async () => {
    const answer = await against({
      status: 401,
      body: { error_code: "PV1005", message: `Bearer ${KEY} is revoked` },
    });
    expect(await answer.client.sendBatch(batch)).toEqual({
      type: "failed",
      error: "HTTP 401: Bearer [redacted] is revoked [PV1005: the API key was rejected]",
      httpStatus: 401,
    });
    const perObject = await against({
      status: 200,
      body: {
        ok: false,
        results: [
          { id: ID1, ok: false, error: { error_code: "PV3299", message: `denied for ${KEY}` } },
          { id: ID2, ok: true },
          { id: ID3, ok: true },
        ],
      },
    });
    const outcome = await perObject.client.sendBatch(batch);
    expect(outcome.type === "completed" && outcome.failed).toEqual([
      { id: ID1, error: "denied for [redacted] (PV3299)" },
    ]);
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
  const read = { target: { collection: "customers" }, ids: [ID1], reason: REASON };
  const objectPath = `/api/pvlt/1.0/data/collections/customers/objects/${ID1}`;

  it("reads one object per request, for any target", () => {
    expect(piianoVault.read?.maxIdsPerRequest).toBe(1);
    expect(piianoVault.read?.supports({ collection: "customers", archived: true })).toBe(true);
  });

  it("GETs the object with props=id and the access reason as deletes send it, the bearer key and no body", async () => {
    const { server, client } = await against({ status: 200, body: { id: ID1 } });
    await client.readItems?.(read);
    const [request] = server.requests;
    expect(request?.method).toBe("GET");
    const url = new URL(request?.path ?? "", "http://vault");
    expect(url.pathname).toBe(objectPath);
    expect([...url.searchParams]).toEqual([
      ["reason", "Other"],
      ["adhoc_reason", REASON],
      ["props", "id"],
    ]);
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.body).toBe("");
  });

  it("reads an archived target's objects with options=archived, and another reason without adhoc_reason", async () => {
    const { server, client } = await against(
      { status: 200, body: { id: ID1 } },
      { options: { accessReason: "DataSubjectRequest", tenantId: "t-1" } },
    );
    await client.readItems?.({ ...read, target: { collection: "pii emails", archived: true } });
    const url = new URL(server.requests[0]?.path ?? "", "http://vault");
    expect(url.pathname).toBe(`/api/pvlt/1.0/data/collections/pii%20emails/objects/${ID1}`);
    expect([...url.searchParams]).toEqual([
      ["reason", "DataSubjectRequest"],
      ["options", "archived"],
      ["props", "id"],
    ]);
    expect(server.requests[0]?.headers["x-tenant-id"]).toBe("t-1");
  });

  it("maps 200 to found with no summary or version (no personal data is read), and 404 to not found", async () => {
    const found = await against({ status: 200, body: { id: ID1.toUpperCase() } });
    expect(await found.client.readItems?.(read)).toEqual({
      type: "read",
      httpStatus: 200,
      items: [{ id: ID1, state: "found", summary: null, version: null }],
    });
    const missing = await against({ status: 404, body: notFound });
    expect(await missing.client.readItems?.(read)).toEqual({
      type: "read",
      httpStatus: 404,
      items: [{ id: ID1, state: "not_found", summary: null, version: null }],
    });
  });

  it("fails a 404 naming the collection (PV1004) or without Vault's error body, and 401 / 403", async () => {
    const collection = await against({
      status: 404,
      body: { error_code: "PV1004", message: "Collection customers not found", context: {} },
    });
    expect(await collection.client.readItems?.(read)).toEqual({
      type: "failed",
      error:
        "HTTP 404: Collection customers not found [PV1004: collection not found, or the API key may not access it]",
      httpStatus: 404,
    });
    const proxy = await against({ status: 404, body: "Not Found" });
    expect(await proxy.client.readItems?.(read)).toMatchObject({
      type: "failed",
      error: expect.stringContaining("not Vault's error body: is baseUrl right?"),
    });
    const denied = await against({ status: 401, body: { error_code: "PV1005", message: "no", context: {} } });
    expect(await denied.client.readItems?.(read)).toMatchObject({ type: "failed", httpStatus: 401 });
    const forbidden = await against({
      status: 403,
      body: { error_code: "PV1007", message: "Forbidden", context: {} },
    });
    expect(await forbidden.client.readItems?.(read)).toMatchObject({
      type: "failed",
      error: expect.stringContaining("a preview needs the CapDataReader capability"),
    });
  });

  it("asks again for a 200 without the object's id, and retries 429 and 503", async () => {
    for (const body of [{ id: ID2 }, { name: "x" }, [ID1], "ok"]) {
      const { client } = await against({ status: 200, body });
      expect(await client.readItems?.(read), JSON.stringify(body)).toEqual({
        type: "retry",
        error: `HTTP 200 without the object ${ID1}'s id: outside the read contract`,
        httpStatus: 200,
      });
    }
    const limited = await against({
      status: 429,
      headers: { "retry-after": "2" },
      body: { error_code: "PV1000", message: "slow down", context: {} },
    });
    expect(await limited.client.readItems?.(read)).toMatchObject({
      type: "retry",
      retryAfterMs: 2000,
      httpStatus: 429,
    });
    const timeout = await against({
      status: 503,
      body: { error_code: "PV1009", message: "timeout", context: {} },
    });
    expect(await timeout.client.readItems?.(read)).toMatchObject({ type: "retry", httpStatus: 503 });
  });

  it("refuses two ids without a request, and retries a refused connection", async () => {
    const { server, client } = await against({ status: 200, body: { id: ID1 } });
    expect(await client.readItems?.({ ...read, ids: [ID1, ID2] })).toMatchObject({ type: "failed" });
    expect(server.requests).toHaveLength(0);
    const refused = connect(backendConfig(await refusingUrl()));
    expect(await refused.readItems?.(read)).toMatchObject({ type: "retry" });
  });
});
