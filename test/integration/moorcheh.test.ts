// The built server over stdio against the Moorcheh simulator: batches of ≤1000, x-api-key, not-found counts, 207 retries, refusals.
import { afterEach, describe, expect, it } from "vitest";
import { moorcheh, UNPROCESSED_ERROR } from "../../src/backends/moorcheh.js";
import {
  type MoorchehSimulator,
  type MoorchehSimulatorOptions,
  startMoorchehSimulator,
} from "../../tools/simulators/moorcheh.js";
import {
  errorText,
  planAndExecute,
  range,
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "./harness.js";

const MOORCHEH_KEY = "sim-moorcheh-secret-4b7e91";
const BACKEND = "moorcheh-test";
const REASON = "Erasure request from customer #2290";

let sim: MoorchehSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await sim?.close();
  session = undefined;
  sim = undefined;
});

async function startSim(opts: Omit<MoorchehSimulatorOptions, "apiKey">): Promise<MoorchehSimulator> {
  sim = await startMoorchehSimulator({ apiKey: MOORCHEH_KEY, ...opts });
  return sim;
}

/** A session on a config with one moorcheh backend at the simulator; `key` is what MOORCHEH_API_KEY holds. */
async function open(backend: Record<string, unknown> = {}, key = MOORCHEH_KEY) {
  const config = writeBackendsConfig(tempDir(), {
    [BACKEND]: {
      kind: "moorcheh",
      baseUrl: (sim as MoorchehSimulator).url,
      credentialEnv: "MOORCHEH_API_KEY",
      allowTargets: ["kb-*"],
      ...backend,
    },
  });
  session = await startSession(config.path, { clientName: "moorcheh-agent", env: { MOORCHEH_API_KEY: key } });
  return { session, auditLog: config.auditLog };
}

async function run(own: Session, target: Record<string, unknown>, ids: (string | number)[]) {
  const { plan, job } = await planAndExecute(own, { backend: BACKEND, target, ids, reason: REASON });
  const { job: final } = await waitForJob(own, job.job_id, 60_000);
  return { plan, job: final };
}

/** The ids of each delete request the simulator received, in order. */
function sentIds(requests: MoorchehSimulator["requests"]): string[][] {
  return requests.map((request) => (request.body as { ids: string[] }).ids);
}

/** The number of ids in each request, smallest first. */
function sizes(requests: MoorchehSimulator["requests"]): number[] {
  return sentIds(requests)
    .map((batch) => batch.length)
    .sort((a, b) => a - b);
}

function deletesTo(path: string): MoorchehSimulator["requests"] {
  return (sim as MoorchehSimulator).requests.filter((request) => request.path === path);
}

describe("moorcheh: happy path", () => {
  it("deletes 2,500 ids in 3 batches of ≤1000 with x-api-key; missing ids are counted as not found", async () => {
    const existing = [...range(2_300, "doc-"), "7", "8"];
    const s = await startSim({
      namespaces: { "kb-prod": { documents: existing, vectors: range(2_300, "doc-") } },
    });
    const { session: own, auditLog } = await open();

    const listed = structured(await own.call("list_backends"));
    expect(listed.backends).toEqual([
      expect.objectContaining({
        name: BACKEND,
        kind: "moorcheh",
        description: moorcheh.description,
        target_fields: ["namespace", "type"],
        max_batch_size: 1000,
        allow_targets: ["kb-*"],
      }),
    ]);

    const ids = [...range(2_300, "doc-"), ...range(198, "missing-"), 7, 8, ...range(20, "doc-")];
    const { plan, job: started } = await planAndExecute(own, {
      backend: BACKEND,
      target: { namespace: "kb-prod", type: "documents" },
      ids,
      reason: REASON,
      waitSeconds: 30,
    });
    expect(plan.counts).toEqual({
      received: 2_520,
      unique: 2_500,
      duplicates: 20,
      invalid: 0,
      to_delete: 2_500,
    });
    expect(plan.batches).toEqual({ count: 3, size: 1000 });
    expect(plan.notes).toEqual(moorcheh.notes);
    expect(plan.target).toEqual({ namespace: "kb-prod", type: "documents" });

    const { job } = await waitForJob(own, started.job_id);
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 2_500, deleted: 2_302, not_found: 198, failed: 0, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 3, failed: 0, in_flight: 0 });
    expect(job.backend_jobs).toEqual([]);
    expect(job.failed_ids).toEqual([]);
    expect(job.notes).toEqual(moorcheh.notes);

    const requests = s.requests;
    expect(requests).toHaveLength(3);
    // Batches run concurrently, so they may arrive in any order.
    expect(sizes(requests)).toEqual([500, 1000, 1000]);
    for (const request of requests) {
      expect(request.method).toBe("POST");
      expect(request.path).toBe("/v1/namespaces/kb-prod/documents/delete");
      expect(request.headers["x-api-key"]).toBe(MOORCHEH_KEY);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.status).toBe(200);
      expect(Object.keys(request.body as object)).toEqual(["ids"]);
    }
    const received = s.received("kb-prod", "documents");
    expect(received.size).toBe(2_500);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(s.deleted("kb-prod", "documents")).toEqual(new Set(existing));
    expect(s.remaining("kb-prod", "documents").size).toBe(0);
    // Only the target's type is touched.
    expect(s.remaining("kb-prod", "vectors")).toEqual(new Set(range(2_300, "doc-")));
    expect(s.violations).toEqual([]);

    const lines = readAudit(auditLog).filter((line) => line.plan_id === plan.plan_id);
    expect(lines.map((line) => line.event)).toEqual([
      "plan.created",
      "delete.confirmed",
      "job.started",
      "batch.sending",
      "batch.sending",
      "batch.sending",
      "batch.completed",
      "batch.completed",
      "batch.completed",
      "job.finished",
    ]);
    const batchLines = lines.filter((line) => line.event === "batch.completed");
    expect(batchLines.flatMap((line) => line.ids as string[]).sort()).toEqual(
      [...range(2_300, "doc-"), ...range(198, "missing-"), "7", "8"].sort(),
    );
    for (const line of batchLines) {
      expect(line).toMatchObject({ actor: "moorcheh-agent", reason: REASON, http_status: 200 });
      expect(line.backend_ref).toMatch(
        /^requested (1000|500), deleted \d+, not found \d+, remaining_items \d+$/,
      );
    }
    expect(lines.at(-1)).toMatchObject({
      event: "job.finished",
      status: "succeeded",
      counts: { total: 2_500, deleted: 2_302, not_found: 198, failed: 0, pending: 0 },
    });

    // The key appears nowhere but in the x-api-key header.
    const everything = JSON.stringify([listed, plan, started, job]);
    expect(everything).not.toContain(MOORCHEH_KEY);
    expect(JSON.stringify(readAudit(auditLog))).not.toContain(MOORCHEH_KEY);
    expect(own.stderr()).not.toContain(MOORCHEH_KEY);
  });

  it("a lower maxBatchSize is honoured on the vectors path; numbers are sent as strings", async () => {
    const vectors = range(950, "vec-");
    const s = await startSim({ namespaces: { "kb-vec": { vectors, documents: vectors } } });
    const { session: own } = await open({ maxBatchSize: 100 });
    const { plan, job } = await run(own, { namespace: "kb-vec", type: "vectors" }, [...vectors, 1, 2]);
    expect(plan.batches).toEqual({ count: 10, size: 100 });
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 952, deleted: 950, not_found: 2, failed: 0, pending: 0 });
    const requests = deletesTo("/v1/namespaces/kb-vec/vectors/delete");
    expect(requests).toHaveLength(10);
    expect(s.requests).toHaveLength(10);
    expect(sizes(requests)).toEqual([52, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
    expect(sentIds(requests).flat().includes("1")).toBe(true);
    expect(requests.every((request) => request.headers["x-api-key"] === MOORCHEH_KEY)).toBe(true);
    expect(s.deleted("kb-vec", "vectors")).toEqual(new Set(vectors));
    expect(s.remaining("kb-vec", "documents").size).toBe(950);
    expect(s.violations).toEqual([]);
  });

  it("refuses a target outside allowTargets or without a valid type, sending nothing", async () => {
    const s = await startSim({
      namespaces: { "kb-prod": { documents: ["a"] }, other: { documents: ["a"] } },
    });
    const { session: own } = await open();
    const dryRun = (target: unknown) =>
      own.call("dry_run_delete", { backend: BACKEND, target, ids: ["a"], reason: REASON });
    expect(errorText(await dryRun({ namespace: "other", type: "documents" }))).toMatch(
      /^TARGET_NOT_ALLOWED: /,
    );
    expect(errorText(await dryRun({ namespace: "kb-prod", type: "items" }))).toMatch(/^INVALID_TARGET: /);
    expect(errorText(await dryRun({ namespace: "kb-prod" }))).toMatch(/^INVALID_TARGET: /);
    expect(
      errorText(await own.call("dry_run_delete", { backend: BACKEND, ids: ["a"], reason: REASON })),
    ).toMatch(/^INVALID_TARGET: .*\{namespace, type\}/);
    expect(s.requests).toHaveLength(0);
  });
});

describe("moorcheh: partial failures (207)", () => {
  it("retries unprocessed ids: transient ones end deleted, stuck ones fail after exactly maxAttempts requests", async () => {
    const existing = range(300, "p-");
    const s = await startSim({ namespaces: { "kb-partial": { documents: existing } } });
    const transient = ["p-5", "p-150", "p-299"];
    const stuck = ["p-10", "p-11", "p-210"];
    s.unprocessNext(transient, 2);
    s.unprocessNext(stuck, Number.POSITIVE_INFINITY);
    const { session: own, auditLog } = await open({ maxBatchSize: 100, maxAttempts: 4 });
    // Absent ids sit inside the batch that also has an unprocessed id, so not found = requested − deleted − unprocessed.
    const ids = [...existing.slice(0, 150), ...range(15, "absent-"), ...existing.slice(150)];
    const { job } = await run(own, { namespace: "kb-partial", type: "documents" }, ids);

    expect(job.status).toBe("partially_failed");
    expect(job.counts).toEqual({ total: 315, deleted: 297, not_found: 15, failed: 3, pending: 0 });
    expect(job.batches).toEqual({ total: 4, done: 2, failed: 2, in_flight: 0 });
    expect(job.failed_ids.map((item: { id: string }) => item.id).sort()).toEqual([...stuck].sort());
    for (const item of job.failed_ids) expect(item.error).toBe(UNPROCESSED_ERROR);

    const received = s.received("kb-partial", "documents");
    for (const id of transient) expect(received.get(id)).toBe(3);
    for (const id of stuck) expect(received.get(id)).toBe(4);
    const others = [...received.entries()].filter(([id]) => !transient.includes(id) && !stuck.includes(id));
    expect(others).toHaveLength(309);
    expect(others.every(([, count]) => count === 1)).toBe(true);
    const requests = sentIds(s.requests);
    for (const id of stuck) expect(requests.filter((batch) => batch.includes(id))).toHaveLength(4);
    // Batches with p-5+p-10/11 and p-210 take 4 requests; those with only p-150 or p-299 take 3.
    expect(s.requests).toHaveLength(14);
    expect(s.requests.filter((request) => request.status === 207)).toHaveLength(12);
    expect(s.requests.filter((request) => request.status === 200)).toHaveLength(2);

    expect(s.deleted("kb-partial", "documents")).toEqual(
      new Set(existing.filter((id) => !stuck.includes(id))),
    );
    expect(s.remaining("kb-partial", "documents")).toEqual(new Set(stuck));
    expect(s.violations).toEqual([]);

    const failedLines = readAudit(auditLog).filter((line) => line.event === "batch.failed");
    expect(failedLines.flatMap((line) => line.ids as string[]).sort()).toEqual([...stuck].sort());
    for (const line of failedLines)
      expect(line).toMatchObject({ http_status: 207, error: UNPROCESSED_ERROR });
  });

  it("429 with Retry-After, 503, a reset and a hung request are retried; each id deleted once", async () => {
    const ids = range(120, "f-");
    const s = await startSim({ namespaces: { "kb-faults": { documents: ids } } });
    s.faults.add({ route: "delete", fault: { type: "status", status: 429, retryAfterSeconds: 1 } });
    s.faults.add({ route: "delete", fault: { type: "status", status: 503 } });
    s.faults.add({ route: "delete", fault: { type: "reset" } });
    s.faults.add({ route: "delete", fault: { type: "hang" } });
    const { session: own } = await open({ maxBatchSize: 50, concurrency: 1, timeoutMs: 500, maxAttempts: 5 });
    const { job } = await run(own, { namespace: "kb-faults", type: "documents" }, ids);

    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 120, deleted: 120, not_found: 0, failed: 0, pending: 0 });
    expect(s.requests.map((request) => request.status)).toEqual([429, 503, 0, 0, 200, 200, 200]);
    expect((s.requests[1]?.time ?? 0) - (s.requests[0]?.time ?? 0)).toBeGreaterThanOrEqual(1_000);
    const received = s.received("kb-faults", "documents");
    expect(received.size).toBe(120);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(s.deleted("kb-faults", "documents")).toEqual(new Set(ids));
    expect(s.violations).toEqual([]);
  });
});

describe("moorcheh: permanent refusals", () => {
  it("a 401 fails every batch at once, without retries, with a clear message and no secret anywhere", async () => {
    const s = await startSim({ namespaces: { "kb-auth": { documents: range(30, "auth-") } } });
    const wrongKey = "wrong-moorcheh-key-8812";
    const { session: own, auditLog } = await open({ maxBatchSize: 10, maxAttempts: 5 }, wrongKey);
    const { plan, job } = await run(own, { namespace: "kb-auth", type: "documents" }, range(30, "auth-"));

    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 30, deleted: 0, not_found: 0, failed: 30, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 0, failed: 3, in_flight: 0 });
    expect(s.requests).toHaveLength(3);
    expect(s.requests.every((request) => request.status === 401)).toBe(true);
    expect(job.failed_ids).toHaveLength(30);
    expect(job.failed_ids[0].error).toBe("HTTP 401: Invalid API key (API key missing or invalid)");
    expect(s.deleted("kb-auth", "documents").size).toBe(0);

    for (const text of [JSON.stringify([plan, job]), JSON.stringify(readAudit(auditLog)), own.stderr()]) {
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain(MOORCHEH_KEY);
    }
    const failedLines = readAudit(auditLog).filter((line) => line.event === "batch.failed");
    expect(failedLines).toHaveLength(3);
    for (const line of failedLines) expect(line).toMatchObject({ http_status: 401 });
  });

  it("a 404 (namespace missing) fails at once as 'namespace not found or not yours'", async () => {
    const s = await startSim({ namespaces: { "kb-prod": { documents: ["a"] } } });
    const { session: own } = await open({ maxBatchSize: 10, maxAttempts: 5 });
    const { job } = await run(own, { namespace: "kb-gone", type: "vectors" }, range(25, "g-"));
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 25, deleted: 0, not_found: 0, failed: 25, pending: 0 });
    expect(s.requests).toHaveLength(3);
    expect(s.requests.every((request) => request.path === "/v1/namespaces/kb-gone/vectors/delete")).toBe(
      true,
    );
    expect(job.failed_ids[0].error).toBe(
      "HTTP 404: Namespace 'kb-gone' not found (namespace not found or not yours)",
    );
    expect(s.violations).toEqual([]);
  });
});
