// Measure 2: dry_run_delete of 10,000 and 100,000 ids over stdio (SDK client, built server, token mode, sqlite
// store) against an echo tool taking the same payload on a bare server of the SDK deletegate runs on (v2; the v1
// echo is measured too and noted): client-side latency and the server's RSS.
// Per size, one process of each, called in turn (round by round, in a rotating order): a first call of that size
// (its time noted: code not yet optimised), then the timed calls, each with its own ids; RSS from /proc/<pid>/status
// after the last call (VmRSS) and the peak (VmHWM).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

/** One server process, initialized: a timed call of `count` fresh ids per round, then its memory. */
interface Session {
  /** The call of round `round` (each round its own ids), client-side, in ms. */
  call(round: number): Promise<number>;
  /** VmRSS now and the process's peak (VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  close(): Promise<void>;
}

async function open(server: Server, count: number, dir: string): Promise<Session> {
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
  const failed = (error: unknown) => new Error(`${(error as Error).message}\n${server} stderr: ${stderr}`);
  try {
    await client.connect(transport);
  } catch (error) {
    throw failed(error);
  }
  const pid = transport.pid;
  if (pid === null) throw failed(new Error("no pid for the server process"));
  return {
    async call(round) {
      // Each call its own ids, so no plan shares ids with another; built before the clock starts.
      const args = { backend: BACKEND, target: TARGET, ids: ids(count, round * count), reason: REASON };
      try {
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
          server === "deletegate"
            ? (structured.counts as { received: number }).received
            : structured.received;
        if (received !== count) throw new Error(`${server}: ${received} ids received, ${count} sent`);
        return ms;
      } catch (error) {
        throw failed(error);
      }
    },
    memory: () => rssOf(pid),
    close: () => client.close().catch(() => undefined),
  };
}

/**
 * The three servers of one size, each its own process, called in turn: each round calls every server once, in an
 * order that rotates, so a slower moment of a shared VM falls on all of them alike rather than on whichever ran
 * then. A first call each (code not yet optimised) is noted apart; then `runs` rounds; RSS after the last.
 */
async function runAll(count: number, runs: number, dir: string): Promise<Record<Server, Run>> {
  const servers = ["bare-v1", "bare", "deletegate"] as const;
  const sessions = {} as Record<Server, Session>;
  try {
    for (const server of servers) {
      const serverDir = join(dir, server);
      mkdirSync(serverDir);
      sessions[server] = await open(server, count, serverDir);
    }
    const results = {} as Record<Server, Run>;
    for (const server of servers) {
      results[server] = { ms: [], firstMs: await sessions[server].call(0), rssAfter: 0, rssPeak: 0 };
    }
    for (let round = 1; round <= runs; round++) {
      for (let turn = 0; turn < servers.length; turn++) {
        const server = servers[(round + turn) % servers.length] as Server;
        results[server].ms.push(await sessions[server].call(round));
      }
    }
    for (const server of servers) {
      const { rss, peak } = sessions[server].memory();
      results[server].rssAfter = rss;
      results[server].rssPeak = peak;
    }
    return results;
  } finally {
    await Promise.all(Object.values(sessions).map((session) => session.close()));
  }
}

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const sizes = quick ? [1_000] : [10_000, 100_000];
  // 21 rounds: on a shared 2-core VM single calls vary by ±30 %; with one server after the other (15 calls each),
  // the echo's median alone moved by 30 % from one run to the next, and the 10k ratio with it (1.2–1.5×).
  const runs = quick ? 2 : 21;
  const rows: BenchRow[] = [];
  for (const count of sizes) {
    const dir = mkdtempSync(join(tmpdir(), "deletegate-bench-dry-run-"));
    let results: Record<Server, Run>;
    try {
      results = await runAll(count, runs, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const [server, result] of Object.entries(results)) {
      log(
        `dry run ${count} ids, ${server}: ${result.ms.map((ms) => ms.toFixed(1)).join(", ")} ms ` +
          `(first call ${result.firstMs.toFixed(1)} ms), RSS ${(result.rssAfter / MB).toFixed(0)} MB ` +
          `(peak ${(result.rssPeak / MB).toFixed(0)} MB)`,
      );
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
