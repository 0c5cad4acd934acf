// Human confirmation through MCP form elicitation: only the exact number typed by the person runs the plan.
import type { ElicitRequest, ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
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

let sim: SplendorSimulator;
const REASON = "Remove records of closed account 5521";

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 10,
    jobRunningMs: 10,
  });
});
afterAll(async () => {
  await sim.close();
});

function deleteCount() {
  return deleteRequests(sim).length;
}

/** A session whose person answers every confirmation form with `answer`; records what they were shown. */
async function humanSession(mode: string, answer: ((request: ElicitRequest) => ElicitResult) | null) {
  const config = writeConfig(tempDir(), sim.url, { confirmation: { mode } });
  const shown: ElicitRequest[] = [];
  const session = await startSession(config.path, {
    clientName: "human-agent",
    ...(answer
      ? {
          elicit: (request: ElicitRequest) => {
            shown.push(request);
            return answer(request);
          },
        }
      : {}),
  });
  const plan = structured(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "crm-accounts" },
      ids: range(37, "acct-"),
      reason: REASON,
    }),
  );
  return { session, plan, shown, auditLog: config.auditLog };
}

describe("human confirmation", () => {
  it("runs when the person types the right number, after seeing backend, target, count, samples and reason", async () => {
    const { session, plan, shown } = await humanSession("human", () => ({
      action: "accept",
      content: { confirm_count: 37 },
    }));
    try {
      expect(plan.confirmation.mode).toBe("human");
      expect(plan.confirmation.token).toBeUndefined();
      const before = deleteCount();
      const job = structured(
        await session.call("execute_delete", { plan_id: plan.plan_id, wait_seconds: 10 }),
      );
      expect(job.status).toBe("succeeded");
      expect(job.counts.deleted).toBe(37);
      expect(deleteCount()).toBe(before + 1);
      expect(shown).toHaveLength(1);
      const params = shown[0]?.params as {
        message: string;
        requestedSchema: { properties: object; required: string[] };
      };
      for (const fact of ["splendor-test", "crm-accounts", "37", `> ${REASON}`])
        expect(params.message).toContain(fact);
      // Ten ids drawn by deletegate, the ones the dry run showed.
      for (const id of plan.sample_ids) expect(params.message).toContain(JSON.stringify(id));
      expect(params.requestedSchema.required).toEqual(["confirm_count"]);
    } finally {
      await session.close();
    }
  });

  it.each([
    ["declines", { action: "decline" } as ElicitResult, "CONFIRMATION_DECLINED"],
    ["cancels", { action: "cancel" } as ElicitResult, "CONFIRMATION_DECLINED"],
    [
      "types a wrong number",
      { action: "accept", content: { confirm_count: 36 } } as ElicitResult,
      "CONFIRMATION_INVALID",
    ],
  ])("refuses when the person %s, with zero backend requests", async (_label, answer, code) => {
    const { session, plan, auditLog } = await humanSession("human", () => answer);
    try {
      const before = deleteCount();
      expect(errorText(await session.call("execute_delete", { plan_id: plan.plan_id }))).toMatch(
        new RegExp(`^${code}: `),
      );
      expect(deleteCount()).toBe(before);
      expect(readAudit(auditLog).at(-1)).toMatchObject({
        event: "delete.refused",
        code,
        actor: "human-agent",
        plan_id: plan.plan_id,
        backend: "splendor-test",
        target: { dataset_id: "crm-accounts" },
        reason: REASON,
      });
      // A token cannot stand in for the person.
      expect(
        errorText(
          await session.call("execute_delete", { plan_id: plan.plan_id, confirmation_token: "dg_anything" }),
        ),
      ).toMatch(new RegExp(`^${code}: `));
      expect(deleteCount()).toBe(before);
    } finally {
      await session.close();
    }
  });

  it("refuses the dry run with HUMAN_CONFIRMATION_UNAVAILABLE when the client has no elicitation, storing no plan", async () => {
    const config = writeConfig(tempDir(), sim.url, { confirmation: { mode: "human" } });
    const session = await startSession(config.path, { clientName: "formless-agent" });
    try {
      const before = deleteCount();
      expect(
        errorText(
          await session.call("dry_run_delete", {
            backend: "splendor-test",
            target: { dataset_id: "crm-accounts" },
            ids: range(3, "acct-"),
            reason: REASON,
          }),
        ),
      ).toMatch(/^HUMAN_CONFIRMATION_UNAVAILABLE: /);
      const audit = readAudit(config.auditLog);
      expect(audit.map((line) => line.event)).toEqual(["plan.refused"]);
      expect(audit[0]).toMatchObject({ code: "HUMAN_CONFIRMATION_UNAVAILABLE", actor: "formless-agent" });
      expect(deleteCount()).toBe(before);
    } finally {
      await session.close();
    }
  });

  it("auto mode asks the person when the client can elicit, else issues a token", async () => {
    const withForm = await humanSession("auto", () => ({ action: "accept", content: { confirm_count: 37 } }));
    const withoutForm = await humanSession("auto", null);
    try {
      expect(withForm.plan.confirmation.mode).toBe("human");
      expect(withoutForm.plan.confirmation.mode).toBe("token");
      expect(withoutForm.plan.confirmation.token).toMatch(/^dg_/);
      const { backends } = structured(await withForm.session.call("list_backends"));
      expect(backends[0].confirmation_mode).toBe("human");
    } finally {
      await withForm.session.close();
      await withoutForm.session.close();
    }
  });
});
