// Approval mode over HTTP: the agent's execute waits for people who sign in to the console with their own
// credentials; approve, reject, expiry, withdraw, two approvers, the requester, CSRF and sign-in refusals,
// the policy at the last approval, webhooks, the no-JavaScript page, and a crash while awaiting approval.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../src/approval/password.js";
import type { SplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  approvalFixture,
  approve,
  consoleCall,
  finalJob,
  login,
  requestApproval,
  writeApprovalConfig,
} from "./console-harness.js";
import { deletesFor, editConfig, readAudit, structured, until } from "./harness.js";
import { connectHttp, type HttpServer, type HttpSession, startHttpServer } from "./http-harness.js";

const AGENT_TOKEN = "approval-agent-token-5c1e";
const PASSWORDS = { alice: "alice correct horse", bob: "bob battery staple", agent: "the agent's own" };
const WEBHOOK_SECRET = "webhook-secret-2b7f9a";
const REASON = "Customer 5521 closed the account; erase contacts";
/** A reason written to act in a chat: a channel-wide ping, a link labelled with a console URL, bold text. */
const CHAT_MARKUP_REASON =
  "Routine cleanup <!channel> already approved, click " +
  "<http://127.0.0.1:9999/x|http://127.0.0.1:8809/console/approvals/job_x> *Approve*";

let sim: SplendorSimulator;
let hashes: Record<keyof typeof PASSWORDS, string>;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ({ sim, hashes } = await approvalFixture(PASSWORDS));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await sim.close();
});

interface Setup {
  server: HttpServer;
  agent: HttpSession;
  origin: string;
  path: string;
  auditLog: string;
}

/** `deletegate --http` in approval mode with approvers alice and bob (and "agent", the token's own name). */
async function setup(
  approval: Record<string, unknown> = {},
  store?: string,
  backend?: Record<string, unknown>,
): Promise<Setup> {
  const config = writeApprovalConfig(sim.url, hashes, { approval, store, agentToken: true, backend });
  const server = await startHttpServer(config.path, {
    env: { DELETEGATE_TOKEN_AGENT: AGENT_TOKEN, DG_WEBHOOK: WEBHOOK_SECRET },
  });
  cleanups.push(() => server.stop());
  const agent = await connectHttp(server.url, AGENT_TOKEN, { name: "agent-client" });
  cleanups.push(() => agent.close());
  return { server, agent, origin: new URL(server.url).origin, path: config.path, auditLog: config.auditLog };
}

/** dry run + execute by the agent: the job awaiting approval. */
function request(agent: HttpSession, dataset: string, count = 5) {
  return requestApproval(agent, dataset, REASON, count);
}

describe("approval mode: the job waits for people signed in to the console", () => {
  it("execute returns the job awaiting approval with its link; an approver approves; it runs once", async () => {
    const { agent, origin, auditLog } = await setup();
    const { plan, job } = await request(agent, "crm-approve");
    expect(plan.confirmation.mode).toBe("approval");
    expect(plan.confirmation.token).toBeUndefined();
    expect(job.status).toBe("awaiting_approval");
    expect(job.approval).toMatchObject({ required: 1, approvals: [], rejected: null });
    expect(job.approval.url).toBe(`${origin}/console/approvals/${job.job_id}`);
    expect(job.next_step).toContain(job.approval.url);
    expect(deletesFor(sim, "crm-approve")).toBe(0);
    // Executing again returns the same job and sends nothing.
    const again = structured(await agent.call("execute_delete", { plan_id: plan.plan_id }));
    expect(again.job_id).toBe(job.job_id);

    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect(alice.status).toBe(200);
    expect(alice.cookie).toMatch(/^deletegate_console=/);
    const pending = await consoleCall(origin, alice, "GET", "/console/api/approvals?status=pending");
    expect(pending.body.approvals.map((item: { job_id: string }) => item.job_id)).toContain(job.job_id);
    const one = await consoleCall(origin, alice, "GET", `/console/api/approvals/${job.job_id}`);
    expect(one.body).toMatchObject({ job_id: job.job_id, reason: REASON, requested_by: "agent" });

    // The page shows who asked as data (quoted): without tokens that name is the client's own choice.
    const page = await consoleCall(origin, alice, "GET", `/console/approvals/${job.job_id}`);
    expect(page.body).toContain("<code>&#34;agent&#34;</code>");
    expect(page.body).not.toMatch(/>agent</);
    const approved = await approve(origin, alice, job.job_id, "checked with the account owner");
    expect(approved.status).toBe(200);
    expect(approved.body.approval.approvals).toEqual([{ approver: "alice", at: expect.any(String) }]);
    const final = await finalJob(agent, job.job_id);
    expect(final.status).toBe("succeeded");
    expect(final.counts.deleted).toBe(5);
    expect(deletesFor(sim, "crm-approve")).toBe(1);
    // Approving a job no longer awaiting approval: 409.
    expect((await approve(origin, alice, job.job_id)).status).toBe(409);
    const events = readAudit(auditLog)
      .filter((line) => line.job_id === job.job_id)
      .map((line) => line.event);
    expect(events.slice(0, 4)).toEqual([
      "approval.requested",
      "approval.granted",
      "delete.confirmed",
      "job.started",
    ]);
    const granted = readAudit(auditLog).find((line) => line.event === "approval.granted");
    expect(granted).toMatchObject({
      approver: "alice",
      comment: "checked with the account owner",
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      approvals: 1,
      required: 1,
    });
  });

  it("a client that supports URL-mode elicitation is asked to open the link (not awaited: the console decides)", async () => {
    const { server } = await setup();
    const opened: { mode?: string; url?: string; message?: string }[] = [];
    const client = new Client(
      { name: "url-client", version: "1.0.0" },
      { capabilities: { elicitation: { url: {} } } },
    );
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      opened.push(request.params as { mode?: string; url?: string; message?: string });
      return { action: "accept" };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } },
      }),
    );
    cleanups.push(() => client.close());
    const agent = {
      call: (name: string, args: Record<string, unknown> = {}) =>
        client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    } as HttpSession;
    const { job } = await request(agent, "crm-url");
    expect(job.status).toBe("awaiting_approval");
    await until(() => opened.length > 0);
    expect(opened[0]).toMatchObject({ mode: "url", url: job.approval.url });
    // The client's "accept" is not consent: nothing runs until an approver decides.
    await new Promise((done) => setTimeout(done, 300));
    expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe(
      "awaiting_approval",
    );
    expect(deletesFor(sim, "crm-url")).toBe(0);
  });

  it("reject needs a comment, ends the job rejected, and sends nothing", async () => {
    const { agent, origin, auditLog } = await setup();
    const { job } = await request(agent, "crm-reject");
    const bob = await login(origin, "bob", PASSWORDS.bob);
    const path = `/console/api/approvals/${job.job_id}/reject`;
    expect((await consoleCall(origin, bob, "POST", path, {})).status).toBe(400);
    const rejected = await consoleCall(origin, bob, "POST", path, { comment: "not without a ticket" });
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe("rejected");
    expect(rejected.body.approval.rejected).toMatchObject({
      approver: "bob",
      comment: "not without a ticket",
    });
    expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe("rejected");
    expect((await approve(origin, bob, job.job_id)).status).toBe(409);
    expect(deletesFor(sim, "crm-reject")).toBe(0);
    expect(readAudit(auditLog).find((line) => line.event === "approval.rejected")).toMatchObject({
      approver: "bob",
      comment: "not without a ticket",
    });
  });

  it("no decision within ttlSeconds: expired on read at once, audited within 5 s, never approvable", async () => {
    const { agent, origin, auditLog } = await setup({ ttlSeconds: 1 });
    const { job } = await request(agent, "crm-expire");
    await new Promise((done) => setTimeout(done, 1_100));
    expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe("expired");
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect((await approve(origin, alice, job.job_id)).status).toBe(409);
    await until(() => readAudit(auditLog).some((line) => line.event === "approval.expired"), 5_000);
    expect(deletesFor(sim, "crm-expire")).toBe(0);
  });

  it("cancel_delete_job withdraws a job awaiting approval", async () => {
    const { agent, origin } = await setup();
    const { job } = await request(agent, "crm-withdraw");
    const withdrawn = structured(await agent.call("cancel_delete_job", { job_id: job.job_id }));
    expect(withdrawn.status).toBe("cancelled");
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect((await approve(origin, alice, job.job_id)).status).toBe(409);
    expect(deletesFor(sim, "crm-withdraw")).toBe(0);
  });

  it("required: 2 needs two distinct approvers; the same approver twice counts once", async () => {
    const { agent, origin } = await setup({ required: 2 });
    const { job } = await request(agent, "crm-two");
    const alice = await login(origin, "alice", PASSWORDS.alice);
    const bob = await login(origin, "bob", PASSWORDS.bob);
    expect((await approve(origin, alice, job.job_id)).body.status).toBe("awaiting_approval");
    expect((await approve(origin, alice, job.job_id)).body.approval.approvals).toHaveLength(1);
    expect(deletesFor(sim, "crm-two")).toBe(0);
    expect((await approve(origin, bob, job.job_id)).status).toBe(200);
    expect((await finalJob(agent, job.job_id)).status).toBe("succeeded");
    expect(deletesFor(sim, "crm-two")).toBe(1);
  });

  it("the requester cannot approve their own request (an approver named like the agent's token)", async () => {
    const { agent, origin, auditLog } = await setup();
    const { job } = await request(agent, "crm-self");
    const self = await login(origin, "agent", PASSWORDS.agent);
    const refused = await approve(origin, self, job.job_id);
    expect(refused.status).toBe(403);
    expect(deletesFor(sim, "crm-self")).toBe(0);
    // The refusal is in the audit log, as execute_delete's refusals are.
    const line = readAudit(auditLog).find(
      (entry) => entry.event === "delete.refused" && entry.job_id === job.job_id,
    );
    expect(line).toMatchObject({ actor: "agent", code: "FORBIDDEN" });
  });

  // The operator acts on alice's account (compromised, say) while a job holds her approval.
  // biome-ignore lint/suspicious/noExplicitAny: config files are edited key by key
  const revocations: [string, string, (approvers: any[]) => Promise<any[]>][] = [
    [
      "removed from the approvers",
      "crm-removed",
      async (approvers) => approvers.filter((approver) => approver.name !== "alice"),
    ],
    [
      "whose password the operator changed",
      "crm-repassworded",
      async (approvers) => {
        const passwordHash = await hashPassword("alice's new password, not leaked");
        return approvers.map((approver) =>
          approver.name === "alice" ? { ...approver, passwordHash } : approver,
        );
      },
    ],
  ];
  it.each(revocations)(
    "an approval given by someone %s since no longer counts toward `required`",
    async (_, dataset, revoke) => {
      const { agent, origin, path, server, auditLog } = await setup({ required: 2 });
      const { job } = await request(agent, dataset);
      const alice = await login(origin, "alice", PASSWORDS.alice);
      const bob = await login(origin, "bob", PASSWORDS.bob);
      expect((await approve(origin, alice, job.job_id)).body.status).toBe("awaiting_approval");
      const approvers = await revoke(JSON.parse(readFileSync(path, "utf8")).approval.approvers);
      editConfig(path, (raw) => {
        raw.approval.approvers = approvers;
      });
      const reloads = readAudit(auditLog).filter((line) => line.event === "config.reloaded").length;
      server.child.kill("SIGHUP");
      await until(
        () => readAudit(auditLog).filter((line) => line.event === "config.reloaded").length > reloads,
      );
      // The page bob decides on says that alice's approval no longer counts.
      const page = await fetch(`${origin}/console/approvals/${job.job_id}`, {
        headers: { cookie: bob.cookie },
      });
      const html = await page.text();
      expect(html).toContain("(no longer counts: not an approver with that password now)");
      expect(html).toContain("(0 of 2 needed count)");
      const second = await approve(origin, bob, job.job_id);
      expect(second.status).toBe(200);
      expect(second.body.status).toBe("awaiting_approval");
      await new Promise((done) => setTimeout(done, 300));
      expect(deletesFor(sim, dataset)).toBe(0);
      expect(
        readAudit(auditLog).some((line) => line.event === "delete.confirmed" && line.job_id === job.job_id),
      ).toBe(false);
    },
  );

  it("an approver whose password was changed approves again with the new one: it replaces the old approval and counts", async () => {
    const { agent, origin, path, server, auditLog } = await setup({ required: 2 });
    const { job } = await request(agent, "crm-reapproved");
    const bob = await login(origin, "bob", PASSWORDS.bob);
    expect((await approve(origin, await login(origin, "alice", PASSWORDS.alice), job.job_id)).status).toBe(
      200,
    );
    const renewed = "alice's renewed password";
    const passwordHash = await hashPassword(renewed);
    editConfig(path, (raw) => {
      raw.approval.approvers = raw.approval.approvers.map((approver: { name: string }) =>
        approver.name === "alice" ? { ...approver, passwordHash } : approver,
      );
    });
    const reloads = readAudit(auditLog).filter((line) => line.event === "config.reloaded").length;
    server.child.kill("SIGHUP");
    await until(
      () => readAudit(auditLog).filter((line) => line.event === "config.reloaded").length > reloads,
    );
    const again = await approve(origin, await login(origin, "alice", renewed), job.job_id);
    expect(again.body.status).toBe("awaiting_approval");
    expect(again.body.approval.approvals.map((given: { approver: string }) => given.approver)).toEqual([
      "alice",
    ]);
    expect((await approve(origin, bob, job.job_id)).body.status).toBe("queued");
    expect((await finalJob(agent, job.job_id)).status).toBe("succeeded");
    expect(deletesFor(sim, "crm-reapproved")).toBe(1);
  });

  it("a crash while awaiting approval: after the restart the job still awaits, and approving it runs it once", async () => {
    const first = await setup();
    const { job } = await request(first.agent, "crm-crash");
    await first.agent.close().catch(() => undefined);
    await first.server.kill();
    const server = await startHttpServer(first.path, {
      env: { DELETEGATE_TOKEN_AGENT: AGENT_TOKEN, DG_WEBHOOK: WEBHOOK_SECRET },
    });
    cleanups.push(() => server.stop());
    const agent = await connectHttp(server.url, AGENT_TOKEN, { name: "agent-client" });
    cleanups.push(() => agent.close());
    expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe(
      "awaiting_approval",
    );
    const origin = new URL(server.url).origin;
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect((await approve(origin, alice, job.job_id)).status).toBe(200);
    expect((await finalJob(agent, job.job_id)).status).toBe("succeeded");
    expect(deletesFor(sim, "crm-crash")).toBe(1);
  });

  // biome-ignore lint/suspicious/noExplicitAny: config files are edited key by key
  const tightenings: [string, string, (backend: Record<string, any>) => void][] = [
    ["readOnly set", "READ_ONLY", (backend) => (backend.readOnly = true)],
    ["maxItemsPerJob lowered", "JOB_LIMIT_EXCEEDED", (backend) => (backend.maxItemsPerJob = 4)],
    // The job's own 5 ids, counted when it was requested, are weighed as if they ran now: 5 > 4.
    ["maxItemsPerDay lowered", "DAILY_LIMIT_EXCEEDED", (backend) => (backend.maxItemsPerDay = 4)],
  ];
  it.each(tightenings)(
    "the policy in force is checked again at the last approval: %s → %s",
    async (_, code, edit) => {
      const { agent, origin, server, path, auditLog } = await setup();
      const dataset = `crm-policy-${code.toLowerCase()}`;
      const { job } = await request(agent, dataset);
      editConfig(path, (raw) => edit(raw.backends["splendor-test"]));
      process.kill(server.pid, "SIGHUP");
      await until(() => readAudit(auditLog).some((line) => line.event === "config.reloaded"), 10_000);
      const alice = await login(origin, "alice", PASSWORDS.alice);
      const refused = await approve(origin, alice, job.job_id);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toBe(code);
      expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe(
        "awaiting_approval",
      );
      expect(deletesFor(sim, dataset)).toBe(0);
    },
  );

  it("a job awaiting approval counts once toward the daily limit: within it, the last approval runs it", async () => {
    // Exactly the limit: the job's own ids, already counted when it was requested, are not counted twice.
    const { agent, origin } = await setup({}, undefined, { maxItemsPerDay: 5 });
    const { job } = await request(agent, "crm-budget", 5);
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect((await approve(origin, alice, job.job_id)).status).toBe(200);
    expect((await finalJob(agent, job.job_id)).status).toBe("succeeded");
  });
});

describe("console security", () => {
  it("sessions, CSRF, bearer tokens and foreign origins", async () => {
    const { agent, origin, server } = await setup();
    const { job } = await request(agent, "crm-secure");
    const list = "/console/api/approvals?status=pending";
    expect((await consoleCall(origin, {}, "GET", list)).status).toBe(401);
    // An agent's bearer token opens nothing in the console.
    const bearer = await consoleCall(origin, {}, "GET", list, undefined, {
      authorization: `Bearer ${AGENT_TOKEN}`,
    });
    expect(bearer.status).toBe(401);
    expect((await consoleCall(origin, { cookie: "deletegate_console=forged" }, "GET", list)).status).toBe(
      401,
    );
    const alice = await login(origin, "alice", PASSWORDS.alice);
    // A state-changing call without the CSRF header, or with another, is refused.
    expect((await approve(origin, { cookie: alice.cookie, csrf: "" }, job.job_id)).status).toBe(403);
    expect((await approve(origin, { cookie: alice.cookie, csrf: "x".repeat(43) }, job.job_id)).status).toBe(
      403,
    );
    // A cross-origin post is refused before anything else.
    const foreign = await consoleCall(
      origin,
      alice,
      "POST",
      `/console/api/approvals/${job.job_id}/approve`,
      {},
      {
        origin: "http://evil.example",
      },
    );
    expect(foreign.status).toBe(403);
    // Approver credentials never open /mcp.
    const mcp = await fetch(server.url, {
      method: "POST",
      headers: {
        cookie: alice.cookie,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(mcp.status).toBe(401);
    expect(deletesFor(sim, "crm-secure")).toBe(0);
    expect(JSON.stringify(alice)).not.toContain(PASSWORDS.alice);
  });

  it("a password changed by the operator ends the sessions opened with the old one", async () => {
    const { origin, path, server, auditLog } = await setup();
    const alice = await login(origin, "alice", PASSWORDS.alice);
    const list = "/console/api/approvals?status=pending";
    expect((await consoleCall(origin, alice, "GET", list)).status).toBe(200);
    // Alice's password leaked: the operator sets a new hash and reloads.
    const rotated = await hashPassword("alice's new password");
    editConfig(path, (raw) => {
      for (const approver of raw.approval.approvers)
        if (approver.name === "alice") approver.passwordHash = rotated;
    });
    const reloads = readAudit(auditLog).filter((line) => line.event === "config.reloaded").length;
    server.child.kill("SIGHUP");
    await until(
      () => readAudit(auditLog).filter((line) => line.event === "config.reloaded").length > reloads,
    );
    expect((await consoleCall(origin, alice, "GET", list)).status).toBe(401);
    expect((await login(origin, "alice", "alice's new password")).status).toBe(200);
  });

  it("failed sign-ins are slowed down, never refused: the right password still signs in", async () => {
    const { origin, server } = await setup();
    const started = Date.now();
    for (const password of ["wrong-1", "wrong-2", "wrong-3"]) {
      expect((await login(origin, "alice", password)).status).toBe(401);
    }
    expect((await login(origin, "nobody", "x")).status).toBe(401);
    // 250 + 500 + 1000 ms at least for alice's three failures.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_700);
    expect((await login(origin, "alice", PASSWORDS.alice)).status).toBe(200);
    for (const secret of [PASSWORDS.alice, "wrong-1", hashes.alice])
      expect(server.stderr()).not.toContain(secret);
  });
});

describe("webhooks", () => {
  let receiver: Server;
  const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        // The first delivery fails: the webhook is retried.
        res.writeHead(received.length === 1 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
  });
  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  it("each approval event is POSTed, signed with HMAC-SHA256, retried, with a readable line", async () => {
    const address = receiver.address() as { port: number };
    const { agent, origin, server } = await setup({
      notify: [{ url: `http://127.0.0.1:${address.port}/hook?t=receiver-secret`, secretEnv: "DG_WEBHOOK" }],
    });
    const { job } = await requestApproval(agent, "crm-hook", CHAT_MARKUP_REASON);
    const alice = await login(origin, "alice", PASSWORDS.alice);
    await approve(origin, alice, job.job_id);
    const count = (event: string) => received.filter((item) => JSON.parse(item.body).event === event).length;
    // The first delivery (approval.requested) gets a 500 and is sent again.
    await until(() => count("approval.granted") >= 1 && count("approval.requested") >= 2);
    const events = received.map((item) => JSON.parse(item.body).event);
    expect(events.filter((event: string) => event === "approval.requested").length).toBe(2);
    for (const item of received) {
      const expected = `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(item.body).digest("hex")}`;
      expect(item.headers["x-deletegate-signature"]).toBe(expected);
      const body = JSON.parse(item.body);
      expect(body).toMatchObject({
        job_id: job.job_id,
        backend: "splendor-test",
        count: 5,
        requested_by: "agent",
      });
      // The reason field is the agent's words as given; on the chat line they are inert text after the link.
      expect(body.reason).toBe(CHAT_MARKUP_REASON);
      expect(body.text).not.toContain("\n");
      expect(body.text).not.toMatch(/[<>]/);
      expect(body.text).toContain("&lt;!channel&gt;");
      expect(body.text).not.toContain("*Approve*");
      expect(body.text).toContain(`${job.approval.url} `);
      expect(body.text.indexOf(job.approval.url)).toBeLessThan(body.text.indexOf("Routine cleanup"));
    }
    // The receiver's URL token and the signing secret stay out of the log.
    await until(() => server.stderr().includes("webhook not delivered"));
    expect(server.stderr()).not.toContain("receiver-secret");
    expect(server.stderr()).not.toContain(WEBHOOK_SECRET);
  });
});
