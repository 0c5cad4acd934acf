// Measure 1, execution overhead: a 200,000-id job at cap 1,000 to the Moorcheh simulator (2 ms latency),
// concurrency 4, no rate limit, from execute_delete to the job's terminal status, against a plain undici loop
// sending the same 200 batches at the same concurrency. Runs alternate gate and baseline on fresh ids, after ten
// unmeasured rounds of each.
import { gateJob, MAX_RPS, PlainLoop, seed, startGate, startSim } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

const CAP = 1_000;
const CONCURRENCY = 4;
const LATENCY_MS = 2;

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const count = quick ? 2_000 : 200_000;
  const repetitions = quick ? 2 : 5;
  const warmRounds = quick ? 1 : 10;
  const sim = await startSim({ latencyMs: LATENCY_MS });
  const gate = await startGate(sim, {
    concurrency: CONCURRENCY,
    requestsPerSecond: MAX_RPS,
    maxIdsPerCall: Math.max(10_000, count),
  });
  const loop = new PlainLoop(sim, CONCURRENCY);
  try {
    // Unmeasured rounds of each, the size of the measured ones: connections open, code warm, as in a server that
    // has run jobs before. V8 optimises a function called once per batch only after hundreds of calls: the first
    // ten jobs of 200 batches in a process each compiled 15-67 ms of code (--trace-opt), later ones 11-18 ms, so a
    // single warm-up round of 10 batches left the measured jobs still warming up. The first round's times are
    // noted: a fresh server's first job.
    let first = { gate: 0, loop: 0 };
    for (let round = 0; round < warmRounds; round++) {
      const { job } = await gateJob(gate, sim, `bench-warm-gate-${round}`, count);
      const ms = await loop.run(
        `bench-warm-loop-${round}`,
        seed(sim, `bench-warm-loop-${round}`, count),
        CAP,
      );
      if (round === 0) first = { gate: job.ms, loop: ms };
    }
    const gateMs: number[] = [];
    const loopMs: number[] = [];
    for (let run = 0; run < repetitions; run++) {
      const { job } = await gateJob(gate, sim, `bench-gate-${run}`, count);
      gateMs.push(job.ms);
      const ms = await loop.run(`bench-loop-${run}`, seed(sim, `bench-loop-${run}`, count), CAP);
      loopMs.push(ms);
      log(
        `overhead run ${run + 1}/${repetitions}: gate ${job.ms.toFixed(0)} ms, plain loop ${ms.toFixed(0)} ms`,
      );
    }
    const value = median(gateMs);
    const baseline = median(loopMs);
    const ratio = value / baseline;
    return [
      {
        measure: "1. execution overhead",
        case: `${count.toLocaleString("en-US")} ids, ${count / CAP} batches of ${CAP}, Moorcheh sim ${LATENCY_MS} ms, concurrency ${CONCURRENCY}, sqlite store`,
        value,
        baseline,
        unit: "ms",
        baselineLabel: "plain undici loop, same batches and concurrency",
        ratio,
        goal: "≤ 1.10×",
        met: ratio <= 1.1,
        samples: repetitions,
        notes:
          `execute_delete → terminal (execute_delete waits for the end); per batch: gate ${(value / (count / CAP)).toFixed(2)} ms, loop ${(baseline / (count / CAP)).toFixed(2)} ms; ` +
          `after ${warmRounds} unmeasured rounds each; the first round (a fresh process): gate ${first.gate.toFixed(0)} ms, loop ${first.loop.toFixed(0)} ms`,
      },
    ];
  } finally {
    await loop.close();
    await gate.close();
    await sim.close();
  }
}
