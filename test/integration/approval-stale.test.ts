// The stale check at the last approval: a previewed plan whose examples another client deleted while it waited is
// refused with PLAN_STALE when the approver approves (409, the approval not recorded, nothing sent); an unchanged
// previewed plan runs. deletegate --http with a LangSmith backend in approval mode, the console's JSON API.
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../src/approval/password.js";
import type { KindSimulator } from "../../tools/simulators/fixture.js";
import { fixtureOf } from "../../tools/simulators/index.js";
import { LANGSMITH_DELETE_PATH } from "../../tools/simulators/langsmith.js";
import { approve, consoleCall, login, type Signed } from "./console-harness.js";
import { editConfig, readAudit, structured, tempDir, until, writeBackendsConfig } from "./harness.js";
import {
  addHttpTokens,
  connectHttp,
  type HttpServer,
  type HttpSession,
  startHttpServer,
} from "./http-harness.js";

const FIXTURE = fixtureOf("langsmith");
const SECRET = "approval-stale-key-3c1d";
const AGENT_TOKEN = "agent-token-approval-stale-8e2f";
const PASSWORD = "dana's approval password";
const REASON = "DSR-3310: erase the customer's evaluation examples";

let sim: KindSimulator;
let server: HttpServer;
let agent: HttpSession;
let origin: string;
let dana: Signed;
let auditLog: string;

let configPath: string;

beforeAll(async () => {
  sim = await FIXTURE.start({ secret: SECRET, items: FIXTURE.ids(40) });
  const config = writeBackendsConfig(
    tempDir(),
    {
      langsmith: {
        kind: "langsmith",
        baseUrl: sim.url,
        credentialEnv: FIXTURE.credentialEnv,
        ...FIXTURE.keys,
      },
    },
    { confirmation: { mode: "approval" } },
  );
  auditLog = config.auditLog;
  configPath = config.path;
  addHttpTokens(config.path, { agent: "DELETEGATE_TOKEN_AGENT" });
  const passwordHash = await hashPassword(PASSWORD);
  editConfig(config.path, (raw) => {
    raw.approval = { approvers: [{ name: "dana", passwordHash }] };
  });
  server = await startHttpServer(config.path, {
    env: { [FIXTURE.credentialEnv]: SECRET, DELETEGATE_TOKEN_AGENT: AGENT_TOKEN },
  });
  origin = new URL(server.url).origin;
  agent = await connectHttp(server.url, AGENT_TOKEN);
  const signed = await login(origin, "dana", PASSWORD);
  expect(signed.status).toBe(200);
  dana = signed;
}, 30_000);

afterAll(async () => {
  await agent?.close();
  await server?.stop();
  await sim?.close();
});

async function previewedJob(ids: string[]) {
  const plan = structured(
    await agent.call("dry_run_delete", { backend: "langsmith", ids, reason: REASON, preview: true }),
  );
  const job = structured(await agent.call("execute_delete", { plan_id: plan.plan_id }));
  expect(job.status).toBe("awaiting_approval");
  return { plan, job };
}

const deletes = () => sim.requests.filter((request) => sim.deleteIds(request) !== null);

describe("the stale check at the last approval", () => {
  it("refuses the approval with PLAN_STALE when the found examples were deleted behind the plan, sending nothing", async () => {
    const ids = FIXTURE.ids(20);
    const { plan, job } = await previewedJob(ids);
    expect(plan.preview).toMatchObject({ checked: 20, found: 20 });
    // Another client deletes half of them while the job waits for its approver.
    const other = await fetch(`${sim.url}${LANGSMITH_DELETE_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": SECRET },
      body: JSON.stringify({ example_ids: ids.slice(0, 10), hard_delete: true }),
    });
    expect(other.status).toBe(200);
    const before = deletes().length;
    const refused = await approve(origin, dana, job.job_id, "Matches the ticket");
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: "PLAN_STALE" });
    expect(String(refused.body.message)).toMatch(/^10 of the 20 items the preview of plan/);
    expect(String(refused.body.message)).toMatch(/The approval was not recorded\.$/);
    const after = await consoleCall(origin, dana, "GET", `/console/api/approvals/${job.job_id}`);
    expect(after.body).toMatchObject({ status: "awaiting_approval", approval: { approvals: [] } });
    await new Promise((done) => setTimeout(done, 300));
    expect(deletes()).toHaveLength(before);
    expect(
      readAudit(auditLog).find((line) => line.event === "delete.refused" && line.job_id === job.job_id),
    ).toMatchObject({ code: "PLAN_STALE", actor: "dana" });
    expect(
      readAudit(auditLog).some((line) => line.event === "delete.confirmed" && line.job_id === job.job_id),
    ).toBe(false);
  });

  it("lets an unchanged previewed plan through, and its job runs", async () => {
    const ids = FIXTURE.ids(40).slice(20);
    const { job } = await previewedJob(ids);
    const approved = await approve(origin, dana, job.job_id, "Matches the ticket");
    expect(approved.status).toBe(200);
    let final = structured(await agent.call("get_delete_job", { job_id: job.job_id }));
    for (let tries = 0; tries < 100 && final.status !== "succeeded"; tries++) {
      await new Promise((done) => setTimeout(done, 100));
      final = structured(await agent.call("get_delete_job", { job_id: job.job_id }));
    }
    expect(final).toMatchObject({ status: "succeeded", counts: { deleted: 20 } });
  });

  it("shows the preview on the approval page", async () => {
    const { job } = await previewedJob(FIXTURE.ids(13).slice(10));
    const page = await fetch(`${origin}/console/approvals/${job.job_id}`, {
      headers: { cookie: dana.cookie },
    });
    const html = await page.text();
    expect(html).toContain("What exists at the backend");
    expect(html).toContain("All 3 id(s) were checked");
    expect(html).toContain("Found ids with the backend's summary");
  });

  // What the operator changes while the last approval's stale read runs (it takes 1.5 s here), and the refusal.
  // biome-ignore lint/suspicious/noExplicitAny: config files are edited key by key
  const meanwhile: [string, number, string, (raw: Record<string, any>) => Promise<void>][] = [
    [
      "maxItemsPerJob lowered below the job",
      409,
      "JOB_LIMIT_EXCEEDED",
      async (raw) => {
        raw.backends.langsmith.maxItemsPerJob = 3;
      },
    ],
    [
      "the approver's password changed (a leak, say)",
      403,
      "FORBIDDEN",
      async (raw) => {
        raw.approval.approvers = [{ name: "dana", passwordHash: await hashPassword("dana's new password") }];
      },
    ],
  ];
  it.each(meanwhile)(
    "judges the last approval by the config in force after its stale read: %s → %i %s",
    async (_, status, code, tighten) => {
      const original = readFileSync(configPath, "utf8");
      const reloads = () => readAudit(auditLog).filter((line) => line.event === "config.reloaded").length;
      const reload = async (write: () => void) => {
        const reloaded = reloads();
        write();
        process.kill(server.pid, "SIGHUP");
        await until(() => reloads() > reloaded, 5_000);
      };
      try {
        const { job } = await previewedJob(FIXTURE.ids(20).slice(13));
        sim.faults.add({ route: "read", fault: { type: "latency", ms: 1_500 } });
        const before = deletes().length;
        const approving = approve(origin, dana, job.job_id, "Matches the ticket");
        await until(
          () => sim.requests.some((request) => request.route === "read" && request.fault !== null),
          5_000,
        );
        const edited = JSON.parse(original);
        await tighten(edited);
        await reload(() => writeFileSync(configPath, JSON.stringify(edited, null, 2)));
        const refused = await approving;
        expect(refused.status).toBe(status);
        expect(refused.body).toMatchObject({ error: code });
        await new Promise((done) => setTimeout(done, 300));
        expect(deletes()).toHaveLength(before);
        expect(structured(await agent.call("get_delete_job", { job_id: job.job_id }))).toMatchObject({
          status: "awaiting_approval",
          approval: { approvals: [] },
        });
      } finally {
        sim.faults.clear();
        await reload(() => writeFileSync(configPath, original));
        dana = await login(origin, "dana", PASSWORD);
      }
    },
  );
});
