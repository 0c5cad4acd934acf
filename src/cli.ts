#!/usr/bin/env node
// Entry point: parse flags, load the config, and serve MCP on stdio (or check the config).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApp } from "./app.js";
import { kindOf } from "./backends/index.js";
import { type BackendConfig, type Config, ConfigError, loadConfig, resolveConfigPath } from "./config.js";
import { createLogger } from "./logger.js";
import { isLoopback, serveHttp } from "./transports/http.js";
import { serveStdio } from "./transports/stdio.js";

const USAGE = `deletegate — an MCP server that lets AI agents delete data safely

Usage:
  deletegate [--config FILE]                 MCP server on stdio (default)
  deletegate --http [--host H] [--port P]    Streamable HTTP at /mcp (default 127.0.0.1:8808)
  deletegate check-config [--config FILE]    validate the config and print a summary
  deletegate --help | --version

Config path: --config, else $DELETEGATE_CONFIG, else ./deletegate.config.json.
Logs go to stderr; set DELETEGATE_LOG_LEVEL (debug, info, warn, error) to change their level.
HTTP sessions idle for DELETEGATE_SESSION_IDLE_MS (default 1800000) are closed; at most
DELETEGATE_MAX_SESSIONS (default 1000) are open at once. With a redis:// store, an instance holds a
job's lease for DELETEGATE_LEASE_MS (default 10000) and renews it while it runs the job.`;

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

function targetsLine(backend: BackendConfig): string {
  if (kindOf(backend).targetSchema === null) return "no target";
  return `targets ${backend.allowTargets?.join(", ") ?? "any"}`;
}

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    fail(`deletegate: ${name} must be a positive integer, got "${raw}"`, 2);
  return value;
}

function httpOptions(host = "127.0.0.1", portText = "8808") {
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535)
    fail(`deletegate: --port must be 0..65535, got "${portText}"`, 2);
  return {
    host,
    port,
    sessionIdleMs: positiveEnv("DELETEGATE_SESSION_IDLE_MS", 30 * 60 * 1000),
    maxSessions: positiveEnv("DELETEGATE_MAX_SESSIONS", 1000),
  };
}

function summary(config: Config): string {
  const lines = [
    `config: ${config.path}`,
    `store: ${config.store}${config.store === "memory" ? " (memory: plans and jobs are lost when the server stops)" : ""}`,
    `audit log: ${config.auditLog}`,
    `confirmation: ${config.confirmation.mode}, plans expire after ${config.confirmation.ttlSeconds} s`,
    `max ids per call: ${config.limits.maxIdsPerCall}`,
    "backends:",
  ];
  for (const backend of Object.values(config.backends)) {
    lines.push(
      `  ${backend.name} (${backend.kind}) ${backend.baseUrl} — credential from $${backend.credentialEnv}, ` +
        `${targetsLine(backend)}, ${backend.readOnly ? "read-only, " : ""}` +
        `batch ${backend.batchSize}, concurrency ${backend.concurrency}, ${backend.requestsPerSecond} req/s, ` +
        `max ${backend.maxItemsPerJob}/job${backend.maxItemsPerDay ? `, ${backend.maxItemsPerDay}/day` : ""}`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  let parsed: ReturnType<
    typeof parseArgs<{
      options: {
        config: { type: "string" };
        http: { type: "boolean" };
        host: { type: "string" };
        port: { type: "string" };
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
  if (positionals.length > 1 || (command !== undefined && command !== "check-config")) {
    fail(`deletegate: unknown command "${positionals.join(" ")}"\n\n${USAGE}`, 2);
  }
  const path = resolveConfigPath(values.config, process.env);

  if (command === "check-config") {
    try {
      process.stdout.write(`${summary(loadConfig(path, process.env))}\nconfig OK\n`);
      return;
    } catch (error) {
      if (error instanceof ConfigError) fail(`CONFIG_INVALID: ${error.message}`, 1);
      throw error;
    }
  }
  const http = values.http ? httpOptions(values.host, values.port) : null;
  if (!values.http && (values.host || values.port)) fail("deletegate: --host and --port go with --http", 2);

  let config: Config;
  try {
    config = loadConfig(path, process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`CONFIG_INVALID: ${error.message}`, 2);
    throw error;
  }
  if (http && !isLoopback(http.host) && config.http.tokens.length === 0) {
    fail(
      `deletegate: refusing to serve HTTP on ${http.host} without http.tokens; add tokens or bind 127.0.0.1`,
      2,
    );
  }
  const logger = createLogger();
  let app: ReturnType<typeof createApp>;
  try {
    app = createApp(config, logger);
  } catch (error) {
    fail(`CONFIG_INVALID: ${(error as Error).message}`, 2);
  }
  process.on("uncaughtException", (error) => logger.fatal({ err: error }, "uncaught exception"));
  process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
  try {
    // A store that cannot be read (Redis down, sqlite file unwritable) is said once, before serving.
    await app.store.listJobIds();
  } catch (error) {
    await app.close().catch(() => undefined);
    fail(`deletegate: cannot use the store ${config.store}: ${(error as Error).message}`, 1);
  }
  if (http) {
    await serveHttp(app, { ...http, version: version() });
  } else {
    await serveStdio(app, version());
  }
}

main().catch((error: Error) => fail(`deletegate: ${error.stack ?? error.message}`, 1));
