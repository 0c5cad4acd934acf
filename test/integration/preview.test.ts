// dry_run_delete with `preview` over stdio, for every kind whose contract has a "Read" section, against its
// simulator over real HTTP: found / not found / already deleted, a sample above maxChecked, pacing, 429, no write
// during a preview, and the stale check refusing a plan whose ids were deleted behind its back. A kind joins through
// its fixture (tools/simulators/index.ts).
import { afterEach, describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import type { KindFixture, KindSimulator } from "../../tools/simulators/fixture.js";
import { FIXTURES, fixtureOf } from "../../tools/simulators/index.js";
import {
  errorText,
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "./harness.js";

const SECRET = "preview-key-71c4-e2a9";
const REASON = "Preview test: erase synthetic items";
const BACKEND = "reads";

let sim: KindSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  try {
    if (sim) expect(sim.violations, "requests outside the contract").toEqual([]);
  } finally {
    await session?.close();
    await sim?.close();
    session = undefined;
    sim = undefined;
  }
});

/** The fixture's first target its kind can read (Moorcheh: documents), or null for kinds without targets. */
function readableTarget(fixture: KindFixture): Record<string, unknown> | null {
  const read = BACKEND_KINDS[fixture.kind]?.read;
  if (fixture.targets.length === 0) return null;
  const target = fixture.targets.find((candidate) => read?.supports(candidate));
  if (!target) throw new Error(`no readable target in the ${fixture.kind} fixture`);
  return target;
}

async function connect(fixture: KindFixture, existing: string[], backend: Record<string, unknown> = {}) {
  sim = await fixture.start({ secret: SECRET, items: existing, backendJobMs: { pending: 20, running: 20 } });
  const { path, auditLog } = writeBackendsConfig(tempDir(), {
    [BACKEND]: {
      kind: fixture.kind,
      baseUrl: sim.url,
      credentialEnv: fixture.credentialEnv,
      ...fixture.keys,
      requestsPerSecond: 200,
      ...backend,
    },
  });
  session = await startSession(path, { env: { [fixture.credentialEnv]: SECRET } });
  return { sim, session, auditLog };
}

function dryRun(fixture: KindFixture, ids: string[], extra: Record<string, unknown> = {}) {
  const target = readableTarget(fixture);
  return (session as Session).call("dry_run_delete", {
    backend: BACKEND,
    ...(target ? { target } : {}),
    ids,
    reason: REASON,
    preview: true,
    ...extra,
  });
}

async function execute(plan: { plan_id: string; confirmation: { token: string } }) {
  return (session as Session).call("execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: 10,
  });
}

/** Deletes `ids` through deletegate (a plan of its own) and waits for its job. */
async function deleteBehindItsBack(fixture: KindFixture, ids: string[]) {
  const plan = structured(await dryRun(fixture, ids, { preview: false }));
  const job = structured(await execute(plan));
  return (await waitForJob(session as Session, job.job_id)).job;
}

const writes = (server: KindSimulator) =>
  server.requests.filter((request) => server.deleteIds(request) !== null);
const reads = (server: KindSimulator) =>
  server.requests.filter((request) => server.readIds?.(request) != null);

const READERS = FIXTURES.filter((fixture) => fixture.read !== undefined);

it("covers every kind with a read API, and only those", () => {
  expect(READERS.map((fixture) => fixture.kind).sort()).toEqual(
    Object.values(BACKEND_KINDS)
      .filter((kind) => kind.read !== null)
      .map((kind) => kind.kind)
      .sort(),
  );
  expect(READERS.length).toBe(4);
});

describe.each(READERS)("preview on $kind", (fixture) => {
  const afterDelete = fixture.read?.afterDelete;
  const perRequest = BACKEND_KINDS[fixture.kind]?.read?.maxIdsPerRequest ?? 1;

  it("counts found, not found and already deleted ids, lists found ones with summaries, and writes nothing", async () => {
    const ids = fixture.ids(30);
    const { sim: server, auditLog } = await connect(fixture, ids.slice(0, 20));
    const earlier = await deleteBehindItsBack(fixture, ids.slice(0, 5));
    expect(earlier.counts.deleted).toBe(5);
    const writesBefore = writes(server).length;
    const requestsBefore = server.requests.length;

    const plan = structured(await dryRun(fixture, ids));
    const gone = {
      already_deleted: afterDelete === "already_deleted" ? 5 : 0,
      not_found: afterDelete === "not_found" ? 5 : 0,
    };
    expect(plan.preview).toMatchObject({
      supported: true,
      checked: 30,
      found: 15,
      not_found: 10 + gone.not_found,
      already_deleted: gone.already_deleted,
      sampled: false,
    });
    expect(plan.preview.stopped).toBeUndefined();
    expect(plan.preview.sample).toHaveLength(10);
    for (const item of plan.preview.sample) expect(ids.slice(5, 20)).toContain(item.id);
    // A preview informs: the plan is the one a dry run without it makes.
    expect(plan.counts.to_delete).toBe(30);
    const during = server.requests.slice(requestsBefore);
    expect(writes(server)).toHaveLength(writesBefore);
    expect(during.length).toBeGreaterThanOrEqual(Math.ceil(30 / perRequest));
    expect(during.every((request) => server.readIds?.(request) != null)).toBe(true);
    const created = readAudit(auditLog).find(
      (line) => line.event === "plan.created" && line.plan_id === plan.plan_id,
    );
    expect(created?.preview).toMatchObject({ supported: true, checked: 30, found: 15 });
    expect(JSON.stringify(created)).not.toContain("summary");
  });

  it("reads a uniform sample of maxChecked ids above it and says so", async () => {
    const ids = fixture.ids(40);
    const { sim: server } = await connect(fixture, ids.slice(0, 20), { preview: { maxChecked: 8 } });
    const plan = structured(await dryRun(fixture, ids));
    expect(plan.preview).toMatchObject({ supported: true, checked: 8, sampled: true });
    expect(plan.preview.found + plan.preview.not_found + plan.preview.already_deleted).toBe(8);
    const asked = reads(server).flatMap((request) => server.readIds?.(request) ?? []);
    expect(new Set(asked).size).toBe(8);
    expect(writes(server)).toHaveLength(0);
  });

  it("paces reads by the backend's requestsPerSecond and concurrency", async () => {
    const rate = 4;
    const ids = fixture.ids(perRequest * 6);
    const { sim: server } = await connect(fixture, ids, { requestsPerSecond: rate, concurrency: 2 });
    const plan = structured(await dryRun(fixture, ids));
    expect(plan.preview).toMatchObject({ checked: ids.length, found: ids.length, sampled: false });
    const times = reads(server)
      .map((request) => request.time)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(6);
    // The lane starts at most `rate` in any rolling second, so 6 starts at 4 a second span at least 1.25 s (unpaced,
    // they would all arrive within a few ms). These are arrival times at the simulator, which a loaded machine
    // delays unevenly (the first request also opens the connection): the bounds leave it a quarter of a second.
    for (let index = rate; index < times.length; index++) {
      expect((times[index] as number) - (times[index - rate] as number)).toBeGreaterThanOrEqual(750);
    }
    expect((times[5] as number) - (times[0] as number)).toBeGreaterThanOrEqual(1_000);
  });

  it("reads again after 429 answers and still checks every id", async () => {
    const ids = fixture.ids(perRequest * 2);
    const { sim: server } = await connect(fixture, ids);
    server.faults.add({
      route: fixture.read?.route as string,
      fault: { type: "status", status: 429, retryAfterSeconds: 1 },
      times: 2,
    });
    const started = Date.now();
    const plan = structured(await dryRun(fixture, ids));
    expect(plan.preview).toMatchObject({ checked: ids.length, found: ids.length, sampled: false });
    expect(plan.preview.stopped).toBeUndefined();
    expect(reads(server).filter((request) => request.status === 429)).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(server.faults.pending).toBe(0);
  });

  it("refuses with PLAN_STALE a previewed plan whose found ids were deleted behind its back, sending nothing", async () => {
    const ids = fixture.ids(20);
    const { sim: server, auditLog } = await connect(fixture, ids);
    const fresh = structured(await dryRun(fixture, ids.slice(0, 4)));
    const stale = structured(await dryRun(fixture, ids.slice(4)));
    expect(stale.preview.found).toBe(16);
    await deleteBehindItsBack(fixture, ids.slice(4, 8));
    const writesBefore = writes(server).length;
    const refusal = errorText(await execute(stale));
    expect(refusal).toMatch(
      /^PLAN_STALE: 4 of the 16 items the preview of plan plan_\S+ found were deleted, vanished or changed/,
    );
    expect(writes(server)).toHaveLength(writesBefore);
    const refused = readAudit(auditLog).find(
      (line) => line.event === "delete.refused" && line.plan_id === stale.plan_id,
    );
    expect(refused).toMatchObject({ code: "PLAN_STALE" });
    // The check is not a blanket refusal: an unchanged previewed plan runs.
    const job = structured(await execute(fresh));
    expect((await waitForJob(session as Session, job.job_id)).job).toMatchObject({
      status: "succeeded",
      counts: { deleted: 4 },
    });
  });
});

describe("kinds and targets without a read API", () => {
  it("answers { supported: false } for Splendor and Moorcheh vectors, and reads nothing", async () => {
    for (const [kind, target] of [
      ["splendor", { dataset_id: "app-logs" }],
      ["moorcheh", { namespace: "docs", type: "vectors" }],
    ] as const) {
      const fixture = fixtureOf(kind);
      const ids = fixture.ids(5);
      const { sim: server } = await connect(fixture, ids);
      const plan = structured(
        await (session as Session).call("dry_run_delete", {
          backend: BACKEND,
          target,
          ids,
          reason: REASON,
          preview: true,
        }),
      );
      expect(plan.preview).toEqual({ supported: false });
      expect(plan.counts.to_delete).toBe(5);
      expect(server.requests).toEqual([]);
      await session?.close();
      await server.close();
      session = undefined;
      sim = undefined;
    }
  });
});

describe("the person sees the preview", () => {
  it("shows the counts and the found ids' summaries in the human form, as deletegate's lines and JSON strings", async () => {
    const fixture = fixtureOf("langsmith");
    const ids = fixture.ids(12);
    sim = await fixture.start({ secret: SECRET, items: ids.slice(0, 9) });
    const { path } = writeBackendsConfig(
      tempDir(),
      {
        [BACKEND]: {
          kind: "langsmith",
          baseUrl: sim.url,
          credentialEnv: fixture.credentialEnv,
          ...fixture.keys,
        },
      },
      { confirmation: { mode: "human" } },
    );
    const forms: string[] = [];
    session = await startSession(path, {
      env: { [fixture.credentialEnv]: SECRET },
      elicit: (request) => {
        forms.push(String(request.params.message));
        return { action: "accept", content: { confirm_count: 12 } };
      },
    });
    const plan = structured(
      await session.call("dry_run_delete", { backend: BACKEND, ids, reason: REASON, preview: true }),
    );
    const job = structured(await session.call("execute_delete", { plan_id: plan.plan_id, wait_seconds: 10 }));
    expect(job.counts.total).toBe(12);
    const form = forms[0] as string;
    expect(form).toContain(
      "Preview (read from the backend at the dry run): All 12 id(s) were checked: 9 exist, 3 do not exist, 0 already deleted.",
    );
    const found = form.split("\n").filter((line) => line.startsWith("  found "));
    expect(found).toHaveLength(9);
    for (const line of found) expect(line).toMatch(/^ {2}found "[0-9a-f-]{36}": ".*"$/);
  });
});
