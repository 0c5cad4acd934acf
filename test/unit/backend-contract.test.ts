// Every registered adapter against its kind's simulator over real HTTP (127.0.0.1, an OS-chosen port): deleted, not
// found, sent again, the kind's partial answer, 429/5xx/resets/timeouts, a wrong key; for kinds that read, the same for
// reads (found, not found, already deleted, split requests, no write); and not one request the simulator reports
// outside its contract. A new kind runs here through its fixture (tools/simulators/index.ts), no new test.
import { afterEach, describe, expect, it } from "vitest";
import type { HttpClient } from "../../src/backends/http.js";
import { BACKEND_KINDS, connectBackend } from "../../src/backends/index.js";
import type {
  BackendClient,
  BackendConfig,
  BatchOutcome,
  PollOutcome,
  ReadItem,
  ReadOutcome,
} from "../../src/backends/types.js";
import { parseConfig } from "../../src/config.js";
import type { FaultSpec } from "../../tools/simulators/faults.js";
import type { KindFixture, KindSimulator, Settled } from "../../tools/simulators/fixture.js";
import { FIXTURES } from "../../tools/simulators/index.js";

const SECRET = "contract-key-5e0c-91ab";
const REASON = "Contract test: delete synthetic items";
const TIMEOUT_MS = 300;
const MAX_ATTEMPTS = 5;
/** Backend jobs end fast here: the contract, not the pace, is under test. */
const BACKEND_JOB_MS = { pending: 20, running: 20 };

/** One adapter client wired as the runner wires it, to a simulator of its kind. */
interface Run {
  fixture: KindFixture;
  sim: KindSimulator;
  backend: BackendConfig;
  client: BackendClient;
  target: Record<string, unknown> | null;
}

let opened: { sim: KindSimulator; http: HttpClient }[] = [];

afterEach(async () => {
  try {
    for (const { sim } of opened) {
      expect(sim.violations, "requests outside the contract").toEqual([]);
      expect(sim.faults.pending, "faults armed but never met").toBe(0);
    }
  } finally {
    await Promise.all(opened.map(({ http }) => http.close()));
    await Promise.all(opened.map(({ sim }) => sim.close()));
    opened = [];
  }
});

/** The backend as the config loader makes it (defaults, kind keys), pointed at `url`. */
function backendAt(fixture: KindFixture, url: string, secret: string): BackendConfig {
  const entry = {
    kind: fixture.kind,
    baseUrl: url,
    credentialEnv: "CONTRACT_KEY",
    timeoutMs: TIMEOUT_MS,
    maxAttempts: MAX_ATTEMPTS,
    ...fixture.keys,
  };
  return parseConfig({ backends: { contract: entry } }, { CONTRACT_KEY: secret }).backends
    .contract as BackendConfig;
}

async function open(
  fixture: KindFixture,
  items: string[],
  key = SECRET,
  deletedItems?: string[],
): Promise<Run> {
  const sim = await fixture.start({ secret: SECRET, items, deletedItems, backendJobMs: BACKEND_JOB_MS });
  const backend = backendAt(fixture, sim.url, key);
  const { client, http } = connectBackend(backend);
  opened.push({ sim, http });
  return { fixture, sim, backend, client, target: fixture.targets[0] ?? null };
}

function deleteRequests(sim: KindSimulator): number {
  return sim.requests.filter((request) => sim.deleteIds(request) !== null).length;
}

/** Reads a backend job until it ends; transient read failures count against maxAttempts in a row. */
async function pollToEnd(run: Run, backendJobId: string): Promise<PollOutcome> {
  const deadline = Date.now() + 10_000;
  let failures = 0;
  for (;;) {
    const outcome = await (run.client.pollJob as (id: string) => Promise<PollOutcome>)(backendJobId);
    if (outcome.type === "retry") {
      if (++failures >= MAX_ATTEMPTS) return outcome;
    } else if (outcome.type !== "running") return outcome;
    else failures = 0;
    if (Date.now() > deadline) throw new Error(`backend job ${backendJobId} still running after 10 s`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

/** Sends one batch as the runner would (retries, resends, polls; no backoff) and tallies what it came to. */
async function settleBatch(run: Run, ids: string[], tally: Settled): Promise<void> {
  let pending = ids;
  let attempts = 0;
  for (;;) {
    attempts++;
    const outcome = await run.client.sendBatch({ target: run.target, ids: pending, reason: REASON });
    switch (outcome.type) {
      case "retry":
        if (attempts >= MAX_ATTEMPTS) {
          tally.failed += pending.length;
          return;
        }
        continue;
      case "failed":
        tally.failed += pending.length;
        return;
      case "accepted": {
        const end = await pollToEnd(run, outcome.backendJobId);
        if (end.type === "succeeded") tally.deleted += pending.length;
        else tally.failed += pending.length;
        return;
      }
      case "completed": {
        tally.deleted += outcome.deleted;
        tally.notFound += outcome.notFound;
        tally.failed += outcome.failed.length;
        const again = outcome.retryIds;
        if (!again) return;
        if (again.countsAsAttempt && attempts >= MAX_ATTEMPTS) {
          tally.failed += again.ids.length;
          return;
        }
        if (!again.countsAsAttempt) attempts--;
        pending = again.ids;
      }
    }
  }
}

/** The ids in batches of the backend's size, each settled; `requests` are the delete requests it took. */
async function settle(run: Run, ids: string[]): Promise<Settled> {
  const before = deleteRequests(run.sim);
  const tally: Settled = { deleted: 0, notFound: 0, failed: 0, requests: 0 };
  for (let start = 0; start < ids.length; start += run.backend.batchSize) {
    await settleBatch(run, ids.slice(start, start + run.backend.batchSize), tally);
  }
  return { ...tally, requests: deleteRequests(run.sim) - before };
}

function batchesOf(run: Run, count: number): number {
  return Math.ceil(count / run.backend.batchSize);
}

/** Id → deletions at the simulator, for these ids only (0 when never deleted). */
function deletionsOf(sim: KindSimulator, ids: string[]): Record<string, number> {
  const deletions = sim.deletions();
  return Object.fromEntries(ids.map((id) => [id, deletions.get(id) ?? 0]));
}

const once = (ids: string[]) => Object.fromEntries(ids.map((id) => [id, 1]));

function readsOf(run: Run): { maxIdsPerRequest: number } {
  const read = BACKEND_KINDS[run.fixture.kind]?.read;
  if (!read) throw new Error(`${run.fixture.kind} has no read`);
  return read;
}

function readOnce(run: Run, ids: string[]): Promise<ReadOutcome> {
  const readItems = run.client.readItems;
  if (!readItems) throw new Error(`${run.fixture.kind}'s client has no readItems`);
  return readItems({ target: run.target, ids, reason: REASON });
}

/** Reads the ids as a preview would, in requests of at most maxIdsPerRequest; each must answer one item per id. */
async function readAll(run: Run, ids: string[]): Promise<Map<string, ReadItem>> {
  const { maxIdsPerRequest } = readsOf(run);
  const items = new Map<string, ReadItem>();
  for (let start = 0; start < ids.length; start += maxIdsPerRequest) {
    const chunk = ids.slice(start, start + maxIdsPerRequest);
    const outcome = await readOnce(run, chunk);
    if (outcome.type !== "read") throw new Error(`read of ${chunk.length} ids: ${JSON.stringify(outcome)}`);
    expect(outcome.items.map((item) => item.id).sort()).toEqual([...chunk].sort());
    for (const item of outcome.items) items.set(item.id, item);
  }
  return items;
}

describe("the registries", () => {
  it("name the same kinds in the same order: one simulator fixture per adapter", () => {
    expect(FIXTURES.map((fixture) => fixture.kind)).toEqual(Object.keys(BACKEND_KINDS));
  });

  it.each(FIXTURES)("$kind: the fixture matches its adapter (targets, poll route, valid ids)", (fixture) => {
    const kind = BACKEND_KINDS[fixture.kind];
    expect(kind).toBeDefined();
    if (!kind) return;
    expect(Boolean(fixture.routes.poll)).toBe(kind.asyncJobs);
    expect(fixture.targets.length > 0).toBe(kind.targetSchema !== null);
    for (const target of fixture.targets) expect(kind.targetSchema?.safeParse(target).success).toBe(true);
    const ids = fixture.ids(50);
    expect(new Set(ids).size).toBe(50);
    expect(fixture.ids(3)).toEqual(ids.slice(0, 3));
    for (const id of ids) expect(kind.validateId(kind.normalizeId?.(id) ?? id), id).toBeNull();
  });

  it.each(FIXTURES)("$kind: the fixture reads exactly when its adapter does", async (fixture) => {
    const kind = BACKEND_KINDS[fixture.kind];
    expect(Boolean(fixture.read)).toBe(kind?.read !== null);
    const sim = await fixture.start({ secret: SECRET });
    try {
      expect(Boolean(sim.readIds)).toBe(Boolean(fixture.read));
    } finally {
      await sim.close();
    }
    const backend = backendAt(fixture, "http://127.0.0.1:9", SECRET);
    expect(Boolean(kind?.createClient(backend, {} as HttpClient).readItems)).toBe(Boolean(fixture.read));
  });
});

describe.each(FIXTURES)("$kind adapter against its simulator", (fixture) => {
  it("deletes ids that exist, each once, in batches of the backend's size", async () => {
    const ids = fixture.ids(4);
    const run = await open(fixture, ids);
    expect(await settle(run, ids)).toEqual({
      deleted: 4,
      notFound: 0,
      failed: 0,
      requests: batchesOf(run, 4),
    });
    expect(deletionsOf(run.sim, ids)).toEqual(once(ids));
    for (const request of run.sim.requests) {
      const [header, value] = fixture.auth(SECRET);
      expect(request.headers[header], `${request.method} ${request.path}`).toBe(value);
    }
  });

  it("counts ids that do not exist as not found (deleted, for a backend that cannot tell), and deletes no other", async () => {
    const ids = fixture.ids(4);
    const existing = ids.slice(0, 2);
    const run = await open(fixture, existing);
    const missing = fixture.reportsNotFound ? 2 : 0;
    expect(await settle(run, ids)).toEqual({
      deleted: 4 - missing,
      notFound: missing,
      failed: 0,
      requests: expect.any(Number),
    });
    expect(deletionsOf(run.sim, existing)).toEqual(once(existing));
    expect([...run.sim.deletions().keys()].every((id) => ids.includes(id))).toBe(true);
  });

  it("answers ids sent again after they were deleted without deleting them twice", async () => {
    const ids = fixture.ids(2);
    const run = await open(fixture, ids);
    await settle(run, ids);
    const again = await settle(run, ids);
    expect(again).toMatchObject(
      fixture.resendIsNotFound
        ? { deleted: 0, notFound: 2, failed: 0 }
        : { deleted: 2, notFound: 0, failed: 0 },
    );
    expect(deletionsOf(run.sim, ids)).toEqual(once(ids));
  });

  it(`partial answer: ${fixture.partial.title}`, async () => {
    const ids = fixture.ids(4);
    const run = await open(fixture, ids);
    await fixture.partial.arm(run.sim, ids, SECRET);
    expect(await settle(run, ids)).toEqual(fixture.partial.expect);
  });

  /** Each fault once on the delete route, for a batch of its own: what the first answer must be. */
  const DELETE_FAULTS: { fault: FaultSpec; first: Partial<BatchOutcome> & { error?: unknown } }[] = [
    { fault: { type: "status", status: 503 }, first: { type: "retry", httpStatus: 503 } },
    { fault: { type: "status", status: 500 }, first: { type: "retry", httpStatus: 500 } },
    {
      fault: { type: "status", status: 429, retryAfterSeconds: 1 },
      first: { type: "retry", httpStatus: 429, retryAfterMs: 1000 },
    },
    { fault: { type: "status", status: 429 }, first: { type: "retry", httpStatus: 429 } },
    { fault: { type: "reset" }, first: { type: "retry" } },
    {
      fault: { type: "hang" },
      first: { type: "retry", error: expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`) },
    },
    {
      fault: { type: "latency", ms: TIMEOUT_MS + 200 },
      first: { type: "retry", error: expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`) },
    },
  ];

  it("429, 5xx, resets, hangs and slow answers are transient: retried, then each id deleted once", async () => {
    const ids = fixture.ids(DELETE_FAULTS.length);
    const run = await open(fixture, ids);
    for (const [index, { fault, first }] of DELETE_FAULTS.entries()) {
      const id = ids[index] as string;
      run.sim.faults.add({ route: fixture.routes.delete, fault });
      const outcome = await run.client.sendBatch({ target: run.target, ids: [id], reason: REASON });
      expect(outcome, JSON.stringify(fault)).toMatchObject(first);
      expect(await settle(run, [id]), JSON.stringify(fault)).toMatchObject({ deleted: 1, failed: 0 });
    }
    // The simulator may still be finishing a request the client gave up on.
    await new Promise((done) => setTimeout(done, 250));
    expect(deletionsOf(run.sim, ids)).toEqual(once(ids));
  });

  it("an answer lost after the backend processed the batch: sent again, never deleted twice", async () => {
    const run = await open(fixture, fixture.ids(2));
    const ids = fixture.ids(Math.min(2, run.backend.batchSize));
    run.sim.faults.add({ route: fixture.routes.delete, fault: { type: "reset", afterProcessing: true } });
    expect(await run.client.sendBatch({ target: run.target, ids, reason: REASON })).toMatchObject({
      type: "retry",
    });
    const count = ids.length;
    expect(await settle(run, ids)).toMatchObject(
      fixture.resendIsNotFound
        ? { deleted: 0, notFound: count, failed: 0 }
        : { deleted: count, notFound: 0, failed: 0 },
    );
    expect(deletionsOf(run.sim, ids)).toEqual(once(ids));
  });

  const poll = fixture.routes.poll;
  if (poll) {
    it("a backend job's status read under 503 and a hang is retried, then read to its end", async () => {
      const run = await open(fixture, fixture.ids(2));
      const ids = fixture.ids(Math.min(2, run.backend.batchSize));
      const accepted = await run.client.sendBatch({ target: run.target, ids, reason: REASON });
      expect(accepted.type).toBe("accepted");
      const jobId = (accepted as { backendJobId: string }).backendJobId;
      const read = run.client.pollJob as (id: string) => Promise<PollOutcome>;
      run.sim.faults.add({ route: poll, fault: { type: "status", status: 503 } });
      expect(await read(jobId)).toMatchObject({ type: "retry" });
      run.sim.faults.add({ route: poll, fault: { type: "hang" } });
      expect(await read(jobId)).toMatchObject({
        type: "retry",
        error: expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`),
      });
      expect(await pollToEnd(run, jobId)).toMatchObject({ type: "succeeded" });
      expect(deletionsOf(run.sim, ids)).toEqual(once(ids));
    });
  }

  it("a wrong key is refused and fails the batch, and the simulator reports the request", async () => {
    const ids = fixture.ids(2);
    const run = await open(fixture, ids, `${SECRET}-wrong`);
    expect(await settle(run, ids)).toEqual({
      deleted: 0,
      notFound: 0,
      failed: 2,
      requests: batchesOf(run, 2),
    });
    expect(run.sim.violations.length).toBe(batchesOf(run, 2));
    // Reported as it must be; cleared so the check after each test sees only unexpected ones.
    run.sim.violations.length = 0;
    expect(deletionsOf(run.sim, ids)).toEqual({ [ids[0] as string]: 0, [ids[1] as string]: 0 });
  });

  const read = fixture.read;
  if (read) {
    describe("reads", () => {
      it(`found, not found and, once deleted (now or before the start), ${read.afterDelete}: one item per id, and no write`, async () => {
        const ids = fixture.ids(5);
        const run = await open(fixture, ids.slice(0, 3), SECRET, [ids[4] as string]);
        await settle(run, [ids[2] as string]);
        const before = run.sim.requests.length;
        const deletions = run.sim.deletions();
        const items = await readAll(run, ids);
        expect([...items.values()].map((item) => [item.id, item.state])).toEqual([
          [ids[0], "found"],
          [ids[1], "found"],
          [ids[2], read.afterDelete],
          [ids[3], "not_found"],
          [ids[4], read.afterDelete],
        ]);
        for (const item of items.values()) {
          if (item.state !== "found") expect(item).toMatchObject({ summary: null, version: null });
          else if (item.summary !== null) expect(item.summary.length).toBeLessThanOrEqual(200);
        }
        const reads = run.sim.requests.slice(before);
        expect(reads.length).toBeGreaterThan(0);
        expect(reads.map((request) => request.route)).toEqual(reads.map(() => read.route));
        expect(reads.every((request) => run.sim.deleteIds(request) === null)).toBe(true);
        expect(run.sim.deletions()).toEqual(deletions);
      });

      it("more ids than one request reads are split by the caller into requests of at most maxIdsPerRequest", async () => {
        const count = (BACKEND_KINDS[fixture.kind]?.read?.maxIdsPerRequest ?? 1) + 1;
        const ids = fixture.ids(count);
        const run = await open(fixture, ids);
        const items = await readAll(run, ids);
        expect([...items.values()].filter((item) => item.state === "found").length).toBe(count);
        const named = run.sim.requests.map((request) => run.sim.readIds?.(request)?.length ?? 0);
        expect(named.length).toBe(2);
        expect(named.every((size) => size >= 1 && size <= count - 1)).toBe(true);
        expect(deleteRequests(run.sim)).toBe(0);
      });

      /** Each fault once on the read route: what the read must come to. */
      const READ_FAULTS: { fault: FaultSpec; outcome: Partial<ReadOutcome> & { error?: unknown } }[] = [
        {
          fault: { type: "status", status: 429, retryAfterSeconds: 2 },
          outcome: { type: "retry", httpStatus: 429, retryAfterMs: 2000 },
        },
        { fault: { type: "status", status: 503 }, outcome: { type: "retry", httpStatus: 503 } },
        { fault: { type: "reset" }, outcome: { type: "retry" } },
        {
          fault: { type: "hang" },
          outcome: { type: "retry", error: expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`) },
        },
        // Outside the contract, as for deletes: asked again, never read as an answer.
        {
          fault: { type: "status", status: 200, body: { unexpected: true } },
          outcome: { type: "retry", httpStatus: 200 },
        },
        {
          fault: { type: "status", status: 200, body: "<html>proxy</html>" },
          outcome: { type: "retry", httpStatus: 200 },
        },
      ];

      it("429 (with retryAfterMs), 5xx, resets, hangs and bodies outside the contract are retried, then read", async () => {
        const ids = fixture.ids(1);
        const run = await open(fixture, ids);
        for (const { fault, outcome } of READ_FAULTS) {
          run.sim.faults.add({ route: read.route, fault });
          expect(await readOnce(run, ids), JSON.stringify(fault)).toMatchObject(outcome);
          expect((await readAll(run, ids)).get(ids[0] as string)?.state).toBe("found");
        }
        await new Promise((done) => setTimeout(done, 50));
        expect(run.sim.requests.every((request) => request.route === read.route)).toBe(true);
      });

      it("a wrong key: 401 fails the read, and the simulator reports the request", async () => {
        const ids = fixture.ids(1);
        const run = await open(fixture, ids, `${SECRET}-wrong`);
        expect(await readOnce(run, ids)).toMatchObject({ type: "failed", httpStatus: 401 });
        expect(run.sim.violations.length).toBe(1);
        // Reported as it must be; cleared so the check after each test sees only unexpected ones.
        run.sim.violations.length = 0;
      });
    });
  }
});
