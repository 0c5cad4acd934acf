// Checks the LangSmith simulator against shared/backends/langsmith.md over real HTTP, so tests built on it can trust it.
import { afterEach, describe, expect, it } from "vitest";
import {
  type LangsmithSimulator,
  type LangsmithSimulatorOptions,
  startLangsmithSimulator,
} from "../../tools/simulators/langsmith.js";

const KEY = "test-langsmith-key";
const TENANT = "0b6a5c1e-9d3f-4e2a-8c7b-1f2e3d4c5b6a";
const PATH = "/v1/platform/datasets/examples/delete";

/** A deterministic UUID: uuid(7) = "00000000-0000-4000-8000-000000000007". */
function uuid(index: number, group = "00000000"): string {
  return `${group}-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
}

function uuids(count: number, group = "00000000"): string[] {
  return Array.from({ length: count }, (_, index) => uuid(index, group));
}

let sims: LangsmithSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((sim) => sim.close()));
  sims = [];
});

async function start(opts: Partial<LangsmithSimulatorOptions> = {}): Promise<LangsmithSimulator> {
  const sim = await startLangsmithSimulator({ apiKey: KEY, ...opts });
  sims.push(sim);
  return sim;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { "x-api-key": KEY, "content-type": "application/json", ...extra };
}

function postDelete(
  sim: LangsmithSimulator,
  body: unknown,
  init: { headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${sim.url}${PATH}`, {
    method: "POST",
    headers: init.headers ?? headers(),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function hardDelete(ids: unknown[]): Record<string, unknown> {
  return { example_ids: ids, hard_delete: true };
}

describe("langsmith simulator: auth and workspace", () => {
  it("answers 401 with the envelope without X-API-Key, and records a violation", async () => {
    const sim = await start();
    const res = await postDelete(sim, hardDelete([uuid(1)]), {
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Unauthorized: missing X-API-Key header" });
    expect(sim.violations).toEqual([`POST ${PATH}: missing X-API-Key header (401).`]);
    expect(sim.received().size).toBe(0);
    expect(sim.deleted().size).toBe(0);
  });

  it("answers 401 for a wrong key, and a Bearer token is not a key", async () => {
    const sim = await start();
    const wrong = await postDelete(sim, hardDelete([uuid(1)]), { headers: headers({ "x-api-key": "nope" }) });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "Unauthorized: invalid API key" });
    const bearer = await postDelete(sim, hardDelete([uuid(1)]), {
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    });
    expect(bearer.status).toBe(401);
    expect(sim.violations).toHaveLength(2);
    expect(sim.deleted().size).toBe(0);
  });

  it("ignores X-Tenant-Id when no workspace is configured (the key's home workspace)", async () => {
    const sim = await start();
    expect((await postDelete(sim, hardDelete([uuid(1)]))).status).toBe(200);
    expect(
      (await postDelete(sim, hardDelete([uuid(2)]), { headers: headers({ "x-tenant-id": "x" }) })).status,
    ).toBe(200);
    expect(sim.violations).toEqual([]);
  });

  it("with a workspace configured, answers 403 without X-Tenant-Id or with another one", async () => {
    const sim = await start({ tenantId: TENANT });
    const missing = await postDelete(sim, hardDelete([uuid(1)]));
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual({
      error: "Invalid request: this API key is org-scoped; set the X-Tenant-Id header to a workspace id",
    });
    const other = await postDelete(sim, hardDelete([uuid(1)]), {
      headers: headers({ "x-tenant-id": "ws-2" }),
    });
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({
      error: "Invalid request: this API key cannot access the requested workspace",
      details: '{"tenant_id":"ws-2"}',
    });
    expect(sim.violations).toEqual([
      `POST ${PATH}: missing X-Tenant-Id header for an org-scoped key (403).`,
      `POST ${PATH}: workspace "ws-2" is not accessible with this key (403).`,
    ]);
    expect(sim.deleted().size).toBe(0);
    const ok = await postDelete(sim, hardDelete([uuid(1)]), { headers: headers({ "x-tenant-id": TENANT }) });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ count: 1, example_ids: [uuid(1)] });
  });
});

describe("langsmith simulator: body validation", () => {
  it("rejects 1001 ids with 422 and accepts exactly 1000", async () => {
    const sim = await start();
    const tooMany = await postDelete(sim, hardDelete(uuids(1001)));
    expect(tooMany.status).toBe(422);
    expect(await tooMany.json()).toEqual({
      error: "Invalid request: example_ids must contain at most 1000 items, got 1001",
    });
    expect(sim.violations).toHaveLength(1);
    expect(sim.received().size).toBe(0);

    const full = await postDelete(sim, hardDelete(uuids(1000)));
    expect(full.status).toBe(200);
    const body = (await full.json()) as { count: number; example_ids: string[] };
    expect(body.count).toBe(1000);
    expect(body.example_ids).toEqual(uuids(1000));
    expect(sim.violations).toHaveLength(1);
  });

  it("rejects each malformed body with 422 and the documented envelope", async () => {
    const sim = await start();
    const cases: [unknown, string][] = [
      [hardDelete([]), "example_ids must contain at least 1 item"],
      [{ example_ids: [uuid(1)] }, "hard_delete is required"],
      [{ example_ids: [uuid(1)], hard_delete: false }, "hard_delete must be true, got false"],
      [{ example_ids: [uuid(1)], hard_delete: "true" }, 'hard_delete must be true, got "true"'],
      [{ hard_delete: true }, "example_ids is required"],
      [{ example_ids: uuid(1), hard_delete: true }, "example_ids must be a list"],
      [hardDelete([uuid(1), "example-2"]), 'example_ids[1] is not a valid UUID: "example-2"'],
      [hardDelete([uuid(1), 7]), "example_ids[1] is not a valid UUID: 7"],
      [hardDelete([`{${uuid(1)}}`]), `example_ids[0] is not a valid UUID: "{${uuid(1)}}"`],
      [{ ...hardDelete([uuid(1)]), dataset_id: "d" }, "unknown field(s): dataset_id"],
      [[uuid(1)], "request body must be a JSON object"],
      ["{not json", "request body is not valid JSON"],
      ["", "request body is required"],
    ];
    for (const [body, problem] of cases) {
      const res = await postDelete(sim, body);
      expect(res.status, problem).toBe(422);
      expect(await res.json()).toEqual({ error: `Invalid request: ${problem}` });
    }
    expect(sim.violations).toHaveLength(cases.length);
    expect(sim.violations[0]).toBe(
      `POST ${PATH}: invalid delete body (422): example_ids must contain at least 1 item`,
    );
    expect(sim.received().size).toBe(0);
    expect(sim.deleted().size).toBe(0);
  });
});

describe("langsmith simulator: deletes", () => {
  it("deletes only existing examples: count and example_ids name what was deleted", async () => {
    const sim = await start({ examples: [uuid(1), uuid(2), uuid(3)] });
    const res = await postDelete(sim, hardDelete([uuid(1), uuid(9), uuid(3)]));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({ count: 2, example_ids: [uuid(1), uuid(3)] });
    expect(sim.deleted()).toEqual(new Set([uuid(1), uuid(3)]));
    expect(sim.violations).toEqual([]);
    expect(sim.requests[0]).toMatchObject({ method: "POST", path: PATH, status: 200 });
  });

  it("counts 0 for an id deleted before, and never deletes an id twice", async () => {
    const sim = await start({ examples: [uuid(1), uuid(2)] });
    expect(await (await postDelete(sim, hardDelete([uuid(1)]))).json()).toEqual({
      count: 1,
      example_ids: [uuid(1)],
    });
    expect(await (await postDelete(sim, hardDelete([uuid(1), uuid(2)]))).json()).toEqual({
      count: 1,
      example_ids: [uuid(2)],
    });
    expect(await (await postDelete(sim, hardDelete([uuid(1), uuid(2)]))).json()).toEqual({
      count: 0,
      example_ids: [],
    });
    expect(sim.deleted()).toEqual(new Set([uuid(1), uuid(2)]));
    expect(sim.received()).toEqual(
      new Map([
        [uuid(1), 3],
        [uuid(2), 2],
      ]),
    );
  });

  it("compares UUIDs case-insensitively and answers in lower case; a repeated id counts once", async () => {
    const upper = uuid(10, "abcdef01").toUpperCase();
    const sim = await start({ examples: [upper] });
    const res = await postDelete(sim, hardDelete([upper, uuid(10, "abcdef01")]));
    expect(await res.json()).toEqual({ count: 1, example_ids: [uuid(10, "abcdef01")] });
    expect(sim.received()).toEqual(new Map([[uuid(10, "abcdef01"), 1]]));
    expect(sim.deleted()).toEqual(new Set([uuid(10, "abcdef01")]));
  });

  it("without an examples list every UUID exists once; addExamples extends a list", async () => {
    const open = await start();
    expect(await (await postDelete(open, hardDelete([uuid(5), uuid(6)]))).json()).toEqual({
      count: 2,
      example_ids: [uuid(5), uuid(6)],
    });
    expect(await (await postDelete(open, hardDelete([uuid(5)]))).json()).toEqual({
      count: 0,
      example_ids: [],
    });

    const listed = await start({ examples: [] });
    expect(await (await postDelete(listed, hardDelete([uuid(7)]))).json()).toEqual({
      count: 0,
      example_ids: [],
    });
    listed.addExamples([uuid(7).toUpperCase()]);
    expect(await (await postDelete(listed, hardDelete([uuid(7)]))).json()).toEqual({
      count: 1,
      example_ids: [uuid(7)],
    });
  });

  it("returns copies from received() and deleted()", async () => {
    const sim = await start();
    await postDelete(sim, hardDelete([uuid(1)]));
    sim.deleted().clear();
    sim.received().clear();
    expect(sim.deleted().size).toBe(1);
    expect(sim.received().size).toBe(1);
  });
});

describe("langsmith simulator: routes", () => {
  it("answers 404 for a path outside the contract and 405 for a wrong method", async () => {
    const sim = await start();
    const unknown = await fetch(`${sim.url}/api/v1/platform/datasets/examples/delete`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(hardDelete([uuid(1)])),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: "simulator: no route POST /api/v1/platform/datasets/examples/delete",
    });
    const wrongMethod = await fetch(`${sim.url}${PATH}`, { method: "DELETE", headers: headers() });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(sim.violations).toEqual([
      "POST /api/v1/platform/datasets/examples/delete: no such route in the LangSmith contract (404).",
      `DELETE ${PATH}: no such route in the LangSmith contract (405).`,
    ]);
    expect(sim.deleted().size).toBe(0);
  });
});

describe("langsmith simulator: faults", () => {
  it("answers an injected 429 without Retry-After in the envelope and deletes nothing", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "status", status: 429 } });
    const res = await postDelete(sim, hardDelete([uuid(1)]));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(await res.json()).toEqual({ error: "Too many requests: rate limit exceeded, retry later" });
    expect(sim.deleted().size).toBe(0);
    expect(sim.received().size).toBe(0);
    expect(sim.violations).toEqual([]);
    // One use only: the retry goes through.
    expect(await (await postDelete(sim, hardDelete([uuid(1)]))).json()).toEqual({
      count: 1,
      example_ids: [uuid(1)],
    });
  });

  it("answers injected 503 with Retry-After and injected 404 with the Invalid request envelope", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "status", status: 503, retryAfterSeconds: 2 } });
    sim.faults.add({ route: "delete", fault: { type: "status", status: 404 } });
    const overloaded = await postDelete(sim, hardDelete([uuid(1)]));
    expect(overloaded.status).toBe(503);
    expect(overloaded.headers.get("retry-after")).toBe("2");
    expect(await overloaded.json()).toEqual({
      error: "Internal server error (simulator: injected fault 503)",
    });
    const missing = await postDelete(sim, hardDelete([uuid(1)]));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "Invalid request: simulator: injected fault 404" });
    expect(sim.deleted().size).toBe(0);
  });

  it("resets the connection so fetch throws, and deletes nothing", async () => {
    const sim = await start();
    sim.faults.add({ fault: { type: "reset" } });
    await expect(postDelete(sim, hardDelete([uuid(1)]))).rejects.toThrow(TypeError);
    expect(sim.deleted().size).toBe(0);
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(0);
  });

  it("delays every request by the latencyMs option", async () => {
    const sim = await start({ latencyMs: 150 });
    const started = Date.now();
    expect((await postDelete(sim, hardDelete([uuid(1)]))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe("langsmith simulator: read (GET /api/v1/examples)", () => {
  const READ = "/api/v1/examples";
  const read = (sim: LangsmithSimulator, query: string, init: RequestInit = {}) =>
    fetch(`${sim.url}${READ}?${query}`, { headers: { "x-api-key": KEY }, ...init });
  const ids = (list: string[]) => list.map((id) => `id=${id}`).join("&");

  it("answers the asked examples that exist, leaving others out; a hard-deleted one keeps its id with null inputs and outputs", async () => {
    const sim = await start({ examples: uuids(3) });
    expect((await postDelete(sim, hardDelete([uuid(2)]))).status).toBe(200);
    const res = await read(sim, ids([uuid(0).toUpperCase(), uuid(2), uuid(9)]));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>[];
    expect(body.map((example) => example.id)).toEqual([uuid(0), uuid(2)]);
    expect(Object.keys(body[0] ?? {}).sort()).toEqual(
      ["created_at", "dataset_id", "id", "inputs", "metadata", "modified_at", "outputs"].sort(),
    );
    expect(body[0]?.inputs).toEqual(expect.objectContaining({ question: expect.any(String) }));
    expect(body[1]).toMatchObject({ id: uuid(2), inputs: null, outputs: null, metadata: null });
    expect(body[1]?.modified_at).not.toBe(body[1]?.created_at);
    expect(sim.example(uuid(2))?.inputs).toBeNull();
    expect(sim.requests.map((request) => request.route)).toEqual(["delete", "read"]);
    expect(sim.received().get(uuid(0))).toBeUndefined();
    expect(sim.violations).toEqual([]);
  });

  it("seeds examples hard-deleted before the start: read with null inputs, not deleted again", async () => {
    const sim = await start({ examples: uuids(2), hardDeleted: [uuid(5)] });
    const body = (await (await read(sim, ids([uuid(5)]))).json()) as Record<string, unknown>[];
    expect(body).toMatchObject([{ id: uuid(5), inputs: null, outputs: null }]);
    expect(await (await postDelete(sim, hardDelete([uuid(5)]))).json()).toEqual({
      count: 0,
      example_ids: [],
    });
    expect(sim.deletions().size).toBe(0);
  });

  it("fails loudly outside the read contract: no id, over 100, not a UUID, another parameter, a body, POST, no key", async () => {
    const sim = await start();
    const cases: [Promise<Response>, number][] = [
      [read(sim, ""), 422],
      [read(sim, ids(uuids(101))), 422],
      [read(sim, "id=example-1"), 422],
      [read(sim, `${ids([uuid(1)])}&dataset=abc`), 422],
      [fetch(`${sim.url}${READ}?${ids([uuid(1)])}`, { method: "POST", headers: headers(), body: "{}" }), 405],
      [read(sim, ids([uuid(1)]), { headers: {} }), 401],
    ];
    for (const [response, status] of cases) expect((await response).status).toBe(status);
    expect(sim.violations).toHaveLength(cases.length);
    expect(sim.violations[1]).toContain("at most 100 id parameters, got 101");
    expect((await read(sim, ids(uuids(100)))).status).toBe(200);
    expect(sim.violations).toHaveLength(cases.length);
  });

  it("injects faults on the read route only: a 429 for a read leaves deletes alone", async () => {
    const sim = await start();
    sim.faults.add({ route: "read", fault: { type: "status", status: 429, retryAfterSeconds: 3 } });
    expect((await postDelete(sim, hardDelete([uuid(1)]))).status).toBe(200);
    const limited = await read(sim, ids([uuid(1)]));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect(sim.faults.pending).toBe(0);
  });
});
