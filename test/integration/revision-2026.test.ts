// MCP 2026-07-28 clients (the v2 SDK Client pinned to that revision) over stdio and over HTTP at /mcp: they list the
// tools and run a dry run and a delete, beside 2025-11-25 clients of the same server (SPEC §9).
import {
  Client,
  type StreamableHTTPClientTransport as HttpTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  CLI,
  errorText,
  range,
  readAudit,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  writeConfig,
} from "./harness.js";
import { addHttpTokens, connectHttp, type HttpServer, startHttpServer } from "./http-harness.js";

const REVISION = "2026-07-28";
const REASON = "Revision test: delete synthetic records";
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];
const TOKENS = { "agent-a": "tok-a-5e81c0", "agent-b": "tok-b-0c3d9f" };

let sim: SplendorSimulator;
const clients: Client[] = [];
const servers: HttpServer[] = [];

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 20,
    jobRunningMs: 20,
  });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});
afterAll(async () => {
  await sim.close();
});

function modernClient(name: string): Client {
  const client = new Client({ name, version: "1.0.0" }, { versionNegotiation: { mode: { pin: REVISION } } });
  clients.push(client);
  return client;
}

/** The calls of the shared harness (a Session's `call`), on a 2026-07-28 client. */
function caller(client: Client) {
  return {
    call: (name: string, args: Record<string, unknown> = {}) =>
      client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
  };
}

/** Lists the tools, previews a delete, runs it with the plan's token and waits for the job. */
async function listDryRunAndDelete(client: Client, ids: string[]) {
  const { tools } = await client.listTools();
  expect(tools.map((tool) => tool.name).sort()).toEqual(
    [
      "cancel_delete_job",
      "dry_run_delete",
      "execute_delete",
      "get_delete_job",
      "list_backends",
      "list_delete_jobs",
    ].sort(),
  );
  const session = caller(client);
  const backends = structured(await session.call("list_backends")).backends;
  expect(backends[0].confirmation_mode).toBe("token");
  const plan = structured(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "app-logs" },
      ids,
      reason: REASON,
    }),
  );
  expect(plan.counts.unique).toBe(ids.length);
  expect(plan.confirmation.token).toMatch(/^dg_/);
  const job = structured(
    await session.call("execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
    }),
  );
  let status = job.status;
  for (const deadline = Date.now() + 30_000; !TERMINAL.includes(status) && Date.now() < deadline; ) {
    await new Promise((done) => setTimeout(done, 50));
    status = structured(await session.call("get_delete_job", { job_id: job.job_id })).status;
  }
  expect(status).toBe("succeeded");
  return { plan, job };
}

describe("MCP 2026-07-28 over stdio", () => {
  it("lists the tools, dry-runs and deletes; the actor is the client's name from each request", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, sim.url);
    const client = modernClient("modern-stdio");
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, "--config", config.path],
        env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
        stderr: "ignore",
      }),
    );
    expect(client.getProtocolEra()).toBe("modern");
    const { plan } = await listDryRunAndDelete(client, range(5, "m26-stdio-"));
    const planned = readAudit(config.auditLog).find((line) => line.event === "plan.created");
    expect(planned?.plan_id).toBe(plan.plan_id);
    expect(planned?.actor).toBe("modern-stdio");
  });

  it("answers an unknown tool and an unknown job with error results, as for 2025-11-25", async () => {
    const config = writeConfig(tempDir(), sim.url);
    const client = modernClient("modern-stdio");
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, "--config", config.path],
        env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
        stderr: "ignore",
      }),
    );
    const session = caller(client);
    expect((await session.call("drop_everything")).isError).toBe(true);
    expect(errorText(await session.call("get_delete_job", { job_id: "job_nope" }))).toMatch(
      /^JOB_NOT_FOUND: /,
    );
  });
});

describe("MCP 2026-07-28 over HTTP", () => {
  async function startServer() {
    const config = writeConfig(tempDir(), sim.url);
    addHttpTokens(config.path, { "agent-a": "TOKEN_AGENT_A", "agent-b": "TOKEN_AGENT_B" });
    const server = await startHttpServer(config.path, {
      env: { TOKEN_AGENT_A: TOKENS["agent-a"], TOKEN_AGENT_B: TOKENS["agent-b"] },
    });
    servers.push(server);
    return { ...server, auditLog: config.auditLog };
  }

  function transport(url: string, token: string): HttpTransport {
    return new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
  }

  it("serves a 2026-07-28 client and a 2025-11-25 session at the same /mcp, each seeing its own token's jobs", async () => {
    const server = await startServer();
    const modern = modernClient("modern-http");
    await modern.connect(transport(server.url, TOKENS["agent-a"]));
    expect(modern.getProtocolEra()).toBe("modern");
    const { job } = await listDryRunAndDelete(modern, range(4, "m26-http-"));

    const audit = readAudit(server.auditLog).find((line) => line.event === "plan.created");
    expect(audit?.actor).toBe("agent-a");

    // The same job from a 2025-11-25 session: its own token's job is visible, another token's is not.
    const legacyA = await connectHttp(server.url, TOKENS["agent-a"]);
    const legacyB = await connectHttp(server.url, TOKENS["agent-b"]);
    try {
      expect(structured(await legacyA.call("get_delete_job", { job_id: job.job_id })).status).toBe(
        "succeeded",
      );
      expect(errorText(await legacyB.call("get_delete_job", { job_id: job.job_id }))).toMatch(
        /^JOB_NOT_FOUND: /,
      );
    } finally {
      await legacyA.close();
      await legacyB.close();
    }
  });

  it("refuses a 2026-07-28 client without a valid token (401), before any MCP", async () => {
    const server = await startServer();
    const modern = modernClient("modern-http");
    await expect(modern.connect(transport(server.url, "not-a-token"))).rejects.toThrow();
    expect(server.stderr()).toContain('"status":401');
  });
});

describe("a 2025-11-25 stdio client still gets the legacy session", () => {
  it("connects with initialize as before", async () => {
    const config = writeConfig(tempDir(), sim.url);
    const session = await startSession(config.path);
    try {
      expect(session.client.getServerVersion()?.name).toBe("deletegate");
      expect(structured(await session.call("list_backends")).backends).toHaveLength(1);
    } finally {
      await session.close();
    }
  });
});
