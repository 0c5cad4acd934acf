// What every measure of `npm run bench` returns: medians against a baseline measured in the same run.

export interface BenchOptions {
  /** Small sizes and few repetitions, to show in CI that the harness works (ratios are not judged). */
  quick: boolean;
  /** Progress lines go here (stderr), never into the table. */
  log: (line: string) => void;
}

export interface BenchRow {
  /** The measure, e.g. "1. execution overhead". */
  measure: string;
  /** What this row measured, e.g. "200,000 ids, Moorcheh sim 2 ms, concurrency 4". */
  case: string;
  /** deletegate's median, in `unit`. */
  value: number;
  /** The baseline's median, in `unit`, from the same run. */
  baseline: number;
  unit: string;
  /** What the baseline is, e.g. "plain undici loop, same batches and concurrency". */
  baselineLabel: string;
  /** value / baseline (or, where the goal says so, another ratio: say which in `goal`). */
  ratio: number;
  /** The goal as the issue states it, e.g. "≤ 1.10×". */
  goal: string;
  met: boolean;
  /** How many repetitions the medians come from. */
  samples: number;
  /** Other figures worth a column: RSS, time per 100k ids, failed ids … */
  notes?: string;
}

export type Measure = (options: BenchOptions) => Promise<BenchRow[]>;

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
