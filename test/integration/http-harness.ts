// HTTP test harness: `deletegate --http` as a child process, and SDK clients that connect to it with a bearer token.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { StreamableHTTPClientTransport as StreamableHTTPClientTransportV2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  CLI,
  formAnswer,
  newClientV2,
  type SessionClient,
  SPLENDOR_TOKEN,
  TEST_CLIENT,
  withV1Signatures,
} from "./harness.js";

export interface HttpServer {
  /** The /mcp URL from the server's ready log line. */
  url: string;
  child: ChildProcess;
  pid: number;
  stderr: () => string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: nothing is cleaned up), then waits for the exit. */
  kill(): Promise<void>;
}

export interface HttpSession {
  client: SessionClient;
  /** The MCP session's transport; its sessionId is undefined for a 2026-07-28 client, which has no session. */
  transport: { sessionId?: string | undefined };
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** Adds `http.tokens` to a config file: token name → the environment variable that holds it. */
export function addHttpTokens(configPath: string, tokens: Record<string, string>): void {
  const file = JSON.parse(readFileSync(configPath, "utf8"));
  file.http = { tokens: Object.entries(tokens).map(([name, tokenEnv]) => ({ name, tokenEnv })) };
  writeFileSync(configPath, JSON.stringify(file, null, 2));
}

/** Starts `deletegate --http --port 0`; resolves once it logs its URL. `env` adds to PATH and SPLENDOR_TOKEN. */
export async function startHttpServer(
  configPath: string,
  options: { env?: Record<string, string>; timeoutMs?: number; console?: boolean } = {},
): Promise<HttpServer> {
  // `deletegate console`: the approval console alone, for stdio setups; its url is the console's.
  const command = options.console ? "console" : "--http";
  const readyLine = options.console ? "deletegate approval console ready" : "deletegate ready on HTTP";
  const child = spawn(process.execPath, [CLI, command, "--port", "0", "--config", configPath], {
    env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN, DELETEGATE_LOG_LEVEL: "debug", ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`deletegate ${command} ${why}:\n${stderr}`));
    const timer = setTimeout(() => fail("did not start in time"), options.timeoutMs ?? 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(`exited with ${code}`);
    });
    child.stderr?.on("data", () => {
      const ready = stderr.split("\n").find((line) => line.includes(`"msg":"${readyLine}"`));
      const match = ready ? /"url":"([^"]+)"/.exec(ready) : null;
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    url,
    child,
    pid: child.pid as number,
    stderr: () => stderr,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}

/** An MCP client on the server's /mcp with `Authorization: Bearer <token>`; `confirm` makes it answer forms. */
export async function connectHttp(
  url: string,
  token: string,
  options: { name?: string; confirm?: number | "decline" } = {},
): Promise<HttpSession> {
  if (TEST_CLIENT !== "v1") return connectHttpV2(url, token, options);
  const { confirm } = options;
  const client = new Client(
    { name: options.name ?? "http-test", version: "1.0.0" },
    { capabilities: confirm === undefined ? {} : { elicitation: { form: {} } } },
  );
  if (confirm !== undefined) {
    client.setRequestHandler(ElicitRequestSchema, async () => formAnswer(confirm));
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return {
    client,
    transport,
    call: (tool, args = {}) => client.callTool({ name: tool, arguments: args }) as Promise<CallToolResult>,
    close: () => client.close(),
  };
}

/** connectHttp with the v2 SDK Client (TEST_CLIENT v2-legacy or v2-2026), seen through the v1 call signatures. */
async function connectHttpV2(
  url: string,
  token: string,
  options: { name?: string; confirm?: number | "decline" },
): Promise<HttpSession> {
  const { confirm } = options;
  const client = newClientV2(options.name ?? "http-test", confirm !== undefined);
  if (confirm !== undefined) {
    client.setRequestHandler("elicitation/create", async () => formAnswer(confirm));
  }
  const transport = new StreamableHTTPClientTransportV2(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return {
    client: withV1Signatures(client),
    transport,
    call: (tool, args = {}) => client.callTool({ name: tool, arguments: args }) as Promise<CallToolResult>,
    close: () => client.close(),
  };
}
