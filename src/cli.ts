#!/usr/bin/env node
// Entry point: parse flags, load the config, and serve MCP on stdio (or check the config, or verify an audit log).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import v8 from "node:v8";
import type { App } from "./app.js";
import { verifyAuditFile } from "./audit/index.js";
import type { BackendConfig, Config } from "./config.js";

// Memory before speed where it costs little: V8 lets the heap grow to 1.1× what the last full collection kept (by
// default up to 4×), so a one-million-id dry run and its job peak under 200 MB RSS instead of 230–300 MB, at the
// same dry-run time (BENCHMARKS.md, measure 4). Read by the collector at each collection, so it applies from here on.
v8.setFlagsFromString("--heap-growing-percent=10");

const USAGE = `deletegate — an MCP server that lets AI agents delete data safely

Usage:
  deletegate [--config FILE]                 MCP server on stdio (default)
  deletegate --http [--host H] [--port P]    Streamable HTTP at /mcp (default 127.0.0.1:8808)
  deletegate console [--host H] [--port P]   the approval console alone, for stdio setups (default 127.0.0.1:8809)
  deletegate check-config [--config FILE]    validate the config and print a summary
  deletegate audit verify FILE [--head SHA]  check the audit log's hash chain: exit 0 intact, 1 broken
  deletegate approver hash                   read a password on stdin, print its passwordHash for the config
  deletegate init [flags]                    write a starter config, print the client snippets (init --help)
  deletegate --help | --version

Config path: --config, else $DELETEGATE_CONFIG, else ./deletegate.config.json.
Logs go to stderr at log.level (default info). The config keys log.level, http.sessionIdleMs,
http.maxSessions, jobs.leaseMs and jobs.backendJobMaxMs may be overridden by DELETEGATE_LOG_LEVEL,
DELETEGATE_SESSION_IDLE_MS, DELETEGATE_MAX_SESSIONS, DELETEGATE_LEASE_MS and
DELETEGATE_BACKEND_JOB_MAX_MS; the environment wins. On a shared store (a sqlite file, redis://) a
process holds a job's lease for jobs.leaseMs and renews it while it runs the job.
Processes on one machine may share an auditLog (appends are serialised by <file>.lock);
instances on different machines each need their own.
audit verify --head SHA also checks that the line whose sha256 you noted earlier is still in the file.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

type KindOf = typeof import("./backends/index.js").kindOf;

function targetsLine(backend: BackendConfig, kindOf: KindOf): string {
  if (kindOf(backend).targetSchema === null) return "no target";
  return `targets ${backend.allowTargets?.join(", ") ?? "any"}`;
}

function httpOptions(host = "127.0.0.1", portText = "8808") {
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535)
    fail(`deletegate: --port must be 0..65535, got "${portText}"`, 2);
  return {
    host,
    port,
  };
}

const MEMORY_WARNING =
  "warning: the memory store loses plans and jobs on restart (jobs in flight are lost); " +
  "use sqlite or redis for durable jobs";

function summary(config: Config, kindOf: KindOf): string {
  const lines = [
    `config: ${config.path}`,
    `store: ${config.store}`,
    ...(config.store === "memory" ? [MEMORY_WARNING] : []),
    `audit log: ${config.auditLog}`,
    `confirmation: ${config.confirmation.mode}, plans expire after ${config.confirmation.ttlSeconds} s`,
    ...(config.approval
      ? [
          `approval: ${config.approval.required} of ${config.approval.approvers.length} approver(s) ` +
            `(${config.approval.approvers.map((approver) => approver.name).join(", ")}), requests expire after ` +
            `${config.approval.ttlSeconds} s, console at ${config.approval.publicUrl ?? "the server's own address"}/console/, ` +
            `${config.approval.notify.length} webhook(s)`,
        ]
      : []),
    `max ids per call: ${config.limits.maxIdsPerCall}`,
    "backends:",
  ];
  for (const backend of Object.values(config.backends)) {
    lines.push(
      `  ${backend.name} (${backend.kind}) ${backend.baseUrl} — credential from $${backend.credentialEnv}, ` +
        `${targetsLine(backend, kindOf)}, ${backend.readOnly ? "read-only, " : ""}` +
        `confirmation ${backend.confirmation ?? config.confirmation.mode}, ` +
        `batch ${backend.batchSize}, concurrency ${backend.concurrency}, ${backend.requestsPerSecond} req/s, ` +
        `max ${backend.maxItemsPerJob}/job${backend.maxItemsPerDay ? `, ${backend.maxItemsPerDay}/day` : ""}`,
    );
  }
  return lines.join("\n");
}

/** `audit verify`: OK and the last line's sha256 (an anchor to note) → 0; the first broken line → 1. */
function auditVerify(file: string, head: string | undefined): void {
  if (head !== undefined && !/^[0-9a-f]{64}$/.test(head))
    fail(`deletegate: --head must be a sha256 (64 lowercase hex characters), got "${head}"`, 2);
  let verdict: ReturnType<typeof verifyAuditFile>;
  try {
    verdict = verifyAuditFile(file, { head });
  } catch (error) {
    fail(`deletegate: cannot read ${file}: ${(error as Error).message}`, 2);
  }
  if (!verdict.ok) {
    const where = verdict.line === null ? "" : `line ${verdict.line}: `;
    const intact = verdict.lines > 0 ? `; lines 1..${verdict.lines} are intact` : "";
    process.stdout.write(`BROKEN: ${where}${verdict.reason}${intact}\n`);
    process.exitCode = 1;
    return;
  }
  const anchor = verdict.lastSha256 === null ? "" : `; last line's sha256 ${verdict.lastSha256}`;
  const found = verdict.headLine === null ? "" : `; --head is line ${verdict.headLine}`;
  process.stdout.write(`OK: ${verdict.lines} lines, chain intact${anchor}${found}\n`);
}

/** `approver hash`: the password from stdin to its end (one trailing newline dropped), the hash alone on stdout. */
async function approverHash(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (password.length === 0) fail("deletegate: no password on stdin", 2);
  const { hashPassword } = await import("./approval/password.js");
  process.stdout.write(`${await hashPassword(password)}\n`);
}

/** `init`: its own flags (init --help); the exit status is the command's. */
async function init(args: string[]): Promise<void> {
  const [{ runInit }, { hashPassword }] = await Promise.all([
    import("./init/command.js"),
    import("./approval/password.js"),
  ]);
  process.exitCode = await runInit({
    args,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    hashPassword,
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // init has flags of its own, which the server's parser below would refuse.
  if (args[0] === "init") return init(args.slice(1));
  let parsed: ReturnType<
    typeof parseArgs<{
      options: {
        config: { type: "string" };
        http: { type: "boolean" };
        host: { type: "string" };
        port: { type: "string" };
        head: { type: "string" };
        help: { type: "boolean"; short: "h" };
        version: { type: "boolean"; short: "v" };
      };
      allowPositionals: true;
    }>
  >;
  try {
    parsed = parseArgs({
      options: {
        config: { type: "string" },
        http: { type: "boolean" },
        host: { type: "string" },
        port: { type: "string" },
        head: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    fail(`deletegate: ${(error as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const command = positionals[0];
  if (command === "init")
    fail("deletegate: init comes first, its flags after it: deletegate init [flags]", 2);
  if (command === "audit") {
    if (positionals[1] !== "verify" || positionals.length !== 3)
      fail("deletegate: usage: deletegate audit verify FILE [--head SHA256]", 2);
    auditVerify(positionals[2] as string, values.head);
    return;
  }
  if (values.head !== undefined) fail("deletegate: --head goes with audit verify", 2);
  if (command === "approver") {
    if (positionals[1] !== "hash" || positionals.length !== 2)
      fail(
        "deletegate: usage: deletegate approver hash < password (the password on stdin, never an argument)",
        2,
      );
    await approverHash();
    return;
  }
  if (
    positionals.length > 1 ||
    (command !== undefined && command !== "check-config" && command !== "console")
  ) {
    fail(`deletegate: unknown command "${positionals.join(" ")}"\n\n${USAGE}`, 2);
  }
  // Loaded only now, so that `audit verify` starts fast (scripts run it often, on big files). A server's own modules
  // start loading now too, while the config loads and is checked: loaded one graph after the other, they made the
  // stdio server answer `initialize` later (cold start in `npm run bench`: 235–245 → 228–231 ms). A failure surfaces
  // where each is awaited.
  const consoleOnly = command === "console";
  const overHttp = values.http === true || consoleOnly;
  if (command !== "check-config") {
    const transport = overHttp ? import("./transports/http.js") : import("./transports/stdio.js");
    for (const loading of [import("./app.js"), import("./logger.js"), transport])
      loading.catch(() => undefined);
  }
  const { ConfigError, loadConfig, resolveConfigPath } = await import("./config.js");
  const path = resolveConfigPath(values.config, process.env);

  if (command === "check-config") {
    const { kindOf } = await import("./backends/index.js");
    try {
      const config = loadConfig(path, process.env);
      for (const warning of config.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(`${summary(config, kindOf)}\nconfig OK\n`);
      return;
    } catch (error) {
      if (error instanceof ConfigError) fail(`CONFIG_INVALID: ${error.message}`, 1);
      throw error;
    }
  }
  if (consoleOnly && values.http) fail("deletegate: console serves HTTP itself; --http goes without it", 2);
  const http = overHttp
    ? { ...httpOptions(values.host, values.port ?? (consoleOnly ? "8809" : "8808")), consoleOnly }
    : null;
  if (!http && (values.host || values.port))
    fail("deletegate: --host and --port go with --http or console", 2);

  let config: Config;
  try {
    config = loadConfig(path, process.env, { httpTokensRequired: values.http === true });
  } catch (error) {
    if (error instanceof ConfigError) fail(`CONFIG_INVALID: ${error.message}`, 2);
    throw error;
  }
  if (consoleOnly) {
    // The console is where people approve what stdio servers on the same store asked for: alone it has nothing.
    if (!config.approval) fail("deletegate: console needs approval.approvers in the config (SPEC §3)", 2);
    if (config.store === "memory")
      fail(
        "deletegate: console shares the store with the stdio servers; the memory store is one process's own (use sqlite:<path> or redis://)",
        2,
      );
  }
  const httpTransport = http ? await import("./transports/http.js") : null;
  if (
    http &&
    httpTransport &&
    !consoleOnly &&
    !httpTransport.isLoopback(http.host) &&
    config.http.tokens.length === 0
  ) {
    fail(
      `deletegate: refusing to serve HTTP on ${http.host} without http.tokens; add tokens or bind 127.0.0.1`,
      2,
    );
  }
  const [{ createApp }, { createLogger }] = await Promise.all([import("./app.js"), import("./logger.js")]);
  const logger = createLogger(config.log.level);
  let app: App;
  try {
    app = createApp(config, logger, process.env, { httpTokensRequired: values.http === true });
  } catch (error) {
    // The config was valid: what failed is a resource it names (the store's file, the audit log's directory).
    fail(
      `deletegate: cannot start with store ${config.store} and audit log ${config.auditLog}: ${(error as Error).message}`,
      1,
    );
  }
  // A state nobody planned for is not served on: the process ends, and a supervisor or the next start resumes
  // its jobs from the store (a lease lapses, a batch whose answer was lost is sent again).
  const die = (what: string) => (error: unknown) => {
    logger.fatal({ err: error }, `${what}: deletegate stops; unfinished jobs resume at the next start`);
    process.exit(70);
  };
  process.on("uncaughtException", die("uncaught exception"));
  process.on("unhandledRejection", die("unhandled rejection"));
  try {
    // A store that cannot be read (Redis down, sqlite file unwritable) is said once, before serving.
    await app.store.recentJobs({ owner: null, offset: 0, limit: 1 });
  } catch (error) {
    await app.close().catch(() => undefined);
    fail(`deletegate: cannot use the store ${config.store}: ${(error as Error).message}`, 1);
  }
  if (http && httpTransport) {
    const { sessionIdleMs, maxSessions } = config.http;
    await httpTransport.serveHttp(app, { ...http, sessionIdleMs, maxSessions, version: version() });
  } else {
    const { serveStdio } = await import("./transports/stdio.js");
    await serveStdio(app, version());
  }
}

main().catch((error: Error) => fail(`deletegate: ${error.stack ?? error.message}`, 1));
