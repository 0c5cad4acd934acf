// Human confirmation for MCP 2026-07-28 clients, at the gate: execute_delete answers input_required (InputRequired)
// with the form and a sealed requestState; the retried call counts only with that state, once, for its own plan and
// caller, with the person's exact number. Nothing reaches the backend before that. (The MCP wiring of
// input_required comes with the v2 SDK; this is the gate's half.)
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type App, createApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { GateError } from "../../src/gate/errors.js";
import type { Caller } from "../../src/gate/gate.js";
import { InputRequired } from "../../src/gate/request-state.js";
import { createLogger } from "../../src/logger.js";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import { tempDir } from "../integration/harness.js";

const TOKEN = "input-round-token-5f1e";
const REASON = "Erase the closed accounts of ticket 5521";

let app: App | undefined;
let sim: SplendorSimulator | undefined;
afterEach(async () => {
  await app?.close();
  await sim?.close();
  app = undefined;
  sim = undefined;
});

async function setup(): Promise<{ app: App; sim: SplendorSimulator }> {
  sim = await startSplendorSimulator({ token: TOKEN, tenantId: "acme", jobPendingMs: 5, jobRunningMs: 5 });
  const dir = tempDir();
  const config = parseConfig(
    {
      store: `sqlite:${join(dir, "state.db")}`,
      auditLog: join(dir, "audit.jsonl"),
      confirmation: { mode: "human" },
      backends: {
        splendor: { kind: "splendor", baseUrl: sim.url, credentialEnv: "SPLENDOR_TOKEN", tenantId: "acme" },
      },
    },
    { SPLENDOR_TOKEN: TOKEN },
  );
  app = createApp(config, createLogger("silent"));
  return { app, sim };
}

/** A 2026-07-28 caller: no form request to send, the person asked through input_required. */
function caller(round: Caller["inputRound"] = {}, actor = "agent-2026", signal?: AbortSignal): Caller {
  return { actor, owner: null, askHuman: null, inputRound: round, ...(signal ? { signal } : {}) };
}

async function plan(app: App, count = 3) {
  const ids = Array.from({ length: count }, (_, index) => `rec-${index}`);
  return app.gate.dryRun(
    { backend: "splendor", target: { dataset_id: "crm" }, ids, reason: REASON },
    caller(),
  );
}

/** The first execute: answered with the form and a state, nothing run. */
async function firstRound(app: App, planId: string, who = caller()): Promise<InputRequired> {
  const thrown = await app.gate.execute({ plan_id: planId }, who).then(
    () => null,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(InputRequired);
  return thrown as InputRequired;
}

async function refused(promise: Promise<unknown>): Promise<GateError> {
  const thrown = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(GateError);
  return thrown as GateError;
}

const deletes = (server: SplendorSimulator) => server.requests.filter((request) => request.method === "POST");

describe("human confirmation through input_required", () => {
  it("answers the first execute with the form and a state, and runs the plan on the retry with the right number", async () => {
    const { app, sim } = await setup();
    const made = await plan(app);
    expect(made.confirmation.mode).toBe("human");
    const asked = await firstRound(app, made.plan_id);
    expect(asked.prompt.expectedCount).toBe(3);
    expect(asked.prompt.message).toContain("DELETE 3 item(s)");
    expect(typeof asked.requestState).toBe("string");
    expect(deletes(sim)).toHaveLength(0);
    const jobId = await app.gate.execute(
      { plan_id: made.plan_id },
      caller({ requestState: asked.requestState, answer: { action: "accept", count: 3 } }),
    );
    expect(jobId).toMatch(/^job_/);
    await app.runner.waitFor(jobId, 10_000);
    expect((await app.runner.view(jobId, null, null))?.status).toBe("succeeded");
    expect(deletes(sim)).toHaveLength(1);
  });

  it("refuses a wrong number, and the state it used cannot be replayed with the right one", async () => {
    const { app, sim } = await setup();
    const made = await plan(app);
    const asked = await firstRound(app, made.plan_id);
    const wrong = await refused(
      app.gate.execute(
        { plan_id: made.plan_id },
        caller({ requestState: asked.requestState, answer: { action: "accept", count: 4 } }),
      ),
    );
    expect(wrong.code).toBe("CONFIRMATION_INVALID");
    const replay = await refused(
      app.gate.execute(
        { plan_id: made.plan_id },
        caller({ requestState: asked.requestState, answer: { action: "accept", count: 3 } }),
      ),
    );
    expect(replay.code).toBe("CONFIRMATION_INVALID");
    expect(replay.message).toMatch(/already used/);
    expect(deletes(sim)).toHaveLength(0);
  });

  it("refuses a tampered state, another plan's state, another caller's state, a decline and a cancelled retry", async () => {
    const { app, sim } = await setup();
    const first = await plan(app);
    const second = await plan(app, 4);
    const asked = await firstRound(app, first.plan_id);
    const bytes = Buffer.from(asked.requestState, "base64url");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    const answer = { action: "accept" as const, count: 3 };
    const cases: [string, Promise<unknown>, string][] = [
      [
        "tampered",
        app.gate.execute(
          { plan_id: first.plan_id },
          caller({ requestState: bytes.toString("base64url"), answer }),
        ),
        "CONFIRMATION_INVALID",
      ],
      [
        "another plan",
        app.gate.execute(
          { plan_id: second.plan_id },
          caller({ requestState: asked.requestState, answer: { action: "accept", count: 4 } }),
        ),
        "CONFIRMATION_INVALID",
      ],
      [
        "another caller",
        app.gate.execute(
          { plan_id: first.plan_id },
          caller({ requestState: asked.requestState, answer }, "another-agent"),
        ),
        "CONFIRMATION_INVALID",
      ],
    ];
    for (const [what, attempt, code] of cases) expect((await refused(attempt)).code, what).toBe(code);
    // None of those used the state up: the person's decline is what refuses it.
    const declined = await refused(
      app.gate.execute(
        { plan_id: first.plan_id },
        caller({ requestState: asked.requestState, answer: { action: "decline" } }),
      ),
    );
    expect(declined.code).toBe("CONFIRMATION_DECLINED");
    const again = await firstRound(app, first.plan_id);
    const gone = new AbortController();
    gone.abort();
    const cancelled = await refused(
      app.gate.execute(
        { plan_id: first.plan_id },
        caller({ requestState: again.requestState, answer }, "agent-2026", gone.signal),
      ),
    );
    expect(cancelled.code).toBe("CONFIRMATION_DECLINED");
    expect(deletes(sim)).toHaveLength(0);
  });

  it("refuses a retry with no state or with a state but no answer", async () => {
    const { app } = await setup();
    const made = await plan(app);
    const asked = await firstRound(app, made.plan_id);
    const noAnswer = await refused(
      app.gate.execute({ plan_id: made.plan_id }, caller({ requestState: asked.requestState })),
    );
    expect(noAnswer.code).toBe("CONFIRMATION_DECLINED");
    const forged = await refused(
      app.gate.execute(
        { plan_id: made.plan_id },
        caller({ requestState: "x", answer: { action: "accept", count: 3 } }),
      ),
    );
    expect(forged.code).toBe("CONFIRMATION_INVALID");
  });
});
