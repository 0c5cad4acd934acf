// What each reliability trial tried and what it lost, appended as JSON lines while the suite runs; after the run
// `tools/reliability/report.ts` turns the lines into the table of RELIABILITY.md.
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

export const RESULTS_FILE = resolve(
  import.meta.dirname,
  "../..",
  process.env.RELIABILITY_RESULTS ?? ".reliability/results.jsonl",
);

export interface Trial {
  /** The area: "faults", "crash", "hostile input", "secrets", "audit", "concurrency", "http attack". */
  area: string;
  /** What was tried, e.g. "moorcheh: 5xx bursts + 429 + resets + hangs, 20,000 ids". */
  trial: string;
  /** How often it was tried in this run (runs, kills, generated inputs, requests …). */
  runs: number;
  /** The unit of `runs`, e.g. "jobs", "kills", "inputs". */
  unit: string;
  /** What was lost: ids never deleted or deleted twice, plans run twice, secrets shown, crashes. Must be 0. */
  lost: number;
  /** The figures that back it, e.g. "20,000 deleted once; 41 retries; max 3 of 5 attempts; 38 s". */
  figures: string;
  /**
   * Set only for a loss the README documents as a limit (the memory store forgets its jobs on restart):
   * the table shows it beside `lost`, and it does not fail the run.
   */
  documentedLimit?: string;
}

export function recordTrial(trial: Trial): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify({ ...trial, at: new Date().toISOString() })}\n`);
}
