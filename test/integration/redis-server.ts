// A real redis-server for tests: a free loopback port, no persistence, a temp dir; fails loudly when not installed.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  /** e.g. redis://127.0.0.1:51234 */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? "redis-server";

/** A port the OS just handed out and took back; redis-server has no --port 0. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || !address) throw new Error("no port from the OS");
  return address.port;
}

/** Answers true once a PING on the port gets +PONG. */
async function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    socket.setTimeout(500, () => socket.destroy());
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString();
      if (answer.includes("\r\n")) socket.end();
    });
    socket.on("close", () => resolve(answer.startsWith("+PONG")));
    socket.on("error", () => undefined);
  });
}

/** Why redis-server cannot run here, or null when it can. */
function missingReason(): string | null {
  const probe = spawnSync(REDIS_BIN, ["--version"], { encoding: "utf8" });
  if (!probe.error && probe.status === 0) return null;
  return `${REDIS_BIN} is not installed (${probe.error?.message ?? probe.stderr.trim()})`;
}

const missing = missingReason();
const HOW_TO_ENABLE = "install it with: apt-get install -y redis-server (.ci/run does this)";

/**
 * Whether the Redis tests of a file are skipped: only when redis-server is missing outside CI (a newcomer's
 * `npm test`), saying so in one line; under CI=true a missing binary fails them instead.
 */
export function skipWithoutRedis(what: string): boolean {
  if (missing === null || process.env.CI === "true") return false;
  console.warn(`SKIPPED: ${what}: ${missing}; ${HOW_TO_ENABLE}.`);
  return true;
}

function assertInstalled(): void {
  if (missing !== null) {
    throw new Error(`${missing}: the Redis store tests need a real redis-server; ${HOW_TO_ENABLE}.`);
  }
}

async function startOnce(port: number, dir: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    REDIS_BIN,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

/** Starts redis-server on a free loopback port (retrying when another process took the port first). */
export async function startRedisServer(): Promise<RedisServer> {
  assertInstalled();
  const dir = mkdtempSync(join(tmpdir(), "deletegate-redis-"));
  let lastOutput = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const { child, output } = await startOnce(port, dir);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let alive = true;
    void exited.then(() => {
      alive = false;
    });
    const deadline = Date.now() + 10_000;
    while (alive && Date.now() < deadline && !(await pings(port))) {
      await new Promise((done) => setTimeout(done, 50));
    }
    if (alive && (await pings(port))) {
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            await exited;
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastOutput = output();
    child.kill("SIGKILL");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start on a free port after 5 tries:\n${lastOutput}`);
}
