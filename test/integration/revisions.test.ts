// The whole flow for both MCP revisions (issue 14): the v2 SDK Client in its legacy era (2025-11-25, initialize and a
// session) and pinned to 2026-07-28 (stateless, input_required), over stdio and over HTTP, in each confirmation mode:
// token, human (the form) and approval (the console, with the link asked as URL-mode input). Each run checks what
// the simulator received and what the audit log says.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SplendorSimulator } from "../../tools/simulators/splendor.js";
import { approvalFixture, approve, finalJob, login, writeApprovalConfig } from "./console-harness.js";
import {
  deleteRequests,
  range,
  readAudit,
  serverProcess,
  structured,
  tempDir,
  until,
  writeConfig,
} from "./harness.js";
import { addHttpTokens, type HttpServer, startHttpServer } from "./http-harness.js";

const ERAS = ["2025-11-25", "2026-07-28"] as const;
const TRANSPORTS = ["stdio", "http"] as const;
const MODES = ["token", "human", "approval"] as const;
type Era = (typeof ERAS)[number];
type Transport = (typeof TRANSPORTS)[number];
type Mode = (typeof MODES)[number];

const REASON = "Revision matrix: delete synthetic records";
const AGENT_TOKEN = "tok-matrix-7d41a2";
const APPROVER_PASSWORD = "dana's matrix password";

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

/** What the person was shown through the client: the numbers the forms asked for, and the links to open. */
interface Seen {
  forms: string[];
  links: string[];
}

/**
 * A v2 SDK client of this era that declares form and URL elicitation: it answers every form with the number the
 * form asks for (as a person who read it would), and accepts every link, noting what it was shown.
 */
function client(name: string, era: Era, seen: Seen): Client {
  const made = new Client(
    { name, version: "1.0.0" },
    {
      versionNegotiation: { mode: era === "2026-07-28" ? { pin: era } : "legacy" },
      capabilities: { elicitation: { form: {}, url: {} } },
    },
  );
  made.setRequestHandler("elicitation/create", async (request) => {
    const params = request.params as {
      mode?: string;
      url?: string;
      message: string;
      requestedSchema?: unknown;
    };
    if (params.mode === "url") {
      seen.links.push(params.url ?? "");
      return { action: "accept" };
    }
    const asked = /Type (\d+) to confirm/.exec(JSON.stringify(params.requestedSchema))?.[1] ?? "";
    seen.forms.push(asked);
    return { action: "accept", content: { confirm_count: Number(asked) } };
  });
  clients.push(made);
  return made;
}

/** The deletegate this case talks to, the console origin in approval mode, and who the audit log names. */
async function connect(era: Era, transport: Transport, mode: Mode, seen: Seen) {
  const config =
    mode === "approval"
      ? writeApprovalConfig(sim.url, { dana: approverHash }, { agentToken: transport === "http" })
      : writeConfig(tempDir(), sim.url, { confirmation: { mode } });
  if (mode !== "approval" && transport === "http")
    addHttpTokens(config.path, { agent: "DELETEGATE_TOKEN_AGENT" });
  const name = `matrix-${era}-${transport}-${mode}`;
  const agent = client(name, era, seen);
  if (transport === "stdio") {
    await agent.connect(new StdioClientTransport(serverProcess(config.path, {}, "ignore")));
    // A stdio server has no console of its own: `deletegate console` serves it from the same store.
    const consoleServer = mode === "approval" ? await startHttpServer(config.path, { console: true }) : null;
    if (consoleServer) servers.push(consoleServer);
    return {
      agent,
      auditLog: config.auditLog,
      actor: name,
      origin: consoleServer ? new URL(consoleServer.url).origin : "",
    };
  }
  const server = await startHttpServer(config.path, { env: { DELETEGATE_TOKEN_AGENT: AGENT_TOKEN } });
  servers.push(server);
  await agent.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } },
    }),
  );
  return { agent, auditLog: config.auditLog, actor: "agent", origin: new URL(server.url).origin };
}

/** The ids the simulator was asked to delete in this dataset. */
function sentIds(dataset: string): string[] {
  return deleteRequests(sim)
    .map((request) => request.body as { dataset_id: string; record_ids: string[] })
    .filter((body) => body.dataset_id === dataset)
    .flatMap((body) => body.record_ids)
    .sort();
}

describe.each(ERAS)("MCP %s, the v2 SDK client", (era) => {
  describe.each(TRANSPORTS)("over %s", (transport) => {
    it.each(MODES)("runs the whole flow in %s mode", async (mode) => {
      const seen: Seen = { forms: [], links: [] };
      const { agent, auditLog, actor, origin } = await connect(era, transport, mode, seen);
      expect(agent.getProtocolEra()).toBe(era === "2026-07-28" ? "modern" : "legacy");
      const call = (name: string, args: Record<string, unknown> = {}) =>
        agent.callTool({ name, arguments: args }) as Promise<CallToolResult>;
      const dataset = `crm-${era}-${transport}-${mode}`;
      const ids = range(5, `${dataset}-`);

      const plan = structured(
        await call("dry_run_delete", {
          backend: "splendor-test",
          target: { dataset_id: dataset },
          ids,
          reason: REASON,
        }),
      );
      expect(plan.confirmation.mode).toBe(mode);
      expect(plan.confirmation.token === undefined).toBe(mode !== "token");
      const job = structured(
        await call("execute_delete", {
          plan_id: plan.plan_id,
          ...(mode === "token" ? { confirmation_token: plan.confirmation.token } : {}),
          wait_seconds: 0,
        }),
      );

      if (mode === "approval") {
        expect(job.status).toBe("awaiting_approval");
        expect(sentIds(dataset)).toEqual([]);
        // The client was asked to open the job's approval page (pushed to a session; input_required in 2026).
        await until(() => seen.links.length > 0, 5_000);
        expect(seen.links).toEqual([job.approval.url]);
        // Opening the page (the client accepted the link) is not consent: still nothing sent, still awaiting.
        expect(structured(await call("get_delete_job", { job_id: job.job_id })).status).toBe(
          "awaiting_approval",
        );
        expect(sentIds(dataset)).toEqual([]);
        const signed = await login(origin, "dana", APPROVER_PASSWORD);
        expect((await approve(origin, signed, job.job_id, "Matches the ticket")).status).toBe(200);
      }
      expect(seen.forms).toEqual(mode === "human" ? [String(ids.length)] : []);

      const final = await finalJob({ call }, job.job_id);
      expect(final.status).toBe("succeeded");
      expect(final.counts.deleted).toBe(ids.length);
      expect(sentIds(dataset)).toEqual([...ids].sort());

      const audit = readAudit(auditLog);
      const consent = audit.find(
        (line) => line.event === (mode === "approval" ? "approval.requested" : "delete.confirmed"),
      );
      expect(consent?.plan_id).toBe(plan.plan_id);
      expect(consent?.actor).toBe(actor);
      if (mode === "approval") {
        expect(audit.find((line) => line.event === "approval.granted")?.approver ?? "").toBe("dana");
      }
      expect(audit.find((line) => line.event === "job.finished")?.status).toBe("succeeded");
    });
  });
});
