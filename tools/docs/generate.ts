// Rewrites the generated blocks of the docs from the code (`npx tsx tools/docs/generate.ts`; `--check` only compares).
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fill, GENERATED, REGENERATE, ROOT } from "./generated.js";

const check = process.argv.includes("--check");
const stale: string[] = [];
for (const file of Object.keys(GENERATED)) {
  const path = resolve(ROOT, file);
  const text = readFileSync(path, "utf8");
  const filled = fill(file, text);
  if (filled === text) continue;
  stale.push(file);
  if (!check) writeFileSync(path, filled);
}
if (check && stale.length > 0) {
  console.error(`out of date: ${stale.join(", ")}; run ${REGENERATE}`);
  process.exitCode = 1;
} else console.log(stale.length > 0 ? `rewrote ${stale.join(", ")}` : "docs are up to date");
