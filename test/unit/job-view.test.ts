// Job view: counts from batches, the final status rules of SPEC §4, and the view get_delete_job returns.
import { describe, expect, it } from "vitest";
import type { BatchRecord, JobRecord } from "../../src/jobs/store.js";
import { countJob, finalStatus, jobView } from "../../src/jobs/view.js";
import { batchRecord, jobRecord } from "./fixtures.js";

function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return jobRecord(overrides);
}

function batch(index: number, overrides: Partial<BatchRecord> = {}): BatchRecord {
  return batchRecord(index, { size: 5, ...overrides });
}

const failedIds = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => ({ id: `${prefix}${index}`, error: "HTTP 403: forbidden" }));

describe("countJob", () => {
  it("sums deleted, not found and failed over batches and leaves the rest pending", () => {
    const counts = countJob(20, [
      batch(0, { status: "done", deleted: 4, not_found: 1 }),
      batch(1, { status: "failed", failed: failedIds("f", 5) }),
      batch(2, { status: "done", deleted: 2, not_found: 2, failed: failedIds("g", 1) }),
      batch(3, { status: "pending" }),
    ]);
    expect(counts).toEqual({ total: 20, deleted: 6, not_found: 3, failed: 6, pending: 5 });
  });

  it("has everything pending when no batch has settled", () => {
    expect(countJob(7, [batch(0), batch(1, { status: "sending" })])).toEqual({
      total: 7,
      deleted: 0,
      not_found: 0,
      failed: 0,
      pending: 7,
    });
  });
});

describe("finalStatus", () => {
  it("is succeeded when every id was deleted", () => {
    const batches = [batch(0, { status: "done", deleted: 5 }), batch(1, { status: "done", deleted: 5 })];
    expect(finalStatus(job(), batches)).toBe("succeeded");
  });

  it("is succeeded when every id was not found, since not found is not a failure", () => {
    const batches = [batch(0, { status: "done", not_found: 5 }), batch(1, { status: "done", not_found: 5 })];
    expect(finalStatus(job(), batches)).toBe("succeeded");
  });

  it("is partially_failed when some ids failed and some were deleted", () => {
    const batches = [
      batch(0, { status: "done", deleted: 5 }),
      batch(1, { status: "failed", failed: failedIds("f", 5) }),
    ];
    expect(finalStatus(job(), batches)).toBe("partially_failed");
  });

  it("is failed when ids failed and none was deleted, even if some were not found", () => {
    const batches = [
      batch(0, { status: "done", not_found: 5 }),
      batch(1, { status: "failed", failed: failedIds("f", 5) }),
    ];
    expect(finalStatus(job(), batches)).toBe("failed");
    expect(
      finalStatus(job(), [
        batch(0, { status: "failed", failed: failedIds("a", 5) }),
        batch(1, { status: "failed", failed: failedIds("b", 5) }),
      ]),
    ).toBe("failed");
  });

  it("is cancelled when a cancel was requested and batches were cancelled", () => {
    const batches = [batch(0, { status: "done", deleted: 5 }), batch(1, { status: "cancelled" })];
    expect(finalStatus(job({ cancel_requested: true }), batches)).toBe("cancelled");
  });

  it("is not cancelled when batches were cancelled but no cancel was requested", () => {
    const batches = [batch(0, { status: "done", deleted: 5 }), batch(1, { status: "cancelled" })];
    expect(finalStatus(job({ cancel_requested: false }), batches)).toBe("succeeded");
  });

  it("is the normal status when a cancel came too late to cancel any batch", () => {
    const done = [batch(0, { status: "done", deleted: 5 }), batch(1, { status: "done", deleted: 5 })];
    expect(finalStatus(job({ cancel_requested: true }), done)).toBe("succeeded");
    const mixed = [
      batch(0, { status: "done", deleted: 5 }),
      batch(1, { status: "failed", failed: failedIds("f", 5) }),
    ];
    expect(finalStatus(job({ cancel_requested: true }), mixed)).toBe("partially_failed");
  });
});

describe("jobView", () => {
  const batches = [
    batch(0, { status: "done", deleted: 3, not_found: 2, backend_job: { id: "ddl_a", status: "succeeded" } }),
    batch(1, { status: "failed", failed: failedIds("f", 5), backend_job: { id: "ddl_b", status: "failed" } }),
    batch(2, { status: "sending", attempts: 1 }),
    batch(3, { status: "awaiting_backend", backend_job: { id: "ddl_d", status: "running" } }),
    batch(4, { status: "pending" }),
    batch(5, { status: "done", failed: failedIds("g", 2), deleted: 3 }),
  ];
  const record = job({ total: 30, batch_count: 6 });

  it("carries the job's fields, counts, batch tallies and backend jobs", () => {
    const view = jobView(record, batches, null);
    expect(view).toEqual({
      job_id: "job_1",
      plan_id: "plan_1",
      backend: "splendor-prod",
      kind: "splendor",
      target: { dataset_id: "app-logs" },
      reason: "GDPR erasure request #4411",
      requested_by: "claude-code",
      status: "running",
      counts: { total: 30, deleted: 6, not_found: 2, failed: 7, pending: 15 },
      batches: { total: 6, done: 2, failed: 1, in_flight: 2 },
      backend_jobs: [
        { id: "ddl_a", status: "succeeded" },
        { id: "ddl_b", status: "failed" },
        { id: "ddl_d", status: "running" },
      ],
      notes: ["purged later"],
      approval: null,
      created_at: "2025-01-01T00:00:00.000Z",
      started_at: "2025-01-01T00:00:01.000Z",
      finished_at: null,
    });
    expect("failed_ids" in view).toBe(false);
  });

  it("copies backend jobs so the view cannot change the batch", () => {
    const view = jobView(record, batches, null);
    expect(view.backend_jobs[0]).not.toBe(batches[0]?.backend_job);
  });

  it("pages failed ids across batches in batch order", () => {
    const all = [...failedIds("f", 5), ...failedIds("g", 2)];
    expect(jobView(record, batches, { offset: 0, limit: 100 }).failed_ids).toEqual(all);
    expect(jobView(record, batches, { offset: 0, limit: 3 }).failed_ids).toEqual(all.slice(0, 3));
    expect(jobView(record, batches, { offset: 4, limit: 2 }).failed_ids).toEqual([
      { id: "f4", error: "HTTP 403: forbidden" },
      { id: "g0", error: "HTTP 403: forbidden" },
    ]);
    expect(jobView(record, batches, { offset: 7, limit: 10 }).failed_ids).toEqual([]);
    expect(jobView(record, batches, { offset: 0, limit: 0 }).failed_ids).toEqual([]);
  });

  it("shows an empty list, not none, when a page is asked of a job without failures", () => {
    const view = jobView(record, [batch(0, { status: "done", deleted: 5 })], { offset: 0, limit: 100 });
    expect(view.failed_ids).toEqual([]);
    expect(view.backend_jobs).toEqual([]);
    expect(view.batches).toEqual({ total: 1, done: 1, failed: 0, in_flight: 0 });
  });
});

describe("ownedBy", () => {
  it("lets a caller without an owner (stdio) see everything, and an HTTP token only its own", async () => {
    const { ownedBy } = await import("../../src/jobs/view.js");
    expect(ownedBy(job({ owner: "ci-agent" }), null)).toBe(true);
    expect(ownedBy(job({ owner: "ci-agent" }), "ci-agent")).toBe(true);
    expect(ownedBy(job({ owner: "ci-agent" }), "other-agent")).toBe(false);
    expect(ownedBy(job({ owner: null }), "ci-agent")).toBe(false);
  });
});
