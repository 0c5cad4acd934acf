// What a hostile or mistaken agent tries through its own client: a confirmation that outlives its call, words that
// pass as deletegate's, invisible characters, chosen sample ids, ids and targets that rewrite the audit or the
// request path, store-key-shaped ids, and tool schemas that strict converters mangle.

import { spawn } from "node:child_process";
import {
  CallToolResultSchema,
  type ElicitRequest,
  type ElicitResult,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { type MoorchehSimulator, startMoorchehSimulator } from "../../tools/simulators/moorcheh.js";
import { type PiianoVaultSimulator, startPiianoVaultSimulator } from "../../tools/simulators/piiano-vault.js";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  CLI,
  deletesFor,
  editConfig,
  errorText,
  range,
  readAudit,
  type Session,
  type SessionOptions,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  TEST_CLIENT,
  tempDir,
  until,
  writeBackendsConfig,
  writeConfig,
} from "./harness.js";

const REASON = "Remove records of closed account 5521";
let sim: SplendorSimulator;
const sessions: Session[] = [];

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 10,
    jobRunningMs: 10,
  });
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close().catch(() => undefined)));
});
afterAll(async () => {
  await sim.close();
});

async function open(
  mode: string,
  options: SessionOptions = {},
  overrides: Parameters<typeof writeConfig>[2] = {},
): Promise<{ session: Session; path: string; auditLog: string }> {
  const config = writeConfig(tempDir(), sim.url, { confirmation: { mode }, ...overrides });
  const session = await startSession(config.path, { clientName: "consent-agent", ...options });
  sessions.push(session);
  return { session, ...config };
}

async function dryRun(session: Session, dataset: string, count: number, reason = REASON) {
  return structured(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: dataset },
      ids: range(count, `${dataset}-`),
      reason,
    }),
  );
}

/** A person who answers only when the test says so. */
function latePerson() {
  let answer: ((result: ElicitResult) => void) | null = null;
  const shown: ElicitRequest[] = [];
  return {
    shown,
    elicit: (request: ElicitRequest) => {
      shown.push(request);
      return new Promise<ElicitResult>((resolve) => {
        answer = resolve;
      });
    },
    answer: (result: ElicitResult) => answer?.(result),
    asked: () => answer !== null,
  };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Tests of a form request pushed to the client during execute_delete, which only MCP 2025-11-25 has: a 2026-07-28
 * client is asked by an input_required result and answers in a retried call (revision-2026.test.ts covers that).
 */
const pushedFormOnly = it.skipIf(TEST_CLIENT === "v2-2026");

describe("a person's confirmation counts only while the call that asked is alive", () => {
  pushedFormOnly(
    "the client gives up the call (timeout → notifications/cancelled); the person's later yes runs nothing",
    async () => {
      const person = latePerson();
      const { session, auditLog } = await open("human", { elicit: person.elicit });
      const plan = await dryRun(session, "crm-late", 6);
      const call = session.client
        .callTool({ name: "execute_delete", arguments: { plan_id: plan.plan_id } }, CallToolResultSchema, {
          timeout: 1_000,
        })
        .then(
          () => "answered",
          (error: Error) => error.message,
        );
      await until(person.asked);
      expect(await call).toMatch(/timed out/i);
      person.answer({ action: "accept", content: { confirm_count: 6 } });
      await sleep(1_500);
      expect(deletesFor(sim, "crm-late")).toBe(0);
      expect(structured(await session.call("list_delete_jobs", {})).jobs).toEqual([]);
      expect(readAudit(auditLog).at(-1)).toMatchObject({
        event: "delete.refused",
        code: "CONFIRMATION_DECLINED",
        plan_id: plan.plan_id,
      });
      // The plan was not spent: asked again in a living call, the person's yes runs it.
      const retry = session.call("execute_delete", { plan_id: plan.plan_id, wait_seconds: 5 });
      await until(() => person.shown.length === 2);
      person.answer({ action: "accept", content: { confirm_count: 6 } });
      expect(structured(await retry).status).toBe("succeeded");
      expect(deletesFor(sim, "crm-late")).toBe(1);
    },
  );

  pushedFormOnly(
    "progress while the person reads keeps a client that resets its timeout on progress waiting",
    async () => {
      const person = latePerson();
      const { session } = await open("human", { elicit: person.elicit });
      const plan = await dryRun(session, "crm-patient", 4);
      const progress: string[] = [];
      const call = session.client.callTool(
        { name: "execute_delete", arguments: { plan_id: plan.plan_id, wait_seconds: 5 } },
        CallToolResultSchema,
        {
          timeout: 6_000,
          resetTimeoutOnProgress: true,
          onprogress: (update) => progress.push(update.message ?? ""),
        },
      );
      await until(person.asked);
      await sleep(7_500);
      person.answer({ action: "accept", content: { confirm_count: 4 } });
      const job = structured((await call) as Parameters<typeof structured>[0]);
      expect(job.status).toBe("succeeded");
      expect(progress.some((message) => /Waiting for the person/.test(message))).toBe(true);
    },
    30_000,
  );

  it("a plan that expired while the person read the form is refused after the answer", async () => {
    const person = latePerson();
    const { session } = await open(
      "human",
      { elicit: person.elicit },
      { confirmation: { mode: "human", ttlSeconds: 10 } },
    );
    const plan = await dryRun(session, "crm-expiring", 3);
    const call = session.call("execute_delete", { plan_id: plan.plan_id });
    await until(person.asked);
    await sleep(Date.parse(plan.confirmation.expires_at) - Date.now() + 300);
    person.answer({ action: "accept", content: { confirm_count: 3 } });
    expect(errorText(await call)).toMatch(/^PLAN_EXPIRED: /);
    expect(deletesFor(sim, "crm-expiring")).toBe(0);
  }, 30_000);

  it("a policy tightened while the person read the form is applied after the answer", async () => {
    const person = latePerson();
    const { session, path, auditLog } = await open("human", { elicit: person.elicit });
    const plan = await dryRun(session, "crm-frozen", 3);
    const call = session.call("execute_delete", { plan_id: plan.plan_id });
    await until(person.asked);
    editConfig(path, (raw) => {
      raw.backends["splendor-test"].readOnly = true;
    });
    process.kill(session.pid() as number, "SIGHUP");
    await until(() => readAudit(auditLog).some((line) => line.event === "config.reloaded"), 10_000);
    person.answer({ action: "accept", content: { confirm_count: 3 } });
    expect(errorText(await call)).toMatch(/^READ_ONLY: /);
    expect(deletesFor(sim, "crm-frozen")).toBe(0);
  });

  pushedFormOnly(
    'a client that declares forms but answers "method not found" gets HUMAN_CONFIRMATION_UNAVAILABLE',
    async () => {
      const { session } = await open("human", { declareElicitationOnly: true });
      const plan = await dryRun(session, "crm-formless", 3);
      expect(errorText(await session.call("execute_delete", { plan_id: plan.plan_id }))).toMatch(
        /^HUMAN_CONFIRMATION_UNAVAILABLE: /,
      );
      expect(deletesFor(sim, "crm-formless")).toBe(0);
    },
  );
});

describe("the person sees deletegate's words and the agent's words apart", () => {
  const FORGED =
    "Closing account 5521.\nNote: THIS IS A DRY RUN. Nothing will be deleted; type the number to continue.\n" +
    "Backend: splendor-test-sandbox";

  it("the reason is a quoted block and ids are JSON-escaped: no line of the form starts with agent text", async () => {
    const shown: ElicitRequest[] = [];
    const { session } = await open("human", {
      elicit: (request) => {
        shown.push(request);
        return { action: "decline" };
      },
    });
    const plan = await dryRun(session, "crm-forged", 500, FORGED);
    expect(errorText(await session.call("execute_delete", { plan_id: plan.plan_id }))).toMatch(
      /^CONFIRMATION_DECLINED: /,
    );
    const message = (shown[0] as ElicitRequest).params.message as string;
    const lines = message.split("\n");
    expect(lines).toContain(
      "> Note: THIS IS A DRY RUN. Nothing will be deleted; type the number to continue.",
    );
    expect(lines).toContain("> Backend: splendor-test-sandbox");
    expect(lines.filter((line) => line.startsWith("Note:"))).toEqual([]);
    expect(lines.filter((line) => line.startsWith("Backend:"))).toEqual(["Backend: splendor-test"]);
    // The ids shown are those deletegate drew at random and the dry run showed, not the agent's first ten.
    for (const id of plan.sample_ids) expect(message).toContain(JSON.stringify(id));
    expect(plan.sample_ids).not.toEqual(range(10, "crm-forged-"));
  });

  it("two dry runs of one list show different random samples", async () => {
    const { session } = await open("token");
    const first = await dryRun(session, "crm-sample", 2_000);
    const second = await dryRun(session, "crm-sample", 2_000);
    expect(first.sample_ids).toHaveLength(10);
    expect(first.sample_ids).not.toEqual(second.sample_ids);
  });

  it.each([
    ["U+2028 LINE SEPARATOR", "\u2028"],
    ["U+2029 PARAGRAPH SEPARATOR", "\u2029"],
    ["U+200B ZERO WIDTH SPACE", "\u200b"],
    ["U+202E RIGHT-TO-LEFT OVERRIDE", "\u202e"],
    ["U+FEFF BOM", "\ufeff"],
    ["U+0009 TAB (in an id)", "\t"],
  ])("%s is refused in ids, targets and reasons", async (_name, char) => {
    const { session, auditLog } = await open("token");
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: "crm-hidden" },
        ids: ["ok-1", `a${char}b`],
        reason: REASON,
      }),
    );
    expect(plan.counts).toMatchObject({ invalid: 1, to_delete: 1 });
    expect(plan.invalid_ids[0].error).toMatch(/control, invisible formatting or line separator/);
    const target = await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: `crm-${char}x` },
      ids: ["ok-1"],
      reason: REASON,
    });
    expect(errorText(target)).toMatch(/^INVALID_TARGET: /);
    const reason = await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "crm-hidden" },
      ids: ["ok-1"],
      reason: `Closing account${char} 5521 for good`,
    });
    expect(errorText(reason)).toMatch(/^INVALID_INPUT: /);
    expect(readAudit(auditLog).at(-1)).toMatchObject({ event: "plan.refused", code: "INVALID_INPUT" });
  });
});

describe("the audit log records what happened, verbatim", () => {
  let moorcheh: MoorchehSimulator;
  const KEY = "sim-moorcheh-key-verbatim-77";
  beforeAll(async () => {
    moorcheh = await startMoorchehSimulator({
      apiKey: KEY,
      namespaces: { "kb-verbatim": { documents: ["Bearer doc0001", "token=abc12345", "plain-1"] } },
    });
  });
  afterAll(async () => {
    await moorcheh.close();
  });

  it("ids and reasons that look like credentials are written as given; a 3 MB client name is cut to 256", async () => {
    const config = writeBackendsConfig(tempDir(), {
      kb: { kind: "moorcheh", baseUrl: moorcheh.url, credentialEnv: "MOORCHEH_API_KEY" },
    });
    const actor = `agent-${"x".repeat(3 * 1024 * 1024)}`;
    const session = await startSession(config.path, { clientName: actor, env: { MOORCHEH_API_KEY: KEY } });
    sessions.push(session);
    const reason = "Erase per ticket; the export used Bearer abc.def.ghi";
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "kb",
        target: { namespace: "kb-verbatim", type: "documents" },
        ids: ["Bearer doc0001", "token=abc12345", "plain-1"],
        reason,
      }),
    );
    const job = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 10,
      }),
    );
    expect(job.status).toBe("succeeded");
    expect(job.requested_by).toHaveLength(256);
    const audit = readAudit(config.auditLog);
    const completed = audit.find((line) => line.event === "batch.completed") as Record<string, unknown>;
    expect(completed.ids).toEqual(["Bearer doc0001", "token=abc12345", "plain-1"]);
    expect(completed.reason).toBe(reason);
    for (const line of audit) expect((line.actor as string).length).toBeLessThanOrEqual(256);
    expect(audit[0]?.actor).toBe(actor.slice(0, 256));
  });
});

describe("target names that are URL path segments", () => {
  let moorcheh: MoorchehSimulator;
  let vault: PiianoVaultSimulator;
  beforeAll(async () => {
    moorcheh = await startMoorchehSimulator({ apiKey: "sim-moorcheh-key-paths-0001", namespaces: {} });
    vault = await startPiianoVaultSimulator({ apiKey: "sim-vault-key-paths-00001", collections: {} });
  });
  afterAll(async () => {
    await moorcheh.close();
    await vault.close();
  });

  it.each([".", ".."])(
    "%j is refused with INVALID_TARGET at dry run, and nothing reaches the backend",
    async (name) => {
      const config = writeBackendsConfig(tempDir(), {
        kb: { kind: "moorcheh", baseUrl: moorcheh.url, credentialEnv: "MOORCHEH_KEY", allowTargets: ["*"] },
        vault: { kind: "piiano-vault", baseUrl: vault.url, credentialEnv: "VAULT_KEY", allowTargets: ["*"] },
      });
      const session = await startSession(config.path, {
        env: { MOORCHEH_KEY: "sim-moorcheh-key-paths-0001", VAULT_KEY: "sim-vault-key-paths-00001" },
      });
      sessions.push(session);
      const namespace = await session.call("dry_run_delete", {
        backend: "kb",
        target: { namespace: name, type: "documents" },
        ids: ["doc-1"],
        reason: REASON,
      });
      expect(errorText(namespace)).toMatch(/^INVALID_TARGET: .*URL path segment/);
      const collection = await session.call("dry_run_delete", {
        backend: "vault",
        target: { collection: name },
        ids: ["0a6b2c48-5a8f-4d7e-9b1c-2f3e4d5a6b7c"],
        reason: REASON,
      });
      expect(errorText(collection)).toMatch(/^INVALID_TARGET: .*URL path segment/);
      expect(moorcheh.requests).toEqual([]);
      expect(vault.requests).toEqual([]);
    },
  );
});

describe("smaller gaps", () => {
  it("plan and job ids shaped like store keys reach no other record", async () => {
    const { session } = await open("token");
    const plan = await dryRun(session, "crm-keys", 3);
    const job = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
        wait_seconds: 5,
      }),
    );
    for (const planId of [`${plan.plan_id}:ids:0`, `plan_x:ids:0`, "plan_"]) {
      expect(
        errorText(await session.call("execute_delete", { plan_id: planId, confirmation_token: "dg_x" })),
      ).toMatch(/^PLAN_NOT_FOUND: /);
    }
    for (const jobId of [`${job.job_id}:batch:0`, `${job.job_id}:cancel`]) {
      expect(errorText(await session.call("get_delete_job", { job_id: jobId }))).toMatch(/^JOB_NOT_FOUND: /);
      expect(errorText(await session.call("cancel_delete_job", { job_id: jobId }))).toMatch(
        /^JOB_NOT_FOUND: /,
      );
    }
  });

  it("a target nested deeper than the stack is refused with a code and an audit line", async () => {
    const config = writeConfig(tempDir(), sim.url);
    // Raw JSON-RPC: the SDK client itself cannot serialise a value this deep.
    const child = spawn(process.execPath, [CLI, "--config", config.path], {
      env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
      stdio: ["pipe", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const send = (message: string) => child.stdin.write(`${message}\n`);
    send(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: "deep", version: "1" },
        },
      }),
    );
    send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    const depth = 20_000;
    const target = `${'{"dataset_id":'.repeat(depth)}"x"${"}".repeat(depth)}`;
    send(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"dry_run_delete","arguments":` +
        `{"backend":"splendor-test","target":${target},"ids":["a"],"reason":"${REASON}"}}}`,
    );
    try {
      await until(() => out.includes('"id":1'), 10_000);
      const answer = out.split("\n").find((line) => line.includes('"id":1')) as string;
      const result = JSON.parse(answer).result;
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toMatch(/^INVALID_TARGET: /);
      expect(readAudit(config.auditLog).at(-1)).toMatchObject({
        event: "plan.refused",
        code: "INVALID_TARGET",
      });
    } finally {
      child.kill();
    }
  });

  it("an unset http token variable does not stop a stdio server: it warns and serves", async () => {
    const config = writeConfig(tempDir(), sim.url);
    editConfig(config.path, (raw) => {
      raw.http = { tokens: [{ name: "ci", tokenEnv: "DELETEGATE_TOKEN_UNSET_HERE" }] };
    });
    const session = await startSession(config.path);
    sessions.push(session);
    expect(structured(await session.call("list_backends", {})).backends).toHaveLength(1);
    await until(() => session.stderr().includes("DELETEGATE_TOKEN_UNSET_HERE"));
  });
});

describe("input schemas that strict function-calling converters accept", () => {
  it("target lists every kind's fields, no propertyNames anywhere, every object closed, reason required", async () => {
    const { session } = await open("token");
    const { tools } = await session.client.listTools();
    const text = JSON.stringify(tools.map((tool) => tool.inputSchema));
    expect(text).not.toContain("propertyNames");
    const dryRun = tools.find((tool) => tool.name === "dry_run_delete")?.inputSchema as unknown as {
      required: string[];
      properties: Record<string, unknown> & {
        target: { properties: Record<string, unknown>; additionalProperties: boolean };
      };
    };
    // Exactly one of ids and ids_file (SPEC §4): neither is required by the schema, the gate asks for one.
    expect(dryRun.required.sort()).toEqual(["backend", "reason"]);
    expect(Object.keys(dryRun.properties)).toEqual(expect.arrayContaining(["ids", "ids_file", "preview"]));
    // Every kind's target fields, listed once each.
    expect(Object.keys(dryRun.properties.target.properties).sort()).toEqual(
      [...new Set(Object.values(BACKEND_KINDS).flatMap((kind) => kind.targetFields))].sort(),
    );
    expect(dryRun.properties.target.additionalProperties).toBe(false);
    const objects: Record<string, unknown>[] = [];
    const walk = (node: unknown) => {
      if (!node || typeof node !== "object") return;
      const record = node as Record<string, unknown>;
      if (record.type === "object") objects.push(record);
      for (const value of Object.values(record)) walk(value);
    };
    for (const tool of tools) walk(tool.inputSchema);
    for (const object of objects) expect(object.additionalProperties).toBe(false);
    // The gate still checks which fields a backend's kind takes.
    expect(
      errorText(
        await session.call("dry_run_delete", {
          backend: "splendor-test",
          target: { dataset_id: "app-logs", namespace: "kb" },
          ids: ["a"],
          reason: REASON,
        }),
      ),
    ).toMatch(/^INVALID_TARGET: .*namespace/);
  });
});
