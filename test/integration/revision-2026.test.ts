// MCP 2026-07-28 clients (the v2 SDK Client pinned to that revision) over stdio and over HTTP at /mcp: they list the
// tools and run a dry run and a delete, beside 2025-11-25 clients of the same server (SPEC §9), and confirm in human
// mode through input_required with a sealed, single-use requestState (SPEC §5).
import { spawnSync } from "node:child_process";
import {
  Client,
  type StreamableHTTPClientTransport as HttpTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  approvalFixture,
  approve,
  finalJob,
  login,
  requestApproval,
  writeApprovalConfig,
} from "./console-harness.js";
import {
  deletesFor,
  errorText,
  formAnswer,
  range,
  readAudit,
  serverProcess,
  startSession,
  structured,
  TOOL_NAMES,
  tempDir,
  until,
  writeConfig,
} from "./harness.js";
import { addHttpTokens, connectHttp, type HttpServer, startHttpServer } from "./http-harness.js";

const REVISION = "2026-07-28";
const REASON = "Revision test: delete synthetic records";
const TOKENS = { "agent-a": "tok-a-5e81c0", "agent-b": "tok-b-0c3d9f" };

const APPROVER_PASSWORD = "dana's approval password";

let sim: SplendorSimulator;
let approverHash: string;
const clients: Client[] = [];
const servers: HttpServer[] = [];

beforeAll(async () => {
  const fixture = await approvalFixture({ dana: APPROVER_PASSWORD }, 20);
  sim = fixture.sim;
  approverHash = fixture.hashes.dana;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});
afterAll(async () => {
  await sim.close();
});

/** A 2026-07-28 client; `confirm` makes it declare forms and answer each with that (input_required rounds). */
function modernClient(
  name: string,
  options: { confirm?: number | "decline"; manual?: boolean } = {},
): Client {
  const { confirm } = options;
  const client = new Client(
    { name, version: "1.0.0" },
    {
      versionNegotiation: { mode: { pin: REVISION } },
      ...(confirm === undefined ? {} : { capabilities: { elicitation: { form: {} } } }),
      ...(options.manual ? { inputRequired: { autoFulfill: false } } : {}),
    },
  );
  if (confirm !== undefined) {
    client.setRequestHandler("elicitation/create", async () => formAnswer(confirm));
  }
  clients.push(client);
  return client;
}

/** `faketime` (Debian's libfaketime) runs a server with its clock moved, so a state can outlive its expiry for real. */
const FAKETIME = "faketime";
const faketimeMissing = spawnSync(FAKETIME, ["-f", "+0", "true"]).status !== 0;

/** Whether the tests that move a server's clock are skipped: only outside CI, saying so in one line. */
function skipWithoutFaketime(what: string): boolean {
  if (!faketimeMissing || process.env.CI === "true") return false;
  console.warn(
    `SKIPPED: ${what}: ${FAKETIME} is not installed; install it with: apt-get install -y faketime (.ci/run does this).`,
  );
  return true;
}

/** A stdio deletegate on this config; `clockAheadMs` starts it under faketime with its clock that far ahead. */
function stdioTransport(configPath: string, clockAheadMs = 0) {
  if (clockAheadMs === 0) return new StdioClientTransport(serverProcess(configPath, {}, "ignore"));
  const server = serverProcess(configPath, {}, "pipe");
  const transport = new StdioClientTransport({
    ...server,
    command: FAKETIME,
    args: ["-f", `+${Math.round(clockAheadMs / 1000)}s`, server.command, ...server.args],
    env: { ...server.env, FAKETIME_DONT_FAKE_MONOTONIC: "1" },
  });
  transport.stderr?.on("data", (chunk: Buffer) => {
    fakedStderr = (fakedStderr + chunk.toString()).slice(-4000);
  });
  return transport;
}

/** The last of what servers run under faketime wrote to stderr: a failure of such a test shows it. */
let fakedStderr = "";

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
  expect(tools.map((tool) => tool.name).sort()).toEqual(TOOL_NAMES);
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
  expect((await finalJob(session, job.job_id)).status).toBe("succeeded");
  return { plan, job };
}

describe("MCP 2026-07-28 over stdio", () => {
  it("lists the tools, dry-runs and deletes; the actor is the client's name from each request", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, sim.url);
    const client = modernClient("modern-stdio");
    await client.connect(stdioTransport(config.path));
    expect(client.getProtocolEra()).toBe("modern");
    const { plan } = await listDryRunAndDelete(client, range(5, "m26-stdio-"));
    const planned = readAudit(config.auditLog).find((line) => line.event === "plan.created");
    expect(planned?.plan_id).toBe(plan.plan_id);
    expect(planned?.actor).toBe("modern-stdio");
  });

  it("answers an unknown tool and an unknown job with error results, as for 2025-11-25", async () => {
    const config = writeConfig(tempDir(), sim.url);
    const client = modernClient("modern-stdio");
    await client.connect(stdioTransport(config.path));
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

  it("asks a 2026-07-28 client's person over HTTP too: the retried request, on a fresh server, redeems the state", async () => {
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    addHttpTokens(config.path, { "agent-a": "TOKEN_AGENT_A", "agent-b": "TOKEN_AGENT_B" });
    const server = await startHttpServer(config.path, {
      env: { TOKEN_AGENT_A: TOKENS["agent-a"], TOKEN_AGENT_B: TOKENS["agent-b"] },
    });
    servers.push(server);
    const ids = range(3, "m26-http-human-");
    const client = modernClient("modern-http-human", { confirm: ids.length });
    await client.connect(transport(server.url, TOKENS["agent-a"]));
    const plan = structured(
      await caller(client).call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "app-logs" },
        ids,
        reason: REASON,
      }),
    );
    expect(plan.confirmation.mode).toBe("human");
    expect(
      structured(await caller(client).call("execute_delete", { plan_id: plan.plan_id })).job_id,
    ).toBeTruthy();
    const confirmed = readAudit(config.auditLog).find((line) => line.event === "delete.confirmed");
    expect(confirmed?.actor).toBe("agent-a");
  });

  it("refuses a 2026-07-28 client without a valid token (401), before any MCP", async () => {
    const server = await startServer();
    const modern = modernClient("modern-http");
    await expect(modern.connect(transport(server.url, "not-a-token"))).rejects.toThrow();
    // The request's log line may follow the answer the client already has.
    await until(() => server.stderr().includes('"status":401'), 5_000);
  });
});

describe("a client that probes (the v2 SDK client in auto mode, as the AI SDK's client does)", () => {
  it("gets 2026-07-28 over stdio and over HTTP", async () => {
    const config = writeConfig(tempDir(), sim.url);
    addHttpTokens(config.path, { "agent-a": "TOKEN_AGENT_A" });
    const probing = () => {
      const client = new Client(
        { name: "probing", version: "1.0.0" },
        { versionNegotiation: { mode: "auto" } },
      );
      clients.push(client);
      return client;
    };
    const overStdio = probing();
    await overStdio.connect(stdioTransport(config.path));
    expect(overStdio.getProtocolEra()).toBe("modern");
    expect(structured(await caller(overStdio).call("list_backends")).backends).toHaveLength(1);
    const server = await startHttpServer(config.path, { env: { TOKEN_AGENT_A: TOKENS["agent-a"] } });
    servers.push(server);
    const overHttp = probing();
    await overHttp.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { authorization: `Bearer ${TOKENS["agent-a"]}` } },
      }),
    );
    expect(overHttp.getProtocolEra()).toBe("modern");
    expect(structured(await caller(overHttp).call("list_backends")).backends).toHaveLength(1);
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

describe("MCP 2026-07-28: human confirmation with input_required (SPEC §5)", () => {
  /** A human-mode plan of `ids` in `dataset` (its own, so what reached the backend is that test's alone). */
  async function humanPlan(client: Client, dataset: string, ids: string[]) {
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    await client.connect(stdioTransport(config.path));
    const plan = structured(
      await caller(client).call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: dataset },
        ids,
        reason: REASON,
      }),
    );
    return { plan, auditLog: config.auditLog };
  }

  /** The code of the delete.refused line the audit log has for a plan (the refusal is on record, SPEC §8). */
  function refusedCodes(auditLog: string, planId: string): unknown[] {
    return readAudit(auditLog)
      .filter((line) => line.event === "delete.refused" && line.plan_id === planId)
      .map((line) => line.code);
  }

  it("asks the form as input_required; the right number in the retried call runs the job", async () => {
    const ids = range(3, "m26-human-");
    const client = modernClient("modern-human", { confirm: ids.length });
    const { plan, auditLog } = await humanPlan(client, "crm-m26-human", ids);
    expect(plan.confirmation.mode).toBe("human");
    expect(plan.confirmation.token).toBeUndefined();
    const job = structured(await caller(client).call("execute_delete", { plan_id: plan.plan_id }));
    expect(job.job_id).toBeTruthy();
    const confirmed = readAudit(auditLog).find((line) => line.event === "delete.confirmed");
    expect(confirmed?.actor).toBe("modern-human");
  });

  for (const { answer, code, dataset } of [
    { answer: 4, code: "CONFIRMATION_INVALID", dataset: "crm-m26-wrong" },
    { answer: "decline" as const, code: "CONFIRMATION_DECLINED", dataset: "crm-m26-decline" },
  ]) {
    it(`refuses an answer of ${answer} to a form of 3 (${code}): nothing sent, no job, the refusal audited`, async () => {
      const client = modernClient(`modern-${dataset}`, { confirm: answer });
      const { plan, auditLog } = await humanPlan(client, dataset, range(3, `${dataset}-`));
      expect(errorText(await caller(client).call("execute_delete", { plan_id: plan.plan_id }))).toMatch(
        new RegExp(`^${code}: `),
      );
      expect(deletesFor(sim, dataset)).toBe(0);
      expect(await jobOf(plan.plan_id, auditLog)).toBeUndefined();
      expect(refusedCodes(auditLog, plan.plan_id)).toEqual([code]);
    });
  }

  it("counts a state once, for its own plan only: replayed, tampered or moved states are refused", async () => {
    const dataset = "crm-m26-replay";
    const ids = range(2, `${dataset}-`);
    const client = modernClient("modern-manual", { confirm: ids.length, manual: true });
    const { plan, auditLog } = await humanPlan(client, dataset, ids);
    const other = structured(
      await caller(client).call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: dataset },
        ids: range(2, "m26-other-"),
        reason: REASON,
      }),
    );
    const asked = await askExecute(client, plan.plan_id);
    expect(asked.resultType).toBe("input_required");
    expect(Object.keys(asked.inputRequests)).toEqual(["confirm"]);
    const answer = (count: number) => ({ confirm: { action: "accept", content: { confirm_count: count } } });
    // The retried call of the 2026-07-28 flow, by hand: the answer and the state the first call returned.
    const retry = (planId: string, requestState: string, count = ids.length) =>
      client.callTool({
        name: "execute_delete",
        arguments: { plan_id: planId },
        inputResponses: answer(count),
        requestState,
      } as Parameters<Client["callTool"]>[0]) as Promise<CallToolResult>;
    // One character in the middle changed: always another state (a change at its end may decode the same).
    const middle = asked.requestState.length >> 1;
    const flipped = asked.requestState[middle] === "A" ? "B" : "A";
    const tampered = `${asked.requestState.slice(0, middle)}${flipped}${asked.requestState.slice(middle + 1)}`;
    expect(tampered).not.toBe(asked.requestState);
    expect(errorText(await retry(plan.plan_id, tampered))).toMatch(/^CONFIRMATION_INVALID: .*altered/);
    expect(errorText(await retry(other.plan_id, asked.requestState))).toMatch(
      /^CONFIRMATION_INVALID: .*another plan/,
    );
    // Redeemed by a wrong number: the state is spent, so the right number with it counts for nothing.
    expect(errorText(await retry(plan.plan_id, asked.requestState, ids.length + 1))).toMatch(
      /^CONFIRMATION_INVALID: The person typed/,
    );
    expect(errorText(await retry(plan.plan_id, asked.requestState))).toMatch(
      /^CONFIRMATION_INVALID: .*already used/,
    );
    expect(deletesFor(sim, dataset)).toBe(0);
    expect(await jobOf(plan.plan_id, auditLog)).toBeUndefined();
    // Asked again, the new state counts once: its job runs; the same state again gets that job back (the plan has
    // it, SPEC §4), and nothing more is sent.
    const askedAgain = await askExecute(client, plan.plan_id);
    expect(askedAgain.requestState).not.toBe(asked.requestState);
    const job = structured(await retry(plan.plan_id, askedAgain.requestState));
    expect((await finalJob(caller(client), job.job_id)).status).toBe("succeeded");
    expect(deletesFor(sim, dataset)).toBe(1);
    expect(structured(await retry(plan.plan_id, askedAgain.requestState)).job_id).toBe(job.job_id);
    expect(deletesFor(sim, dataset)).toBe(1);
  });

  it("counts a state sealed by one process in another on the same store, once: the key and its use are shared", async () => {
    const ids = range(2, "m26-two-");
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    const { plan, asked, retry, first } = await askOnce("modern-two", config.path, "app-logs", ids);
    // The retried calls reach another deletegate process too (a second stdio server on the same sqlite store).
    const second = modernClient("modern-two", { confirm: ids.length, manual: true });
    await second.connect(stdioTransport(config.path));
    // Spent in the second process by a wrong number, it counts for nothing in the first.
    expect(errorText(await retry(second, asked.requestState, ids.length + 1))).toMatch(
      /^CONFIRMATION_INVALID: The person typed/,
    );
    expect(errorText(await retry(first, asked.requestState))).toMatch(
      /^CONFIRMATION_INVALID: .*already used/,
    );
    // A state the first process seals opens in the second.
    const again = await askExecute(first, plan.plan_id);
    expect(structured(await retry(second, again.requestState)).job_id).toBeTruthy();
  });

  it("refuses another caller's state, and sends nothing", async () => {
    const dataset = "crm-foreign-state";
    const ids = range(2, `${dataset}-`);
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    const { plan, asked, retry } = await askOnce("modern-owner", config.path, dataset, ids);
    // Another client (another name, so another caller) on the same store, with the plan's id and the state.
    const other = modernClient("modern-other", { confirm: ids.length, manual: true });
    await other.connect(stdioTransport(config.path));
    expect(errorText(await retry(other, asked.requestState))).toMatch(
      /^CONFIRMATION_INVALID: The requestState is another caller's/,
    );
    expect(deletesFor(sim, dataset)).toBe(0);
    expect(await jobOf(plan.plan_id, config.auditLog)).toBeUndefined();
  });

  it.skipIf(skipWithoutFaketime("the expired requestState test"))(
    "refuses a state past its expiry on a server whose clock moved on, and sends nothing; a fresh state still counts",
    async () => {
      fakedStderr = "";
      await expiredStateFlow().catch((error: Error) => {
        throw new Error(
          `${error.message}\nstderr of the server under faketime:\n${fakedStderr || "(nothing)"}`,
        );
      });
    },
  );

  /** The expired-state test's steps: a state sealed now, redeemed on a server 11 minutes ahead. */
  async function expiredStateFlow() {
    const dataset = "crm-expired-state";
    const ids = range(2, `${dataset}-`);
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    const { plan, asked, retry } = await askOnce("modern-late", config.path, dataset, ids);
    // The same caller, on a deletegate 11 minutes later: past the state's 10 minutes, within the plan's 15.
    const late = modernClient("modern-late", { confirm: ids.length, manual: true });
    await late.connect(stdioTransport(config.path, 11 * 60_000));
    expect(errorText(await retry(late, asked.requestState))).toMatch(
      /^CONFIRMATION_INVALID: The requestState is expired/,
    );
    expect(deletesFor(sim, dataset)).toBe(0);
    expect(await jobOf(plan.plan_id, config.auditLog)).toBeUndefined();
    // The plan itself is still valid there: a state sealed at that time counts.
    const fresh = await askExecute(late, plan.plan_id);
    expect(structured(await retry(late, fresh.requestState)).job_id).toBeTruthy();
  }
});

/** A human-mode plan of `ids` made by client `name`, the input_required its execute_delete got, and its retry. */
async function askOnce(name: string, configPath: string, dataset: string, ids: string[]) {
  const first = modernClient(name, { confirm: ids.length, manual: true });
  await first.connect(stdioTransport(configPath));
  const plan = structured(
    await caller(first).call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: dataset },
      ids,
      reason: REASON,
    }),
  );
  const asked = await askExecute(first, plan.plan_id);
  expect(typeof asked.requestState).toBe("string");
  const retry = (client: Client, requestState: string, count = ids.length) =>
    client.callTool({
      name: "execute_delete",
      arguments: { plan_id: plan.plan_id },
      inputResponses: { confirm: { action: "accept", content: { confirm_count: count } } },
      requestState,
    } as Parameters<Client["callTool"]>[0]) as Promise<CallToolResult>;
  return { plan, asked, retry, first };
}

/** execute_delete's first call by a client that answers input requests itself: the input_required result. */
async function askExecute(client: Client, planId: string) {
  return (await client.callTool(
    { name: "execute_delete", arguments: { plan_id: planId } },
    { allowInputRequired: true },
  )) as unknown as { resultType: string; requestState: string; inputRequests: Record<string, unknown> };
}

/** The job a plan's delete.confirmed line names, if it was ever confirmed. */
async function jobOf(planId: string, auditLog: string) {
  return readAudit(auditLog).find((line) => line.event === "delete.confirmed" && line.plan_id === planId);
}

describe("MCP 2026-07-28 in approval mode", () => {
  it("gets the job awaiting approval with its console link; an approver approves it there and it runs", async () => {
    const config = writeApprovalConfig(sim.url, { dana: approverHash }, { agentToken: true });
    const server = await startHttpServer(config.path, { env: { DELETEGATE_TOKEN_AGENT: TOKENS["agent-a"] } });
    servers.push(server);
    const client = modernClient("modern-approval", { confirm: 3 });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { authorization: `Bearer ${TOKENS["agent-a"]}` } },
      }),
    );
    expect(client.getProtocolEra()).toBe("modern");
    const before = sim.requests.length;
    const { plan, job } = await requestApproval(caller(client), "crm-2026", REASON, 3);
    expect(plan.confirmation.mode).toBe("approval");
    expect(job.status).toBe("awaiting_approval");
    expect(job.approval.url).toMatch(/\/console\/approvals\/job_/);
    expect(sim.requests.length).toBe(before);
    const origin = new URL(server.url).origin;
    const signed = await login(origin, "dana", APPROVER_PASSWORD);
    expect((await approve(origin, signed, job.job_id, "Matches the ticket")).status).toBe(200);
    const final = await finalJob(caller(client), job.job_id);
    expect(final.status).toBe("succeeded");
  });
});
