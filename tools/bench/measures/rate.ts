// Measure 3, rate-limited backend: the Moorcheh simulator processes at most 50 requests in any rolling second and
// answers 429 above (no Retry-After unless a case says so; the contract: "honour Retry-After if sent"). Achieved
// rate = batches / (execute_delete → terminal), against the allowed rate itself: that is the baseline, as no
// client can do better. Every id must be deleted (zero failed).
import { gateJob, startGate, startSim } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

const ALLOWED = 50;
/** Small batches: the measure is about requests, not ids. */
const BATCH = 100;
const CONCURRENCY = 4;
const LATENCY_MS = 2;

interface Case {
  label: string;
  requestsPerSecond: number;
  retryAfterSeconds?: number;
  main: boolean;
}

const CASES: Case[] = [
  { label: "requestsPerSecond 50 (= the limit), 429 without Retry-After", requestsPerSecond: 50, main: true },
  {
    label: "requestsPerSecond 50, 429 with Retry-After: 1",
    requestsPerSecond: 50,
    retryAfterSeconds: 1,
    main: false,
  },
  // What a user might plausibly configure: some headroom, or the plan's limit doubled "to be safe with retries".
  { label: "requestsPerSecond 45 (headroom)", requestsPerSecond: 45, main: false },
  { label: "requestsPerSecond 100 (twice the limit), no Retry-After", requestsPerSecond: 100, main: false },
];

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const batches = quick ? 60 : 600;
  const rows: BenchRow[] = [];
  const cases = quick ? CASES.filter((item) => item.main) : CASES;
  for (const item of cases) {
    const repetitions = quick ? 1 : item.main ? 3 : 1;
    const rates: number[] = [];
    let failed = 0;
    let limited = 0;
    for (let run = 0; run < repetitions; run++) {
      const sim = await startSim({
        latencyMs: LATENCY_MS,
        rateLimit: { requestsPerSecond: ALLOWED, retryAfterSeconds: item.retryAfterSeconds },
      });
      const gate = await startGate(sim, {
        concurrency: CONCURRENCY,
        requestsPerSecond: item.requestsPerSecond,
        maxBatchSize: BATCH,
        maxIdsPerCall: Math.max(10_000, batches * BATCH),
      });
      try {
        // The dry run is not timed; the simulator's window starts empty for the job.
        const { job, left } = await gateJob(gate, sim, `bench-rate-${run}`, batches * BATCH, true);
        const rate = batches / (job.ms / 1000);
        rates.push(rate);
        failed += Math.max(job.counts.failed ?? 0, left);
        limited += sim.rateLimited();
        log(
          `rate ${item.requestsPerSecond}/s run ${run + 1}/${repetitions}: ${rate.toFixed(1)} batches/s, ` +
            `${sim.rateLimited()} answered 429, job ${job.status}, ${left} ids left`,
        );
      } finally {
        await gate.close();
        await sim.close();
      }
    }
    const value = median(rates);
    const ratio = value / ALLOWED;
    rows.push({
      measure: "3. rate-limited backend",
      case: `${(batches * BATCH).toLocaleString("en-US")} ids, ${batches} batches of ${BATCH}, sim allows ${ALLOWED}/s; ${item.label}`,
      value,
      baseline: ALLOWED,
      unit: "req/s",
      baselineLabel: "the allowed rate",
      ratio,
      goal: "≥ 0.90, 0 failed ids",
      met: ratio >= 0.9 && failed === 0,
      samples: repetitions,
      notes: `${failed} failed ids; ${limited} requests answered 429 (all runs); execute_delete → terminal`,
    });
  }
  return rows;
}
