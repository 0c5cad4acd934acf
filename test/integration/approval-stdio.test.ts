// Approval mode for stdio setups: the agent's stdio server and `deletegate console` are two processes on one SQLite
// file. Each sees the other's jobs; a decision made in the console reaches the agent's process; decisions racing
// across the two processes never both win; a job whose stdio server died is run by the console once approved.
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
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
import {
  CLI,
  deletesFor,
  editConfig,
  readAudit,
  type Session,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  until,
  writeConfig,
} from "./harness.js";
import { type HttpServer, startHttpServer } from "./http-harness.js";

const PASSWORDS = { alice: "alice correct horse", bob: "bob battery staple", client: "the client's own" };
const REASON = "Customer 7730 closed the account; erase contacts";
const WEBHOOK_SECRET = "stdio-webhook-secret-61c2";
/** The stdio server's actor is its client's name: an approver of that name is the requester. */
const CLIENT_NAME = "stdio-agent";

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
  console: HttpServer;
  origin: string;
  agent: Session;
  path: string;
  auditLog: string;
}

/** A stdio server for the agent and `deletegate console`, on one sqlite store and one audit log. */
async function setup(
  approval: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<Setup> {
  const approvers = { alice: hashes.alice, bob: hashes.bob, [CLIENT_NAME]: hashes.client };
  const config = writeApprovalConfig(sim.url, approvers, { approval });
  const consoleServer = await startHttpServer(config.path, { console: true, env });
  cleanups.push(() => consoleServer.stop());
  const origin = new URL(consoleServer.url).origin;
  // The stdio server's links must point at the console the approvers use.
  editConfig(config.path, (raw) => {
    raw.approval.publicUrl = origin;
  });
  const agent = await startAgent(config.path, env);
  return { console: consoleServer, origin, agent, path: config.path, auditLog: config.auditLog };
}

async function startAgent(path: string, env: Record<string, string> = {}): Promise<Session> {
  const agent = await startSession(path, { clientName: CLIENT_NAME, env });
  cleanups.push(() => agent.close());
  return agent;
}

async function request(agent: Session, dataset: string, count = 5) {
  return (await requestApproval(agent, dataset, REASON, count)).job;
}

function auditVerifies(auditLog: string): string {
  const verified = spawnSync(process.execPath, [CLI, "audit", "verify", auditLog], { encoding: "utf8" });
  expect(verified.status).toBe(0);
  return verified.stdout;
}

describe("deletegate console beside a stdio server, on one sqlite store", () => {
  it("the console lists what the stdio server asked; approving there runs the job once; the agent sees it", async () => {
    const { agent, origin, auditLog } = await setup();
    const job = await request(agent, "crm-stdio-approve");
    expect(job.status).toBe("awaiting_approval");
    expect(job.approval.url).toBe(`${origin}/console/approvals/${job.job_id}`);

    const alice = await login(origin, "alice", PASSWORDS.alice);
    const pending = await consoleCall(origin, alice, "GET", "/console/api/approvals?status=pending");
    expect(pending.body.approvals.map((item: { job_id: string }) => item.job_id)).toEqual([job.job_id]);
    expect(pending.body.approvals[0]).toMatchObject({
      reason: REASON,
      requested_by: CLIENT_NAME,
      counts: expect.objectContaining({ total: 5 }),
    });
    const approved = await approve(origin, alice, job.job_id, "ticket 7730 checked");
    expect(approved.status).toBe(200);

    const final = await finalJob(agent, job.job_id);
    expect(final.status).toBe("succeeded");
    expect(final.counts.deleted).toBe(5);
    expect(deletesFor(sim, "crm-stdio-approve")).toBe(1);
    // Two processes appended to one audit log: one intact chain, every step of the job in order.
    const events = readAudit(auditLog)
      .filter((line) => line.job_id === job.job_id)
      .map((line) => line.event);
    expect(events.slice(0, 4)).toEqual([
      "approval.requested",
      "approval.granted",
      "delete.confirmed",
      "job.started",
    ]);
    expect(events.at(-1)).toBe("job.finished");
    expect(auditVerifies(auditLog)).toMatch(/^OK/);
  });

  it("reject, withdraw, two approvers and the requester, across the two processes", async () => {
    const { agent, origin } = await setup({ required: 2 });
    const alice = await login(origin, "alice", PASSWORDS.alice);
    const bob = await login(origin, "bob", PASSWORDS.bob);
    const self = await login(origin, CLIENT_NAME, PASSWORDS.client);

    const rejected = await request(agent, "crm-stdio-reject");
    const path = `/console/api/approvals/${rejected.job_id}/reject`;
    expect((await consoleCall(origin, bob, "POST", path, { comment: "wrong customer" })).status).toBe(200);
    expect(structured(await agent.call("get_delete_job", { job_id: rejected.job_id })).status).toBe(
      "rejected",
    );

    const withdrawn = await request(agent, "crm-stdio-withdraw");
    expect(structured(await agent.call("cancel_delete_job", { job_id: withdrawn.job_id })).status).toBe(
      "cancelled",
    );
    expect((await approve(origin, alice, withdrawn.job_id)).status).toBe(409);

    const two = await request(agent, "crm-stdio-two");
    expect((await approve(origin, self, two.job_id)).status).toBe(403);
    expect((await approve(origin, alice, two.job_id)).body.status).toBe("awaiting_approval");
    expect(
      structured(await agent.call("get_delete_job", { job_id: two.job_id })).approval.approvals,
    ).toHaveLength(1);
    expect((await approve(origin, bob, two.job_id)).status).toBe(200);
    expect((await finalJob(agent, two.job_id)).status).toBe("succeeded");

    expect(deletesFor(sim, "crm-stdio-reject")).toBe(0);
    expect(deletesFor(sim, "crm-stdio-withdraw")).toBe(0);
    expect(deletesFor(sim, "crm-stdio-two")).toBe(1);
  });

  it("a client name with a right-to-left override is stored, audited and shown with it replaced, not obeyed", async () => {
    const { origin, path, auditLog } = await setup();
    // U+202E would show what follows it reversed, on the console page and in the audit view.
    const named = await startSession(path, { clientName: "bob\u202e (pre-approved)" });
    cleanups.push(() => named.close());
    const job = await request(named, "crm-stdio-bidi");
    const safe = "bob\ufffd (pre-approved)";
    expect(job.requested_by).toBe(safe);
    const requested = readAudit(auditLog).find(
      (line) => line.event === "approval.requested" && line.job_id === job.job_id,
    );
    expect(requested?.actor).toBe(safe);
    const alice = await login(origin, "alice", PASSWORDS.alice);
    const one = await consoleCall(origin, alice, "GET", `/console/api/approvals/${job.job_id}`);
    expect(one.body.requested_by).toBe(safe);
    const page = await consoleCall(origin, alice, "GET", `/console/approvals/${job.job_id}`);
    expect(page.body).not.toContain("\u202e");
    expect(page.body).toContain(`<code>&#34;${safe}&#34;</code>`);
  });

  it("an approval and a withdrawal racing from two processes: exactly one wins, and a withdrawn job sends nothing", async () => {
    const { agent, origin, auditLog } = await setup();
    const alice = await login(origin, "alice", PASSWORDS.alice);
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      const dataset = `crm-stdio-race-${round}`;
      const job = await request(agent, dataset);
      const [approval, cancel] = await Promise.all([
        approve(origin, alice, job.job_id),
        agent.call("cancel_delete_job", { job_id: job.job_id }),
      ]);
      const final = await finalJob(agent, job.job_id);
      const cancelAnswer = structured(cancel);
      if (approval.status === 200) {
        // Approved first: the cancel then stopped a queued or running job, or came too late to stop it.
        expect(["succeeded", "cancelled"]).toContain(final.status);
      } else {
        // Withdrawn first: the approval was refused and nothing was sent, ever.
        expect(approval.status).toBe(409);
        expect(cancelAnswer.status).toBe("cancelled");
        expect(final.status).toBe("cancelled");
        await new Promise((done) => setTimeout(done, 100));
        expect(deletesFor(sim, dataset)).toBe(0);
      }
      const events = readAudit(auditLog)
        .filter((line) => line.job_id === job.job_id)
        .map((line) => line.event);
      // Never both a grant and a withdrawal before the job was confirmed.
      const confirmedAt = events.indexOf("delete.confirmed");
      const withdrawnAt = events.indexOf("job.cancelled");
      if (confirmedAt >= 0 && withdrawnAt >= 0) expect(withdrawnAt).toBeGreaterThan(confirmedAt);
    }
  });

  it("expiry is recorded once although both processes sweep", async () => {
    const { agent, auditLog } = await setup({ ttlSeconds: 1 });
    const job = await request(agent, "crm-stdio-expire");
    await until(
      () =>
        readAudit(auditLog).some((line) => line.event === "approval.expired" && line.job_id === job.job_id),
      6_000,
    );
    await new Promise((done) => setTimeout(done, 2_000));
    const expired = readAudit(auditLog).filter(
      (line) => line.event === "approval.expired" && line.job_id === job.job_id,
    );
    expect(expired).toHaveLength(1);
    expect(structured(await agent.call("get_delete_job", { job_id: job.job_id })).status).toBe("expired");
  });

  it("the stdio server dies while its job awaits approval: approved in the console, the console runs it once", async () => {
    const { agent, origin, path } = await setup();
    const job = await request(agent, "crm-stdio-crash");
    const pid = agent.pid();
    if (pid) process.kill(pid, "SIGKILL");
    await agent.close().catch(() => undefined);
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect(
      (await consoleCall(origin, alice, "GET", `/console/api/approvals/${job.job_id}`)).body.status,
    ).toBe("awaiting_approval");
    expect((await approve(origin, alice, job.job_id)).status).toBe(200);
    await until(() => deletesFor(sim, "crm-stdio-crash") === 1, 10_000);
    // The next stdio server finds it done, and does not run it again.
    const next = await startAgent(path);
    expect((await finalJob(next, job.job_id)).status).toBe("succeeded");
    await new Promise((done) => setTimeout(done, 500));
    expect(deletesFor(sim, "crm-stdio-crash")).toBe(1);
  });
});

describe("deletegate console: sign-in, CSRF and webhooks from both processes", () => {
  it("refuses a wrong password, a missing session and a missing CSRF header; signs every webhook it sends", async () => {
    const received: { signature: string | undefined; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        received.push({ signature: req.headers["x-deletegate-signature"] as string | undefined, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
    cleanups.push(() => new Promise((resolve) => receiver.close(() => resolve())));
    const port = (receiver.address() as { port: number }).port;
    const { agent, origin } = await setup(
      { notify: [{ url: `http://127.0.0.1:${port}/hook`, secretEnv: "DG_WEBHOOK" }] },
      { DG_WEBHOOK: WEBHOOK_SECRET },
    );
    const job = await request(agent, "crm-stdio-secure");
    expect((await login(origin, "alice", "not her password")).status).toBe(401);
    const list = "/console/api/approvals?status=pending";
    expect((await consoleCall(origin, {}, "GET", list)).status).toBe(401);
    const alice = await login(origin, "alice", PASSWORDS.alice);
    expect((await approve(origin, { cookie: alice.cookie, csrf: "" }, job.job_id)).status).toBe(403);
    expect(deletesFor(sim, "crm-stdio-secure")).toBe(0);
    expect((await approve(origin, alice, job.job_id)).status).toBe(200);
    // approval.requested comes from the stdio server, approval.granted from the console: both signed.
    const events = () => received.map((item) => JSON.parse(item.body).event);
    await until(() => events().includes("approval.requested") && events().includes("approval.granted"));
    for (const item of received) {
      expect(item.signature).toBe(
        `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(item.body).digest("hex")}`,
      );
      expect(JSON.parse(item.body)).toMatchObject({ job_id: job.job_id, requested_by: CLIENT_NAME });
    }
    expect((await finalJob(agent, job.job_id)).status).toBe("succeeded");
  });
});

describe("deletegate console on its own", () => {
  it("serves no MCP, and refuses a config without approvers or with the memory store", async () => {
    const { console: server } = await setup();
    const mcp = await fetch(new URL("/mcp", server.url), { method: "POST", body: "{}" });
    expect(mcp.status).toBe(404);

    const dir = tempDir();
    const plain = writeConfig(dir, sim.url);
    const noApprovers = spawnSync(process.execPath, [CLI, "console", "--port", "0", "--config", plain.path], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
    });
    expect(noApprovers.status).toBe(2);
    expect(noApprovers.stderr).toContain("approval.approvers");
    editConfig(plain.path, (raw) => {
      raw.store = "memory";
      raw.confirmation = { mode: "approval" };
      raw.approval = { approvers: [{ name: "alice", passwordHash: hashes.alice }] };
    });
    const memory = spawnSync(process.execPath, [CLI, "console", "--port", "0", "--config", plain.path], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
    });
    expect(memory.status).toBe(2);
    expect(memory.stderr).toContain("memory store");
  });
});
