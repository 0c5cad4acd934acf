// Checks the Moorcheh simulator against shared/backends/moorcheh.md over real HTTP, so tests built on it can trust it.
import { afterEach, describe, expect, it } from "vitest";
import {
  MOORCHEH_MAX_IDS,
  type MoorchehSimulator,
  type MoorchehSimulatorOptions,
  startMoorchehSimulator,
} from "../../tools/simulators/moorcheh.js";

const API_KEY = "test-moorcheh-key";

let sims: MoorchehSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((sim) => sim.close()));
  sims = [];
});

async function start(opts: Partial<MoorchehSimulatorOptions> = {}): Promise<MoorchehSimulator> {
  const sim = await startMoorchehSimulator({
    apiKey: API_KEY,
    namespaces: {
      kb: { documents: ["d1", "d2", "d3", "42"], vectors: ["d1", "v1"] },
      "team a/b": { documents: ["x"] },
    },
    ...opts,
  });
  sims.push(sim);
  return sim;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { "x-api-key": API_KEY, "content-type": "application/json", ...extra };
}

function postDelete(
  sim: MoorchehSimulator,
  namespace: string,
  type: string,
  body: unknown,
  init: { headers?: Record<string, string>; method?: string } = {},
): Promise<Response> {
  return fetch(`${sim.url}/namespaces/${encodeURIComponent(namespace)}/${type}/delete`, {
    method: init.method ?? "POST",
    headers: init.headers ?? headers(),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("moorcheh simulator: base URL and routes", () => {
  it("serves the API under /v1, like https://api.moorcheh.ai/v1", async () => {
    const sim = await start();
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await postDelete(sim, "kb", "documents", { ids: ["d1"] });
    expect(res.status).toBe(200);
    expect(sim.requests.map((request) => request.path)).toEqual(["/v1/namespaces/kb/documents/delete"]);
  });

  it("answers 404 for paths outside the contract and 405 for a GET, recording violations", async () => {
    const sim = await start();
    const other = await fetch(`${sim.url}/namespaces/kb/items/delete`, {
      method: "POST",
      headers: headers(),
    });
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({
      message: "simulator: no route POST /v1/namespaces/kb/items/delete",
    });
    const noPrefix = await fetch(`${sim.url.replace(/\/v1$/, "")}/namespaces/kb/documents/delete`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ ids: ["d1"] }),
    });
    expect(noPrefix.status).toBe(404);
    const get = await postDelete(sim, "kb", "documents", undefined, { method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(sim.violations).toHaveLength(3);
    expect(sim.remaining("kb", "documents").size).toBe(4);
  });
});

describe("moorcheh simulator: auth", () => {
  it("answers 401 without x-api-key and records a violation", async () => {
    const sim = await start();
    const res = await postDelete(
      sim,
      "kb",
      "documents",
      { ids: ["d1"] },
      {
        headers: { "content-type": "application/json" },
      },
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: "Missing API key" });
    expect(sim.violations).toEqual([
      "POST /v1/namespaces/kb/documents/delete: missing x-api-key header (401).",
    ]);
    expect(sim.received("kb", "documents").size).toBe(0);
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
  });

  it("answers 401 for a wrong key, and does not take a bearer token instead", async () => {
    const sim = await start();
    const wrong = await postDelete(
      sim,
      "kb",
      "documents",
      { ids: ["d1"] },
      {
        headers: headers({ "x-api-key": "nope" }),
      },
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ message: "Invalid API key" });
    const bearer = await postDelete(
      sim,
      "kb",
      "documents",
      { ids: ["d1"] },
      {
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      },
    );
    expect(bearer.status).toBe(401);
    expect(sim.violations).toHaveLength(2);
    expect(sim.deleted("kb", "documents").size).toBe(0);
  });
});

describe("moorcheh simulator: deletes", () => {
  it("200 deletes existing ids and counts the missing ones only in its counters", async () => {
    const sim = await start();
    const res = await postDelete(sim, "kb", "documents", { ids: ["d1", "d2", "gone", 42] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "success",
      message: "Successfully processed documents deletion. Requested: 4, Actually deleted: 3",
      requested_deletions: 4,
      actual_deletions: 3,
      remaining_items: 1,
      requested_ids: ["d1", "d2", "gone", "42"],
    });
    expect(sim.deleted("kb", "documents")).toEqual(new Set(["d1", "d2", "42"]));
    expect(sim.remaining("kb", "documents")).toEqual(new Set(["d3"]));
    expect(sim.received("kb", "documents")).toEqual(
      new Map([
        ["d1", 1],
        ["d2", 1],
        ["gone", 1],
        ["42", 1],
      ]),
    );
    // The vectors of the namespace are a separate store: d1 is still a vector.
    expect(sim.remaining("kb", "vectors")).toEqual(new Set(["d1", "v1"]));
    expect(sim.violations).toEqual([]);
  });

  it("deleting an id again is not found, never a second deletion", async () => {
    const sim = await start();
    await postDelete(sim, "kb", "vectors", { ids: ["v1"] });
    const again = await postDelete(sim, "kb", "vectors", { ids: ["v1", "d1"] });
    expect(await again.json()).toMatchObject({
      status: "success",
      requested_deletions: 2,
      actual_deletions: 1,
      remaining_items: 0,
    });
    expect(sim.deleted("kb", "vectors")).toEqual(new Set(["v1", "d1"]));
    expect(sim.received("kb", "vectors").get("v1")).toBe(2);
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
  });

  it("decodes the namespace from the path", async () => {
    const sim = await start();
    const res = await postDelete(sim, "team a/b", "documents", { ids: ["x"] });
    expect(res.status).toBe(200);
    expect(sim.requests[0]?.path).toBe("/v1/namespaces/team%20a%2Fb/documents/delete");
    expect(sim.deleted("team a/b", "documents")).toEqual(new Set(["x"]));
  });

  it("answers 404 for an unknown namespace without a violation (a documented answer)", async () => {
    const sim = await start();
    const res = await postDelete(sim, "missing", "documents", { ids: ["d1"] });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: "Namespace 'missing' not found" });
    expect(sim.violations).toEqual([]);
    expect(sim.received("missing", "documents").size).toBe(0);
  });

  it("accepts exactly 1000 ids and rejects 1001 and 0 with a 400 and a violation", async () => {
    const sim = await start();
    const thousand = Array.from({ length: MOORCHEH_MAX_IDS }, (_, index) => `n-${index}`);
    const ok = await postDelete(sim, "kb", "documents", { ids: thousand });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ requested_deletions: 1000, actual_deletions: 0 });
    expect(sim.violations).toEqual([]);

    const tooMany = await postDelete(sim, "kb", "documents", { ids: [...thousand, "d1"] });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toEqual({ message: "ids must contain 1..1000 items, got 1001" });
    const none = await postDelete(sim, "kb", "documents", { ids: [] });
    expect(none.status).toBe(400);
    expect(await none.json()).toEqual({ message: "ids must contain 1..1000 items, got 0" });
    expect(sim.violations).toEqual([
      "POST /v1/namespaces/kb/documents/delete: ids must contain 1..1000 items, got 1001 (400).",
      "POST /v1/namespaces/kb/documents/delete: ids must contain 1..1000 items, got 0 (400).",
    ]);
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
  });

  it("rejects malformed bodies with a 400 and a violation each", async () => {
    const sim = await start();
    const cases: [unknown, Record<string, string> | undefined, string][] = [
      ["not json", undefined, 'body must be a JSON object {"ids": [...]}'],
      [
        { ids: ["d1"] },
        headers({ "content-type": "text/plain" }),
        "Content-Type must be application/json, got text/plain",
      ],
      [{ ids: "d1" }, undefined, "ids must be a list"],
      [{ document_ids: ["d1"] }, undefined, "unknown body field(s): document_ids"],
      [{ ids: ["d1"], reason: "x" }, undefined, "unknown body field(s): reason"],
      [{ ids: ["d1", null] }, undefined, "ids[1] must be a non-empty string or a number"],
      [{ ids: [""] }, undefined, "ids[0] must be a non-empty string or a number"],
    ];
    for (const [body, init, message] of cases) {
      const res = await postDelete(sim, "kb", "documents", body, init ? { headers: init } : {});
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ message });
    }
    expect(sim.violations).toHaveLength(cases.length);
    expect(sim.deleted("kb", "documents").size).toBe(0);
  });
});

describe("moorcheh simulator: unprocessed ids (207)", () => {
  it("leaves ids unprocessed for the next K requests containing them, then deletes them", async () => {
    const sim = await start();
    sim.unprocessNext(["d2", "d3"], 2);
    const first = await postDelete(sim, "kb", "documents", { ids: ["d1", "d2", "d3", "gone"] });
    expect(first.status).toBe(207);
    expect(await first.json()).toEqual({
      status: "partial",
      message: "Partially processed documents deletion. Requested: 4, Actually deleted: 1, Unprocessed: 2",
      requested_deletions: 4,
      actual_deletions: 1,
      remaining_items: 3,
      requested_ids: ["d1", "d2", "d3", "gone"],
      unprocessed_ids: ["d2", "d3"],
    });
    // A request without them does not use up their count.
    expect((await postDelete(sim, "kb", "documents", { ids: ["42"] })).status).toBe(200);
    const second = await postDelete(sim, "kb", "documents", { ids: ["d2", "d3"] });
    expect(second.status).toBe(207);
    expect(await second.json()).toMatchObject({ actual_deletions: 0, unprocessed_ids: ["d2", "d3"] });
    const third = await postDelete(sim, "kb", "documents", { ids: ["d2", "d3"] });
    expect(third.status).toBe(200);
    expect(await third.json()).toMatchObject({ status: "success", actual_deletions: 2, remaining_items: 0 });
    expect(sim.received("kb", "documents").get("d2")).toBe(3);
    expect(sim.deleted("kb", "documents")).toEqual(new Set(["d1", "42", "d2", "d3"]));
    expect(sim.violations).toEqual([]);
  });

  it("Infinity keeps an id unprocessed on every request", async () => {
    const sim = await start();
    sim.unprocessNext(["d1"], Number.POSITIVE_INFINITY);
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await postDelete(sim, "kb", "documents", { ids: ["d1"] });
      expect(res.status).toBe(207);
      expect(await res.json()).toMatchObject({ actual_deletions: 0, unprocessed_ids: ["d1"] });
    }
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
    expect(() => sim.unprocessNext(["d2"], 0)).toThrow(RangeError);
  });
});

describe("moorcheh simulator: faults and latency", () => {
  it("injects status faults on the delete route with the Moorcheh error shape, deleting nothing", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "status", status: 429, retryAfterSeconds: 2 } });
    sim.faults.add({ route: "delete", fault: { type: "status", status: 503 } });
    const limited = await postDelete(sim, "kb", "documents", { ids: ["d1"] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("2");
    expect(await limited.json()).toEqual({ message: "Too Many Requests" });
    const down = await postDelete(sim, "kb", "documents", { ids: ["d1"] });
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ message: "simulator: injected fault 503" });
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
    expect(sim.received("kb", "documents").size).toBe(0);
    expect((await postDelete(sim, "kb", "documents", { ids: ["d1"] })).status).toBe(200);
    expect(sim.requests.map((request) => request.status)).toEqual([429, 503, 200]);
    expect(sim.violations).toEqual([]);
  });

  it("resets a connection without processing the request", async () => {
    const sim = await start();
    sim.faults.add({ route: "delete", fault: { type: "reset" } });
    await expect(postDelete(sim, "kb", "documents", { ids: ["d1"] })).rejects.toThrow();
    expect(sim.remaining("kb", "documents").has("d1")).toBe(true);
    expect(sim.requests).toHaveLength(1);
  });

  it("adds latencyMs to every request", async () => {
    const sim = await start({ latencyMs: 150 });
    const started = Date.now();
    await postDelete(sim, "kb", "documents", { ids: ["d1"] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe("moorcheh simulator: read (POST documents/get)", () => {
  const get = (sim: MoorchehSimulator, namespace: string, body: unknown, path = "documents/get") =>
    fetch(`${sim.url}/namespaces/${encodeURIComponent(namespace)}/${path}`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body),
    });

  it("answers 200 with every document asked for, and 207 leaving out the ones that do not exist or were deleted", async () => {
    const sim = await start();
    const all = await get(sim, "kb", { ids: ["d1", 42] });
    expect(all.status).toBe(200);
    const body = (await all.json()) as {
      requested_ids: string[];
      found_items: number;
      items: { id: string }[];
    };
    expect(body).toMatchObject({ requested_ids: ["d1", "42"], found_items: 2 });
    expect(body.items).toEqual([
      { id: "d1", text: expect.stringContaining("d1"), metadata: { namespace: "kb", source: "simulator" } },
      expect.objectContaining({ id: "42" }),
    ]);
    expect((await postDelete(sim, "kb", "documents", { ids: ["d2"] })).status).toBe(200);
    const some = await get(sim, "kb", { ids: ["d2", "d3", "nope"] });
    expect(some.status).toBe(207);
    expect(await some.json()).toMatchObject({ found_items: 1, items: [{ id: "d3" }] });
    expect(sim.requests.map((request) => request.route)).toEqual(["read", "delete", "read"]);
    expect(sim.remaining("kb", "documents")).toEqual(new Set(["d1", "d3", "42"]));
    expect(sim.violations).toEqual([]);
  });

  it("answers an edited document's new text", async () => {
    const sim = await start();
    sim.editDocument("kb", "d1", "Edited by someone else");
    const res = await get(sim, "kb", { ids: ["d1"] });
    expect(await res.json()).toMatchObject({ items: [{ id: "d1", text: "Edited by someone else" }] });
  });

  it("fails loudly on more than 100 ids and on vectors (no read by id); a missing namespace is 404 without a violation", async () => {
    const sim = await start();
    const many = await get(sim, "kb", { ids: Array.from({ length: 101 }, (_, index) => `d${index}`) });
    expect(many.status).toBe(400);
    expect(await many.json()).toEqual({ message: "ids must contain 1..100 items, got 101" });
    expect((await get(sim, "kb", { ids: ["v1"] }, "vectors/get")).status).toBe(404);
    expect(sim.violations).toHaveLength(2);
    expect((await get(sim, "gone", { ids: ["d1"] })).status).toBe(404);
    expect(sim.violations).toHaveLength(2);
  });

  it("counts reads against the same rate limit as deletes", async () => {
    const sim = await start({ rateLimit: { requestsPerSecond: 1, retryAfterSeconds: 1 } });
    expect((await postDelete(sim, "kb", "documents", { ids: ["d1"] })).status).toBe(200);
    const limited = await get(sim, "kb", { ids: ["d2"] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(sim.rateLimited()).toBe(1);
  });
});
