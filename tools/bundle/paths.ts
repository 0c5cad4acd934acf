// Where the MCP Bundle is staged and written, and what the build stamps into its manifest; shared by the build, the
// check and the tests.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
/** The manifest as committed: the source the build copies (and stamps) into the bundle. */
export const MANIFEST_PATH = join(ROOT, "bundle", "manifest.json");
/** Patterns `mcpb pack` leaves out (build leftovers of the native addon), copied into the staging folder. */
export const MCPBIGNORE_PATH = join(ROOT, "bundle", ".mcpbignore");
/** Ignored by git (bundle/.gitignore): the staging folder and the .mcpb files. */
export const BUILD_DIR = join(ROOT, "bundle", "build");
/** The mcpb command-line tool (a devDependency), run with this node. */
export const MCPB = join(ROOT, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js");
export const STAGE_DIR = join(BUILD_DIR, "deletegate");

export interface PackageJson {
  name: string;
  version: string;
  engines: { node: string };
  mcpName?: string;
  scripts?: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

export function readPackageJson(): PackageJson {
  return JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
}

/** The manifest's fields that the build, the check and the tests read. */
export interface Manifest {
  manifest_version: string;
  name: string;
  version: string;
  server: { type: string; entry_point: string; mcp_config: McpConfig };
  tools: { name: string; description: string }[];
  compatibility: { platforms?: string[]; runtimes: { node: string } };
  user_config: Record<string, { type: string; sensitive?: boolean; required?: boolean; default?: unknown }>;
  [key: string]: unknown;
}

export interface McpConfig {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export function readManifest(path = MANIFEST_PATH): Manifest {
  return JSON.parse(readFileSync(path, "utf8")) as Manifest;
}

/** The Node major this process runs: the one whose ABI the bundle's native addon (better-sqlite3) is built for. */
export function nodeMajor(version = process.versions.node): number {
  return Number(version.split(".")[0]);
}

/**
 * The Node versions a bundle built on `nodeVersion` runs on: that major only (a native addon loads only into the
 * Node ABI it was compiled for), and never below package.json's engines (">=20.18").
 */
export function nodeRange(engines: string, nodeVersion = process.versions.node): string {
  const floor = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(engines.trim());
  if (!floor) throw new Error(`package.json engines.node "${engines}" is not of the form ">=X.Y"`);
  const [floorMajor, floorMinor, floorPatch] = [
    Number(floor[1]),
    Number(floor[2] ?? 0),
    Number(floor[3] ?? 0),
  ];
  const major = nodeMajor(nodeVersion);
  if (major < floorMajor) throw new Error(`Node ${nodeVersion} is older than engines.node ${engines}`);
  const lower = major === floorMajor ? `${floorMajor}.${floorMinor}.${floorPatch}` : `${major}.0.0`;
  return `>=${lower} <${major + 1}.0.0`;
}

/** The file `npm run bundle` writes: its name says the one platform, CPU and Node major it runs on. */
export function bundleFile(version: string, platform = process.platform, arch = process.arch): string {
  return join(BUILD_DIR, `deletegate-${version}-${platform}-${arch}-node${nodeMajor()}.mcpb`);
}

/** The manifest that goes into the bundle: the committed one, stamped with what this build can run on. */
export function stampedManifest(manifest: Manifest, pkg: PackageJson): Manifest {
  return {
    ...manifest,
    compatibility: {
      ...manifest.compatibility,
      platforms: [process.platform],
      runtimes: { ...manifest.compatibility.runtimes, node: nodeRange(pkg.engines.node) },
    },
  };
}
