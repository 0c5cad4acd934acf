// Measure 4, scale: jobs of 100k, 300k and 1M ids (Moorcheh simulator, 2 ms, concurrency 4, no rate limit, the
// sqlite store): time per 100k ids against the 100k job's (flat within ±15%), and the server's peak RSS at 1M
// (≤ 256 MB), the one-call dry run of the same ids included and reported apart. A fresh server per run, so each
// peak is its own. Ids are 8-digit numbers so that 1M fit in one stdio message (the SDK's limit is 10 MB).
// BENCH_SCALE_STORE=memory runs it on the memory store instead.
import { dryRun, execute, MAX_RPS, mb, rssMb, seedNumbers, startGate, startSim } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

const CONCURRENCY = 4;
const LATENCY_MS = 2;
const RSS_GOAL_MB = 256;

interface Run {
  jobMs: number;
  dryRunMs: number;
  jobRssMb: number;
  dryRunRssMb: number;
  idleRssMb: number;
}

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const sizes = quick ? [1_000, 3_000, 10_000] : [100_000, 300_000, 1_000_000];
  const repetitions = quick ? 1 : 3;
  const store = process.env.BENCH_SCALE_STORE === "memory" ? "memory" : "sqlite";
  const largest = sizes.at(-1) as number;
  const sim = await startSim({ latencyMs: LATENCY_MS });
  const runs = new Map<number, Run[]>(sizes.map((size) => [size, []]));
  try {
    for (let run = 0; run < repetitions; run++) {
      for (const size of sizes) {
        const gate = await startGate(sim, {
          concurrency: CONCURRENCY,
          requestsPerSecond: MAX_RPS,
          maxIdsPerCall: Math.max(10_000, largest),
          store,
        });
        try {
          const idleRssMb = rssMb(gate.pid);
          // One small unmeasured job first, as in overhead: otherwise the smallest job alone pays the JIT warm-up
          // and larger jobs look faster per 100k than they are.
          const warm = `bench-scale-warm-${size}-${run}`;
          const slotWarm = 90_000_000 + (run * sizes.length + sizes.indexOf(size)) * 10_000;
          await execute(gate, await dryRun(gate, warm, seedNumbers(sim, warm, 10_000, slotWarm)));
          const namespace = `bench-scale-${size}-${run}`;
          // 8-digit numeric ids, a fresh range per run (see seedNumbers: stdio's 10 MB message limit).
          const slot = run * sizes.length + sizes.indexOf(size);
          const ids = seedNumbers(sim, namespace, size, 10_000_000 + slot * 1_000_000);
          const plan = await dryRun(gate, namespace, ids);
          const job = await execute(gate, plan);
          const left = sim.remainingCount(namespace, "documents");
          if (job.status !== "succeeded" || left !== 0)
            throw new Error(
              `scale ${size}: job ${job.status}, ${left} ids left; ${gate.stderr().slice(-2000)}`,
            );
          runs.get(size)?.push({
            jobMs: job.ms,
            dryRunMs: plan.ms,
            jobRssMb: job.peakRssMb,
            dryRunRssMb: plan.peakRssMb,
            idleRssMb,
          });
          log(
            `scale ${size.toLocaleString("en-US")} run ${run + 1}/${repetitions}: dry run ${plan.ms.toFixed(0)} ms ` +
              `(peak ${mb(plan.peakRssMb)}), job ${job.ms.toFixed(0)} ms (peak ${mb(job.peakRssMb)}), idle ${mb(idleRssMb)}`,
          );
        } finally {
          await gate.close();
        }
      }
    }
  } finally {
    await sim.close();
  }

  const of = (size: number, pick: (run: Run) => number) => median((runs.get(size) ?? []).map(pick));
  const per100k = (size: number) => of(size, (run) => run.jobMs) / (size / 100_000);
  const smallest = sizes[0] as number;
  const label = (size: number) => `${size.toLocaleString("en-US")} ids`;
  const setup = `Moorcheh sim ${LATENCY_MS} ms, concurrency ${CONCURRENCY}, ${store} store`;
  const rows: BenchRow[] = [];
  for (const size of sizes.slice(1)) {
    const ratio = per100k(size) / per100k(smallest);
    rows.push({
      measure: "4. scale",
      case: `${label(size)}: job time per 100k ids; ${setup}`,
      value: per100k(size),
      baseline: per100k(smallest),
      unit: "ms",
      baselineLabel: `per 100k in the ${label(smallest)} job`,
      ratio,
      goal: "flat within ±15% (0.85–1.15×)",
      met: Math.abs(ratio - 1) <= 0.15,
      samples: repetitions,
      notes: `job ${of(size, (run) => run.jobMs).toFixed(0)} ms vs ${of(smallest, (run) => run.jobMs).toFixed(0)} ms`,
    });
  }
  const jobPeak = of(largest, (run) => run.jobRssMb);
  const dryPeak = of(largest, (run) => run.dryRunRssMb);
  const idle = of(largest, (run) => run.idleRssMb);
  const peak = Math.max(jobPeak, dryPeak);
  rows.push({
    measure: "4. scale",
    case: `${label(largest)}: server peak RSS (dry run or job, whichever is higher); ${setup}`,
    value: peak,
    baseline: idle,
    unit: "MB",
    baselineLabel: "the same server idle after initialize",
    ratio: peak / idle,
    goal: `≤ ${RSS_GOAL_MB} MB (absolute; ratio is to idle)`,
    met: peak <= RSS_GOAL_MB,
    samples: repetitions,
    notes:
      `peak in the job ${mb(jobPeak)}, in the dry run ${mb(dryPeak)}; job peaks at ` +
      sizes.map((size) => `${label(size)} ${mb(of(size, (run) => run.jobRssMb))}`).join(", "),
  });
  const dryLinear = of(smallest, (run) => run.dryRunMs) * (largest / smallest);
  rows.push({
    measure: "4. scale",
    case: `${label(largest)}: the dry run (one dry_run_delete, maxIdsPerCall raised); ${setup}`,
    value: of(largest, (run) => run.dryRunMs),
    baseline: dryLinear,
    unit: "ms",
    baselineLabel: `${label(smallest)} dry run × ${largest / smallest} (linear)`,
    ratio: of(largest, (run) => run.dryRunMs) / dryLinear,
    goal: "none in the issue (reported)",
    met: true,
    samples: repetitions,
    notes: `peak RSS ${mb(dryPeak)}; dry runs: ${sizes.map((size) => `${label(size)} ${of(size, (run) => run.dryRunMs).toFixed(0)} ms`).join(", ")}`,
  });
  return rows;
}
