// Concurrency (issue 5, point 6): HTTP clients executing at once share each backend's concurrency and rate budget,
// and racing executes — on one server, and on two instances sharing Redis — never push past maxItemsPerDay.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type MoorchehSimulator, startMoorchehSimulator } from "../../tools/simulators/moorcheh.js";
import { errorText, range, structured, tempDir, writeBackendsConfig } from "../integration/harness.js";
import {
  addHttpTokens,
  connectHttp,
  type HttpServer,
  type HttpSession,
  startHttpServer,
} from "../integration/http-harness.js";
import { type RedisServer, skipWithoutRedis, startRedisServer } from "../integration/redis-server.js";
import { recordTrial } from "./report.js";

const KEY = "sim-moorcheh-concurrency-7d1f";
const REASON = "Concurrency test: delete synthetic records";
const LATENCY_MS = 80;
const CLIENTS = 6;
const ROUNDS = 5;
const RACERS = 8;
const PLAN_IDS = 1_000;
const DAILY_LIMIT = 2_500;

let sim: MoorchehSimulator;
const cleanups: (() => Promise<void>)[] = [];

const shareNamespace = (client: number) => `share-${client}`;
const raceNamespace = (store: string, round: number, racer: number) => `race-${store}-${round}-${racer}`;

beforeAll(async () => {
  const namespaces: Record<string, { documents: string[] }> = {};
  for (let client = 0; client < CLIENTS; client++) {
    namespaces[shareNamespace(client)] = { documents: range(500, `${shareNamespace(client)}-`) };
  }
  for (const store of ["sqlite", "redis"]) {
    for (let round = 0; round < ROUNDS; round++) {
      for (let racer = 0; racer < RACERS; racer++) {
        const name = raceNamespace(store, round, racer);
        namespaces[name] = { documents: range(PLAN_IDS, `${name}-`) };
      }
    }
  }
  sim = await startMoorchehSimulator({ apiKey: KEY, latencyMs: LATENCY_MS, namespaces });
});
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup().catch(() => undefined)));
});
afterAll(async () => {
  await sim.close();
});

/** One config file: `names` moorcheh backends at the simulator, one HTTP token per client. */
function config(names: string[], backend: Record<string, unknown>, store?: string) {
  const written = writeBackendsConfig(
    tempDir(),
    Object.fromEntries(
      names.map((name) => [
        name,
        { kind: "moorcheh", baseUrl: sim.url, credentialEnv: "MOORCHEH_API_KEY", ...backend },
      ]),
    ),
    store ? { store } : {},
  );
  const tokens = Object.fromEntries(range(RACERS, "client-").map((name) => [name, `TOKEN_${name.slice(7)}`]));
  addHttpTokens(written.path, tokens);
  return written;
}

const tokenOf = (client: number) => `tok-concurrency-${client}-4e9a0c`;

async function startServer(path: string, env: Record<string, string> = {}): Promise<HttpServer> {
  const tokens = Object.fromEntries(
    range(RACERS, "").map((index) => [`TOKEN_${index}`, tokenOf(Number(index))]),
  );
  const server = await startHttpServer(path, { env: { MOORCHEH_API_KEY: KEY, ...tokens, ...env } });
  cleanups.push(() => server.stop());
  return server;
}

async function connect(server: HttpServer, client: number): Promise<HttpSession> {
  const session = await connectHttp(server.url, tokenOf(client), { name: `client-${client}` });
  cleanups.unshift(() => session.close());
  return session;
}

async function dryRun(session: HttpSession, backend: string, namespace: string, ids: string[]) {
  return structured(
    await session.call("dry_run_delete", {
      backend,
      target: { namespace, type: "documents" },
      ids,
      reason: REASON,
    }),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: the plan's structured result
function execute(session: HttpSession, plan: any, waitSeconds = 0) {
  return session.call("execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: waitSeconds,
  });
}

async function waitTerminal(session: HttpSession, jobId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = structured(await session.call("get_delete_job", { job_id: jobId }));
    if (["succeeded", "partially_failed", "failed", "cancelled"].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** The most request arrivals in any half-open window of `ms` (times sorted ascending). */
function mostInWindow(times: number[], ms: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= ms) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("HTTP clients executing at once share the backend's budget of requests", () => {
  it(`${CLIENTS} clients, one backend (concurrency 3, 25 requests/s): never more in flight or per second`, async () => {
    const CONCURRENCY = 3;
    const RPS = 25;
    const { path } = config(["shared"], {
      maxBatchSize: 50,
      concurrency: CONCURRENCY,
      requestsPerSecond: RPS,
    });
    const server = await startServer(path);
    const sessions = await Promise.all(range(CLIENTS, "").map((client) => connect(server, Number(client))));
    const plans = await Promise.all(
      sessions.map((session, client) =>
        dryRun(session, "shared", shareNamespace(client), range(500, `${shareNamespace(client)}-`)),
      ),
    );
    const firstRequest = sim.requests.length;
    const started = Date.now();
    const jobs = await Promise.all(
      sessions.map(async (session, client) => structured(await execute(session, plans[client]))),
    );
    const finals = await Promise.all(
      sessions.map((session, client) => waitTerminal(session, jobs[client].job_id)),
    );
    const seconds = (Date.now() - started) / 1000;

    const times = sim.requests
      .slice(firstRequest)
      .map((request) => request.time)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(CLIENTS * 10);
    // Each request takes at least LATENCY_MS at the simulator, so arrivals closer together than that overlap.
    const inFlight = mostInWindow(times, LATENCY_MS - 5);
    // A strict 25/s pace; one more is allowed for arrival-time jitter on loopback.
    const perSecond = mostInWindow(times, 1_000);
    let deletedOnce = 0;
    for (let client = 0; client < CLIENTS; client++) {
      expect(finals[client].status).toBe("succeeded");
      const received = sim.received(shareNamespace(client), "documents");
      deletedOnce += [...received.values()].filter((count) => count === 1).length;
    }
    expect(inFlight).toBeLessThanOrEqual(CONCURRENCY);
    expect(perSecond).toBeLessThanOrEqual(RPS + 1);
    expect(deletedOnce).toBe(CLIENTS * 500);
    const over = Math.max(0, inFlight - CONCURRENCY) + Math.max(0, perSecond - (RPS + 1));
    recordTrial({
      area: "concurrency",
      trial: `${CLIENTS} HTTP clients execute at once on one backend (concurrency ${CONCURRENCY}, ${RPS} req/s)`,
      runs: times.length,
      unit: "requests",
      lost: over + (CLIENTS * 500 - deletedOnce),
      figures: `most in flight ${inFlight}/${CONCURRENCY}; most in any 1 s ${perSecond} (limit ${RPS}, +1 for arrival jitter); ${(times.length / seconds).toFixed(1)} req/s over ${seconds.toFixed(1)} s; ${deletedOnce} ids deleted once`,
    });
  });
});

/**
 * ROUNDS rounds of RACERS clients that each planned PLAN_IDS ids on the same backend (each plan alone fits the
 * daily limit) and then execute at the same moment, spread over `servers`. Returns what the rounds saw.
 */
async function race(store: "sqlite" | "redis", servers: HttpServer[]) {
  const rounds: { succeeded: number; refused: number; deleted: number }[] = [];
  const sessions = await Promise.all(
    range(RACERS, "").map((racer) =>
      connect(servers[Number(racer) % servers.length] as HttpServer, Number(racer)),
    ),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const backend = `budget-${round}`;
    const plans = await Promise.all(
      sessions.map((session, racer) => {
        const namespace = raceNamespace(store, round, racer);
        return dryRun(session, backend, namespace, range(PLAN_IDS, `${namespace}-`));
      }),
    );
    const answers = await Promise.all(sessions.map((session, racer) => execute(session, plans[racer])));
    const won = sessions.flatMap((session, racer) => {
      const answer = answers[racer];
      return answer && !answer.isError ? [{ session, jobId: structured(answer).job_id as string }] : [];
    });
    const refusals = answers.filter((answer) => answer.isError).map(errorText);
    for (const refusal of refusals) expect(refusal).toMatch(/^DAILY_LIMIT_EXCEEDED: /);
    await Promise.all(won.map(({ session, jobId }) => waitTerminal(session, jobId)));
    let deleted = 0;
    for (let racer = 0; racer < RACERS; racer++) {
      deleted += sim.deleted(raceNamespace(store, round, racer), "documents").size;
    }
    rounds.push({ succeeded: won.length, refused: refusals.length, deleted });
  }
  return rounds;
}

function recordRace(store: string, where: string, rounds: Awaited<ReturnType<typeof race>>) {
  const most = Math.max(...rounds.map((round) => round.deleted));
  const overLimit = rounds.filter((round) => round.deleted > DAILY_LIMIT).length;
  for (const round of rounds) {
    expect(round.deleted).toBeLessThanOrEqual(DAILY_LIMIT);
    // The limit allows two plans of 1,000: exactly two of the racers win each round.
    expect(round.succeeded).toBe(Math.floor(DAILY_LIMIT / PLAN_IDS));
    expect(round.deleted).toBe(round.succeeded * PLAN_IDS);
  }
  recordTrial({
    area: "concurrency",
    trial: `${RACERS} racing executes of ${PLAN_IDS.toLocaleString("en-US")} ids against maxItemsPerDay ${DAILY_LIMIT.toLocaleString("en-US")}, ${where}`,
    runs: rounds.length * RACERS,
    unit: "executes",
    lost: overLimit,
    figures: `${rounds.length} rounds (${store}): ${rounds.map((round) => `${round.succeeded} ran/${round.refused} refused`).join(", ")}; most deleted in a round ${most.toLocaleString("en-US")} of ${DAILY_LIMIT.toLocaleString("en-US")}`,
  });
}

const budgetBackends = range(ROUNDS, "budget-");
const budgetConfig = { maxBatchSize: 500, concurrency: 4, maxItemsPerDay: DAILY_LIMIT };

describe("racing executes never push a backend past maxItemsPerDay", () => {
  it("on one server (sqlite)", async () => {
    const { path } = config(budgetBackends, budgetConfig);
    const server = await startServer(path);
    recordRace("sqlite", "one server", await race("sqlite", [server]));
  });

  it.skipIf(skipWithoutRedis("the Redis budget race"))("on two instances sharing Redis", async () => {
    const redis: RedisServer = await startRedisServer();
    cleanups.push(() => redis.stop());
    const servers: HttpServer[] = [];
    for (let instance = 0; instance < 2; instance++) {
      // Each instance its own config file and audit log, on the one Redis store.
      const { path } = config(budgetBackends, budgetConfig, redis.url);
      servers.push(await startServer(path));
    }
    recordRace("redis", "two instances sharing Redis", await race("redis", servers));
  });
});
