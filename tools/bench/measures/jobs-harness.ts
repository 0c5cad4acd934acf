// What the job measures (overhead, rate, scale) share: a Moorcheh simulator in this process, the built server on
// stdio driven by the SDK Client, a dry run + execute timed to the job's terminal status, RSS from /proc, and the
// baseline: a plain undici loop sending the same batches.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Agent, request } from "undici";
import {
  type MoorchehSimulator,
  type MoorchehSimulatorOptions,
  startMoorchehSimulator,
} from "../../simulators/moorcheh.js";
import { processMemoryKb } from "../stats.js";

/**
 * The server measured: this repo's build, or DELETEGATE_CLI (another build, e.g. an older commit's, for an A/B run),
 * the variable the integration tests read too.
 */
export const CLI = process.env.DELETEGATE_CLI ?? resolve(import.meta.dirname, "../../../dist/cli.js");
export const MOORCHEH_KEY = "bench-moorcheh-key-5d83a1";
export const BACKEND = "moorcheh-bench";
export const REASON = "Benchmark: delete synthetic documents";
/** The config's maximum requestsPerSecond: "no rate limit". */
export const MAX_RPS = 10_000;
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];
/** After execute_delete's own wait (30 s at most) ends, the job is polled this often. */
const POLL_MS = 5;
const MB = 1024 * 1024;

export async function startSim(
  options: Omit<MoorchehSimulatorOptions, "apiKey"> = {},
): Promise<MoorchehSimulator> {
  return startMoorchehSimulator({ apiKey: MOORCHEH_KEY, trackIds: false, ...options });
}

/** Puts `count` fresh ids into a fresh namespace of the simulator; the job must really delete them. */
export function seed(sim: MoorchehSimulator, namespace: string, count: number): string[] {
  const ids = Array.from({ length: count }, (_, index) => `${namespace}-${index}`);
  sim.addItems(namespace, "documents", ids);
  return ids;
}

/**
 * `count` fresh numeric ids from `base` (Moorcheh takes numbers and the plan makes them strings). Used where a
 * million ids go in one dry_run_delete: the SDK's stdio transport drops a message over 10 MB, and 1M ids of
 * 8 digits are 9 MB of JSON (1M UUIDs would be 39 MB).
 */
export function seedNumbers(
  sim: MoorchehSimulator,
  namespace: string,
  count: number,
  base: number,
): number[] {
  const ids = Array.from({ length: count }, (_, index) => base + index);
  sim.addItems(
    namespace,
    "documents",
    ids.map((id) => String(id)),
  );
  return ids;
}

export interface GateOptions {
  concurrency: number;
  requestsPerSecond: number;
  /** The Moorcheh cap (1000) unless set. */
  maxBatchSize?: number;
  maxIdsPerCall: number;
  /** "sqlite" (default: the config's default store) or "memory". */
  store?: "sqlite" | "memory";
  maxAttempts?: number;
}

export interface GateServer {
  pid: number;
  dir: string;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  stderr(): string;
  close(): Promise<void>;
}

/**
 * The built server with one moorcheh backend at the simulator, token confirmation, the sqlite store in a temp
 * directory. BENCH_SERVER_NODE_ARGS (space-separated) go before the script, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
 * (Node 20 refuses --cpu-prof in NODE_OPTIONS).
 */
export async function startGate(sim: MoorchehSimulator, options: GateOptions): Promise<GateServer> {
  const dir = mkdtempSync(join(tmpdir(), "deletegate-bench-"));
  const config = {
    store: options.store === "memory" ? "memory" : `sqlite:${join(dir, "state.db")}`,
    auditLog: join(dir, "audit.jsonl"),
    confirmation: { mode: "token", ttlSeconds: 900 },
    limits: { maxIdsPerCall: options.maxIdsPerCall },
    backends: {
      [BACKEND]: {
        kind: "moorcheh",
        baseUrl: sim.url,
        credentialEnv: "MOORCHEH_API_KEY",
        allowTargets: ["bench-*"],
        concurrency: options.concurrency,
        requestsPerSecond: options.requestsPerSecond,
        maxItemsPerJob: 100_000_000,
        ...(options.maxBatchSize ? { maxBatchSize: options.maxBatchSize } : {}),
        ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
      },
    },
  };
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...nodeArgs, CLI, "--config", path],
    env: { PATH: process.env.PATH ?? "", MOORCHEH_API_KEY: MOORCHEH_KEY },
    cwd: dir,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error("server has no pid");
  return {
    pid,
    dir,
    stderr: () => stderr,
    call: (name, args) =>
      client.callTool({ name, arguments: args }, undefined, { timeout: 600_000 }) as Promise<CallToolResult>,
    async close() {
      await client.close();
      if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tool results are read field by field
export function structured(result: CallToolResult): any {
  if (result.isError) {
    const first = result.content[0];
    throw new Error(`tool error: ${first?.type === "text" ? first.text : "?"}`);
  }
  return result.structuredContent;
}

/** VmRSS or VmHWM of a process, in MB. */
export function rssMb(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const { rss, peak } = processMemoryKb(pid);
  return (field === "VmRSS" ? rss : peak) / 1024;
}

/**
 * The peak RSS of a phase: VmHWM after resetting it (clear_refs 5) at the phase's start, and the maximum of
 * VmRSS sampled every 10 ms as a check (and the fallback where the reset is not allowed).
 */
export class PeakRss {
  private max = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly reset: boolean;

  constructor(private readonly pid: number) {
    let reset = true;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      reset = false;
    }
    this.reset = reset;
    this.sample();
    this.timer = setInterval(() => this.sample(), 10);
  }

  private sample(): void {
    try {
      this.max = Math.max(this.max, rssMb(this.pid));
    } catch {}
  }

  /** Peak RSS in MB since construction. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    if (!this.reset) return this.max;
    try {
      return Math.max(this.max, rssMb(this.pid, "VmHWM"));
    } catch {
      return this.max;
    }
  }
}

export interface DryRunResult {
  planId: string;
  token: string;
  ms: number;
  peakRssMb: number;
}

export async function dryRun(
  gate: GateServer,
  namespace: string,
  ids: (string | number)[],
): Promise<DryRunResult> {
  const peak = new PeakRss(gate.pid);
  const started = performance.now();
  const plan = structured(
    await gate.call("dry_run_delete", {
      backend: BACKEND,
      target: { namespace, type: "documents" },
      ids,
      reason: REASON,
    }),
  );
  const ms = performance.now() - started;
  if (plan.counts.to_delete !== ids.length) throw new Error(`plan has ${plan.counts.to_delete} ids`);
  return { planId: plan.plan_id, token: plan.confirmation.token, ms, peakRssMb: peak.stop() };
}

export interface JobResult {
  /** execute_delete called → the job's terminal status seen. */
  ms: number;
  status: string;
  // biome-ignore lint/suspicious/noExplicitAny: the job view as get_delete_job returns it
  counts: any;
  peakRssMb: number;
}

/**
 * Executes a plan and waits for its terminal status: execute_delete waits up to 30 s itself and answers when the
 * job ends (no polling granularity); a longer job is then polled every 5 ms.
 */
export async function execute(gate: GateServer, plan: DryRunResult): Promise<JobResult> {
  const peak = new PeakRss(gate.pid);
  const started = performance.now();
  let job = structured(
    await gate.call("execute_delete", {
      plan_id: plan.planId,
      confirmation_token: plan.token,
      wait_seconds: 30,
    }),
  );
  while (!TERMINAL.includes(job.status)) {
    await sleep(POLL_MS);
    job = structured(await gate.call("get_delete_job", { job_id: job.job_id, failed_limit: 1 }));
  }
  const ms = performance.now() - started;
  return { ms, status: job.status, counts: job.counts, peakRssMb: peak.stop() };
}

/** Dry run, execute, check every id left the simulator (unless `tolerate`: then `left` says how many did not). */
export async function gateJob(
  gate: GateServer,
  sim: MoorchehSimulator,
  namespace: string,
  count: number,
  tolerate = false,
): Promise<{ dryRun: DryRunResult; job: JobResult; left: number }> {
  const ids = seed(sim, namespace, count);
  const plan = await dryRun(gate, namespace, ids);
  const job = await execute(gate, plan);
  const left = sim.remainingCount(namespace, "documents");
  if (!tolerate && (job.status !== "succeeded" || left !== 0)) {
    throw new Error(
      `job ${job.status} with ${left} ids left in ${namespace} (${JSON.stringify(job.counts)}); server log: ${gate.stderr().slice(-2000)}`,
    );
  }
  return { dryRun: plan, job, left };
}

/**
 * The baseline: what one would write by hand to send the same batches — an undici Agent with `concurrency`
 * connections, `concurrency` workers each POSTing the next batch (same URL, headers and JSON body as the
 * gate) and reading the JSON answer. No store, no audit, no retries.
 */
export class PlainLoop {
  private readonly agent: Agent;

  constructor(
    private readonly sim: MoorchehSimulator,
    private readonly concurrency: number,
  ) {
    this.agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  }

  /** Sends the ids in batches of `batchSize`; returns the wall time in ms. */
  async run(namespace: string, ids: string[], batchSize: number): Promise<number> {
    const url = `${this.sim.url}/namespaces/${encodeURIComponent(namespace)}/documents/delete`;
    const headers = {
      accept: "application/json",
      "x-api-key": MOORCHEH_KEY,
      "content-type": "application/json",
    };
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (let start = next; start < ids.length; start = next) {
        next += batchSize;
        const response = await request(url, {
          method: "POST",
          headers,
          body: JSON.stringify({ ids: ids.slice(start, start + batchSize) }),
          dispatcher: this.agent,
        });
        const body = (await response.body.json()) as { actual_deletions?: number };
        if (response.statusCode !== 200) throw new Error(`baseline: HTTP ${response.statusCode}`);
        if (typeof body.actual_deletions !== "number") throw new Error("baseline: no actual_deletions");
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
    const ms = performance.now() - started;
    const left = this.sim.remainingCount(namespace, "documents");
    if (left !== 0) throw new Error(`baseline left ${left} ids in ${namespace}`);
    return ms;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function mb(value: number): string {
  return `${value.toFixed(0)} MB`;
}

export { MB };
