// Rewrites what is made from the code (`npm run docs`; `--check` only compares): first the JSON files made from the
// registries (examples/demo.config.json, mcp.json, bundle/manifest.json, server.json), then the generated blocks of
// the docs (one of them shows mcp.json).
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fill, GENERATED, REGENERATE, ROOT, registryFiles, writeJsonFiles } from "./generated.js";

const check = process.argv.includes("--check");
const stale: string[] = [];

const files = await registryFiles();
const staleJson = Object.keys(files).filter(
  (file) => !isDeepStrictEqual(JSON.parse(readFileSync(resolve(ROOT, file), "utf8")), files[file]),
);
stale.push(...staleJson);
if (!check && staleJson.length > 0)
  writeJsonFiles(Object.fromEntries(staleJson.map((file) => [file, files[file]])));

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
} else console.log(stale.length > 0 ? `rewrote ${stale.join(", ")}` : "generated files are up to date");
