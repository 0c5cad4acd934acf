// The policy in force, live (SPEC §3, §4, §7, §8): a plan made under a looser config is refused at execute once the
// operator tightened it (restart or SIGHUP), with the check's code, a delete.refused line and nothing sent; an invalid
// config on SIGHUP changes nothing; the kill switch (read-only) stops a running 5,000-id job on SIGHUP and at a
// restart; an audit log that cannot be written (prlimit --fsize: EFBIG) stops a job with no id sent unannounced.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChainVerifier } from "../../src/audit/index.js";
import { type MoorchehSimulator, startMoorchehSimulator } from "../../tools/simulators/moorcheh.js";
import {
  range,
  type Session,
  startSession,
  structured,
  tempDir,
  until,
  waitForJob,
} from "../integration/harness.js";
import { recordTrial } from "./report.js";

const MOORCHEH_KEY = "sim-moorcheh-policy-live-7d21";
const REASON = "Policy test: delete synthetic documents";
const BACKEND = "moorcheh";
/** The running-job trials: 5,000 ids in 100 batches of 50, two at a time, 20 requests/s: about 5 s of sending. */
const JOB_IDS = 5_000;
const BATCH = 50;
const CONCURRENCY = 2;
const RPS = 20;

/** Fast: the refusal trials. Slow: the running-job trials (60 ms a request: one or two are in flight at any time). */
let fast: MoorchehSimulator;
let slow: MoorchehSimulator;
const sessions: Session[] = [];

beforeAll(async () => {
  fast = await startMoorchehSimulator({ apiKey: MOORCHEH_KEY, latencyMs: 10 });
  slow = await startMoorchehSimulator({ apiKey: MOORCHEH_KEY, latencyMs: 60 });
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close().catch(() => undefined)));
});
afterAll(async () => {
  await fast?.close();
  await slow?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: config files are edited key by key
type RawConfig = Record<string, any>;

/** A config of one moorcheh backend on `sim`; `store` is a sqlite file in `dir` unless "memory". */
function baseConfig(dir: string, sim: MoorchehSimulator, store: "sqlite" | "memory" = "sqlite"): RawConfig {
  return {
    store: store === "memory" ? "memory" : `sqlite:${join(dir, "state.db")}`,
    auditLog: join(dir, "audit.jsonl"),
    confirmation: { mode: "token", ttlSeconds: 900 },
    limits: { maxIdsPerCall: 10_000 },
    backends: {
      [BACKEND]: {
        kind: "moorcheh",
        baseUrl: sim.url,
        credentialEnv: "MOORCHEH_API_KEY",
        allowTargets: ["kb-*"],
        readOnly: false,
        maxItemsPerJob: 100_000,
        maxItemsPerDay: 1_000_000,
        minReasonLength: 10,
        maxBatchSize: BATCH,
        concurrency: CONCURRENCY,
        requestsPerSecond: RPS,
        timeoutMs: 5_000,
        maxAttempts: 3,
      },
    },
  };
}

function writeJson(path: string, config: RawConfig): void {
  writeFileSync(path, JSON.stringify(config, null, 2));
}

function edited(config: RawConfig, edit: (copy: RawConfig) => void): RawConfig {
  const copy = structuredClone(config);
  edit(copy);
  return copy;
}

/** Form elicitations the server asked of any client in this file (a token plan must never ask one). */
let elicitations = 0;

/** A stdio server on `path`; its client declares form elicitation (and declines any form it is shown). */
async function open(path: string): Promise<Session> {
  const session = await startSession(path, {
    clientName: "policy-live-agent",
    env: { MOORCHEH_API_KEY: MOORCHEH_KEY },
    elicit: () => {
      elicitations++;
      return { action: "decline" };
    },
  });
  sessions.push(session);
  return session;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL (a crash) and wait until the process is gone. */
async function crash(session: Session): Promise<void> {
  const pid = session.pid() as number;
  process.kill(pid, "SIGKILL");
  await until(() => !alive(pid), 10_000);
  await session.close().catch(() => undefined);
}

interface AuditFile {
  lines: Record<string, unknown>[];
  /** Lines that are not JSON: only a torn last line (a write cut short by the file size limit) may be. */
  torn: number;
  /** A line that is not JSON was followed by more lines: lines before the limit were not intact. */
  tornInside: boolean;
}

/** The audit log as written, tolerating a torn last line. */
function readAuditFile(path: string): AuditFile {
  const raw = readFileSync(path, "utf8").split("\n");
  const lines: Record<string, unknown>[] = [];
  let torn = 0;
  let tornInside = false;
  raw.forEach((text, index) => {
    if (text.trim() === "") return;
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      torn++;
      if (raw.slice(index + 1).some((rest) => rest.trim() !== "")) tornInside = true;
    }
  });
  return { lines, torn, tornInside };
}

/** Why the hash chain of the file's complete lines (those ending in "\n") breaks, or null: the lines before a limit stay whole. */
function chainBreak(path: string): string | null {
  const bytes = readFileSync(path);
  const verifier = new ChainVerifier();
  let start = 0;
  for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
    const reason = verifier.check(bytes.subarray(start, end));
    if (reason !== null) return `line ${verifier.lines + 1}: ${reason}`;
    start = end + 1;
  }
  return null;
}

/** Sends SIGHUP and waits for the `config.reloaded` line it writes; returns that line. */
async function reload(session: Session, auditLog: string): Promise<Record<string, unknown>> {
  const count = () => readAuditFile(auditLog).lines.filter((line) => line.event === "config.reloaded").length;
  const before = count();
  process.kill(session.pid() as number, "SIGHUP");
  await until(() => count() > before, 10_000);
  return readAuditFile(auditLog)
    .lines.filter((line) => line.event === "config.reloaded")
    .at(-1) as Record<string, unknown>;
}

function target(namespace: string) {
  return { namespace, type: "documents" };
}

/** Delete requests `sim` received for a namespace (every one, answered or not). */
function deletesTo(sim: MoorchehSimulator, namespace: string) {
  return sim.requests.filter((request) => request.path === `/v1/namespaces/${namespace}/documents/delete`);
}

/** At least `count` delete requests arrived and one is still unanswered: the next step hits a request in flight. */
function inFlight(sim: MoorchehSimulator, namespace: string, count: number): boolean {
  const requests = deletesTo(sim, namespace);
  return requests.length >= count && requests.some((request) => request.answeredAt === null);
}

/** Requests that arrived before `at` and were answered after it (or never): in flight at that moment. */
function inFlightAt(sim: MoorchehSimulator, namespace: string, at: number): number {
  return deletesTo(sim, namespace).filter(
    (request) => request.time < at && (request.answeredAt === null || request.answeredAt >= at),
  ).length;
}

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
}

async function dryRun(session: Session, namespace: string, ids: string[], reason = REASON) {
  return structured(
    await session.call("dry_run_delete", { backend: BACKEND, target: target(namespace), ids, reason }),
  );
}

function execute(
  session: Session,
  plan: { plan_id: string; confirmation: { token?: string } },
  waitSeconds = 0,
) {
  return session.call("execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: waitSeconds,
  });
}

/**
 * What a job's trace at the backend broke: ids the backend received that no intact `batch.sending` line of the job
 * names (sent unannounced), and ids received or deleted more than once.
 */
function backendTrace(sim: MoorchehSimulator, namespace: string, auditLog: string, jobId: string) {
  const announced = new Set<string>();
  for (const line of readAuditFile(auditLog).lines) {
    if (line.event === "batch.sending" && line.job_id === jobId) {
      for (const id of line.ids as string[]) announced.add(id);
    }
  }
  const received = sim.received(namespace, "documents");
  const unannounced = [...received.keys()].filter((id) => !announced.has(id)).length;
  const receivedTwice = [...received.values()].filter((count) => count > 1).length;
  const deletedTwice = [...sim.deletions(namespace, "documents").values()].filter(
    (count) => count > 1,
  ).length;
  return {
    announced: announced.size,
    received: received.size,
    deleted: sim.deleted(namespace, "documents").size,
    unannounced,
    receivedTwice,
    deletedTwice,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. A plan made under a looser config, executed under a tighter one.

interface Tightening {
  what: string;
  /** The key path the config.reloaded line must list as applied. */
  key: string;
  code: string;
  edit: (config: RawConfig) => void;
}

/** Plans hold 24 received ids, 4 of them repeats: 20 to delete. Each tightening refuses exactly that plan. */
const RECEIVED = 24;
const TO_DELETE = 20;
const TIGHTENINGS: Tightening[] = [
  {
    what: "allowTargets narrowed",
    key: `backends.${BACKEND}.allowTargets`,
    code: "TARGET_NOT_ALLOWED",
    edit: (config) => {
      config.backends[BACKEND].allowTargets = ["kb-elsewhere-*"];
    },
  },
  {
    what: "maxItemsPerJob lowered to 19",
    key: `backends.${BACKEND}.maxItemsPerJob`,
    code: "JOB_LIMIT_EXCEEDED",
    edit: (config) => {
      config.backends[BACKEND].maxItemsPerJob = TO_DELETE - 1;
    },
  },
  {
    what: "maxItemsPerDay lowered to 19",
    key: `backends.${BACKEND}.maxItemsPerDay`,
    code: "DAILY_LIMIT_EXCEEDED",
    edit: (config) => {
      config.backends[BACKEND].maxItemsPerDay = TO_DELETE - 1;
    },
  },
  {
    what: "minReasonLength raised one past the reason",
    key: `backends.${BACKEND}.minReasonLength`,
    code: "REASON_REQUIRED",
    edit: (config) => {
      config.backends[BACKEND].minReasonLength = REASON.length + 1;
    },
  },
  {
    what: "readOnly: true",
    key: `backends.${BACKEND}.readOnly`,
    code: "READ_ONLY",
    edit: (config) => {
      config.backends[BACKEND].readOnly = true;
    },
  },
  {
    what: "limits.maxIdsPerCall lowered to 22 (< 24 received, > 20 to delete)",
    key: "limits.maxIdsPerCall",
    code: "TOO_MANY_IDS",
    edit: (config) => {
      config.limits.maxIdsPerCall = RECEIVED - 2;
    },
  },
  {
    what: "confirmation.mode token → human",
    key: "confirmation.mode",
    code: "CONFIRMATION_REQUIRED",
    edit: (config) => {
      config.confirmation.mode = "human";
    },
  },
  {
    what: `backends.${BACKEND}.confirmation → human`,
    key: `backends.${BACKEND}.confirmation`,
    code: "CONFIRMATION_REQUIRED",
    edit: (config) => {
      config.backends[BACKEND].confirmation = "human";
    },
  },
];

interface RefusalOutcome {
  what: string;
  code: string;
  answer: string;
  violations: string[];
}

/**
 * One tightening between dry run and execute_delete, applied by SIGHUP or by a restart with a new config file on the
 * same sqlite store. Then the old config is put back (same way) and the same plan and token must run: a refused call
 * spends nothing.
 */
async function refusalRun(
  via: "SIGHUP" | "restart",
  index: number,
  tightening: Tightening,
): Promise<RefusalOutcome> {
  const dir = tempDir();
  const namespace = `kb-tight-${via.toLowerCase()}-${index}`;
  const unique = range(TO_DELETE, `${namespace}-`);
  fast.addItems(namespace, "documents", unique);
  const ids = [...unique, ...unique.slice(0, RECEIVED - TO_DELETE)];
  const base = baseConfig(dir, fast);
  const basePath = join(dir, "deletegate.config.json");
  writeJson(basePath, base);
  const auditLog = base.auditLog as string;
  const violations: string[] = [];
  const asked = elicitations;

  let session = await open(basePath);
  const plan = await dryRun(session, namespace, ids);
  expect(plan.counts).toMatchObject({ received: RECEIVED, to_delete: TO_DELETE });
  expect(plan.confirmation.mode).toBe("token");

  const tight = edited(base, tightening.edit);
  if (via === "SIGHUP") {
    writeJson(basePath, tight);
    const reloaded = await reload(session, auditLog);
    if (!(reloaded.applied as string[]).includes(tightening.key))
      violations.push(`config.reloaded applied ${JSON.stringify(reloaded.applied)}, not ${tightening.key}`);
    if ((reloaded.restart_needed as string[]).length > 0)
      violations.push(`config.reloaded restart_needed ${JSON.stringify(reloaded.restart_needed)}`);
  } else {
    await session.close();
    const tightPath = join(dir, "tightened.config.json");
    writeJson(tightPath, tight);
    session = await open(tightPath);
  }

  const answer = await execute(session, plan, 2);
  const text = textOf(answer);
  if (!answer.isError) violations.push(`not refused: job ${JSON.stringify(answer.structuredContent)}`);
  else if (!text.startsWith(`${tightening.code}: `)) violations.push(`wrong code: ${text}`);
  const refused = readAuditFile(auditLog).lines.filter(
    (line) => line.event === "delete.refused" && line.plan_id === plan.plan_id,
  );
  if (refused.length !== 1 || refused[0]?.code !== tightening.code)
    violations.push(`delete.refused lines: ${JSON.stringify(refused.map((line) => line.code))}`);
  const sent = deletesTo(fast, namespace).length;
  if (sent > 0) violations.push(`${sent} delete requests sent`);
  if (structured(await session.call("list_delete_jobs", {})).jobs.length > 0)
    violations.push("a job was stored");
  if (elicitations !== asked) violations.push("a form was asked for a token plan");

  // The old config back: the same plan and token run once, so the refusal spent nothing.
  if (via === "SIGHUP") {
    writeJson(basePath, base);
    await reload(session, auditLog);
  } else {
    await session.close();
    session = await open(basePath);
  }
  const job = structured(await execute(session, plan, 10));
  const { job: final } = await waitForJob(session, job.job_id, 20_000);
  const deletions = fast.deletions(namespace, "documents");
  if (final.status !== "succeeded" || final.counts.deleted !== TO_DELETE)
    violations.push(`after loosening: ${final.status}, ${final.counts.deleted} deleted`);
  if (unique.some((id) => deletions.get(id) !== 1))
    violations.push("an id not deleted exactly once after loosening");
  await session.close();
  return { what: tightening.what, code: tightening.code, answer: text.split(":")[0] ?? "", violations };
}

describe("a plan made under a looser config is refused by the config in force at execute_delete", () => {
  for (const via of ["SIGHUP", "restart"] as const) {
    it(`${via}: each of 8 tightenings → its code, a delete.refused line, 0 requests; loosened again the plan runs`, async () => {
      const started = Date.now();
      const outcomes: RefusalOutcome[] = [];
      for (const [index, tightening] of TIGHTENINGS.entries()) {
        outcomes.push(await refusalRun(via, index, tightening));
      }
      const lost = outcomes.filter((outcome) => outcome.violations.length > 0).length;
      recordTrial({
        area: "policy",
        trial:
          via === "SIGHUP"
            ? "plan made, config tightened and SIGHUP sent, then execute_delete (8 policy keys)"
            : "plan made, server restarted on the same sqlite store with a tightened config file, then execute_delete (8 policy keys)",
        runs: outcomes.length,
        unit: "tightenings",
        lost,
        figures: `${outcomes.map((outcome) => `${outcome.what} → ${outcome.answer}`).join("; ")}; each: 1 delete.refused line with that code, 0 delete requests, no job, no form asked${via === "SIGHUP" ? ", config.reloaded listed the key" : ""}; with the old config back the same plan and token then deleted ${TO_DELETE}/${TO_DELETE} once; ${((Date.now() - started) / 1000).toFixed(1)} s`,
      });
      for (const outcome of outcomes) expect(outcome.violations, `${via}: ${outcome.what}`).toEqual([]);
      expect(lost).toBe(0);
    });
  }

  it("SIGHUP with an invalid config file (unknown key beside readOnly: true; then cut-off JSON) is refused: the old config stays", async () => {
    const dir = tempDir();
    const namespace = "kb-invalid";
    const ids = range(TO_DELETE, `${namespace}-`);
    fast.addItems(namespace, "documents", ids);
    const base = baseConfig(dir, fast);
    const path = join(dir, "deletegate.config.json");
    writeJson(path, base);
    const auditLog = base.auditLog as string;
    const session = await open(path);
    const before = await dryRun(session, namespace, ids.slice(0, 10));
    const refusals = () =>
      session
        .stderr()
        .split("\n")
        .filter((line) => line.includes("config reload refused")).length;

    // An unknown key makes the whole file invalid: its readOnly: true must not slip through either.
    writeJson(
      path,
      edited(base, (config) => {
        config.backends[BACKEND].readOnly = true;
        config.backends[BACKEND].maxItemPerJob = 5;
      }),
    );
    process.kill(session.pid() as number, "SIGHUP");
    await until(() => refusals() >= 1, 10_000);
    writeFileSync(path, JSON.stringify(base, null, 2).slice(0, 200));
    process.kill(session.pid() as number, "SIGHUP");
    await until(() => refusals() >= 2, 10_000);

    const violations: string[] = [];
    if (!session.stderr().includes(`backends.${BACKEND}.maxItemPerJob`))
      violations.push("the refusal does not name the unknown key");
    const reloaded = readAuditFile(auditLog).lines.filter((line) => line.event === "config.reloaded").length;
    if (reloaded > 0) violations.push(`${reloaded} config.reloaded lines`);
    const { backends } = structured(await session.call("list_backends", {}));
    if (backends[0].read_only !== false) violations.push("read_only changed");
    const after = await dryRun(session, namespace, ids.slice(10));
    if (after.counts.to_delete !== 10 || after.confirmation.mode !== "token")
      violations.push("dry run changed");
    // Both plans, the one from before the reloads and the one after, still run.
    for (const plan of [before, after]) {
      const job = structured(await execute(session, plan, 10));
      const { job: final } = await waitForJob(session, job.job_id, 20_000);
      if (final.status !== "succeeded") violations.push(`a plan ended ${final.status}`);
    }
    const deletions = fast.deletions(namespace, "documents");
    if (ids.some((id) => deletions.get(id) !== 1)) violations.push("an id not deleted exactly once");
    if (!alive(session.pid() as number)) violations.push("the server died");
    recordTrial({
      area: "policy",
      trial: "SIGHUP with an invalid config file: an unknown key beside readOnly: true, then cut-off JSON",
      runs: 2,
      unit: "reloads",
      lost: violations.length,
      figures: `both refused with a log line naming the problem, 0 config.reloaded lines, the backend still writable; a plan from before and a dry run after both ran: ${deletions.size}/${TO_DELETE} deleted once`,
    });
    expect(violations).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. The kill switch during a running job.

/** Dry run and execute a 5,000-id job on `namespace` (items added at `sim`); returns the plan and the job id. */
async function startJob(session: Session, sim: MoorchehSimulator, namespace: string, count = JOB_IDS) {
  const ids = range(count, `${namespace}-`);
  sim.addItems(namespace, "documents", ids);
  const plan = await dryRun(session, namespace, ids);
  expect(plan.batches).toEqual({ count: Math.ceil(count / BATCH), size: BATCH });
  const job = structured(await execute(session, plan));
  return { ids, plan, jobId: job.job_id as string };
}

const settle = () => new Promise((done) => setTimeout(done, 400));

describe("the kill switch: the backend made read-only during a running 5,000-id job", () => {
  it("SIGHUP mid-job: no request after the switch but those in flight (≤ concurrency); the job ends cancelled", async () => {
    const dir = tempDir();
    const config = baseConfig(dir, slow);
    const path = join(dir, "deletegate.config.json");
    writeJson(path, config);
    const namespace = "kb-kill-sighup";
    const session = await open(path);
    const { jobId } = await startJob(session, slow, namespace);
    await until(() => inFlight(slow, namespace, 20), 20_000);

    writeJson(
      path,
      edited(config, (copy) => {
        copy.backends[BACKEND].readOnly = true;
      }),
    );
    const switchedAt = Date.now();
    const beforeSwitch = deletesTo(slow, namespace).length;
    process.kill(session.pid() as number, "SIGHUP");
    const { job } = await waitForJob(session, jobId, 30_000);
    await settle();

    const requests = deletesTo(slow, namespace);
    const afterSignal = requests.filter((request) => request.time >= switchedAt).length;
    const atSwitch = inFlightAt(slow, namespace, switchedAt);
    const audit = readAuditFile(config.auditLog);
    const reloaded = audit.lines.find((line) => line.event === "config.reloaded");
    const reloadedAt = Date.parse(reloaded?.time as string);
    const afterReloadLine = requests.filter((request) => request.time > reloadedAt).length;
    const trace = backendTrace(slow, namespace, config.auditLog, jobId);
    const cancelledLine = audit.lines.some((line) => line.event === "job.cancelled" && line.job_id === jobId);
    const readOnlyNote = /read-only/.test(job.notes.join(" "));
    const overAllowance = Math.max(0, afterSignal - CONCURRENCY);
    const lost = overAllowance + trace.unannounced + trace.receivedTwice + trace.deletedTwice;

    recordTrial({
      area: "policy",
      trial: `kill switch by SIGHUP (readOnly: true) during a ${JOB_IDS.toLocaleString("en")}-id moorcheh job (${JOB_IDS / BATCH} batches of ${BATCH}, concurrency ${CONCURRENCY}, ${RPS} req/s)`,
      runs: 1,
      unit: "job",
      lost,
      figures: `SIGHUP after ${beforeSwitch} requests, ${atSwitch} of them in flight (finished and counted); ${afterSignal} request(s) arrived after the signal was sent (allowance ${CONCURRENCY}), ${afterReloadLine} after the config.reloaded line; job ${job.status} (${readOnlyNote ? "note says read-only" : "no read-only note"}), ${job.counts.deleted} deleted + ${job.counts.pending} pending of ${JOB_IDS}, backend deleted ${trace.deleted}; ${trace.unannounced} ids sent without a batch.sending line; ${trace.deletedTwice} deleted twice`,
    });
    expect(reloaded?.applied).toEqual([`backends.${BACKEND}.readOnly`]);
    expect(job.status).toBe("cancelled");
    expect(job.notes.join(" ")).toMatch(/read-only/);
    expect(job.counts).toMatchObject({ failed: 0, deleted: trace.deleted, pending: JOB_IDS - trace.deleted });
    expect(job.counts.pending).toBeGreaterThan(0);
    expect(cancelledLine).toBe(true);
    expect(afterSignal).toBeLessThanOrEqual(CONCURRENCY);
    expect(afterReloadLine).toBeLessThanOrEqual(CONCURRENCY);
    expect(lost).toBe(0);
  });

  it("kill -9 mid-job, config made read-only, restart on the same sqlite store: the resumed job sends nothing, ends cancelled", async () => {
    const dir = tempDir();
    const config = baseConfig(dir, slow);
    const path = join(dir, "deletegate.config.json");
    writeJson(path, config);
    const namespace = "kb-kill-restart";
    const first = await open(path);
    const { jobId } = await startJob(first, slow, namespace);
    await until(() => inFlight(slow, namespace, 20), 20_000);
    const killedAt = Date.now();
    await crash(first);
    const atKill = inFlightAt(slow, namespace, killedAt);
    const beforeKillSettled = deletesTo(slow, namespace).length;

    writeJson(
      path,
      edited(config, (copy) => {
        copy.backends[BACKEND].readOnly = true;
      }),
    );
    const restartedAt = Date.now();
    const second = await open(path);
    const { job } = await waitForJob(second, jobId, 30_000);
    await settle();

    const afterRestart = deletesTo(slow, namespace).filter((request) => request.time >= restartedAt).length;
    const trace = backendTrace(slow, namespace, config.auditLog, jobId);
    const audit = readAuditFile(config.auditLog);
    const cancelledLine = audit.lines.some((line) => line.event === "job.cancelled" && line.job_id === jobId);
    // Batches in flight at the kill had an unknown outcome: the backend may have deleted ids the job shows pending.
    const unknownOutcome = trace.deleted - job.counts.deleted;
    const readOnlyNote = /read-only/.test(job.notes.join(" "));
    const lost =
      afterRestart +
      trace.unannounced +
      trace.receivedTwice +
      trace.deletedTwice +
      Math.max(0, unknownOutcome - CONCURRENCY * BATCH);

    recordTrial({
      area: "policy",
      trial: `kill switch at restart: kill -9 during a ${JOB_IDS.toLocaleString("en")}-id moorcheh job, readOnly: true, restart on the same sqlite store`,
      runs: 1,
      unit: "restart",
      lost,
      figures: `killed after ${beforeKillSettled} requests, ${atKill} of them in flight; ${afterRestart} requests after the restart; job ${job.status} (${readOnlyNote ? "note says read-only" : "no read-only note"}), ${job.counts.deleted} deleted + ${job.counts.pending} pending of ${JOB_IDS}; backend deleted ${trace.deleted} (${unknownOutcome} in batches cut short by the kill, at most ${CONCURRENCY * BATCH} allowed); ${trace.unannounced} ids sent without a batch.sending line; ${trace.deletedTwice} deleted twice`,
    });
    expect(afterRestart).toBe(0);
    expect(job.status).toBe("cancelled");
    expect(job.notes.join(" ")).toMatch(/read-only/);
    expect(job.counts.failed).toBe(0);
    expect(job.counts.deleted + job.counts.pending).toBe(JOB_IDS);
    expect(unknownOutcome).toBeGreaterThanOrEqual(0);
    expect(cancelledLine).toBe(true);
    expect(lost).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. The audit log cannot be written (the file size limit of the server process: writes fail with EFBIG).

/** Lowers the server's file size limit to `bytes` (soft and hard); Node ignores SIGXFSZ, so writes fail with EFBIG. */
function limitFileSize(session: Session, bytes: number): void {
  execFileSync("prlimit", ["--pid", String(session.pid()), `--fsize=${bytes}`]);
}

function auditLines(auditLog: string, jobId: string, event: string): number {
  return readAuditFile(auditLog).lines.filter((line) => line.event === event && line.job_id === jobId).length;
}

describe("the audit log cannot be written during a job (memory store: the audit log is the only file)", () => {
  it("mid-job: the job stops (failed or partially_failed, note names the audit log); every id sent was announced", async () => {
    const dir = tempDir();
    const config = baseConfig(dir, slow, "memory");
    const path = join(dir, "deletegate.config.json");
    writeJson(path, config);
    const namespace = "kb-audit-full";
    const session = await open(path);
    const { jobId } = await startJob(session, slow, namespace);
    await until(() => inFlight(slow, namespace, 15), 20_000);

    const size = statSync(config.auditLog).size;
    limitFileSize(session, size + 300);
    const limitedAt = Date.now();
    const beforeLimit = deletesTo(slow, namespace).length;
    const { job } = await waitForJob(session, jobId, 30_000);
    await settle();

    const afterLimit = deletesTo(slow, namespace).filter((request) => request.time >= limitedAt).length;
    const atLimit = inFlightAt(slow, namespace, limitedAt);
    const audit = readAuditFile(config.auditLog);
    const trace = backendTrace(slow, namespace, config.auditLog, jobId);
    const broken = chainBreak(config.auditLog);
    const lost =
      (broken === null ? 0 : 1) +
      trace.unannounced +
      trace.receivedTwice +
      trace.deletedTwice +
      Math.max(0, afterLimit - CONCURRENCY) +
      (audit.tornInside ? 1 : 0);

    recordTrial({
      area: "policy",
      trial: `audit log full (prlimit --fsize, EFBIG) during a ${JOB_IDS.toLocaleString("en")}-id moorcheh job, memory store`,
      runs: 1,
      unit: "job",
      lost,
      figures: `limit = audit size ${size} B + 300 B after ${beforeLimit} requests, ${atLimit} of them in flight; ${afterLimit} request(s) after the limit (allowance ${CONCURRENCY}); job ${job.status}, ${job.counts.deleted} deleted + ${job.counts.failed} failed (not sent) of ${JOB_IDS}; ${trace.received} ids received by the backend, ${trace.announced} named by intact batch.sending lines, ${trace.unannounced} sent unannounced; ${trace.deletedTwice} deleted twice; ${audit.lines.length} intact audit lines (hash chain ${broken ?? "unbroken"}), ${audit.torn} torn at the end`,
    });
    expect(["failed", "partially_failed"]).toContain(job.status);
    expect(job.notes.join(" ")).toMatch(/audit log/);
    expect(job.counts.pending).toBe(0);
    expect(job.counts.deleted).toBe(trace.deleted);
    expect(job.counts.deleted + job.counts.failed).toBe(JOB_IDS);
    expect(trace.received).toBeGreaterThan(0);
    expect(trace.received).toBeLessThan(JOB_IDS);
    expect(audit.torn).toBeLessThanOrEqual(1);
    expect(audit.tornInside).toBe(false);
    expect(broken).toBeNull();
    expect(afterLimit).toBeLessThanOrEqual(CONCURRENCY);
    expect(lost).toBe(0);
  });

  it("at the very first batch: limit set after the dry run → nothing sent, the job ends failed", async () => {
    const dir = tempDir();
    const config = baseConfig(dir, slow, "memory");
    const path = join(dir, "deletegate.config.json");
    writeJson(path, config);
    const count = 1_000;
    const violations: string[] = [];
    const figures: string[] = [];

    // (a) Not even delete.confirmed fits: the job must send nothing. (b) delete.confirmed and job.started fit, the
    // first batch.sending does not: sized from a one-batch calibration job whose lines have the same shape.
    const session = await open(path);
    const calibration = "kb-audit-cal";
    const cal = await startJob(session, slow, calibration, BATCH);
    await waitForJob(session, cal.jobId, 20_000);
    const lengths = (event: string) =>
      readFileSync(config.auditLog, "utf8")
        .split("\n")
        .filter((line) => line.includes(`"event":"${event}"`) && line.includes(cal.jobId))
        .map((line) => Buffer.byteLength(line) + 1)[0] as number;
    const confirmedBytes = lengths("delete.confirmed");
    const startedBytes = lengths("job.started");
    const sendingBytes = lengths("batch.sending");
    await session.close();

    for (const variant of ["nothing fits", "first batch.sending does not fit"] as const) {
      const variantDir = tempDir();
      const variantConfig = baseConfig(variantDir, slow, "memory");
      const variantPath = join(variantDir, "deletegate.config.json");
      writeJson(variantPath, variantConfig);
      const server = await open(variantPath);
      // Same length as the calibration namespace, so the lines have the same size.
      const namespace = variant === "nothing fits" ? "kb-audit-nfa" : "kb-audit-1st";
      const ids = range(count, `${namespace}-`);
      slow.addItems(namespace, "documents", ids);
      const plan = await dryRun(server, namespace, ids);
      const size = statSync(variantConfig.auditLog).size;
      const room =
        variant === "nothing fits" ? 0 : confirmedBytes + startedBytes + Math.floor(sendingBytes / 2);
      limitFileSize(server, size + room);
      const job = structured(await execute(server, plan, 10));
      const { job: final } = await waitForJob(server, job.job_id, 20_000);
      await settle();
      const sent = deletesTo(slow, namespace).length;
      const confirmed = auditLines(variantConfig.auditLog, job.job_id, "delete.confirmed");
      const started = auditLines(variantConfig.auditLog, job.job_id, "job.started");
      const announced = auditLines(variantConfig.auditLog, job.job_id, "batch.sending");
      if (sent > 0) violations.push(`${variant}: ${sent} requests sent`);
      if (final.status !== "failed") violations.push(`${variant}: job ${final.status}`);
      if (final.counts.failed !== count)
        violations.push(`${variant}: ${final.counts.failed} failed of ${count}`);
      if (!/audit log/.test(final.notes.join(" ")))
        violations.push(`${variant}: no note naming the audit log`);
      if (variant !== "nothing fits" && (confirmed !== 1 || started !== 1))
        violations.push(
          `${variant}: delete.confirmed ${confirmed}, job.started ${started} (calibration off)`,
        );
      figures.push(
        `${variant} (limit = size + ${room} B): ${sent} requests, job ${final.status}, ${final.counts.failed}/${count} failed (not sent), intact lines: delete.confirmed ${confirmed}, job.started ${started}, batch.sending ${announced}`,
      );
      await server.close();
    }
    recordTrial({
      area: "policy",
      trial: "audit log full before the first batch (limit set after the dry run), memory store",
      runs: 2,
      unit: "jobs",
      lost: violations.length,
      figures: figures.join("; "),
    });
    expect(violations).toEqual([]);
  });
});
