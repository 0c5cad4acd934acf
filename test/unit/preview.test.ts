// The preview and the stale check against a fake reading client: sampling, counts, retries, refusals, the time
// limit, summaries made plain, and PLAN_STALE.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { HttpClient } from "../../src/backends/http.js";
import type { BackendClient, ReadItem, ReadOutcome, ReadRequest } from "../../src/backends/types.js";
import { GateError } from "../../src/gate/errors.js";
import {
  checkStale,
  cleanSummary,
  PREVIEW_TIME_MS,
  preview,
  shuffledSample,
} from "../../src/gate/preview.js";
import { Lane } from "../../src/jobs/lanes.js";
import { splendorBackend } from "./fixtures.js";

type Answer = (request: ReadRequest, call: number) => ReadOutcome | Promise<ReadOutcome>;

const TARGET = { dataset_id: "3f0d3c1e-7f53-4a8e-9a55-0c9a4f2b1d11" };
const REASON = "unit test of the preview";

/** Ids "e-0" … : even numbers exist, ids divisible by 5 (odd) were deleted, the rest never existed. */
function stateOf(id: string): ReadItem["state"] {
  const n = Number(id.slice(2));
  if (n % 2 === 0) return "found";
  return n % 5 === 0 ? "already_deleted" : "not_found";
}

const byRule = (request: ReadRequest): ReadOutcome => ({
  type: "read",
  httpStatus: 200,
  items: request.ids.map((id) => ({
    id,
    state: stateOf(id),
    summary: stateOf(id) === "found" ? `item ${id}` : null,
    version: stateOf(id) === "found" ? "v1" : null,
  })),
});

function lane(answer: Answer = byRule, overrides: Parameters<typeof splendorBackend>[0] = {}) {
  const reads: ReadRequest[] = [];
  const client: BackendClient = {
    sendBatch: async () => {
      throw new Error("a preview must never send a delete");
    },
    async readItems(request) {
      reads.push(request);
      return answer(request, reads.length);
    },
  };
  const http = { close: async () => {} } as unknown as HttpClient;
  const config = splendorBackend({
    name: "ls",
    kind: "langsmith",
    options: {},
    requestsPerSecond: 10_000,
    concurrency: 4,
    maxAttempts: 3,
    ...overrides,
  });
  return { lane: new Lane(config, { client, http }), reads };
}

const ids = (count: number) => Array.from({ length: count }, (_, index) => `e-${index}`);

afterEach(() => {
  vi.useRealTimers();
});

describe("preview", () => {
  it("reads every id when there are no more than maxChecked, in requests of the kind's size, and counts each state", async () => {
    const { lane: fake, reads } = lane();
    const result = await preview(fake, { target: TARGET, reason: REASON, ids: ids(250), maxChecked: 1000 });
    expect(reads.map((read) => read.ids.length).sort((a, b) => b - a)).toEqual([100, 100, 50]);
    expect(new Set(reads.flatMap((read) => read.ids)).size).toBe(250);
    expect(reads.every((read) => read.reason === REASON && read.target === TARGET)).toBe(true);
    expect(result.view).toMatchObject({
      supported: true,
      checked: 250,
      found: 125,
      already_deleted: 25,
      not_found: 100,
      sampled: false,
    });
    expect(result.view.stopped).toBeUndefined();
    expect(result.view.sample).toHaveLength(10);
    for (const item of result.view.sample ?? []) {
      expect(stateOf(item.id)).toBe("found");
      expect(item.summary).toBe(`item ${item.id}`);
    }
    // The stale check's sample: found ids only, at most 100, with their versions.
    expect(result.found).toHaveLength(100);
    expect(result.found.every((item) => stateOf(item.id) === "found" && item.version === "v1")).toBe(true);
  });

  it("reads a uniform sample of maxChecked ids above it, and says it is a sample", async () => {
    const { lane: fake, reads } = lane();
    const all = ids(5000);
    const result = await preview(fake, { target: TARGET, reason: REASON, ids: all, maxChecked: 300 });
    const read = reads.flatMap((request) => request.ids);
    expect(read).toHaveLength(300);
    expect(new Set(read).size).toBe(300);
    // Drawn from the whole list, not its head: a list cannot lead with harmless ids.
    expect(read.some((id) => Number(id.slice(2)) >= 2500)).toBe(true);
    expect(result.view).toMatchObject({ checked: 300, sampled: true });
  });

  it("answers { supported: false } and reads nothing for a kind without reads or a target it cannot read", async () => {
    const { lane: splendor, reads } = lane(byRule, { kind: "splendor", options: { tenantId: "acme" } });
    expect(await preview(splendor, { target: TARGET, reason: REASON, ids: ids(5), maxChecked: 10 })).toEqual({
      view: { supported: false },
      found: [],
    });
    const vectors = lane(byRule, { kind: "moorcheh", options: {} });
    const target = { namespace: "docs", type: "vectors" };
    expect(
      (await preview(vectors.lane, { target, reason: REASON, ids: ids(5), maxChecked: 10 })).view,
    ).toEqual({
      supported: false,
    });
    expect(reads.length + vectors.reads.length).toBe(0);
  });

  it("retries a read answered 429 after its Retry-After and slows the lane, then counts it", async () => {
    const { lane: fake, reads } = lane((request, call) =>
      call === 1 ? { type: "retry", error: "HTTP 429", retryAfterMs: 300, httpStatus: 429 } : byRule(request),
    );
    const started = Date.now();
    const result = await preview(fake, { target: TARGET, reason: REASON, ids: ids(100), maxChecked: 1000 });
    expect(reads).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(fake.rate).toBeLessThan(10_000);
    expect(result.view).toMatchObject({ checked: 100, sampled: false });
  });

  it("stops at a permanent refusal and reports what it checked, as a sample with the reason", async () => {
    const { lane: fake } = lane(
      (request, call) =>
        call === 2 ? { type: "failed", error: "HTTP 403", httpStatus: 403 } : byRule(request),
      { concurrency: 1 },
    );
    const result = await preview(fake, { target: TARGET, reason: REASON, ids: ids(300), maxChecked: 1000 });
    expect(result.view).toMatchObject({ checked: 100, sampled: true });
    expect(result.view.stopped).toMatch(/refused a read: HTTP 403/);
  });

  it("refuses an answer that does not name exactly the ids asked", async () => {
    const { lane: fake } = lane((request) => ({
      type: "read",
      httpStatus: 200,
      items: [...request.ids.slice(1), "someone-else"].map((id) => ({
        id,
        state: "found",
        summary: null,
        version: null,
      })),
    }));
    const result = await preview(fake, { target: TARGET, reason: REASON, ids: ids(3), maxChecked: 10 });
    expect(result.view).toMatchObject({ checked: 0, sampled: true });
    expect(result.view.stopped).toMatch(/outside its contract: it names "someone-else"/);
  });

  it("reads for at most 20 s, then reports what it checked so far", async () => {
    vi.useFakeTimers();
    const slow: Answer = (request) =>
      new Promise((resolve) => setTimeout(() => resolve(byRule(request)), 1_000));
    const { lane: fake } = lane(slow, { concurrency: 1 });
    const running = preview(fake, { target: TARGET, reason: REASON, ids: ids(10_000), maxChecked: 10_000 });
    await vi.advanceTimersByTimeAsync(PREVIEW_TIME_MS + 2_000);
    const result = await running;
    expect(result.view.checked).toBeGreaterThanOrEqual(1_900);
    expect(result.view.checked).toBeLessThanOrEqual(2_000);
    expect(result.view).toMatchObject({ sampled: true });
    expect(result.view.stopped).toMatch(/20 s/);
  });
});

describe("shuffledSample and cleanSummary", () => {
  it("draws distinct ids, all of them when asked for more than there are", () => {
    expect(new Set(shuffledSample(ids(50), 50)).size).toBe(50);
    expect(shuffledSample(ids(3), 10)).toHaveLength(3);
  });

  it("makes backend text one plain short line", () => {
    expect(cleanSummary("a\u202eb\nc\u0000d\u200b")).toBe("a b c d");
    expect(cleanSummary("\ud800x")).toBe("\ufffdx");
    expect(cleanSummary("y".repeat(500))).toBe(`${"y".repeat(160)}…`);
    expect(cleanSummary(null)).toBeNull();
  });
});

describe("checkStale", () => {
  const found = (count: number) =>
    ids(count * 2)
      .filter((id) => stateOf(id) === "found")
      .map((id) => ({ id, version: "v1" }));
  const plan = (items: { id: string; version: string | null }[]) => ({
    id: "plan_1",
    target: TARGET,
    reason: REASON,
    found: items,
  });

  it("lets a plan whose found items are unchanged pass, and one within staleShare", async () => {
    await expect(checkStale(lane().lane, plan(found(100)), 0.05)).resolves.toBeUndefined();
    const fewGone = lane((request) => ({
      ...(byRule(request) as Extract<ReadOutcome, { type: "read" }>),
      items: request.ids.map((id, index) => ({
        id,
        state: index < 5 ? "not_found" : "found",
        summary: null,
        version: "v1",
      })),
    }));
    await expect(checkStale(fewGone.lane, plan(found(100)), 0.05)).resolves.toBeUndefined();
  });

  it("refuses with PLAN_STALE when more than staleShare vanished, were deleted or changed", async () => {
    for (const change of ["not_found", "already_deleted", "version"] as const) {
      const { lane: fake } = lane((request) => ({
        type: "read",
        httpStatus: 200,
        items: request.ids.map((id, index) => ({
          id,
          state: index < 6 && change !== "version" ? change : "found",
          summary: null,
          version: index < 6 && change === "version" ? "v2" : "v1",
        })),
      }));
      const refusal = await checkStale(fake, plan(found(100)), 0.05).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(GateError);
      expect((refusal as GateError).code).toBe("PLAN_STALE");
      expect((refusal as GateError).message).toMatch(/^6 of the 100 items/);
    }
  });

  it("fails closed when the found items cannot be read again", async () => {
    const { lane: fake } = lane(() => ({ type: "failed", error: "HTTP 401", httpStatus: 401 }));
    const refusal = await checkStale(fake, plan(found(10)), 0.5).catch((error: unknown) => error);
    expect((refusal as GateError).code).toBe("PLAN_STALE");
    expect((refusal as GateError).message).toMatch(/could not be read again/);
  });

  it("reads nothing for a plan whose preview found nothing", async () => {
    const { lane: fake, reads } = lane();
    await checkStale(fake, plan([]), 0);
    expect(reads).toHaveLength(0);
  });
});
