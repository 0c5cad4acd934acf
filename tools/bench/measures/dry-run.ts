// Measure 2: dry_run_delete of 10,000 and 100,000 ids over stdio (SDK client, built server, token mode, sqlite
// store) against an echo tool taking the same payload on a bare server of the SDK deletegate runs on (v2; the v1
// echo is measured too and noted): client-side latency and the server's RSS.
// Per size, one process of each: a first call of that size (its time noted: code not yet optimised), then the timed
// calls, each with its own ids; RSS from /proc/<pid>/status after the last call (VmRSS) and the peak (VmHWM).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { processMemoryKb } from "../stats.js";
import { CLI } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

/** The baselines: the same echo tool on the SDK deletegate runs on (v2), and on the v1 SDK (noted, not judged). */
const BARE = {
  bare: join(import.meta.dirname, "bare-server-v2.mjs"),
  "bare-v1": join(import.meta.dirname, "bare-server.mjs"),
};
const BACKEND = "splendor-bench";
const TARGET = { dataset_id: "bench-records" };
const REASON = "Benchmark: dry run latency, nothing is executed";
const CALL_TIMEOUT_MS = 300_000;
const MB = 1024 * 1024;
/** Issue 12's goal for the latency ratio (the RSS rows keep 1.5×). */
const GOAL = 1.3;

interface Run {
  /** The timed calls, in ms. */
  ms: number[];
  /** The first call of that size in the process (code not yet optimised), in ms. */
  firstMs: number;
  rssAfter: number;
  rssPeak: number;
}

type Server = "deletegate" | "bare" | "bare-v1";

function serverNodeArgs(): string[] {
  return (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
}

function ids(count: number, offset = 0): string[] {
  return Array.from({ length: count }, (_, index) => `rec-${String(offset + index).padStart(8, "0")}`);
}

/** VmRSS and VmHWM (peak) of a live process, in bytes. */
function rssOf(pid: number): { rss: number; peak: number } {
  const { rss, peak } = processMemoryKb(pid);
  return { rss: rss * 1024, peak: peak * 1024 };
}

function writeConfig(dir: string, maxIds: number): string {
  const path = join(dir, "deletegate.config.json");
  const config = {
    store: `sqlite:${join(dir, "state.db")}`,
    auditLog: join(dir, "audit.jsonl"),
    confirmation: { mode: "token", ttlSeconds: 900 },
    limits: { maxIdsPerCall: maxIds },
    backends: {
      [BACKEND]: {
        kind: "splendor",
        // Never contacted: a dry run sends nothing to the backend.
        baseUrl: "http://127.0.0.1:9",
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: "bench",
        maxItemsPerJob: 100_000_000,
        maxItemsPerDay: 1_000_000_000,
      },
    },
  };
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * One server process: initialize, one warm-up call of the same size (distinct ids), then `runs` timed calls; RSS
 * after the last call (VmRSS) and the process's peak (VmHWM).
 */
async function run(server: Server, count: number, runs: number, dir: string): Promise<Run> {
  const env = { ...(process.env as Record<string, string>), SPLENDOR_TOKEN: "bench-token" };
  const transport =
    server === "deletegate"
      ? new StdioClientTransport({
          command: process.execPath,
          // BENCH_SERVER_NODE_ARGS (space-separated) go before the script, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
          args: [...serverNodeArgs(), CLI, "--config", writeConfig(dir, count)],
          env: { ...env, DELETEGATE_LOG_LEVEL: "warn" },
          stderr: "pipe",
        })
      : new StdioClientTransport({ command: process.execPath, args: [BARE[server]], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const client = new Client({ name: "bench-dry-run", version: "1.0.0" });
  try {
    await client.connect(transport);
    const pid = transport.pid;
    if (pid === null) throw new Error("no pid for the server process");
    // Each call its own ids, so no plan shares ids with another; built before the clock starts.
    const timedCall = async (round: number) => {
      const payload = ids(count, round * count);
      const args = { backend: BACKEND, target: TARGET, ids: payload, reason: REASON };
      const started = performance.now();
      const result = (await client.callTool(
        { name: server === "deletegate" ? "dry_run_delete" : "echo", arguments: args },
        undefined,
        { timeout: CALL_TIMEOUT_MS },
      )) as CallToolResult;
      const ms = performance.now() - started;
      const first = result.content[0];
      if (result.isError) throw new Error(`${server}: ${first?.type === "text" ? first.text : "error"}`);
      const structured = result.structuredContent as Record<string, unknown>;
      const received =
        server === "deletegate" ? (structured.counts as { received: number }).received : structured.received;
      if (received !== count) throw new Error(`${server}: ${received} ids received, ${count} sent`);
      return ms;
    };
    const firstMs = await timedCall(0);
    const ms: number[] = [];
    for (let round = 1; round <= runs; round++) ms.push(await timedCall(round));
    const { rss, peak } = rssOf(pid);
    return { ms, firstMs, rssAfter: rss, rssPeak: peak };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${server} stderr: ${stderr}`);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const sizes = quick ? [1_000] : [10_000, 100_000];
  // 15 calls: on a shared 2-core VM single calls vary by ±30 %, and a median of 5 moved the ratio by 0.3.
  const runs = quick ? 2 : 15;
  const rows: BenchRow[] = [];
  for (const count of sizes) {
    const results = {} as Record<Server, Run>;
    for (const server of ["bare-v1", "bare", "deletegate"] as const) {
      const dir = mkdtempSync(join(tmpdir(), "deletegate-bench-dry-run-"));
      try {
        const result = await run(server, count, runs, dir);
        results[server] = result;
        log(
          `dry run ${count} ids, ${server}: ${result.ms.map((ms) => ms.toFixed(1)).join(", ")} ms ` +
            `(first call ${result.firstMs.toFixed(1)} ms), RSS ${(result.rssAfter / MB).toFixed(0)} MB ` +
            `(peak ${(result.rssPeak / MB).toFixed(0)} MB)`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const { deletegate, bare, "bare-v1": bareV1 } = results;
    const ms = { value: median(deletegate.ms), baseline: median(bare.ms) };
    const peak = { value: deletegate.rssPeak / MB, baseline: bare.rssPeak / MB };
    const after = { value: deletegate.rssAfter / MB, baseline: bare.rssAfter / MB };
    const label = "echo tool, same payload, bare server on the same SDK (v2)";
    const common = { measure: "2. dry run", goal: `≤ ${GOAL}×`, samples: runs, baselineLabel: label };
    const size = count.toLocaleString("en-US");
    rows.push({
      ...common,
      case: `${size} ids over stdio: latency`,
      value: ms.value,
      baseline: ms.baseline,
      unit: "ms",
      ratio: ms.value / ms.baseline,
      met: ms.value / ms.baseline <= GOAL,
      notes:
        `client-side, token mode, sqlite store; first call of the process ${deletegate.firstMs.toFixed(0)} ms ` +
        `vs ${bare.firstMs.toFixed(0)} ms; the echo on the v1 SDK ${median(bareV1.ms).toPrecision(3)} ms`,
    });
    rows.push({
      ...common,
      case: `${size} ids over stdio: server peak RSS`,
      value: peak.value,
      baseline: peak.baseline,
      unit: "MB",
      ratio: peak.value / peak.baseline,
      goal: "≤ 1.5×",
      met: peak.value / peak.baseline <= 1.5 && after.value / after.baseline <= 1.5,
      notes:
        `RSS after the last call ${after.value.toFixed(0)} MB vs ${after.baseline.toFixed(0)} MB ` +
        `(${(after.value / after.baseline).toFixed(2)}×); peak over ${runs + 1} calls`,
    });
  }
  return rows;
}
