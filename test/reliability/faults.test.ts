// Backend faults, every kind: the built server runs a 20,000-id job (Subworkflow: 200) while the simulator injects
// 5xx bursts, 429 with and without Retry-After, resets, hangs and slow answers; then backends that keep failing.
import { afterEach, describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { POLL_FIRST_MS, POLL_MAX_MS } from "../../src/jobs/poll-batch.js";
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS } from "../../src/jobs/send-batch.js";
import type { RecordedRequest } from "../../tools/simulators/base.js";
import type { FaultRequest, FaultSpec } from "../../tools/simulators/faults.js";
import { FIXTURES, type KindSimulator } from "../../tools/simulators/index.js";
import {
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "../integration/harness.js";
import { recordTrial } from "./report.js";

const REASON = "Reliability trial: delete synthetic items under faults";
/** What the gate itself may add to a bound computed from the config: dry run, IPC, status reads every 100 ms. */
const GATE_SLACK_MS = 2_000;

/** One kind's simulator, as the tests need it: deletes, counts, and for kinds that poll the job-status reads. */
type RunningKind = KindSimulator;

interface KindCase {
  kind: string;
  total: number;
  batchSize: number;
  /** Fault routes: deletes, and for kinds that poll the job-status reads. */
  deleteRoute: string;
  pollRoute?: string;
  target: Record<string, unknown> | null;
  credentialEnv: string;
  secret: string;
  /** Kind-specific config keys. */
  keys: Record<string, unknown>;
  ids(count: number): string[];
  start(ids: string[]): Promise<RunningKind>;
  /**
   * Whether an id re-sent after its first request was processed (answer lost) is counted not found by the job.
   * Splendor counts a backend job's ids deleted, and Subworkflow answers 200 again for a marked dataset.
   */
  resendIsNotFound: boolean;
}

function countOf(map: Map<string, number>, id: string): number {
  return map.get(id) ?? 0;
}

/** Every registered kind, from its simulator fixture: batches of the kind's default size. */
const KINDS: KindCase[] = FIXTURES.map((fixture) => {
  const adapter = BACKEND_KINDS[fixture.kind];
  if (!adapter) throw new Error(`no adapter for the ${fixture.kind} fixture`);
  const batchSize = adapter.defaultBatchSize ?? adapter.maxBatchSize;
  const secret = `sim-${fixture.kind}-faults-key-31c9`;
  return {
    kind: fixture.kind,
    // 20,000 ids, or 200 batches when batches are small (Subworkflow deletes one dataset per request).
    total: Math.min(20_000, 200 * batchSize),
    batchSize,
    deleteRoute: fixture.routes.delete,
    pollRoute: fixture.routes.poll,
    target: fixture.targets[0] ?? null,
    credentialEnv: fixture.credentialEnv,
    secret,
    keys: fixture.keys,
    ids: (count) => fixture.ids(count),
    start: (ids) => fixture.start({ secret, items: ids, backendJobMs: { pending: 50, running: 100 } }),
    resendIsNotFound: fixture.resendIsNotFound,
  };
});

let simulators: RunningKind[] = [];
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await Promise.all(simulators.map((sim) => sim.close()));
  session = undefined;
  simulators = [];
});

async function startSim(kind: KindCase, ids: string[]): Promise<RunningKind> {
  const sim = await kind.start(ids);
  simulators.push(sim);
  return sim;
}

/** A session on a config with one backend of the kind per simulator, named `<kind>-<index>`. */
async function open(
  kind: KindCase,
  sims: RunningKind[],
  backend: Record<string, unknown>,
  env: Record<string, string> = {},
) {
  const backends = Object.fromEntries(
    sims.map((sim, index) => [
      `${kind.kind}-${index}`,
      {
        kind: kind.kind,
        baseUrl: sim.url,
        credentialEnv: kind.credentialEnv,
        maxBatchSize: kind.batchSize,
        ...kind.keys,
        ...backend,
      },
    ]),
  );
  const config = writeBackendsConfig(tempDir(), backends, { limits: { maxIdsPerCall: 20_000 } });
  session = await startSession(config.path, { env: { [kind.credentialEnv]: kind.secret, ...env } });
  return { session, auditLog: config.auditLog };
}

/** Runs a job to its end; returns it (with every failed id), its audit batch lines and how long it took. */
async function runJob(
  kind: KindCase,
  backend: string,
  own: Session,
  auditLog: string,
  ids: string[],
  timeoutMs: number,
) {
  const plan = structured(
    await own.call("dry_run_delete", {
      backend,
      ...(kind.target ? { target: kind.target } : {}),
      ids,
      reason: REASON,
    }),
  );
  // Timed from execute: the dry run is not the job.
  const started = Date.now();
  const job = structured(
    await own.call("execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
      wait_seconds: 0,
    }),
  );
  await waitForJob(own, job.job_id, timeoutMs);
  const elapsedMs = Date.now() - started;
  const final = structured(await own.call("get_delete_job", { job_id: job.job_id, failed_limit: 1000 }));
  // Every failed id, a page at a time.
  while (final.failed_ids.length < final.counts.failed) {
    const page = structured(
      await own.call("get_delete_job", {
        job_id: job.job_id,
        failed_offset: final.failed_ids.length,
        failed_limit: 1000,
      }),
    );
    if (page.failed_ids.length === 0) break;
    final.failed_ids.push(...page.failed_ids);
  }
  const batchLines = readAudit(auditLog).filter(
    (line) => line.job_id === job.job_id && String(line.event).startsWith("batch."),
  );
  // Write-ahead: the ids each batch.sending line named before its batch's requests left.
  const announced = new Set(
    batchLines.filter((line) => line.event === "batch.sending").flatMap((line) => line.ids as string[]),
  );
  const lines = batchLines.filter((line) => line.event !== "batch.sending");
  return { job: final, lines, announced, elapsedMs };
}

// ---------------------------------------------------------------------------------------------------------------
// Faults during a big job

/** A fault that makes its attempt fail: all but a delay shorter than the timeout. */
function fails(fault: FaultSpec, timeoutMs: number): boolean {
  return fault.type !== "latency" || fault.ms >= timeoutMs;
}

/** A fault whose request got no answer within the timeout: the client waited timeoutMs before its backoff. */
function timedOut(fault: FaultSpec | null, timeoutMs: number): boolean {
  return fault !== null && (fault.type === "hang" || (fault.type === "latency" && fault.ms >= timeoutMs));
}

/** A fault after which the request was processed but its answer never arrived: the outcome was unknown. */
function lostAnswer(fault: FaultSpec, timeoutMs: number): boolean {
  return fault.type !== "status" && fault.afterProcessing === true && fails(fault, timeoutMs);
}

function label(fault: FaultSpec, timeoutMs: number): string {
  switch (fault.type) {
    case "status":
      if (fault.status === 429) return fault.retryAfterSeconds ? "429+Retry-After" : "429";
      return fault.retryAfterSeconds ? "5xx+Retry-After" : "5xx";
    case "reset":
      return fault.afterProcessing ? "reset after processing" : "reset";
    case "hang":
      return fault.afterProcessing ? "hang after processing" : "hang";
    case "latency":
      if (fault.ms < timeoutMs) return "slow";
      return fault.afterProcessing ? "slow past timeout after processing" : "slow past timeout";
  }
}

const TIMEOUT_MS = 1_000;
/** How much earlier than its recorded arrival a request may have been sent (see the retry gaps below). */
const TIMER_START_SLACK_MS = 20;
const MAX_ATTEMPTS = 5;

/**
 * Faults aimed at particular batches ("slots", spread over the job); each batch's faults hit its attempts in order.
 * Slot 11 uses every attempt but the last, so the job reaches exactly maxAttempts.
 */
const DELETE_FAULTS: FaultSpec[][] = [
  [
    { type: "status", status: 503 },
    { type: "status", status: 503 },
    { type: "status", status: 503 },
  ],
  [{ type: "status", status: 429, retryAfterSeconds: 1 }],
  [{ type: "status", status: 429 }],
  [
    { type: "status", status: 503, retryAfterSeconds: 1 },
    { type: "status", status: 429 },
  ],
  [{ type: "reset" }],
  [{ type: "reset", afterProcessing: true }],
  [{ type: "hang" }],
  [{ type: "hang", afterProcessing: true }],
  [{ type: "latency", ms: 300 }],
  [{ type: "latency", ms: 1_500 }],
  [{ type: "latency", ms: 1_500, afterProcessing: true }],
  [{ type: "status", status: 502 }, { type: "reset" }, { type: "hang" }, { type: "status", status: 500 }],
  [{ type: "latency", ms: 600, afterProcessing: true }],
  [{ type: "latency", ms: 200 }],
  [{ type: "latency", ms: 400 }],
  [{ type: "latency", ms: 250, afterProcessing: true }],
];
/** A burst at the start, on whichever requests come first. */
const OPENING_BURST: FaultSpec = { type: "status", status: 500 };
const OPENING_BURST_TIMES = 4;
/** Kinds that poll (Splendor): faults on the job-status polls of some batches (consecutive failures stay below maxAttempts). */
const POLL_FAULTS: { slot: number; faults: FaultSpec[] }[] = [
  {
    slot: 12,
    faults: [
      { type: "status", status: 503 },
      { type: "status", status: 503 },
    ],
  },
  { slot: 13, faults: [{ type: "status", status: 503, retryAfterSeconds: 1 }] },
  { slot: 14, faults: [{ type: "reset" }, { type: "hang" }] },
  {
    slot: 15,
    faults: [
      { type: "latency", ms: 1_500 },
      { type: "latency", ms: 300 },
    ],
  },
  { slot: 0, faults: [{ type: "status", status: 429 }] },
];

describe.each(KINDS)("$kind: faults during a big job", (kind) => {
  it(`5xx bursts, 429 ± Retry-After, resets, hangs and slow answers → succeeded, each id deleted once`, async () => {
    const ids = kind.ids(kind.total);
    const batchCount = Math.ceil(ids.length / kind.batchSize);
    const batchOf = new Map(ids.map((id, index) => [id, Math.floor(index / kind.batchSize)]));
    const slotBatch = (slot: number) => Math.floor(((slot + 4) * batchCount) / 20);
    const sim = await startSim(kind, ids);
    const firstIdIn = (request: FaultRequest) => sim.deleteIds(request)?.[0];

    sim.faults.add({ route: kind.deleteRoute, times: OPENING_BURST_TIMES, fault: OPENING_BURST });
    DELETE_FAULTS.forEach((faults, slot) => {
      const batch = slotBatch(slot);
      for (const fault of faults) {
        sim.faults.add({
          route: kind.deleteRoute,
          fault,
          when: (request) => batchOf.get(firstIdIn(request) ?? "") === batch,
        });
      }
    });
    if (kind.pollRoute && sim.polledFirstId) {
      const polled = sim.polledFirstId;
      for (const { slot, faults } of POLL_FAULTS) {
        const batch = slotBatch(slot);
        for (const fault of faults) {
          sim.faults.add({
            route: kind.pollRoute,
            fault,
            when: (request) => batchOf.get(polled(request) ?? "") === batch,
          });
        }
      }
    }

    const { session: own, auditLog } = await open(kind, [sim], {
      concurrency: 4,
      requestsPerSecond: 200,
      timeoutMs: TIMEOUT_MS,
      maxAttempts: MAX_ATTEMPTS,
    });
    const { job, lines, announced, elapsedMs } = await runJob(
      kind,
      `${kind.kind}-0`,
      own,
      auditLog,
      ids,
      60_000,
    );

    // The job: succeeded, every id accounted for once.
    expect(job.status).toBe("succeeded");
    expect(job.counts.failed).toBe(0);
    expect(job.counts.pending).toBe(0);
    expect(job.counts.deleted + job.counts.not_found).toBe(kind.total);
    expect(job.batches).toEqual({ total: batchCount, done: batchCount, failed: 0, in_flight: 0 });

    // At the simulator: every id deleted exactly once, however often it was sent.
    const deletions = sim.deletions();
    const missing = ids.filter((id) => countOf(deletions, id) === 0).length;
    const twice = ids.filter((id) => countOf(deletions, id) > 1).length;
    const strangers = [...deletions.keys()].filter((id) => !batchOf.has(id)).length;
    expect({ missing, twice, strangers }).toEqual({ missing: 0, twice: 0, strangers: 0 });
    // No id reached the backend without a batch.sending line naming it first.
    const unannounced = [...sim.received().keys()].filter((id) => !announced.has(id)).length;
    expect(sim.faults.pending).toBe(0);
    expect(sim.violations).toEqual([]);

    // The requests of each batch, in order, and the faults each met.
    const deletes = sim.requests.filter((request) => sim.deleteIds(request) !== null);
    const perBatch: RecordedRequest[][] = Array.from({ length: batchCount }, () => []);
    for (const request of deletes) perBatch[batchOf.get(firstIdIn(request) ?? "") ?? -1]?.push(request);
    expect(perBatch.flat()).toHaveLength(deletes.length);
    for (const requests of perBatch) requests.sort((a, b) => a.time - b.time);

    // Ids whose answer was lost were sent again and found gone (sync kinds count them not found).
    const resentIds = new Set<string>();
    for (const [index, requests] of perBatch.entries()) {
      if (requests.some((request) => request.fault && lostAnswer(request.fault, TIMEOUT_MS))) {
        for (const id of ids.slice(index * kind.batchSize, (index + 1) * kind.batchSize)) resentIds.add(id);
      }
    }
    expect(resentIds.size).toBeGreaterThan(0);
    const received = sim.received();
    expect(ids.filter((id) => countOf(received, id) > 1).length).toBe(resentIds.size);
    expect([...resentIds].every((id) => countOf(received, id) === 2)).toBe(true);
    expect(job.counts.not_found).toBe(kind.resendIsNotFound ? resentIds.size : 0);

    // Attempts: the audit's count and the simulator's agree, and never exceed maxAttempts.
    const failing = deletes.filter((request) => request.fault && fails(request.fault, TIMEOUT_MS)).length;
    expect(deletes).toHaveLength(batchCount + failing);
    expect(lines.map((line) => line.event)).toEqual(Array(batchCount).fill("batch.completed"));
    const auditAttempts = new Map(lines.map((line) => [line.batch as number, line.attempts as number]));
    let attemptsOver = 0;
    for (const [index, requests] of perBatch.entries()) {
      const audited = auditAttempts.get(index) ?? 0;
      if (audited > MAX_ATTEMPTS) attemptsOver++;
      if (requests.length > MAX_ATTEMPTS) attemptsOver++;
      expect(requests.length, `batch ${index}`).toBe(audited);
    }
    const maxUsed = Math.max(...perBatch.map((requests) => requests.length));
    expect(maxUsed).toBe(MAX_ATTEMPTS);

    // Backoff: after attempt k failed, the next one waited at least BACKOFF_MIN_MS·2^(k−1), Retry-After if longer,
    // counted from the answer (from the timeout for a request that got none in time).
    let minBackoffGap = Number.POSITIVE_INFINITY;
    let minRetryAfterGap = Number.POSITIVE_INFINITY;
    let retries = 0;
    for (const requests of perBatch) {
      for (let k = 1; k < requests.length; k++) {
        const previous = requests[k - 1] as RecordedRequest;
        const next = requests[k] as RecordedRequest;
        retries++;
        // A timed-out attempt's clock starts when the gate sends it, a little before the simulator records its
        // arrival (connection, headers, the simulator's event loop): up to TIMER_START_SLACK_MS earlier here.
        const since = timedOut(previous.fault, TIMEOUT_MS)
          ? previous.time + TIMEOUT_MS - TIMER_START_SLACK_MS
          : (previous.answeredAt ?? previous.time);
        const gap = next.time - since;
        const retryAfterMs =
          previous.fault?.type === "status" ? (previous.fault.retryAfterSeconds ?? 0) * 1000 : 0;
        const backoff = BACKOFF_MIN_MS * 2 ** (k - 1);
        expect(
          gap,
          `attempt ${k + 1} of a batch, after ${previous.fault?.type ?? "an answer"}`,
        ).toBeGreaterThanOrEqual(Math.max(retryAfterMs, backoff));
        if (retryAfterMs > 0) minRetryAfterGap = Math.min(minRetryAfterGap, gap);
        else if (k === 1) minBackoffGap = Math.min(minBackoffGap, gap);
      }
    }
    expect(minRetryAfterGap).toBeGreaterThanOrEqual(1_000);

    // Splendor: every batch's backend job was polled to its end, through the injected status faults.
    const polls = sim.requests.filter((request) => sim.polledFirstId?.(request) != null);
    const pollFaults = polls.filter((request) => request.fault !== null);
    if (kind.pollRoute) {
      expect(pollFaults.length).toBe(POLL_FAULTS.reduce((sum, entry) => sum + entry.faults.length, 0));
      expect(job.backend_jobs).toHaveLength(batchCount);
      expect(
        job.backend_jobs.every((backendJob: { status: string }) => backendJob.status === "succeeded"),
      ).toBe(true);
    }

    const injected = [...deletes, ...polls].filter((request) => request.fault !== null);
    const byType = new Map<string, number>();
    for (const request of injected) {
      const name = label(request.fault as FaultSpec, TIMEOUT_MS);
      byType.set(name, (byType.get(name) ?? 0) + 1);
    }
    const lost = missing + twice + attemptsOver + unannounced;
    recordTrial({
      area: "faults",
      trial: `${kind.kind}: 5xx bursts + 429 ± Retry-After + resets + hangs + slow, ${kind.total.toLocaleString("en-US")} ids`,
      runs: injected.length,
      unit: "faults injected",
      lost,
      figures:
        `${kind.total - missing - twice} of ${kind.total} ids deleted once at the simulator ` +
        `(${resentIds.size} re-sent after a lost answer, deleted once); ` +
        `${unannounced} ids sent without a batch.sending line first; ` +
        `faults: ${[...byType].map(([name, count]) => `${name} ${count}`).join(", ")}` +
        `${kind.pollRoute ? ` (${pollFaults.length} on status polls)` : ""}; ${retries} retries; ` +
        `max attempts ${maxUsed}/${MAX_ATTEMPTS}; min first backoff ${minBackoffGap} ms (≥ ${BACKOFF_MIN_MS}), ` +
        `min gap after Retry-After: 1 ${minRetryAfterGap} ms; job ${(elapsedMs / 1000).toFixed(1)} s`,
    });
    expect(lost).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Backends that keep failing

const FAIL_TIMEOUT_MS = 500;
const FAIL_ATTEMPTS = 3;
const FAIL_CONCURRENCY = 4;
const FAIL_RPS = 100;
/** Kinds that poll: the internal limit on how long a backend job may stay unfinished, shortened for the test. */
const BACKEND_JOB_MAX_MS = 6_000;

interface FailureMode {
  name: string;
  /** The per-id error must match this. */
  error: RegExp;
  arm(sim: RunningKind, kind: KindCase): void;
  /** Splendor's polling failures: each batch is sent once and accepted. */
  sendsOnce?: boolean;
  /** The longest the job may take, from the config (before the gate's slack). */
  bound(batches: number): number;
  /** The shortest it can take: proof that the retries really waited. */
  floor(batches: number): number;
}

/** The longest wait before attempt k+1 (jitter factor < 2, cap), or Retry-After if longer. */
function maxWait(k: number, retryAfterMs = 0): number {
  return Math.max(retryAfterMs, Math.min(BACKOFF_MAX_MS, 2 * BACKOFF_MIN_MS * 2 ** (k - 1)));
}

/** Sending phase of a batch that fails every attempt, each attempt taking at most `attemptMs`. */
function sendBound(batches: number, attemptMs: number, retryAfterMs = 0): number {
  let one = FAIL_ATTEMPTS * (attemptMs + 1000 / FAIL_RPS);
  for (let k = 1; k < FAIL_ATTEMPTS; k++) one += maxWait(k, retryAfterMs);
  return Math.ceil(batches / FAIL_CONCURRENCY) * one;
}

function sendFloor(attemptMs: number, retryAfterMs = 0): number {
  let one = FAIL_ATTEMPTS * attemptMs;
  for (let k = 1; k < FAIL_ATTEMPTS; k++) one += Math.max(retryAfterMs, BACKOFF_MIN_MS * 2 ** (k - 1));
  return one;
}

const FOREVER = Number.POSITIVE_INFINITY;

const SEND_FAILURES: FailureMode[] = [
  {
    name: "5xx forever",
    error: /HTTP 503/,
    arm: (sim, kind) =>
      sim.faults.add({ route: kind.deleteRoute, times: FOREVER, fault: { type: "status", status: 503 } }),
    bound: (batches) => sendBound(batches, 0),
    floor: () => sendFloor(0),
  },
  {
    name: "429 with Retry-After: 1 forever",
    error: /HTTP 429/,
    arm: (sim, kind) =>
      sim.faults.add({
        route: kind.deleteRoute,
        times: FOREVER,
        fault: { type: "status", status: 429, retryAfterSeconds: 1 },
      }),
    bound: (batches) => sendBound(batches, 0, 1_000),
    floor: () => sendFloor(0, 1_000),
  },
  {
    name: "hang forever",
    error: new RegExp(`no answer within ${FAIL_TIMEOUT_MS} ms`),
    arm: (sim, kind) => sim.faults.add({ route: kind.deleteRoute, times: FOREVER, fault: { type: "hang" } }),
    bound: (batches) => sendBound(batches, FAIL_TIMEOUT_MS),
    floor: () => sendFloor(FAIL_TIMEOUT_MS),
  },
];

/** Poll n (1-based) comes this long after the previous one when every poll so far was answered "running"/failed. */
function pollDelay(n: number, retryAfterMs = 0): number {
  return n === 1
    ? POLL_FIRST_MS
    : Math.max(retryAfterMs, Math.min(POLL_FIRST_MS * 2 ** (n - 1), POLL_MAX_MS));
}

/** One round of requests when each may take the whole timeout: every batch's turn at `concurrency` slots. */
function round(batches: number): number {
  return Math.ceil(batches / FAIL_CONCURRENCY) * (FAIL_TIMEOUT_MS + 1000 / FAIL_RPS);
}

/** Accepted sends, then maxAttempts failed status reads, each after its poll delay and its turn in the queue. */
function pollFailureBound(batches: number): number {
  let total = round(batches);
  for (let n = 1; n <= FAIL_ATTEMPTS; n++) total += pollDelay(n) + round(batches);
  return total;
}

/** How a kind that polls (Splendor) can keep failing after its batches were accepted. */
const POLL_FAILURES: FailureMode[] = [
  {
    name: "backend job never finishes",
    sendsOnce: true,
    error: new RegExp(`still running after ${BACKEND_JOB_MAX_MS / 1000} s: deletegate stopped waiting`),
    arm: (sim) => sim.stallNextJobs?.(1_000),
    // The accepted sends, then the limit, then one last status read.
    bound: (batches) => round(batches) + BACKEND_JOB_MAX_MS + round(batches),
    floor: () => BACKEND_JOB_MAX_MS,
  },
  {
    name: "job status keeps failing (503)",
    sendsOnce: true,
    error: /could not be read: HTTP 503/,
    arm: (sim, kind) =>
      sim.faults.add({
        route: kind.pollRoute as string,
        times: FOREVER,
        fault: { type: "status", status: 503 },
      }),
    bound: pollFailureBound,
    floor: () => {
      let total = 0;
      for (let n = 1; n <= FAIL_ATTEMPTS; n++) total += pollDelay(n);
      return total;
    },
  },
  {
    name: "job status hangs forever",
    sendsOnce: true,
    error: new RegExp(`could not be read: .*no answer within ${FAIL_TIMEOUT_MS} ms`),
    arm: (sim, kind) =>
      sim.faults.add({ route: kind.pollRoute as string, times: FOREVER, fault: { type: "hang" } }),
    bound: pollFailureBound,
    floor: () => {
      let total = 0;
      for (let n = 1; n <= FAIL_ATTEMPTS; n++) total += pollDelay(n) + FAIL_TIMEOUT_MS;
      return total;
    },
  },
];

describe.each(KINDS)("$kind: a backend that keeps failing", (kind) => {
  const modes = kind.pollRoute ? [...SEND_FAILURES, ...POLL_FAILURES] : SEND_FAILURES;
  it(`${modes.map((mode) => mode.name).join(", ")} → failed with per-id errors within the bound`, async () => {
    // As many batches as concurrency (Subworkflow: more, so the bound also covers waiting for a turn).
    const count = kind.batchSize === 1 ? 6 : kind.batchSize * 3 + 7;
    const batches = Math.ceil(count / kind.batchSize);
    // One backend (and simulator) per failure mode, their jobs run side by side: each backend has its own lane.
    const all = kind.ids(count * modes.length);
    const idsOf = (index: number) => all.slice(index * count, (index + 1) * count);
    const sims = await Promise.all(modes.map((_, index) => startSim(kind, idsOf(index))));
    modes.forEach((mode, index) => {
      mode.arm(sims[index] as RunningKind, kind);
    });
    const { session: own, auditLog } = await open(
      kind,
      sims,
      {
        concurrency: FAIL_CONCURRENCY,
        requestsPerSecond: FAIL_RPS,
        timeoutMs: FAIL_TIMEOUT_MS,
        maxAttempts: FAIL_ATTEMPTS,
      },
      { DELETEGATE_BACKEND_JOB_MAX_MS: String(BACKEND_JOB_MAX_MS) },
    );
    const bounds = modes.map((mode) => mode.bound(batches) + GATE_SLACK_MS);
    const runs = await Promise.all(
      modes.map((_, index) =>
        runJob(
          kind,
          `${kind.kind}-${index}`,
          own,
          auditLog,
          idsOf(index),
          (bounds[index] as number) + 10_000,
        ),
      ),
    );

    for (const [index, mode] of modes.entries()) {
      const { job, lines, elapsedMs } = runs[index] as (typeof runs)[number];
      const sim = sims[index] as RunningKind;
      const bound = bounds[index] as number;
      expect(job.status, mode.name).toBe("failed");
      expect(job.counts).toEqual({ total: count, deleted: 0, not_found: 0, failed: count, pending: 0 });
      expect(job.failed_ids).toHaveLength(count);
      expect(new Set(job.failed_ids.map((item: { id: string }) => item.id))).toEqual(new Set(idsOf(index)));
      for (const item of job.failed_ids as { error: string }[])
        expect(item.error, mode.name).toMatch(mode.error);
      expect(lines.map((line) => line.event)).toEqual(Array(batches).fill("batch.failed"));
      const attempts = lines.map((line) => line.attempts as number);
      const deletes = sim.requests.filter((request) => sim.deleteIds(request) !== null);
      // Every send failed: exactly maxAttempts requests per batch (Splendor's poll failures: one accepted send).
      const perBatch = mode.sendsOnce ? 1 : FAIL_ATTEMPTS;
      expect(attempts).toEqual(Array(batches).fill(perBatch));
      expect(deletes).toHaveLength(batches * perBatch);
      expect(elapsedMs, `${mode.name}: ${elapsedMs} ms`).toBeLessThanOrEqual(bound);
      expect(elapsedMs, `${mode.name}: ${elapsedMs} ms`).toBeGreaterThanOrEqual(mode.floor(batches));
      expect(sim.violations).toEqual([]);
      const over = attempts.filter((value) => value > FAIL_ATTEMPTS).length;
      recordTrial({
        area: "faults",
        trial: `${kind.kind}: backend keeps failing (${mode.name}), ${count.toLocaleString("en-US")} ids`,
        runs: 1,
        unit: "jobs",
        lost: over + job.counts.pending,
        figures:
          `job failed with ${job.failed_ids.length} per-id errors in ${(elapsedMs / 1000).toFixed(1)} s ` +
          `(bound ${(bound / 1000).toFixed(1)} s from the config); ${batches} batches × ${perBatch} attempts ` +
          `(max ${FAIL_ATTEMPTS}); error "${(job.failed_ids[0] as { error: string }).error.slice(0, 90)}"`,
      });
      expect(over + job.counts.pending).toBe(0);
    }
  });
});
