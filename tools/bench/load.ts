// HTTP load benchmark: one `deletegate --http` child, a Splendor simulator in this process, and N concurrent
// MCP sessions doing dry runs, job polls and job lists for a fixed time; prints latency per tool and exits
// non-zero on any error. Loopback only; stops by itself and closes everything it started.
//
//   npx tsx tools/bench/load.ts [--sessions 50] [--seconds 30] [--quick] [--markdown] [--json FILE]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type SplendorSimulator, startSplendorSimulator } from "../simulators/splendor.js";
import { LightClient } from "./light-client.js";
import { CLI } from "./measures/jobs-harness.js";
import { type LatencyStats, markdownTable, ms, processMemoryKb, summarize, table } from "./stats.js";

const REPO = resolve(import.meta.dirname, "../..");
const BACKEND = "splendor-bench";
const DATASET = "app-logs";
const TENANT = "bench";
const TOKEN_NAME = "load-bench";
const REASON = "Load benchmark: synthetic dry run, nothing is executed";
const TOOLS = ["dry_run_delete", "get_delete_job", "list_delete_jobs"] as const;
/** Pseudo-tool under which errors outside any call are counted (transport, close). */
const TRANSPORT = "(transport)";
/** A call slower than this is an error (the SDK's own default is 60 s). */
const CALL_TIMEOUT_MS = 30_000;
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];

const USAGE = `Usage: npx tsx tools/bench/load.ts [options]
  --sessions N     concurrent MCP sessions (default 50)
  --seconds S      length of the timed phase (default 30)
  --quick          10 sessions × 5 s (for CI)
  --ids-min N      fewest ids per dry run (default 100)
  --ids-max N      most ids per dry run (default 1000)
  --jobs N         small jobs executed before the timed phase, then polled (default 5)
  --markdown       also print the table as Markdown
  --json FILE      write the figures as JSON
  --store S        sqlite (default) or memory, the server's store
  --profile DIR    write a V8 CPU profile of the server (.cpuprofile) into DIR
  --client C       http (default: a small MCP client over node:http, tools/bench/light-client.ts, which leaves
                   the server most of the machine) or sdk (the SDK Client over Node's fetch: on 2 cores its
                   generator needs a whole core at about 1,300 calls/s and then sets the rate, not the server)
  --keep           keep the temp directory (config, sqlite store, audit log, server log)`;

interface Options {
  sessions: number;
  seconds: number;
  idsMin: number;
  idsMax: number;
  jobs: number;
  markdown: boolean;
  json: string | undefined;
  keep: boolean;
  store: "sqlite" | "memory";
  profile: string | undefined;
  client: "sdk" | "http";
}

function positive(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    process.stderr.write(`load: --${name} must be an integer 1..${max}, got "${raw}"\n${USAGE}\n`);
    process.exit(2);
  }
  return value;
}

function options(): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      options: {
        sessions: { type: "string" },
        seconds: { type: "string" },
        quick: { type: "boolean" },
        "ids-min": { type: "string" },
        "ids-max": { type: "string" },
        jobs: { type: "string" },
        markdown: { type: "boolean" },
        json: { type: "string" },
        keep: { type: "boolean" },
        store: { type: "string" },
        profile: { type: "string" },
        client: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`load: ${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const str = (key: string) => values[key] as string | undefined;
  const quick = values.quick === true;
  const opts: Options = {
    sessions: positive("sessions", str("sessions"), quick ? 10 : 50, 900),
    seconds: positive("seconds", str("seconds"), quick ? 5 : 30, 3600),
    idsMin: positive("ids-min", str("ids-min"), 100, 10_000),
    idsMax: positive("ids-max", str("ids-max"), 1000, 10_000),
    jobs: positive("jobs", str("jobs"), 5, 20),
    markdown: values.markdown === true,
    json: str("json"),
    keep: values.keep === true,
    store: str("store") === "memory" ? "memory" : "sqlite",
    profile: str("profile") === undefined ? undefined : resolve(str("profile") as string),
    client: str("client") === "sdk" ? "sdk" : "http",
  };
  if (str("client") !== undefined && !["sdk", "http"].includes(str("client") as string)) {
    process.stderr.write(`load: --client must be sdk or http\n${USAGE}\n`);
    process.exit(2);
  }
  if (str("store") !== undefined && !["sqlite", "memory"].includes(str("store") as string)) {
    process.stderr.write(`load: --store must be sqlite or memory\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.idsMin > opts.idsMax) {
    process.stderr.write("load: --ids-min is larger than --ids-max\n");
    process.exit(2);
  }
  return opts;
}

// ─── Recording ──────────────────────────────────────────────────────────────────────────────────────

/**
 * Node's fetch adds one abort listener per request to the SDK client transport's AbortSignal (one per session)
 * and drops it only when the request is garbage-collected; a fast session passes 1500 and Node warns on every
 * request. That is this process (the client), not the server: counted and reported once instead of printed.
 */
let abortListenerWarnings = 0;

function quietAbortListenerWarnings(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => {
    if (warning.name === "MaxListenersExceededWarning" && warning.message.includes("AbortSignal"))
      abortListenerWarnings++;
    else console.error(`${warning.name}: ${warning.message}`);
  });
}

class Recorder {
  readonly latencies = new Map<string, number[]>();
  readonly errorCounts = new Map<string, number>();
  /** "tool: message" (ids masked) → occurrences. */
  readonly messages = new Map<string, number>();

  record(tool: string, latencyMs: number | null, error: string | null): void {
    if (latencyMs !== null) {
      const list = this.latencies.get(tool) ?? [];
      list.push(latencyMs);
      this.latencies.set(tool, list);
    }
    if (error !== null) {
      this.errorCounts.set(tool, (this.errorCounts.get(tool) ?? 0) + 1);
      const key = `${tool}: ${error.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{16,}/gi, "…").slice(0, 240)}`;
      this.messages.set(key, (this.messages.get(key) ?? 0) + 1);
    }
  }

  get errors(): number {
    return [...this.errorCounts.values()].reduce((sum, count) => sum + count, 0);
  }

  stats(tool: string): LatencyStats {
    return summarize(this.latencies.get(tool) ?? [], this.errorCounts.get(tool) ?? 0);
  }

  overall(): LatencyStats {
    const all = TOOLS.flatMap((tool) => this.latencies.get(tool) ?? []);
    const errors = TOOLS.reduce((sum, tool) => sum + (this.errorCounts.get(tool) ?? 0), 0);
    return summarize(all, errors);
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}

type Check = (structured: Record<string, unknown>) => string | null;

/** Calls a tool, records its latency and any error: an isError result, a wrong result, or a throw. */
async function timedCall(
  recorder: Recorder,
  client: ToolCaller,
  tool: string,
  args: Record<string, unknown>,
  check: Check,
): Promise<Record<string, unknown> | null> {
  const started = performance.now();
  let error: string | null = null;
  let structured: Record<string, unknown> | null = null;
  try {
    const result = (await client.callTool({ name: tool, arguments: args }, undefined, {
      timeout: CALL_TIMEOUT_MS,
    })) as CallToolResult;
    if (result.isError) {
      const first = result.content[0];
      error = `isError: ${first?.type === "text" ? first.text : JSON.stringify(result.content)}`;
    } else {
      structured = (result.structuredContent ?? {}) as Record<string, unknown>;
      error = check(structured);
    }
  } catch (thrown) {
    error = `thrown: ${describeError(thrown)}`;
  }
  recorder.record(tool, performance.now() - started, error);
  return error === null ? structured : null;
}

// ─── The server under test ──────────────────────────────────────────────────────────────────────────

interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Log lines at warn (40) and error (50) or above. */
  warnings: string[];
  errors: string[];
  exited: Promise<number | null>;
}

function writeConfig(dir: string, sim: SplendorSimulator, opts: Options): { path: string; auditLog: string } {
  const auditLog = join(dir, "audit.jsonl");
  const config = {
    store: opts.store === "memory" ? "memory" : `sqlite:${join(dir, "state.db")}`,
    auditLog,
    confirmation: { mode: "token", ttlSeconds: 900 },
    limits: { maxIdsPerCall: Math.max(10_000, opts.idsMax) },
    http: { tokens: [{ name: TOKEN_NAME, tokenEnv: "DELETEGATE_BENCH_TOKEN" }] },
    backends: {
      [BACKEND]: {
        kind: "splendor",
        baseUrl: sim.url,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: TENANT,
        // Nothing in the benchmark may be refused by policy: the limits are far above what it asks for.
        maxItemsPerJob: 100_000_000,
        maxItemsPerDay: 1_000_000_000,
        concurrency: 16,
        requestsPerSecond: 1000,
      },
    },
  };
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return { path, auditLog };
}

/** Starts `deletegate --http` on a port the OS picks, and resolves with its URL once it logs that it is ready. */
async function startServer(
  configPath: string,
  logPath: string,
  env: Record<string, string>,
  maxSessions: number,
  nodeArgs: string[],
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, CLI, "--http", "--host", "127.0.0.1", "--port", "0", "--config", configPath],
    {
      env: {
        PATH: process.env.PATH ?? "",
        DELETEGATE_LOG_LEVEL: "info",
        DELETEGATE_MAX_SESSIONS: String(maxSessions),
        ...env,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const warnings: string[] = [];
  const errors: string[] = [];
  const log: string[] = [];
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    let pending = "";
    const timer = setTimeout(() => fail(new Error(`server not ready after 20 s:\n${log.join("")}`)), 20_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        log.push(`${line}\n`);
        let entry: { level?: number; msg?: string; url?: string } = {};
        try {
          entry = JSON.parse(line);
        } catch {
          errors.push(line);
          continue;
        }
        if ((entry.level ?? 0) >= 50) errors.push(line);
        else if ((entry.level ?? 0) >= 40) warnings.push(line);
        if (entry.msg === "deletegate ready on HTTP" && entry.url) {
          clearTimeout(timer);
          done(entry.url);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`server exited (${code}) before it was ready:\n${log.join("")}`));
    });
  });
  child.once("exit", () => writeFileSync(logPath, log.join("")));
  return { child, pid: child.pid ?? 0, url, warnings, errors, exited };
}

async function stopServer(server: ServerProcess): Promise<number | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.child.exitCode;
  server.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((done) => {
    timer = setTimeout(() => done("timeout"), 10_000);
  });
  const code = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  if (code !== "timeout") return code;
  server.child.kill("SIGKILL");
  return server.exited;
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory(pid: number): { rss: number; peak: number } | null {
  try {
    const { rss, peak } = processMemoryKb(pid);
    return { rss: rss / 1024, peak: peak / 1024 };
  } catch {
    return null;
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process (or, with `thread`, one of its threads) has used. */
function cpuSeconds(pid: number, thread?: number): number | null {
  try {
    const stat = readFileSync(thread ? `/proc/${pid}/task/${thread}/stat` : `/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Which code is measured: the commit, and whether src/ has uncommitted changes (dist/ is built from src/). */
function revision(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", REPO, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const commit = git("rev-parse", "--short", "HEAD");
    return git("status", "--porcelain", "--", "src") === ""
      ? commit
      : `${commit} + uncommitted changes in src/`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

/** Busy and total CPU seconds of the whole machine since boot (all cores), from /proc/stat. */
function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function machineCpu(): { busy: number; total: number } | null {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9);
    const ticks = fields.map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return null;
  }
}

// ─── Sessions ───────────────────────────────────────────────────────────────────────────────────────

/** What a session calls tools with: the SDK Client, or the light client. */
interface ToolCaller {
  callTool(
    params: { name: string; arguments: Record<string, unknown> },
    schema?: undefined,
    options?: { timeout: number },
  ): Promise<unknown>;
}

interface Session {
  client: ToolCaller;
  /** Ends the session (DELETE /mcp) and its connection. */
  close(): Promise<void>;
  /** Drops it without ending it (on an error exit). */
  abort(): Promise<void>;
}

async function openSession(
  url: string,
  token: string,
  name: string,
  recorder: Recorder,
  closing: () => boolean,
  kind: Options["client"],
): Promise<Session> {
  if (kind === "http") {
    const light = new LightClient(url, token, name);
    await light.connect();
    return { client: light, close: () => light.close(), abort: () => light.close().catch(() => undefined) };
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name, version: "1.0.0" });
  client.onerror = (error) => {
    // Aborted streams while closing are the close itself, not a failure.
    if (!closing()) recorder.record(TRANSPORT, null, `transport: ${describeError(error)}`);
  };
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession();
      await client.close();
    },
    abort: () => client.close().catch(() => undefined),
  };
}

async function closeSession(session: Session, recorder: Recorder): Promise<void> {
  await session.close().catch((error: unknown) => {
    recorder.record(TRANSPORT, null, `close: ${describeError(error)}`);
  });
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** One session's loop until the deadline: a dry run, two job polls, and every fifth round a job list. */
async function drive(
  session: Session,
  index: number,
  running: () => boolean,
  jobIds: readonly string[],
  recorder: Recorder,
  opts: Options,
): Promise<void> {
  const { client } = session;
  for (let round = 0; running(); round++) {
    const count = randomInt(opts.idsMin, opts.idsMax);
    const ids = Array.from({ length: count }, (_, i) => `s${index}-r${round}-${i}`);
    await timedCall(
      recorder,
      client,
      "dry_run_delete",
      { backend: BACKEND, target: { dataset_id: DATASET }, ids, reason: REASON },
      (plan) => {
        const counts = plan.counts as { to_delete?: number } | undefined;
        if (counts?.to_delete !== count) return `wrong result: to_delete ${counts?.to_delete}, sent ${count}`;
        const confirmation = plan.confirmation as { token?: string } | undefined;
        return typeof plan.plan_id === "string" && confirmation?.token
          ? null
          : "wrong result: no plan or token";
      },
    );
    for (let poll = 0; poll < 2 && running(); poll++) {
      const jobId = jobIds[randomInt(0, jobIds.length - 1)] as string;
      await timedCall(recorder, client, "get_delete_job", { job_id: jobId }, (job) =>
        job.job_id === jobId ? null : `wrong result: job_id ${String(job.job_id)}`,
      );
    }
    if ((round + index) % 5 === 0 && running()) {
      await timedCall(recorder, client, "list_delete_jobs", { limit: 20 }, (listed) => {
        const jobs = listed.jobs as unknown[] | undefined;
        return jobs?.length === jobIds.length
          ? null
          : `wrong result: ${jobs?.length} jobs listed, ${jobIds.length} exist`;
      });
    }
  }
}

/** Executes `count` small plans and waits until each job is terminal; returns their ids. */
async function makeJobs(client: ToolCaller, count: number): Promise<string[]> {
  const jobIds: string[] = [];
  for (let index = 0; index < count; index++) {
    const ids = Array.from({ length: 20 }, (_, i) => `setup-${index}-${i}`);
    const plan = await call(client, "dry_run_delete", {
      backend: BACKEND,
      target: { dataset_id: DATASET },
      ids,
      reason: "Load benchmark setup: a small job to poll",
    });
    const token = (plan.confirmation as { token?: string }).token;
    const job = await call(client, "execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: token,
      wait_seconds: 0,
    });
    jobIds.push(String(job.job_id));
  }
  const deadline = Date.now() + 30_000;
  for (const jobId of jobIds) {
    for (;;) {
      const job = await call(client, "get_delete_job", { job_id: jobId });
      if (TERMINAL.includes(String(job.status))) {
        if (job.status !== "succeeded") throw new Error(`setup job ${jobId} ended ${String(job.status)}`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`setup job ${jobId} still ${String(job.status)} after 30 s`);
      await sleep(100);
    }
  }
  return jobIds;
}

async function call(client: ToolCaller, name: string, args: Record<string, unknown>) {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (result.isError) {
    const first = result.content[0];
    throw new Error(`${name} failed: ${first?.type === "text" ? first.text : "?"}`);
  }
  return (result.structuredContent ?? {}) as Record<string, unknown>;
}

// ─── The run ────────────────────────────────────────────────────────────────────────────────────────

function countAudit(path: string, event: string): number {
  if (!existsSync(path)) return 0;
  let count = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.includes(`"event":"${event}"`)) count++;
  }
  return count;
}

/** Bytes of the files in a directory whose names start with `prefix` (the sqlite store with its -wal/-shm). */
function filesSize(dir: string, prefix: string): number {
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

function statsRow(name: string, stats: LatencyStats, seconds: number): string[] {
  return [
    name,
    String(stats.calls),
    (stats.calls / seconds).toFixed(0),
    String(stats.errors),
    ms(stats.p50),
    ms(stats.p90),
    ms(stats.p99),
    ms(stats.max),
  ];
}

async function run(opts: Options, cleanup: (task: () => Promise<void> | void) => void): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run npm run build first`);
    return 1;
  }
  const recorder = new Recorder();
  const splendorToken = randomBytes(16).toString("hex");
  const bearer = `dgb_${randomBytes(24).toString("hex")}`;
  const sim = await startSplendorSimulator({ token: splendorToken, tenantId: TENANT });
  cleanup(() => sim.close());
  const dir = mkdtempSync(join(tmpdir(), "deletegate-load-"));
  cleanup(() => {
    if (opts.keep) console.log(`files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const { path, auditLog } = writeConfig(dir, sim, opts);
  const server = await startServer(
    path,
    join(dir, "server.log"),
    {
      SPLENDOR_TOKEN: splendorToken,
      DELETEGATE_BENCH_TOKEN: bearer,
    },
    Math.max(1000, opts.sessions * 2),
    opts.profile ? ["--cpu-prof", `--cpu-prof-dir=${opts.profile}`] : [],
  );
  let serverExit: number | null | undefined;
  cleanup(async () => {
    serverExit = await stopServer(server);
  });

  console.log(
    `deletegate HTTP load: ${opts.sessions} sessions × ${opts.seconds} s against ${server.url} (pid ${server.pid})`,
  );
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "?"}, Node ${process.version}; ` +
      `store ${opts.store} in ${dir}; ${opts.idsMin}–${opts.idsMax} ids per dry run`,
  );
  console.log(`code: ${revision()}; load average before the run: ${loadAverage()}`);

  let closing = false;
  const isClosing = () => closing;
  const setup = await openSession(server.url, bearer, "load-setup", recorder, isClosing, opts.client);
  const jobIds = await makeJobs(setup.client, opts.jobs);
  await closeSession(setup, recorder);
  const before = memory(server.pid);
  console.log(
    `setup: ${jobIds.length} jobs executed and finished; server RSS ${before?.rss.toFixed(0) ?? "?"} MiB`,
  );

  const sessions: Session[] = [];
  cleanup(async () => {
    closing = true;
    await Promise.all(sessions.map((session) => session.abort()));
  });
  const connectStarted = performance.now();
  const connectTimes: number[] = [];
  const opened = await Promise.allSettled(
    Array.from({ length: opts.sessions }, async (_, index) => {
      const started = performance.now();
      const session = await openSession(
        server.url,
        bearer,
        `load-${index}`,
        recorder,
        isClosing,
        opts.client,
      );
      connectTimes.push(performance.now() - started);
      sessions.push(session);
    }),
  );
  for (const outcome of opened) {
    if (outcome.status === "rejected")
      recorder.record(TRANSPORT, null, `connect: ${describeError(outcome.reason)}`);
  }
  const connect = summarize(connectTimes, 0);
  console.log(
    `connect: ${sessions.length} of ${opts.sessions} sessions opened in ${ms(performance.now() - connectStarted)} ms ` +
      `(initialize p50 ${ms(connect.p50)} ms, max ${ms(connect.max)} ms)`,
  );

  const cpuBefore = cpuSeconds(server.pid);
  // The main thread runs the event loop: near 100% it is the bottleneck, whatever the process total says.
  const mainBefore = cpuSeconds(server.pid, server.pid);
  const clientCpuBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  // A server that dies ends the run at once rather than after thousands of refused connections.
  let serverGone = false;
  void server.exited.then(() => {
    serverGone = true;
  });
  const running = () => !serverGone && performance.now() < deadline;
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, memory(server.pid)?.rss ?? 0);
  }, 500);
  await Promise.all(sessions.map((session, index) => drive(session, index, running, jobIds, recorder, opts)));
  const elapsed = (performance.now() - started) / 1000;
  const diedDuringRun = serverGone;
  clearInterval(sampler);
  const cpuAfter = cpuSeconds(server.pid);
  const mainAfter = cpuSeconds(server.pid, server.pid);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const machineAfter = machineCpu();
  const atEnd = memory(server.pid);
  peakRss = Math.max(peakRss, atEnd?.rss ?? 0);

  closing = true;
  const closeStarted = performance.now();
  await Promise.all(sessions.map((session) => closeSession(session, recorder)));
  const closeMs = performance.now() - closeStarted;
  await sleep(1000);
  const afterClose = memory(server.pid);
  serverExit = await stopServer(server);
  if (diedDuringRun) {
    recorder.record(
      TRANSPORT,
      null,
      `server died during the run (exit code ${server.child.exitCode}, signal ${server.child.signalCode})`,
    );
  } else if (serverExit !== 0) {
    recorder.record(TRANSPORT, null, `server exited with code ${serverExit} on SIGTERM`);
  }
  for (const line of server.errors) recorder.record("(server log)", null, line);

  const plansCreated = countAudit(auditLog, "plan.created");
  const dryRunsOk = recorder.stats("dry_run_delete").calls - recorder.stats("dry_run_delete").errors;
  if (plansCreated !== dryRunsOk + opts.jobs) {
    recorder.record(
      "(audit)",
      null,
      `audit log has ${plansCreated} plan.created lines, expected ${dryRunsOk + opts.jobs}`,
    );
  }

  // ─── Report ───
  const header = ["tool", "calls", "calls/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"];
  const rows = [
    ...TOOLS.map((tool) => statsRow(tool, recorder.stats(tool), elapsed)),
    statsRow("overall", recorder.overall(), elapsed),
  ];
  console.log(
    `\n${sessions.length} sessions (${opts.client === "sdk" ? "SDK" : "light"} client), ${elapsed.toFixed(1)} s, ` +
      `${recorder.overall().calls} calls, ` +
      `${(recorder.overall().calls / elapsed).toFixed(0)} calls/s, ${recorder.errors} errors\n`,
  );
  console.log(table(header, rows));
  const percent = (seconds: number) => `${((seconds / elapsed) * 100).toFixed(0)}%`;
  const serverSeconds = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null;
  const loadSeconds = (clientCpu.user + clientCpu.system) / 1e6;
  const machineSeconds = machineBefore && machineAfter ? machineAfter.busy - machineBefore.busy : null;
  const mainSeconds = mainBefore !== null && mainAfter !== null ? mainAfter - mainBefore : null;
  const serverCpu =
    serverSeconds === null
      ? "?"
      : `${percent(serverSeconds)} (main thread ${mainSeconds === null ? "?" : percent(mainSeconds)})`;
  const loadCpu = percent(loadSeconds);
  // What else ran on the machine meanwhile: a busy neighbour skews every figure above.
  const otherCpu =
    machineSeconds === null || serverSeconds === null
      ? "?"
      : percent(Math.max(0, machineSeconds - serverSeconds - loadSeconds));
  const mib = (value: number | undefined) => (value === undefined ? "?" : `${value.toFixed(0)} MiB`);
  console.log(
    `\nserver RSS: ${mib(before?.rss)} after setup, ${mib(peakRss)} peak (sampled), ${mib(atEnd?.rss)} at the end, ` +
      `${mib(afterClose?.rss)} 1 s after the sessions closed (VmHWM ${mib(afterClose?.peak)})`,
  );
  console.log(
    `CPU over the timed phase (100% = one core, ${cpus().length} cores): server ${serverCpu}, ` +
      `load generator ${loadCpu}, other processes ${otherCpu}; sessions closed in ${ms(closeMs)} ms; server exit code ${serverExit}`,
  );
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const storeSize = opts.store === "sqlite" ? `store ${mb(filesSize(dir, "state.db"))}, ` : "";
  console.log(
    `files: ${storeSize}audit log ${mb(filesSize(dir, "audit.jsonl"))}; ` +
      `audit: ${plansCreated} plan.created lines; server log: ${server.errors.length} error and ${server.warnings.length} warning lines`,
  );
  if (serverSeconds !== null && machineSeconds !== null) {
    const others = machineSeconds - serverSeconds - loadSeconds;
    if (others / elapsed > 0.2) {
      console.log(
        `warning: other processes used ${percent(others)} of a core during the run; the latencies above are skewed by them`,
      );
    }
  }
  if (loadSeconds / elapsed > 0.9) {
    console.log(
      `warning: the load generator used ${loadCpu} of a core: it, not the server, may have set the rate ` +
        `(${opts.client === "sdk" ? "--client http costs it less" : "fewer sessions or a machine with more cores"})`,
    );
  }
  if (abortListenerWarnings > 0) {
    console.log(
      `note: the load generator's fetch warned ${abortListenerWarnings} times about abort listeners on a session's ` +
        "AbortSignal (client side, released by GC; not a server error)",
    );
  }
  if (opts.markdown) console.log(`\n${markdownTable(header, rows)}`);
  if (recorder.errors > 0) {
    console.log(`\nerrors (${recorder.errors}):`);
    const sorted = [...recorder.messages].sort((a, b) => b[1] - a[1]).slice(0, 20);
    for (const [message, count] of sorted) console.log(`  ${String(count).padStart(6)} × ${message}`);
  }
  if (opts.json) {
    const figures = {
      sessions: sessions.length,
      seconds: elapsed,
      node: process.version,
      cpus: cpus().length,
      tools: Object.fromEntries([...TOOLS].map((tool) => [tool, recorder.stats(tool)])),
      overall: recorder.overall(),
      errors: Object.fromEntries(recorder.messages),
      serverRssMiB: { afterSetup: before?.rss, peak: peakRss, end: atEnd?.rss, afterClose: afterClose?.rss },
      cpuPercent: {
        server: serverSeconds === null ? null : (serverSeconds / elapsed) * 100,
        serverMainThread: mainSeconds === null ? null : (mainSeconds / elapsed) * 100,
        loadGenerator: (loadSeconds / elapsed) * 100,
        machine: machineSeconds === null ? null : (machineSeconds / elapsed) * 100,
      },
    };
    writeFileSync(opts.json, `${JSON.stringify(figures, null, 2)}\n`);
  }
  const ok = recorder.errors === 0 && recorder.overall().calls > 0;
  console.log(ok ? "\nOK: no errors" : "\nFAILED: see the errors above");
  return ok ? 0 : 1;
}

async function main(): Promise<number> {
  const opts = options();
  quietAbortListenerWarnings();
  const tasks: (() => Promise<void> | void)[] = [];
  const cleanupAll = async () => {
    // Last started, first closed: sessions, then the server, then the temp dir and the simulator.
    for (const task of tasks.splice(0).reverse()) {
      try {
        await task();
      } catch (error) {
        console.error(`cleanup: ${describeError(error)}`);
      }
    }
  };
  // A hard bound: whatever hangs, the benchmark ends (and takes its server with it).
  const watchdog = setTimeout(
    () => {
      console.error("load: watchdog fired (the run took far longer than --seconds); stopping");
      void cleanupAll().finally(() => process.exit(1));
    },
    opts.seconds * 1000 + 180_000,
  );
  process.once("SIGINT", () => {
    void cleanupAll().finally(() => process.exit(130));
  });
  try {
    return await run(opts, (task) => tasks.push(task));
  } catch (error) {
    console.error(`load failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    await cleanupAll();
    clearTimeout(watchdog);
  }
}

process.exitCode = await main();
