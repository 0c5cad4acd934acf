// Test harness: the built server (dist/cli.js) as a child process on stdio, driven by an SDK Client: the v1 one by
// default, or the v2 one in its legacy era or pinned to MCP 2026-07-28 (DELETEGATE_TEST_CLIENT, see TEST_CLIENT).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Stream } from "node:stream";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioTransportV2 } from "@modelcontextprotocol/client/stdio";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  type CallToolResult,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll } from "vitest";
import { TERMINAL_STATUSES } from "../../src/jobs/store.js";

/** The built server; DELETEGATE_CLI points the tests at another build (e.g. an older commit's, to see a test fail there). */
export const CLI = process.env.DELETEGATE_CLI ?? resolve(import.meta.dirname, "../../dist/cli.js");
/**
 * The client the stdio sessions use: `v1` (the v1 SDK Client, the default), `v2-legacy` (the v2 Client speaking
 * 2025-11-25) or `v2-2026` (the v2 Client pinned to 2026-07-28, so forms come as input_required rounds).
 */
export const TEST_CLIENT = (process.env.DELETEGATE_TEST_CLIENT ?? "v1") as "v1" | "v2-legacy" | "v2-2026";
if (!["v1", "v2-legacy", "v2-2026"].includes(TEST_CLIENT)) {
  throw new Error(`DELETEGATE_TEST_CLIENT must be v1, v2-legacy or v2-2026, not ${TEST_CLIENT}`);
}

export const SPLENDOR_TOKEN = "sim-splendor-secret-9f3a";
export const SPLENDOR_TENANT = "acme";

/**
 * The directories tempDir made for this test file, removed after its last hook (registered first, this hook runs
 * last); DELETEGATE_KEEP_TEST_DIRS=1 keeps them to look into. Left behind, a full CI run leaves about 2,000.
 */
const madeDirs: string[] = [];
afterAll(() => {
  if (process.env.DELETEGATE_KEEP_TEST_DIRS) return;
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "deletegate-test-"));
  madeDirs.push(dir);
  return dir;
}

export interface ConfigOverrides {
  confirmation?: Record<string, unknown>;
  limits?: Record<string, unknown>;
  backend?: Record<string, unknown>;
  extraBackends?: Record<string, Record<string, unknown>>;
  store?: string;
}

/** Writes a config with these backends (any kinds); returns its path and the audit log path. */
export function writeBackendsConfig(
  dir: string,
  backends: Record<string, Record<string, unknown>>,
  overrides: Omit<ConfigOverrides, "backend" | "extraBackends"> = {},
) {
  const auditLog = join(dir, "audit.jsonl");
  const config = {
    store: overrides.store ?? `sqlite:${join(dir, "state.db")}`,
    auditLog,
    confirmation: { mode: "token", ttlSeconds: 900, ...overrides.confirmation },
    limits: { maxIdsPerCall: 10_000, ...overrides.limits },
    backends,
  };
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return { path, auditLog };
}

/** Writes a config for one splendor backend ("splendor-test") at `baseUrl`, plus any extra backends. */
export function writeConfig(dir: string, baseUrl: string, overrides: ConfigOverrides = {}) {
  const { backend, extraBackends, ...rest } = overrides;
  return writeBackendsConfig(
    dir,
    {
      "splendor-test": {
        kind: "splendor",
        baseUrl,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: SPLENDOR_TENANT,
        allowTargets: ["app-logs", "crm-*"],
        ...backend,
      },
      ...extraBackends,
    },
    rest,
  );
}

/** What the tests use of a client, whichever SDK it comes from (the v1 Client's call signatures). */
export type SessionClient = Pick<Client, "callTool" | "listTools" | "getServerVersion" | "close">;

export interface Session {
  client: SessionClient;
  stderr: () => string;
  pid: () => number | null;
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

export interface SessionOptions {
  clientName?: string;
  /** Registers elicitation support and answers every form with this. */
  elicit?: (request: ElicitRequest) => ElicitResult | Promise<ElicitResult>;
  /** Declares form elicitation without answering it (the SDK then answers "method not found"). */
  declareElicitationOnly?: boolean;
  env?: Record<string, string>;
}

/**
 * How a client starts the server on stdio (either SDK's stdio transport takes these): its stderr piped to be read
 * (at debug level), or ignored.
 */
export function serverProcess(
  configPath: string,
  options: Pick<SessionOptions, "env"> = {},
  stderr: "pipe" | "ignore" = "pipe",
) {
  return {
    command: process.execPath,
    args: [CLI, "--config", configPath],
    env: {
      PATH: process.env.PATH ?? "",
      SPLENDOR_TOKEN,
      ...(stderr === "pipe" ? { DELETEGATE_LOG_LEVEL: "debug" } : {}),
      ...options.env,
    },
    stderr,
  };
}

/** Everything the server wrote to stderr so far. */
function collectStderr(stream: Stream | null): () => string {
  let stderr = "";
  stream?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return () => stderr;
}

export async function startSession(configPath: string, options: SessionOptions = {}): Promise<Session> {
  if (TEST_CLIENT !== "v1") return startSessionV2(configPath, options);
  const transport = new StdioClientTransport(serverProcess(configPath, options));
  const stderr = collectStderr(transport.stderr);
  const client = new Client(
    { name: options.clientName ?? "integration-test", version: "1.0.0" },
    { capabilities: options.elicit || options.declareElicitationOnly ? { elicitation: { form: {} } } : {} },
  );
  if (options.elicit) {
    const answer = options.elicit;
    client.setRequestHandler(ElicitRequestSchema, async (request) => answer(request));
  }
  await client.connect(transport);
  return {
    client,
    stderr,
    pid: () => transport.pid,
    call: (name, args = {}) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    close: () => client.close(),
  };
}

/** A v2 SDK Client of the TEST_CLIENT era, declaring form elicitation or nothing. */
export function newClientV2(name: string, forms: boolean): ClientV2 {
  return new ClientV2(
    { name, version: "1.0.0" },
    {
      versionNegotiation: { mode: TEST_CLIENT === "v2-2026" ? { pin: "2026-07-28" } : "legacy" },
      capabilities: forms ? { elicitation: { form: {} } } : {},
    },
  );
}

/** A v2 SDK Client seen through the v1 Client's call signatures, which the tests use. */
export function withV1Signatures(client: ClientV2): SessionClient {
  return {
    callTool: ((params, _resultSchema, callOptions) =>
      client.callTool(params, callOptions as never)) as SessionClient["callTool"],
    listTools: (() => client.listTools()) as SessionClient["listTools"],
    getServerVersion: () => client.getServerVersion(),
    close: () => client.close(),
  };
}

/** startSession with the v2 SDK Client (TEST_CLIENT v2-legacy or v2-2026), seen through the v1 call signatures. */
async function startSessionV2(configPath: string, options: SessionOptions): Promise<Session> {
  const transport = new StdioTransportV2(serverProcess(configPath, options));
  const stderr = collectStderr(transport.stderr);
  const client = newClientV2(
    options.clientName ?? "integration-test",
    Boolean(options.elicit || options.declareElicitationOnly),
  );
  if (options.elicit) {
    const answer = options.elicit;
    client.setRequestHandler("elicitation/create", async (request) => answer(request as ElicitRequest));
  }
  await client.connect(transport);
  // A 2026-07-28 connect sends nothing; one round trip, as initialize is for the others, so the session starts with
  // the server up (its signal handlers installed, its lanes built).
  if (TEST_CLIENT === "v2-2026") await client.listTools();
  return {
    client: withV1Signatures(client),
    stderr,
    pid: () => transport.pid,
    call: (name, args = {}) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    close: () => client.close(),
  };
}

/** Rewrites a config file in place (the server sees it at a restart or on SIGHUP). */
// biome-ignore lint/suspicious/noExplicitAny: a config file is edited key by key in tests
export function editConfig(path: string, edit: (config: Record<string, any>) => void): void {
  const config = JSON.parse(readFileSync(path, "utf8"));
  edit(config);
  writeFileSync(path, JSON.stringify(config, null, 2));
}

/** Sends SIGHUP to the session's server and waits for its `config.reloaded` audit line. */
export async function reloadConfig(session: Session, auditLog: string): Promise<Record<string, unknown>> {
  const before = readAudit(auditLog).filter((line) => line.event === "config.reloaded").length;
  process.kill(session.pid() as number, "SIGHUP");
  let reloaded: Record<string, unknown> | undefined;
  await until(() => {
    reloaded = readAudit(auditLog).filter((line) => line.event === "config.reloaded")[before];
    return reloaded !== undefined;
  }, 10_000);
  return reloaded as Record<string, unknown>;
}

/** The text of an error result, e.g. "PLAN_NOT_FOUND: …". */
export function errorText(result: CallToolResult): string {
  if (!result.isError)
    throw new Error(`expected an error result, got ${JSON.stringify(result.structuredContent)}`);
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
}

// biome-ignore lint/suspicious/noExplicitAny: structured results are checked field by field in tests
export function structured(result: CallToolResult): any {
  if (result.isError) throw new Error(`tool error: ${errorText(result)}`);
  return result.structuredContent;
}

export function readAudit(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** What a test client answers to deletegate's form: the number it types, or a decline. */
export function formAnswer(confirm: number | "decline") {
  return confirm === "decline"
    ? { action: "decline" as const }
    : { action: "accept" as const, content: { confirm_count: confirm } };
}

export { TOOL_NAMES } from "../../tools/lib/tool-calls.js";

/** Polls get_delete_job until the job is terminal (or the deadline passes). */
export async function waitForJob(session: Session, jobId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const job = structured(await session.call("get_delete_job", { job_id: jobId }));
    if (seen.at(-1) !== job.status) seen.push(job.status);
    if (TERMINAL_STATUSES.includes(job.status)) return { job, seen };
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

export function range(count: number, prefix = "rec-"): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${index}`);
}

/** dry_run_delete then execute_delete with the plan's token (token mode); returns the plan and the job. */
export async function planAndExecute(
  session: Session,
  options: {
    ids: (string | number)[];
    /** Default "splendor-test". */
    backend?: string;
    /** Default { dataset_id: "app-logs" } for splendor-test; pass null for kinds without a target. */
    target?: Record<string, unknown> | null;
    reason?: string;
    waitSeconds?: number;
  },
) {
  const target = options.target === undefined ? { dataset_id: "app-logs" } : options.target;
  const plan = structured(
    await session.call("dry_run_delete", {
      backend: options.backend ?? "splendor-test",
      ...(target ? { target } : {}),
      ids: options.ids,
      reason: options.reason ?? "Test run: delete synthetic records",
    }),
  );
  const job = structured(
    await session.call("execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
      wait_seconds: options.waitSeconds ?? 0,
    }),
  );
  return { plan, job };
}

/** The delete requests a Splendor simulator received. */
export function deleteRequests(sim: {
  requests: { path: string; status: number; time: number; body: unknown; headers: Record<string, unknown> }[];
}) {
  return sim.requests.filter((request) => request.path === "/v1/records/delete");
}

/** How many delete requests for this dataset a Splendor simulator received. */
export function deletesFor(sim: Parameters<typeof deleteRequests>[0], dataset: string): number {
  return deleteRequests(sim).filter(
    (request) => (request.body as { dataset_id?: string }).dataset_id === dataset,
  ).length;
}

/** Waits until `condition` holds, checking every 20 ms; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((done) => setTimeout(done, 20));
  }
}
