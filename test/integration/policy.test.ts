// Every policy refusal of SPEC §6 over stdio: the right code, a sentence to act on, an audit line, no backend request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  errorText,
  range,
  readAudit,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  writeConfig,
} from "./harness.js";

let sim: SplendorSimulator;
let session: Session;
let auditLog: string;
const REASON = "Retention policy: purge old logs";

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 10,
    jobRunningMs: 10,
  });
  const backend = {
    kind: "splendor",
    baseUrl: sim.url,
    credentialEnv: "SPLENDOR_TOKEN",
    tenantId: SPLENDOR_TENANT,
  };
  const config = writeConfig(tempDir(), sim.url, {
    limits: { maxIdsPerCall: 50 },
    backend: { maxItemsPerJob: 20, maxItemsPerDay: 30, minReasonLength: 12 },
    extraBackends: { "splendor-frozen": { ...backend, readOnly: true } },
  });
  auditLog = config.auditLog;
  session = await startSession(config.path);
});
afterAll(async () => {
  await session.close();
  await sim.close();
});

async function refusal(args: Record<string, unknown>) {
  return errorText(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "app-logs" },
      ids: ["a", "b"],
      reason: REASON,
      ...args,
    }),
  );
}

describe("policy refusals", () => {
  it.each([
    [{ backend: "splendor-nope" }, "UNKNOWN_BACKEND", /splendor-test/],
    [{ backend: "__proto__" }, "UNKNOWN_BACKEND", /configured backends/],
    [{ target: undefined }, "INVALID_TARGET", /dataset_id/],
    [{ target: { dataset: "app-logs" } }, "INVALID_TARGET", /dataset_id/],
    [{ target: { dataset_id: "app-logs", extra: 1 } }, "INVALID_TARGET", /extra/],
    [{ target: { dataset_id: 7 } }, "INVALID_TARGET", /dataset_id/],
    [{ target: { dataset_id: "billing" } }, "TARGET_NOT_ALLOWED", /allowTargets/],
    [{ target: { dataset_id: "App-Logs" } }, "TARGET_NOT_ALLOWED", /App-Logs/],
    // Valid first, then allowed (SPEC §3).
    [{ target: { dataset_id: "app-logs " } }, "INVALID_TARGET", /whitespace/],
    [{ target: { dataset_id: "crm*" } }, "INVALID_TARGET", /wildcard/],
    [{ backend: "splendor-frozen" }, "READ_ONLY", /read-only/],
    [{ ids: range(51) }, "TOO_MANY_IDS", /at most 50/],
    [{ ids: [] }, "NO_VALID_IDS", /No valid id/],
    [{ ids: ["", "  ", "z".repeat(513)] }, "NO_VALID_IDS", /empty id/],
    [{ reason: undefined }, "REASON_REQUIRED", /reason/],
    [{ reason: "   " }, "REASON_REQUIRED", /reason/],
    [{ reason: "too short  " }, "REASON_REQUIRED", /at least 12/],
    [{ reason: "r".repeat(1025) }, "INVALID_INPUT", /1024/],
    [{ ids: range(21) }, "JOB_LIMIT_EXCEEDED", /maxItemsPerJob \(20\)/],
  ])("%j → %s", async (args, code, message) => {
    const text = await refusal(args);
    expect(text.startsWith(`${code}: `), text).toBe(true);
    expect(text).toMatch(message);
    const last = readAudit(auditLog).at(-1);
    expect(last).toMatchObject({ event: "plan.refused", code });
  });

  it("accepts targets matching a glob and crm-* but not crm", async () => {
    expect(
      structured(
        await session.call("dry_run_delete", {
          backend: "splendor-test",
          target: { dataset_id: "crm-2024" },
          ids: ["a"],
          reason: REASON,
        }),
      ).counts.to_delete,
    ).toBe(1);
    expect(await refusal({ target: { dataset_id: "crm" } })).toMatch(/^TARGET_NOT_ALLOWED: /);
  });

  it("keeps a daily budget: counted at dry run and again at execute", async () => {
    const first = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "app-logs" },
        ids: range(20, "day1-"),
        reason: REASON,
      }),
    );
    const second = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "app-logs" },
        ids: range(15, "day2-"),
        reason: REASON,
      }),
    );
    const job = structured(
      await session.call("execute_delete", {
        plan_id: first.plan_id,
        confirmation_token: first.confirmation.token,
        wait_seconds: 10,
      }),
    );
    expect(job.status).toBe("succeeded");
    const before = sim.requests.length;
    // 20 used of 30: the second plan (15) no longer fits at execute, and a new dry run of 11 is refused too.
    expect(
      errorText(
        await session.call("execute_delete", {
          plan_id: second.plan_id,
          confirmation_token: second.confirmation.token,
        }),
      ),
    ).toMatch(/^DAILY_LIMIT_EXCEEDED: .*20 were used, 10 are left/);
    expect(await refusal({ ids: range(11, "day3-") })).toMatch(/^DAILY_LIMIT_EXCEEDED: /);
    expect(sim.requests.length).toBe(before);
    expect(readAudit(auditLog).at(-2)).toMatchObject({
      event: "delete.refused",
      code: "DAILY_LIMIT_EXCEEDED",
    });
  });

  it("refuses an expired plan with PLAN_EXPIRED and sends nothing", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, sim.url, { confirmation: { ttlSeconds: 10 } });
    const own = await startSession(config.path);
    try {
      const plan = structured(
        await own.call("dry_run_delete", {
          backend: "splendor-test",
          target: { dataset_id: "app-logs" },
          ids: ["late-1"],
          reason: REASON,
        }),
      );
      await new Promise((done) => setTimeout(done, 10_200));
      const before = sim.requests.length;
      expect(
        errorText(
          await own.call("execute_delete", {
            plan_id: plan.plan_id,
            confirmation_token: plan.confirmation.token,
          }),
        ),
      ).toMatch(/^PLAN_EXPIRED: /);
      expect(sim.requests.length).toBe(before);
    } finally {
      await own.close();
    }
  }, 30_000);
});
