// Plans that are never executed expire with their ids (memory and sqlite sweep them; Redis expires keys itself),
// while an executed plan's ids are kept for its job.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { batchTexts } from "../../src/gate/plan.js";
import { openStore } from "../../src/jobs/open-store.js";
import type { PlanRecord, Store } from "../../src/jobs/store.js";
import { tempDir } from "../integration/harness.js";
import { planRecord, recordId } from "./fixtures.js";

const PLAN_DROPPED = recordId("plan", 1);
const PLAN_EXECUTED = recordId("plan", 2);
const PLAN_REFUSED = recordId("plan", 3);
const JOB_1 = recordId("job", 1);

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

function plan(id: string): PlanRecord {
  return planRecord({ id, reason: "expiry test" });
}

const BATCHES = batchTexts(["a", "b", "c", "d"], 2);

for (const spec of ["memory", "sqlite"] as const) {
  describe(`${spec} store`, () => {
    it("drops a plan past its time with its ids, keeps an executed plan's ids, and sweeps what expired", async () => {
      store = openStore(spec === "memory" ? "memory" : `sqlite:${join(tempDir(), "state.db")}`);
      await store.putPlanBatches(PLAN_DROPPED, BATCHES, 400);
      await store.putPlan(plan(PLAN_DROPPED), 400);
      await store.putPlanBatches(PLAN_EXECUTED, BATCHES, 400);
      await store.putPlan(plan(PLAN_EXECUTED), 400);
      // Executed: its ids are kept for good, and the plan record too.
      await store.keepPlanBatches(PLAN_EXECUTED, 2);
      await store.putPlan({ ...plan(PLAN_EXECUTED), job_id: JOB_1 });
      await new Promise((done) => setTimeout(done, 450));

      // Three expired records (a plan and its two batches) are deleted, not just hidden.
      expect(await store.sweepExpired()).toBe(3);
      expect(await store.sweepExpired()).toBe(0);
      expect(await store.getPlan(PLAN_DROPPED)).toBeUndefined();
      await expect(store.getPlanBatch(PLAN_DROPPED, 0)).rejects.toThrow("has no batch 0");
      expect((await store.getPlan(PLAN_EXECUTED))?.job_id).toBe(JOB_1);
      expect(await store.getPlanBatch(PLAN_EXECUTED, 1)).toEqual(["c", "d"]);
    });

    it("gives a plan that was not executed after all its time limit back", async () => {
      store = openStore(spec === "memory" ? "memory" : `sqlite:${join(tempDir(), "state.db")}`);
      await store.putPlanBatches(PLAN_REFUSED, BATCHES);
      await store.keepPlanBatches(PLAN_REFUSED, 2, 30);
      await new Promise((done) => setTimeout(done, 60));
      expect(await store.sweepExpired()).toBe(2);
    });
  });
}
