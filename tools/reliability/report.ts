// Writes RELIABILITY.md's table from the trials the reliability suite recorded (test/reliability/report.ts).
// `--reset` empties the results before a run.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { RESULTS_FILE, type Trial } from "../../test/reliability/report.js";

const DOC = resolve(import.meta.dirname, "../../RELIABILITY.md");
const BEGIN = "<!-- trials:begin (written by npm run test:reliability) -->";
const END = "<!-- trials:end -->";
const AREAS = [
  "faults",
  "crash",
  "policy",
  "console",
  "hostile input",
  "secrets",
  "audit",
  "concurrency",
  "http attack",
];

if (process.argv.includes("--reset")) {
  rmSync(RESULTS_FILE, { force: true });
  process.exit(0);
}
if (!existsSync(RESULTS_FILE)) {
  console.error(`no results at ${RESULTS_FILE}: run the reliability suite first`);
  process.exit(1);
}
const trials = readFileSync(RESULTS_FILE, "utf8")
  .split("\n")
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as Trial & { at: string });
const rank = (area: string) => (AREAS.includes(area) ? AREAS.indexOf(area) : AREAS.length);
trials.sort((a, b) => rank(a.area) - rank(b.area) || a.trial.localeCompare(b.trial));

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const lostCell = (t: Trial) =>
  t.documentedLimit ? `${t.lost} (documented limit: ${cell(t.documentedLimit)})` : String(t.lost);
const rows = trials.map(
  (t) =>
    `| ${cell(t.area)} | ${cell(t.trial)} | ${t.runs.toLocaleString("en-US")} ${cell(t.unit)} | ${lostCell(t)} | ${cell(t.figures)} |`,
);
const lost = trials.filter((t) => !t.documentedLimit).reduce((sum, t) => sum + t.lost, 0);
const when =
  trials
    .map((t) => t.at)
    .sort()[0]
    ?.slice(0, 10) ?? "";
const table = [
  BEGIN,
  `Run of ${when} on ${process.platform}/${process.arch}, Node ${process.version}: ${trials.length} trials, **${lost} lost**.`,
  "",
  "| Area | Tried | How often | Lost | Figures |",
  "| --- | --- | --- | --- | --- |",
  ...rows,
  END,
].join("\n");

const doc = existsSync(DOC) ? readFileSync(DOC, "utf8") : `# Reliability\n\n${BEGIN}\n${END}\n`;
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start === -1 || end === -1) throw new Error(`RELIABILITY.md has no ${BEGIN} … ${END} block`);
writeFileSync(DOC, `${doc.slice(0, start)}${table}${doc.slice(end + END.length)}`);
console.log(`RELIABILITY.md: ${trials.length} trials, ${lost} lost`);
if (lost > 0) process.exit(1);
