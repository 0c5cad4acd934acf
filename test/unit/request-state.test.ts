// The sealed requestState of a 2026-07-28 human confirmation: opens once for its plan, digest and caller; refused
// when altered, forged, expired, foreign or replayed, also across processes sharing a store; keys rotate.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GateError } from "../../src/gate/errors.js";
import {
  KEY_EPOCH_MS,
  RequestStates,
  STATE_TTL_MS,
  type StateBinding,
} from "../../src/gate/request-state.js";
import { openStore } from "../../src/jobs/open-store.js";
import type { Store } from "../../src/jobs/store.js";
import { tempDir } from "../integration/harness.js";

const BINDING: StateBinding = { planId: "plan_1", digest: "d1", caller: "agent-a" };
const T0 = Date.parse("2026-12-05T10:00:00.000Z");

const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

function store(where = "memory"): Store {
  const made = openStore(where);
  opened.push(made);
  return made;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GateError);
  expect((error as GateError).code).toBe("CONFIRMATION_INVALID");
  return (error as GateError).message;
}

describe("RequestStates", () => {
  it("opens a state once for its plan, digest and caller, and refuses it the second time", async () => {
    const states = new RequestStates(store());
    const state = await states.seal(BINDING);
    expect(state).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(state).not.toContain("plan_1");
    await states.open(state, BINDING);
    expect(await refusal(states.open(state, BINDING))).toMatch(/already used/);
  });

  it("refuses another plan's, digest's or caller's state without using it up", async () => {
    const states = new RequestStates(store());
    const state = await states.seal(BINDING);
    expect(await refusal(states.open(state, { ...BINDING, planId: "plan_2" }))).toMatch(/another plan/);
    expect(await refusal(states.open(state, { ...BINDING, digest: "d2" }))).toMatch(/another plan/);
    expect(await refusal(states.open(state, { ...BINDING, caller: "agent-b" }))).toMatch(/another caller/);
    await states.open(state, BINDING);
  });

  it("refuses every altered byte, a cut state, garbage, a non-string and a huge string", async () => {
    const states = new RequestStates(store());
    const state = await states.seal(BINDING);
    const bytes = Buffer.from(state, "base64url");
    for (let index = 5; index < bytes.length; index++) {
      const altered = Buffer.from(bytes);
      altered[index] = (altered[index] as number) ^ 0x01;
      expect(await refusal(states.open(altered.toString("base64url"), BINDING))).toMatch(/altered|not one/);
    }
    for (const bad of [state.slice(0, -4), "", "not-a-state", 42, null, { state }, "A".repeat(10_000)]) {
      await refusal(states.open(bad, BINDING));
    }
    // None of those used the real one up.
    await states.open(state, BINDING);
  });

  it("refuses a state past its expiry", async () => {
    let now = T0;
    const states = new RequestStates(store(), null, () => now);
    const state = await states.seal(BINDING);
    now += STATE_TTL_MS + 1;
    expect(await refusal(states.open(state, BINDING))).toMatch(/expired/);
  });

  it("rotates keys: a state sealed just before a rotation still opens, one two rotations old does not", async () => {
    let now = Math.ceil(T0 / KEY_EPOCH_MS) * KEY_EPOCH_MS - 1_000;
    const states = new RequestStates(store(), null, () => now);
    const late = await states.seal(BINDING);
    now += 2_000;
    await states.open(late, BINDING);
    const old = await states.seal({ ...BINDING, planId: "plan_old" });
    now += 2 * KEY_EPOCH_MS;
    expect(await refusal(states.open(old, { ...BINDING, planId: "plan_old" }))).toMatch(/expired/);
  });

  it("shares its generated key and the used states between processes on one store, and refuses another key", async () => {
    const path = `sqlite:${join(tempDir(), "state.db")}`;
    const a = new RequestStates(store(path));
    const b = new RequestStates(store(path));
    const state = await a.seal(BINDING);
    await b.open(state, BINDING);
    expect(await refusal(a.open(state, BINDING))).toMatch(/already used/);
    const operator = new RequestStates(store(), Buffer.alloc(32, 7).toString("base64"));
    expect(await refusal(operator.open(await a.seal(BINDING), BINDING))).toMatch(/altered|not one/);
  });
});
