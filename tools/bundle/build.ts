// `npm run bundle` (after `npm run build`): the MCP Bundle (.mcpb) for Claude Desktop's one-click install. Stages
// dist/, package.json, package-lock.json and the manifest in bundle/build/deletegate, installs the production
// dependencies there (`npm ci --omit=dev`, which compiles better-sqlite3 for this machine's platform and Node), then
// runs `mcpb validate` and `mcpb pack`. The bundle runs only where it was built (platform, CPU, Node major): the
// manifest is stamped with that, and the file's name says it.
// DELETEGATE_BUNDLE_REUSE_ADDON=1 (CI): installs with --ignore-scripts and copies the addon the repo's own `npm ci`
// compiled (same better-sqlite3 version, loaded by this Node first), saving the second ~55 s compile.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  bundleFile,
  MANIFEST_PATH,
  MCPB,
  MCPBIGNORE_PATH,
  type PackageJson,
  ROOT,
  readManifest,
  readPackageJson,
  STAGE_DIR,
  stampedManifest,
} from "./paths.js";

function fail(message: string): never {
  process.stderr.write(`bundle: ${message}\n`);
  process.exit(1);
}

function run(what: string, command: string, args: string[], cwd: string): number {
  const started = Date.now();
  process.stderr.write(`bundle: ${what}\n`);
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.error) fail(`${what} could not start: ${result.error.message}`);
  if (result.status !== 0) fail(`${what} failed (exit ${result.status ?? result.signal})`);
  return (Date.now() - started) / 1000;
}

/** package.json as the bundle needs it: no scripts (`prepare` would run tsc, a devDependency) and no devDependencies. */
function stagedPackageJson(pkg: PackageJson): PackageJson {
  const { scripts: _scripts, devDependencies: _devDependencies, ...rest } = pkg;
  return rest as PackageJson;
}

/** better-sqlite3's compiled addon, relative to a node_modules root. */
const ADDON = join("better-sqlite3", "build", "Release", "better_sqlite3.node");

function addonVersion(nodeModules: string): string {
  return (
    JSON.parse(readFileSync(join(nodeModules, "better-sqlite3", "package.json"), "utf8")) as PackageJson
  ).version;
}

/** Copies the repo's compiled addon into the staged install, after checking it is the same version and loads here. */
function reuseAddon(): void {
  const from = join(ROOT, "node_modules", ADDON);
  const to = join(STAGE_DIR, "node_modules", ADDON);
  const [ours, staged] = [
    addonVersion(join(ROOT, "node_modules")),
    addonVersion(join(STAGE_DIR, "node_modules")),
  ];
  if (ours !== staged) fail(`the repo has better-sqlite3 ${ours}, the bundle ${staged}: build without reuse`);
  try {
    createRequire(import.meta.url)(from);
  } catch (error) {
    fail(`${from} does not load in this Node (${(error as Error).message}): build without reuse`);
  }
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to);
  process.stderr.write(`bundle: reused ${from} (better-sqlite3 ${ours}, Node ${process.versions.node})\n`);
}

const started = Date.now();
const pkg = readPackageJson();
const manifest = readManifest();
if (manifest.version !== pkg.version)
  fail(`${MANIFEST_PATH} has version ${manifest.version}, package.json has ${pkg.version}: make them equal`);
if (!existsSync(join(ROOT, "dist", "cli.js"))) fail("dist/cli.js is missing: run `npm run build` first");

rmSync(STAGE_DIR, { recursive: true, force: true });
mkdirSync(STAGE_DIR, { recursive: true });
// Source maps point at src/, which the bundle does not carry (`mcpb pack` leaves *.map out anyway).
cpSync(join(ROOT, "dist"), join(STAGE_DIR, "dist"), {
  recursive: true,
  filter: (source) => !source.endsWith(".map"),
});
writeFileSync(join(STAGE_DIR, "package.json"), `${JSON.stringify(stagedPackageJson(pkg), null, 2)}\n`);
cpSync(join(ROOT, "package-lock.json"), join(STAGE_DIR, "package-lock.json"));
cpSync(MCPBIGNORE_PATH, join(STAGE_DIR, ".mcpbignore"));
const stamped = stampedManifest(manifest, pkg);
writeFileSync(join(STAGE_DIR, "manifest.json"), `${JSON.stringify(stamped, null, 2)}\n`);

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const reuse = process.env.DELETEGATE_BUNDLE_REUSE_ADDON === "1";
const installSeconds = reuse
  ? run(
      "npm ci --omit=dev --ignore-scripts in the staging folder",
      npm,
      ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
      STAGE_DIR,
    )
  : run(
      "npm ci --omit=dev in the staging folder (compiles better-sqlite3 when no prebuilt binary can be fetched)",
      npm,
      ["ci", "--omit=dev", "--no-audit", "--no-fund"],
      STAGE_DIR,
    );
if (reuse) reuseAddon();
run("mcpb validate", process.execPath, [MCPB, "validate", join(STAGE_DIR, "manifest.json")], ROOT);
const output = bundleFile(pkg.version);
rmSync(output, { force: true });
run("mcpb pack", process.execPath, [MCPB, "pack", STAGE_DIR, output], ROOT);
if (!existsSync(output)) fail(`mcpb pack wrote no ${output}`);

const megabytes = (statSync(output).size / 1024 / 1024).toFixed(1);
process.stderr.write(
  `bundle: wrote ${output} (${megabytes} MB) for ${stamped.compatibility.platforms?.join(",")} ${process.arch}, ` +
    `node ${stamped.compatibility.runtimes.node}; npm ci ${installSeconds.toFixed(0)} s, ` +
    `total ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
);
