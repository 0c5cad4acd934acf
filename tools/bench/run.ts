// npm run bench: every measure of issue 6 against its baseline in the same run; prints the table and writes it to
// BENCHMARKS.md. `--quick` runs small sizes to show the harness works (CI) and never fails on a ratio.
//   npm run bench [-- --quick] [--only overhead,dry-run,rate,scale,cold-start,list] [--no-write]
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BenchOptions, BenchRow, Measure } from "./measures/types.js";
import { markdownTable, table } from "./stats.js";

const MEASURES: Record<string, () => Promise<{ measure: Measure }>> = {
  overhead: () => import("./measures/overhead.js"),
  "dry-run": () => import("./measures/dry-run.js"),
  rate: () => import("./measures/rate.js"),
  scale: () => import("./measures/scale.js"),
  "cold-start": () => import("./measures/cold-start.js"),
  list: () => import("./measures/list.js"),
};

const DOC = resolve(import.meta.dirname, "../../BENCHMARKS.md");
const BEGIN = "<!-- bench:begin (written by npm run bench) -->";
const END = "<!-- bench:end -->";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    "no-write": { type: "boolean" },
  },
});
const quick = values.quick === true;
const only = values.only ? values.only.split(",") : Object.keys(MEASURES);
for (const name of only) {
  if (!MEASURES[name]) {
    console.error(`bench: unknown measure "${name}" (known: ${Object.keys(MEASURES).join(", ")})`);
    process.exit(2);
  }
}

const options: BenchOptions = { quick, log: (line) => console.error(`  ${line}`) };
const rows: BenchRow[] = [];
const started = Date.now();
for (const name of only) {
  console.error(`bench: ${name}${quick ? " (quick)" : ""}`);
  const { measure } = await (MEASURES[name] as () => Promise<{ measure: Measure }>)();
  rows.push(...(await measure(options)));
}

const number = (value: number) =>
  Number.isFinite(value) ? (Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)) : "n/a";
const header = ["measure", "case", "deletegate", "baseline", "ratio", "goal", "met", "n", "notes"];
const cells = rows.map((row) => [
  row.measure,
  row.case,
  `${number(row.value)} ${row.unit}`,
  `${number(row.baseline)} ${row.unit} (${row.baselineLabel})`,
  `${row.ratio.toFixed(2)}`,
  row.goal,
  row.met ? "yes" : "**no**",
  String(row.samples),
  row.notes ?? "",
]);
console.log(table(header, cells));

let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
} catch {}
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, Node ${process.version}, commit ${commit}`;
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n${machine}; ${minutes} min${quick ? "; quick run: ratios not judged" : ""}`);

if (!quick && !values["no-write"]) {
  const block = [
    BEGIN,
    `Run of ${new Date().toISOString().slice(0, 10)}: ${machine}; ${minutes} min. Medians; the baseline of each row was measured in the same run.`,
    "",
    markdownTable(header, cells),
    END,
  ].join("\n");
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  const next =
    start === -1 || end === -1
      ? `${doc.trimEnd()}\n\n## Issue 6: the gate next to the backend\n\n${block}\n`
      : `${doc.slice(0, start)}${block}${doc.slice(end + END.length)}`;
  writeFileSync(DOC, next);
  console.error("bench: table written to BENCHMARKS.md");
}
