// The command line: --help, --version, check-config, exit codes, and stdout carrying nothing but JSON-RPC.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, SPLENDOR_TOKEN, tempDir, writeConfig } from "./harness.js";

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    timeout: 15_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function configFile(content: unknown): string {
  const path = join(tempDir(), "config.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

const validBackend = {
  kind: "splendor",
  baseUrl: "http://127.0.0.1:9",
  credentialEnv: "SPLENDOR_TOKEN",
  tenantId: "acme",
};

describe("cli", () => {
  it("--help and --version", () => {
    const help = run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("check-config");
    expect(help.stdout).toContain("audit verify FILE [--head SHA]");
    expect(help.stdout).toContain("Processes on one machine may share an auditLog");
    const version = run(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("a bad flag or command → stderr and exit 2", () => {
    const flag = run(["--frobnicate"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("--frobnicate");
    expect(flag.stdout).toBe("");
    expect(run(["launch-missiles"]).code).toBe(2);
  });

  it("check-config prints a summary and exits 0, or names the broken key and exits 1", () => {
    const good = configFile({ store: "memory", backends: { "splendor-prod": validBackend } });
    const ok = run(["check-config", "--config", good], { SPLENDOR_TOKEN });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("splendor-prod (splendor)");
    // One line warns that the memory store forgets jobs; a durable store gets no such line.
    expect(ok.stdout.split("\n")).toContain(
      "warning: the memory store loses plans and jobs on restart (jobs in flight are lost); use sqlite or redis for durable jobs",
    );
    const durable = configFile({ store: "sqlite:./state.db", backends: { "splendor-prod": validBackend } });
    const sqlite = run(["check-config", "--config", durable], { SPLENDOR_TOKEN });
    expect(sqlite.code).toBe(0);
    expect(sqlite.stdout).not.toContain("warning");
    expect(ok.stdout).not.toContain(SPLENDOR_TOKEN);

    const big = configFile({ backends: { "splendor-prod": { ...validBackend, maxBatchSize: 2000 } } });
    const bad = run(["check-config", "--config", big], { SPLENDOR_TOKEN });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("CONFIG_INVALID: backends.splendor-prod.maxBatchSize: must be ≤ 1024");
  });

  it.each([
    [
      { backends: { p: validBackend } },
      {},
      "backends.p.credentialEnv: environment variable SPLENDOR_TOKEN is not set",
    ],
    [
      { backends: { p: { ...validBackend, tenantId: undefined } } },
      { SPLENDOR_TOKEN },
      "backends.p.tenantId",
    ],
    [
      { backends: { p: { ...validBackend, concurency: 2 } } },
      { SPLENDOR_TOKEN },
      "backends.p.concurency: unknown key",
    ],
    [
      { backends: { p: { ...validBackend, kind: "dropbox" } } },
      { SPLENDOR_TOKEN },
      "backends.p.kind: must be one of",
    ],
    [
      { limits: { maxIdsPerCall: 0 }, backends: { p: validBackend } },
      { SPLENDOR_TOKEN },
      "limits.maxIdsPerCall",
    ],
    ["{ not json", { SPLENDOR_TOKEN }, "not valid JSON"],
  ])("a bad config %j → CONFIG_INVALID naming the key, exit 2", (content, env, message) => {
    const result = run(["--config", configFile(content)], env as Record<string, string>);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CONFIG_INVALID");
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe("");
  });

  it("a valid config whose store cannot be created → exit 1 naming the store, not CONFIG_INVALID", () => {
    const file = configFile({ store: "sqlite:/etc/passwd/state.db", backends: { p: validBackend } });
    const result = run(["--config", file], { SPLENDOR_TOKEN });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot start with store sqlite:/etc/passwd/state.db");
    expect(result.stderr).not.toContain("CONFIG_INVALID");
    expect(result.stdout).toBe("");
  });

  it("a missing config file → exit 2 naming the path; DELETEGATE_CONFIG is used when --config is absent", () => {
    const missing = run([], { DELETEGATE_CONFIG: "/nonexistent/deletegate.json" });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("/nonexistent/deletegate.json: config file not found");
  });

  it("stdio: stdout carries nothing but JSON-RPC, even for malformed calls", async () => {
    const dir = tempDir();
    const { path } = writeConfig(dir, "http://127.0.0.1:9", { store: "memory" });
    const child = spawn(process.execPath, [CLI, "--config", path], {
      env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN, DELETEGATE_LOG_LEVEL: "debug" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "dry_run_delete", arguments: { ids: 5 } },
    });
    send({
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: { name: "execute_delete", arguments: { plan_id: "x" } },
    });
    child.stdin.write("this is not json\n");
    send({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "list_backends", arguments: {} } });
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('"id":5') && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 50));
    child.stdin.end();
    await new Promise((done) => child.on("exit", done));

    const lines = stdout.split("\n").filter((line) => line.length > 0);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(JSON.parse(line).jsonrpc).toBe("2.0");
    const byId = Object.fromEntries(
      lines.map((line) => JSON.parse(line)).map((message) => [message.id, message]),
    );
    expect(byId[3].result.isError).toBe(true);
    expect(byId[4].result.content[0].text).toMatch(/^PLAN_NOT_FOUND: /);
    expect(byId[5].result.structuredContent.backends).toHaveLength(1);
    expect(stderr).toContain("deletegate ready on stdio");
  });

  it("stdio: a line over the message cap is dropped and ends the session; stdout stays JSON-RPC", async () => {
    const dir = tempDir();
    // maxIdsPerCall 1: the cap is 1 MiB + 600 bytes (maxMessageBytes).
    const { path } = writeConfig(dir, "http://127.0.0.1:9", {
      store: "memory",
      limits: { maxIdsPerCall: 1 },
    });
    const child = spawn(process.execPath, [CLI, "--config", path], {
      env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdin.on("error", () => undefined);
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('"id":1') && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 50));
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/list", params: { pad: "x".repeat(2 * 1024 * 1024) } });
    send({ jsonrpc: "2.0", id: 3, method: "tools/list" });
    const code = await Promise.race([
      exited,
      new Promise((done) => setTimeout(() => done("running"), 10_000)),
    ]);
    if (code === "running") child.kill("SIGKILL");
    expect(code).toBe(0);
    const lines = stdout.split("\n").filter((line) => line.length > 0);
    expect(lines.map((line) => JSON.parse(line).id)).toEqual([1]);
    expect(stderr).toContain("shutting down");
    expect(stderr).toContain("client disconnected");
  });
});
