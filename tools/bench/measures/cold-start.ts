// Measure 5: cold start, from spawning the process to the answer to `initialize` on stdio, for the built server
// (dist/cli.js, or DELETEGATE_CLI as in the other measures; sqlite store) and for a bare SDK server
// (bare-server.mjs); both plain node on JS, both timed the same way: spawn, write the initialize request at once,
// stop the clock at its response line.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { CLI } from "./jobs-harness.js";
import { type BenchOptions, type BenchRow, median } from "./types.js";

const BARE = join(import.meta.dirname, "bare-server.mjs");
const TIMEOUT_MS = 30_000;

const INITIALIZE = `${JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "bench-cold-start", version: "1.0.0" },
  },
})}\n`;

type Server = "deletegate" | "bare";

function writeConfig(dir: string): string {
  const path = join(dir, "deletegate.config.json");
  const config = {
    store: `sqlite:${join(dir, "state.db")}`,
    auditLog: join(dir, "audit.jsonl"),
    backends: {
      "splendor-bench": {
        kind: "splendor",
        baseUrl: "http://127.0.0.1:9",
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: "bench",
      },
    },
  };
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Milliseconds from spawn to the initialize response; the process is then ended by closing its stdin. */
async function coldStart(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.stdin.write(INITIALIZE);
  try {
    return await new Promise<number>((answered, failed) => {
      let stdout = "";
      const timer = setTimeout(() => failed(new Error("no initialize response in time")), TIMEOUT_MS);
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const newline = stdout.indexOf("\n");
        if (newline < 0) return;
        const elapsed = performance.now() - started;
        clearTimeout(timer);
        const message = JSON.parse(stdout.slice(0, newline)) as { id?: number; result?: unknown };
        if (message.id === 1 && message.result) answered(elapsed);
        else failed(new Error(`unexpected first message: ${stdout.slice(0, newline)}`));
      });
      child.once("exit", (code) => failed(new Error(`exited with ${code} before answering`)));
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\nstderr: ${stderr}`);
  } finally {
    child.stdin.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function measure({ quick, log }: BenchOptions): Promise<BenchRow[]> {
  const runs = quick ? 3 : 10;
  const dir = mkdtempSync(join(tmpdir(), "deletegate-bench-cold-start-"));
  try {
    const config = writeConfig(dir);
    const env = { ...process.env, SPLENDOR_TOKEN: "bench-token", DELETEGATE_LOG_LEVEL: "warn" };
    const args: Record<Server, string[]> = { deletegate: [CLI, "--config", config], bare: [BARE] };
    // One unmeasured start of each: the files are then in the page cache and the sqlite store exists,
    // as on any start but the very first.
    for (const server of ["deletegate", "bare"] as const) await coldStart(args[server], env);
    const times: Record<Server, number[]> = { deletegate: [], bare: [] };
    for (let run = 0; run < runs; run++) {
      // Alternated so that drift on the machine touches both alike.
      for (const server of ["deletegate", "bare"] as const) {
        const ms = await coldStart(args[server], env);
        times[server].push(ms);
        log(`cold start ${server}: ${ms.toFixed(1)} ms`);
      }
    }
    const value = median(times.deletegate);
    const baseline = median(times.bare);
    return [
      {
        measure: "5. cold start",
        case: "spawn → initialize answered, stdio, sqlite store",
        value,
        baseline,
        unit: "ms",
        baselineLabel: "bare SDK server, one tool",
        ratio: value / baseline,
        goal: "≤ 1.3×",
        met: value / baseline <= 1.3,
        samples: runs,
        notes: `min ${Math.min(...times.deletegate).toFixed(0)} ms vs ${Math.min(...times.bare).toFixed(0)} ms`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
