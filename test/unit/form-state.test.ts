// The sealed state of a 2026-07-28 confirmation form: counts once, for its own plan and caller, until it expires;
// anything changed, cut short or sealed elsewhere counts for nothing.
import { describe, expect, it } from "vitest";
import { type FormBinding, FormStates } from "../../src/gate/form-state.js";

const BINDING: FormBinding = { planId: "plan_1", digest: "d1", actor: "agent-a", owner: "agent-a" };

describe("FormStates", () => {
  it("redeems a state once, for exactly its binding", () => {
    const states = new FormStates(60_000);
    const state = states.seal(BINDING);
    expect(states.redeem(state, { ...BINDING, planId: "plan_2" })).toBe(false);
    expect(states.redeem(state, { ...BINDING, digest: "d2" })).toBe(false);
    expect(states.redeem(state, { ...BINDING, actor: "agent-b" })).toBe(false);
    expect(states.redeem(state, { ...BINDING, owner: null })).toBe(false);
    expect(states.redeem(state, BINDING)).toBe(true);
    expect(states.redeem(state, BINDING)).toBe(false);
  });

  it("refuses an expired state", () => {
    let now = 1_000_000;
    const states = new FormStates(10_000, () => now);
    const state = states.seal(BINDING);
    now += 10_000;
    expect(states.redeem(state, BINDING)).toBe(false);
  });

  it("refuses a changed, cut or foreign state, and what is not a state", () => {
    const states = new FormStates(60_000);
    const state = states.seal(BINDING);
    const raw = Buffer.from(state.slice(3), "base64url");
    for (const index of [0, 12, 20, raw.length - 1]) {
      const changed = Buffer.from(raw);
      changed[index] = (changed[index] as number) ^ 1;
      expect(states.redeem(`v1.${changed.toString("base64url")}`, BINDING), `byte ${index}`).toBe(false);
    }
    // Part of the authentication tag cut out.
    const shortTag = Buffer.concat([raw.subarray(0, 16), raw.subarray(28)]);
    expect(states.redeem(`v1.${shortTag.toString("base64url")}`, BINDING)).toBe(false);
    expect(new FormStates(60_000).redeem(state, BINDING)).toBe(false);
    for (const other of [undefined, 42, "", "v1.", "v2.abc", `v1.${"A".repeat(5000)}`])
      expect(states.redeem(other, BINDING)).toBe(false);
    // Untouched, it still counts.
    expect(states.redeem(state, BINDING)).toBe(true);
  });

  it("does not show the binding in the state it hands out", () => {
    const state = new FormStates(60_000).seal(BINDING);
    const decoded = Buffer.from(state.slice(3), "base64url").toString("latin1");
    expect(decoded).not.toContain("plan_1");
    expect(decoded).not.toContain("agent-a");
  });
});
