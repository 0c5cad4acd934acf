// Checks the Subworkflow simulator against shared/backends/subworkflow.md over real HTTP, so tests built on it can trust it.
import { afterEach, describe, expect, it } from "vitest";
import {
  type SubworkflowSimulator,
  type SubworkflowSimulatorOptions,
  startSubworkflowSimulator,
} from "../../tools/simulators/subworkflow.js";

const API_KEY = "sim-key-31c7";

const DATA_FIELDS = [
  "id",
  "workspaceId",
  "type",
  "fileName",
  "fileExt",
  "fileSize",
  "itemCount",
  "mimeType",
  "createdAt",
  "updatedAt",
  "expiresAt",
  "share",
].sort();

let sims: SubworkflowSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((sim) => sim.close()));
  sims = [];
});

async function start(opts: Partial<SubworkflowSimulatorOptions> = {}): Promise<SubworkflowSimulator> {
  const sim = await startSubworkflowSimulator({
    apiKey: API_KEY,
    datasets: ["ds_a", "ds_b", "ds_c"],
    ...opts,
  });
  sims.push(sim);
  return sim;
}

function call(
  sim: SubworkflowSimulator,
  method: "GET" | "DELETE",
  id: string,
  headers: Record<string, string> = { "x-api-key": API_KEY },
): Promise<Response> {
  return fetch(`${sim.url}/v1/datasets/${id}`, { method, headers });
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("subworkflow simulator: auth", () => {
  it("answers 401 without x-api-key and with a wrong one, marking nothing, and records violations", async () => {
    const sim = await start();
    const missing = await call(sim, "DELETE", "ds_a", {});
    expect(missing.status).toBe(401);
    expect(await json(missing)).toEqual({ success: false, error: "Missing API key" });
    const wrong = await call(sim, "DELETE", "ds_a", { "x-api-key": "nope" });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toEqual({ success: false, error: "Invalid API key" });
    const bearer = await call(sim, "GET", "ds_a", { authorization: `Bearer ${API_KEY}` });
    expect(bearer.status).toBe(401);
    expect(sim.violations).toHaveLength(3);
    expect(sim.violations[0]).toContain("x-api-key");
    expect(sim.received("ds_a")).toBe(0);
    expect(sim.marked().size).toBe(0);
  });
});

describe("subworkflow simulator: delete", () => {
  it("marks a dataset: 200 with success, total 1 and every documented data field, expiresAt = now", async () => {
    const sim = await start();
    const before = Date.now();
    const res = await call(sim, "DELETE", "ds_b");
    const after = Date.now();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("retry-after")).toBeNull();
    const body = await json(res);
    expect(Object.keys(body).sort()).toEqual(["data", "success", "total"]);
    expect(body).toMatchObject({ success: true, total: 1 });
    const data = body.data as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(DATA_FIELDS);
    expect(data).toMatchObject({
      id: "ds_b",
      workspaceId: "wks_simulator",
      type: "audio",
      fileName: "ds_b",
      fileExt: "mp3",
      fileSize: 2048,
      itemCount: 2,
      mimeType: "audio/mpeg",
    });
    expect(data.expiresAt).toBeGreaterThanOrEqual(before);
    expect(data.expiresAt).toBeLessThanOrEqual(after);
    expect(data.updatedAt).toBe(data.expiresAt);
    expect(data.createdAt).toBeLessThan(before);
    const share = data.share as Record<string, unknown>;
    expect(Object.keys(share).sort()).toEqual(["expiresAt", "token", "url"]);
    expect(share.url).toBe(`https://share.subworkflow.ai/${String(share.token)}`);
    expect(typeof share.expiresAt).toBe("number");
    expect(sim.marked()).toEqual(new Set(["ds_b"]));
    expect(sim.received("ds_b")).toBe(1);
    expect(sim.dataset("ds_b")?.expiresAt).toBe(data.expiresAt);
    expect(sim.violations).toEqual([]);
  });

  it("answers 200 again for an already-marked dataset, keeping the first expiresAt", async () => {
    const sim = await start();
    const first = (await json(await call(sim, "DELETE", "ds_a"))).data as Record<string, unknown>;
    await sleep(20);
    const again = await call(sim, "DELETE", "ds_a");
    expect(again.status).toBe(200);
    const data = (await json(again)).data as Record<string, unknown>;
    expect(data.expiresAt).toBe(first.expiresAt);
    expect(sim.received("ds_a")).toBe(2);
    expect(sim.marked()).toEqual(new Set(["ds_a"]));
  });

  it("answers 404 for an unknown dataset without a violation, and counts it received", async () => {
    const sim = await start();
    const res = await call(sim, "DELETE", "ds_missing");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ success: false, error: "Dataset not found" });
    expect(sim.received("ds_missing")).toBe(1);
    expect(sim.marked().size).toBe(0);
    expect(sim.violations).toEqual([]);
  });

  it("answers 400 with the configured error for a rejected dataset and never marks it", async () => {
    const sim = await start({ rejected: { ds_c: "dataset is locked" } });
    const res = await call(sim, "DELETE", "ds_c");
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ success: false, error: "dataset is locked" });
    expect(sim.marked().size).toBe(0);
    expect(sim.received("ds_c")).toBe(1);
    sim.reject("ds_a", "processing in progress");
    expect((await json(await call(sim, "DELETE", "ds_a"))).error).toBe("processing in progress");
    sim.reject("ds_c", undefined);
    expect((await call(sim, "DELETE", "ds_c")).status).toBe(200);
    expect(sim.marked()).toEqual(new Set(["ds_c"]));
    expect(sim.violations).toEqual([]);
  });

  it("answers 400 for an id that is not ds_… and records a violation", async () => {
    const sim = await start();
    const res = await call(sim, "DELETE", "abc");
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ success: false, error: "Invalid dataset id" });
    expect(sim.violations).toHaveLength(1);
    expect(sim.violations[0]).toContain('"abc" is not a dataset id');
  });

  it("records a violation for a DELETE with a body", async () => {
    const sim = await start();
    const res = await fetch(`${sim.url}/v1/datasets/ds_a`, {
      method: "DELETE",
      headers: { "x-api-key": API_KEY, "content-type": "application/json" },
      body: JSON.stringify({ ids: ["ds_a"] }),
    });
    expect(res.status).toBe(200);
    expect(sim.violations).toEqual([
      "DELETE /v1/datasets/ds_a: DELETE with a body; the contract sends none.",
    ]);
  });

  it("answers 404 and records a violation for paths and methods outside the contract", async () => {
    const sim = await start();
    expect((await fetch(`${sim.url}/v1/datasets`, { headers: { "x-api-key": API_KEY } })).status).toBe(404);
    expect(
      (await fetch(`${sim.url}/v1/datasets/ds_a/items`, { headers: { "x-api-key": API_KEY } })).status,
    ).toBe(404);
    const post = await fetch(`${sim.url}/v1/datasets/ds_a`, {
      method: "POST",
      headers: { "x-api-key": API_KEY },
    });
    expect(post.status).toBe(405);
    expect(await json(post)).toEqual({ success: false, error: "simulator: no route POST /v1/datasets/ds_a" });
    expect(sim.violations).toHaveLength(3);
    expect(sim.marked().size).toBe(0);
  });
});

describe("subworkflow simulator: read and purge", () => {
  it("GET answers the same data shape; expiresAt null until marked, then ≤ now", async () => {
    const sim = await start();
    const before = await call(sim, "GET", "ds_a");
    expect(before.status).toBe(200);
    const unmarked = await json(before);
    expect(unmarked).toMatchObject({ success: true, total: 1 });
    expect(Object.keys(unmarked.data as object).sort()).toEqual(DATA_FIELDS);
    expect((unmarked.data as Record<string, unknown>).expiresAt).toBeNull();
    await call(sim, "DELETE", "ds_a");
    const after = (await json(await call(sim, "GET", "ds_a"))).data as Record<string, unknown>;
    expect(after.expiresAt).toBeLessThanOrEqual(Date.now());
    expect(sim.received("ds_a")).toBe(1);
    const missing = await call(sim, "GET", "ds_zzz");
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ success: false, error: "Dataset not found" });
  });

  it("purge() hard-deletes marked datasets: they answer 404 afterwards", async () => {
    const sim = await start();
    await call(sim, "DELETE", "ds_a");
    expect(sim.purge()).toEqual(["ds_a"]);
    expect(sim.marked().size).toBe(0);
    expect(sim.dataset("ds_a")).toBeUndefined();
    expect((await call(sim, "GET", "ds_a")).status).toBe(404);
    expect((await call(sim, "DELETE", "ds_a")).status).toBe(404);
    expect((await call(sim, "GET", "ds_b")).status).toBe(200);
  });
});

describe("subworkflow simulator: rate limit and faults", () => {
  it("answers 429 without Retry-After above writesPerMinute, not counting the refused write", async () => {
    const sim = await start({ writesPerMinute: 2 });
    expect((await call(sim, "DELETE", "ds_a")).status).toBe(200);
    expect((await call(sim, "DELETE", "ds_missing")).status).toBe(404);
    const limited = await call(sim, "DELETE", "ds_b");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeNull();
    expect(await json(limited)).toEqual({ success: false, error: "Rate limit exceeded" });
    expect(sim.received("ds_b")).toBe(0);
    expect(sim.marked()).toEqual(new Set(["ds_a"]));
    // Reads are not writes.
    expect((await call(sim, "GET", "ds_b")).status).toBe(200);
    expect(sim.violations).toEqual([]);
  });

  it("frees the window after rateWindowMs and sends Retry-After when asked", async () => {
    const sim = await start({ writesPerMinute: 1, rateWindowMs: 200, retryAfterSeconds: 1 });
    expect((await call(sim, "DELETE", "ds_a")).status).toBe(200);
    const limited = await call(sim, "DELETE", "ds_b");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    await sleep(250);
    expect((await call(sim, "DELETE", "ds_b")).status).toBe(200);
    expect(sim.marked()).toEqual(new Set(["ds_a", "ds_b"]));
  });

  it("injects faults on the dataset route before processing, with Subworkflow's error body", async () => {
    const sim = await start();
    sim.faults.add({ route: "dataset", fault: { type: "status", status: 503, retryAfterSeconds: 2 } });
    sim.faults.add({
      route: "dataset",
      fault: { type: "status", status: 200, body: { success: true, total: 1, data: { id: "ds_a" } } },
    });
    const unavailable = await call(sim, "DELETE", "ds_a");
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toBe("2");
    expect(await json(unavailable)).toEqual({ success: false, error: "simulator: injected fault 503" });
    const garbled = await call(sim, "DELETE", "ds_a");
    expect(garbled.status).toBe(200);
    expect(await json(garbled)).toEqual({ success: true, total: 1, data: { id: "ds_a" } });
    expect(sim.received("ds_a")).toBe(0);
    expect(sim.marked().size).toBe(0);
    expect((await call(sim, "DELETE", "ds_a")).status).toBe(200);
    expect(sim.marked()).toEqual(new Set(["ds_a"]));
    expect(sim.requests.map((request) => [request.method, request.path, request.status])).toEqual([
      ["DELETE", "/v1/datasets/ds_a", 503],
      ["DELETE", "/v1/datasets/ds_a", 200],
      ["DELETE", "/v1/datasets/ds_a", 200],
    ]);
  });

  it("adds latencyMs to every request", async () => {
    const sim = await start({ latencyMs: 150 });
    const started = Date.now();
    await call(sim, "GET", "ds_a");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe("subworkflow simulator: read (GET /v1/datasets/{id})", () => {
  it("answers a dataset before and after its DELETE: expiresAt null, then ≤ now; an unknown one 404", async () => {
    const sim = await start();
    const before = await json(await call(sim, "GET", "ds_a"));
    expect((before.data as Record<string, unknown>).expiresAt).toBeNull();
    expect((before.data as Record<string, unknown>).fileName).toBe("ds_a");
    await call(sim, "DELETE", "ds_a");
    const after = (await json(await call(sim, "GET", "ds_a"))).data as Record<string, unknown>;
    expect(after.expiresAt).toBeLessThanOrEqual(Date.now());
    expect((await call(sim, "GET", "ds_zzz")).status).toBe(404);
    expect(sim.requests.map((request) => [request.method, request.route])).toEqual([
      ["GET", "read"],
      ["DELETE", "dataset"],
      ["GET", "read"],
      ["GET", "read"],
    ]);
    expect(sim.received("ds_a")).toBe(1);
    expect(sim.violations).toEqual([]);
  });

  it("seeds datasets marked before the start: GET answers them expired, DELETE marks nothing again", async () => {
    const sim = await start({ marked: ["ds_old"] });
    const data = (await json(await call(sim, "GET", "ds_old"))).data as Record<string, unknown>;
    expect(data.expiresAt).toBeLessThan(Date.now() - 60_000);
    expect((await call(sim, "DELETE", "ds_old")).status).toBe(200);
    expect(sim.deletions().size).toBe(0);
    expect(sim.marked()).toEqual(new Set(["ds_old"]));
  });

  it("injects faults on the read route apart from the delete route", async () => {
    const sim = await start();
    sim.faults.add({ route: "read", fault: { type: "status", status: 429, retryAfterSeconds: 1 } });
    expect((await call(sim, "DELETE", "ds_a")).status).toBe(200);
    const limited = await call(sim, "GET", "ds_a");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
  });

  it("records a GET with a query string as a violation", async () => {
    const sim = await start();
    expect(
      (await fetch(`${sim.url}/v1/datasets/ds_a?fields=all`, { headers: { "x-api-key": API_KEY } })).status,
    ).toBe(200);
    expect(sim.violations).toEqual([
      "GET /v1/datasets/ds_a?fields=all: GET with a query string (?fields=all).",
    ]);
  });
});
