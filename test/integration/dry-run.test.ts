// Dry runs over stdio: exact counts and batches, nothing sent to the backend, tool metadata as SPEC §4 says.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
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
  TOOL_NAMES,
  tempDir,
  writeConfig,
} from "./harness.js";

let sim: SplendorSimulator;
let session: Session;
let auditLog: string;

beforeAll(async () => {
  sim = await startSplendorSimulator({ token: SPLENDOR_TOKEN, tenantId: SPLENDOR_TENANT });
  const config = writeConfig(tempDir(), sim.url, {
    extraBackends: {
      "splendor-small": {
        kind: "splendor",
        baseUrl: sim.url,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: SPLENDOR_TENANT,
        maxBatchSize: 3,
      },
    },
  });
  auditLog = config.auditLog;
  session = await startSession(config.path, { clientName: "dry-run-agent" });
});
afterAll(async () => {
  await session.close();
  await sim.close();
});
afterEach(() => {
  expect(sim.requests).toEqual([]);
});

describe("dry_run_delete", () => {
  it("counts 2,500 ids with duplicates and invalid ids exactly, cuts 3 batches, and sends nothing", async () => {
    const ids: (string | number)[] = range(2_400);
    ids.push(...range(50)); // 50 duplicates
    ids.push("  rec-7  ", "rec-8"); // duplicates after trimming
    ids.push(42, "42"); // a number and its string: one id
    ids.push("", "   ", "x".repeat(513)); // invalid: empty, empty after trim, too long
    ids.push(...range(43, "extra-")); // 43 more valid ids
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "crm-contacts" },
        ids,
        reason: "  Customer asked for erasure (ticket 4411)  ",
      }),
    );
    expect(plan.counts).toEqual({
      received: 2_500,
      unique: 2_446,
      duplicates: 54,
      invalid: 2,
      to_delete: 2_444,
    });
    expect(plan.invalid_ids).toEqual([
      { id: "", error: "empty id" },
      { id: expect.stringMatching(/^x{200}…\(513 chars\)$/), error: "must be 1..512 characters" },
    ]);
    expect(plan.batches).toEqual({ count: 3, size: 1024 });
    // Ten of the ids to delete, drawn by deletegate, not the agent's first ten (SPEC §4).
    expect(plan.sample_ids).toHaveLength(10);
    expect(new Set(plan.sample_ids).size).toBe(10);
    const valid = new Set([...range(2_400), "42", ...range(43, "extra-")]);
    for (const id of plan.sample_ids) expect(valid.has(id), id).toBe(true);
    expect(plan.sample_ids).not.toEqual(range(10));
    expect(plan.reason).toBe("Customer asked for erasure (ticket 4411)");
    expect(plan.target).toEqual({ dataset_id: "crm-contacts" });
    expect(plan.kind).toBe("splendor");
    expect(plan.confirmation.mode).toBe("token");
    expect(plan.confirmation.token).toMatch(/^dg_[A-Za-z0-9_-]{32}$/);
    expect(Date.parse(plan.confirmation.expires_at) - Date.now()).toBeGreaterThan(890_000);
    expect(plan.next_step).toContain(plan.plan_id);
    expect(plan.notes.length).toBeGreaterThan(0);

    const created = readAudit(auditLog).find((line) => line.plan_id === plan.plan_id);
    expect(created).toMatchObject({
      event: "plan.created",
      actor: "dry-run-agent",
      backend: "splendor-test",
    });
    expect(JSON.stringify(readAudit(auditLog))).not.toContain(plan.confirmation.token);
  });

  it("honours a lower maxBatchSize and lists at most 100 invalid ids", async () => {
    const ids = [...range(10), ...Array.from({ length: 150 }, (_, index) => "y".repeat(513 + index))];
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-small",
        target: { dataset_id: "app-logs" },
        ids,
        reason: "cleaning up test data",
      }),
    );
    expect(plan.counts.invalid).toBe(150);
    expect(plan.invalid_ids).toHaveLength(100);
    expect(plan.batches).toEqual({ count: 4, size: 3 });
  });
});

describe("tools", () => {
  it("lists the six tools with SPEC annotations; only execute_delete is destructive", async () => {
    const { tools } = await session.client.listTools();
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
    expect(Object.keys(byName).sort()).toEqual(TOOL_NAMES);
    expect(tools.filter((tool) => tool.annotations?.destructiveHint).map((tool) => tool.name)).toEqual([
      "execute_delete",
    ]);
    for (const name of ["list_backends", "get_delete_job", "list_delete_jobs"]) {
      expect(byName[name]?.annotations).toMatchObject({ readOnlyHint: true, idempotentHint: true });
    }
    expect(byName.dry_run_delete?.annotations?.readOnlyHint).toBe(true);
    expect(byName.cancel_delete_job?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
    });
    for (const tool of tools) {
      expect(tool.outputSchema, tool.name).toBeDefined();
      expect(tool.description?.length, tool.name).toBeGreaterThan(60);
    }
  });

  it("list_backends describes each backend", async () => {
    const { backends } = structured(await session.call("list_backends"));
    expect(backends[0]).toEqual({
      name: "splendor-test",
      kind: "splendor",
      description: expect.stringContaining("awaiting_backend"),
      target_fields: ["dataset_id"],
      max_batch_size: 1024,
      read_only: false,
      allow_targets: ["app-logs", "crm-*"],
      max_items_per_job: 100_000,
      confirmation_mode: "token",
    });
    expect(backends[1]).toMatchObject({ name: "splendor-small", max_batch_size: 3 });
  });

  it("answers malformed calls with an error result and keeps serving", async () => {
    const cases: Record<string, unknown>[] = [
      { backend: 42, ids: ["a"], reason: "a valid reason here" },
      { backend: "splendor-test", ids: "not-an-array", reason: "a valid reason here" },
      {
        backend: "splendor-test",
        target: { dataset_id: "app-logs" },
        ids: [{ nested: true }],
        reason: "reason long enough",
      },
      { backend: "splendor-test", target: "app-logs", ids: ["a"], reason: "reason long enough" },
    ];
    for (const args of cases) {
      const result = await session.call("dry_run_delete", args);
      expect(result.isError, JSON.stringify(args)).toBe(true);
    }
    const unknownTool = await session.client.callTool({ name: "drop_everything", arguments: {} });
    expect(unknownTool.isError).toBe(true);
    expect(errorText(await session.call("get_delete_job", { job_id: "job_nope" }))).toMatch(
      /^JOB_NOT_FOUND: /,
    );
    expect(structured(await session.call("list_backends")).backends).toHaveLength(2);
  });
});
