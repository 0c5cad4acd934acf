// Plans that are never executed expire with their ids (memory and sqlite sweep them; Redis expires keys itself),
// while an executed plan's ids are kept for its job.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type PlanRecord, Store } from "../../src/jobs/store.js";
import { tempDir } from "../integration/harness.js";

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

function plan(id: string): PlanRecord {
  return {
    id,
    backend: "splendor-prod",
    kind: "splendor",
    target: { dataset_id: "app-logs" },
    reason: "expiry test",
    digest: "d",
    counts: { received: 4, unique: 4, duplicates: 0, invalid: 0, to_delete: 4 },
    invalid_ids: [],
    batch_count: 2,
    batch_size: 2,
    sample_ids: [],
    notes: [],
    confirmation: { mode: "token", token_hash: null, expires_at: new Date().toISOString() },
    created_by: "test",
    owner: null,
    created_at: new Date().toISOString(),
    job_id: null,
  };
}

const BATCHES = [
  ["a", "b"],
  ["c", "d"],
];

for (const spec of ["memory", "sqlite"] as const) {
  describe(`${spec} store`, () => {
    it("drops a plan past its time with its ids, keeps an executed plan's ids, and sweeps what expired", async () => {
      store = Store.open(spec === "memory" ? "memory" : `sqlite:${join(tempDir(), "state.db")}`);
      await store.putPlanBatches("plan_dropped", BATCHES, 400);
      await store.putPlan(plan("plan_dropped"), 400);
      await store.putPlanBatches("plan_executed", BATCHES, 400);
      await store.putPlan(plan("plan_executed"), 400);
      // Executed: its ids are kept for good, and the plan record too.
      await store.keepPlanBatches("plan_executed", 2);
      await store.putPlan({ ...plan("plan_executed"), job_id: "job_1" });
      await new Promise((done) => setTimeout(done, 450));

      // Three expired records (a plan and its two batches) are deleted, not just hidden.
      expect(await store.sweepExpired()).toBe(3);
      expect(await store.sweepExpired()).toBe(0);
      expect(await store.getPlan("plan_dropped")).toBeUndefined();
      await expect(store.getPlanBatch("plan_dropped", 0)).rejects.toThrow("has no batch 0");
      expect((await store.getPlan("plan_executed"))?.job_id).toBe("job_1");
      expect(await store.getPlanBatch("plan_executed", 1)).toEqual(["c", "d"]);
    });

    it("gives a plan that was not executed after all its time limit back", async () => {
      store = Store.open(spec === "memory" ? "memory" : `sqlite:${join(tempDir(), "state.db")}`);
      await store.putPlanBatches("plan_refused", BATCHES);
      await store.keepPlanBatches("plan_refused", 2, 30);
      await new Promise((done) => setTimeout(done, 60));
      expect(await store.sweepExpired()).toBe(2);
    });
  });
}
