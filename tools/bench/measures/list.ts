// Measure 6: list_delete_jobs on a store holding 100 jobs and on one holding 10,000 (issue 12: p50 within 1.2×).
// The jobs are written into the running server's sqlite file through the store's own API from this process (the
// file is shared by processes by design), then list_delete_jobs (limit 20, the default) is called over stdio.
import { performance } from "node:perf_hooks";
import { openStore } from "../../../src/jobs/open-store.js";
import type { BatchRecord, JobRecord } from "../../../src/jobs/store.js";
import { BACKEND, startGate, startSim } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

const BATCHES_PER_JOB = 3;

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

function job(n: number): JobRecord {
  const at = new Date(Date.now() - 60_000 + n).toISOString();
  return {
    id: `job_${uuid(n)}`,
    plan_id: `plan_${uuid(n)}`,
    backend: BACKEND,
    kind: "moorcheh",
    target: { namespace: "bench-list", type: "documents" },
    reason: "Benchmark: a stored job",
    requested_by: "bench",
    owner: null,
    status: "succeeded",
    total: 3_000,
    batch_count: BATCHES_PER_JOB,
    notes: [],
    cancel_requested: false,
    halted: null,
    approval: null,
    created_at: at,
    started_at: at,
    finished_at: at,
  };
}

function batch(index: number): BatchRecord {
  return {
    index,
    size: 1_000,
    status: "done",
    attempts: 1,
    deleted: 1_000,
    not_found: 0,
    failed: [],
    remaining: null,
    backend_job: null,
    last_error: null,
  };
}

/** Writes `count` finished jobs (each with its batches and claim) into the store file. */
async function seedJobs(storeSpec: string, count: number): Promise<void> {
  const store = openStore(storeSpec);
  try {
    for (let n = 1; n <= count; n++) {
      const record = job(n);
      await store.putBatches(
        record.id,
        Array.from({ length: BATCHES_PER_JOB }, (_, index) => batch(index)),
      );
      await store.putJob(record);
      await store.claimExecution({
        planId: record.plan_id,
        jobId: record.id,
        backend: BACKEND,
        count: record.total,
        dailyLimit: null,
        now: Date.now(),
      });
    }
  } finally {
    await store.close();
  }
}

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const sizes = quick ? [100, 1_000] : [100, 10_000];
  const calls = quick ? 50 : 300;
  const p50: number[] = [];
  for (const size of sizes) {
    const sim = await startSim({ latencyMs: 0 });
    const gate = await startGate(sim, { concurrency: 4, requestsPerSecond: 1_000, maxIdsPerCall: 10_000 });
    try {
      const started = performance.now();
      await seedJobs(`sqlite:${gate.dir}/state.db`, size);
      log(`list: ${size} jobs stored in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const times: number[] = [];
      for (let call = 0; call < calls; call++) {
        const start = performance.now();
        const result = await gate.call("list_delete_jobs", {});
        times.push(performance.now() - start);
        if (result.isError) throw new Error(`list_delete_jobs failed: ${JSON.stringify(result.content)}`);
      }
      p50.push(median(times));
      log(`list: ${size} jobs, ${calls} calls, p50 ${median(times).toFixed(2)} ms`);
    } finally {
      await gate.close();
      await sim.close();
    }
  }
  const [small, large] = p50 as [number, number];
  const ratio = large / small;
  return [
    {
      measure: "6. list_delete_jobs",
      case: `${sizes[1]?.toLocaleString("en-US")} vs ${sizes[0]} stored jobs (${BATCHES_PER_JOB} batches each), limit 20, stdio, sqlite store`,
      value: large,
      baseline: small,
      unit: "ms",
      baselineLabel: `p50 with ${sizes[0]} jobs`,
      ratio,
      goal: "p50 within 1.2×",
      met: ratio <= 1.2,
      samples: calls,
      notes: `p50 of ${calls} calls each`,
    },
  ];
}
