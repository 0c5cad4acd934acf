// `npm run demo`: a simulator per backend kind, deletegate over stdio, and an agent's calls — Splendor step by step, then
// one compact section per other kind (each kind's section lives in its simulator's fixture; the registry lists them).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import type { BackendSummary } from "../src/gate/gate.js";
import { approvalSection } from "./demo-approval.js";
import { erasureSection } from "./demo-erasure.js";
import {
  type AuditLine,
  type DemoPrint,
  type DemoSection,
  type IdList,
  type JobResult,
  type PlanResult,
  seconds,
} from "./demo-section.js";
import type { RecordedRequest } from "./simulators/base.js";
import { demoSecrets } from "./simulators/demo-config.js";
import type { KindFixture, KindSimulator, SimulatorStart } from "./simulators/fixture.js";
import { FIXTURES } from "./simulators/index.js";
import { type SplendorSimulator, splendorFixture } from "./simulators/splendor.js";

const REPO = resolve(import.meta.dirname, "..");
const CLI = join(REPO, "dist", "cli.js");
const BACKEND = splendorFixture.demo.backend;
const DATASET = "crm-contacts";
const REASON = "GDPR erasure request #4711: remove the contact records of accounts closed in 2023";
const VALID_IDS = 2_490;
const JOB_PENDING_MS = 600;
const JOB_RUNNING_MS = 900;
/** execute_delete waits this long, so the job is still awaiting Splendor when it answers. */
const EXECUTE_WAIT_SECONDS = 1;
/** The compact sections' kinds are synchronous: execute_delete usually answers with the finished job. */
const SECTION_WAIT_SECONDS = 5;
const POLL_EVERY_MS = 200;
const POLL_DEADLINE_MS = 20_000;
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];
/** How every simulator starts here: a free port, and Splendor's jobs slow enough to watch. */
const SIMULATOR_START: Omit<SimulatorStart, "secret"> = {
  host: "127.0.0.1",
  port: 0,
  backendJobMs: { pending: JOB_PENDING_MS, running: JOB_RUNNING_MS },
};

/** The secret of each backend, as its credentialEnv names it; none of them may reach the audit log. */
const SECRETS = demoSecrets();
const SPLENDOR_TOKEN = splendorFixture.demo.secret;
const TENANT = String(splendorFixture.demo.keys.tenantId);
const NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

/** "five" for 5: the transcript reads as prose. */
function inWords(count: number): string {
  return NUMBER_WORDS[count] ?? String(count);
}

/** A failure the demo explains in one sentence. */
class DemoError extends Error {}

const started = Date.now();

function elapsed(): string {
  return `+${((Date.now() - started) / 1000).toFixed(1)} s`;
}

function heading(title: string): void {
  console.log(`\n${title}`);
}

function line(text: string, indent = 3): void {
  console.log(`${" ".repeat(indent)}${text}`);
}

/** Long ids are shown by their start and length, as a person would want to read them. */
function shortId(id: string): string {
  if (id === "") return '"" (empty)';
  const chars = id.match(/…\((\d+) chars\)$/)?.[1] ?? (id.length > 24 ? String(id.length) : null);
  return chars ? `"${id.slice(0, 12)}…" (${chars} chars)` : `"${id}"`;
}

/** One checked fact, label and value in aligned columns. */
function fact(label: string, value: string, indent = 3): void {
  line(`${`${label}:`.padEnd(40)} ${value}`, indent);
}

function hideToken(token: string | undefined): string {
  return token ? "dg_…(hidden)" : "(none)";
}

/** A fact one level in, under a section's sub-heading. */
function detail(label: string, value: string): void {
  fact(label, value, 5);
}

/** "1 id", "2 ids", "2 batches". */
function plural(count: number, word: string, words = `${word}s`): string {
  return `${count} ${count === 1 ? word : words}`;
}

/** Throws one DemoError naming every problem found; `false` entries are checks that passed. */
function check(problems: (string | false)[]): void {
  const found = problems.filter((problem): problem is string => typeof problem === "string");
  if (found.length > 0) throw new DemoError(found.join("; "));
}

// ─── The simulators and the config ─────────────────────────────────────────────────────────────────

/** One kind's simulator in this run, and its compact section (all but the featured kind). */
interface Running {
  fixture: KindFixture;
  sim: KindSimulator;
  section: DemoSection | null;
}

const PRINT: DemoPrint = { heading, line, fact, detail, check };

/** Every kind's simulator in this process on a free port, seeded with the same data as `npm run simulators`. */
async function startSimulators(): Promise<Running[]> {
  const results = await Promise.allSettled(
    FIXTURES.map((fixture) => fixture.demo.start({ secret: fixture.demo.secret, ...SIMULATOR_START })),
  );
  const sims = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  if (sims.length === FIXTURES.length) {
    return FIXTURES.map((fixture, index) => {
      const sim = sims[index] as KindSimulator;
      return { fixture, sim, section: fixture.demo.section?.(sim, PRINT) ?? null };
    });
  }
  // Close what did start, so a failed start leaves no server running.
  await Promise.allSettled(sims.map((sim) => sim.close()));
  const failure = results.find((result) => result.status === "rejected");
  throw new DemoError(`a simulator did not start: ${String(failure?.reason)}`);
}

async function closeSimulators(running: Running[]): Promise<void> {
  await Promise.allSettled(running.map(({ sim }) => sim.close()));
}

/** The featured kind's simulator, as its own type: the step-by-step walk reads its jobs and datasets. */
function featured(running: Running[]): SplendorSimulator {
  const entry = running.find(({ fixture }) => fixture === splendorFixture);
  if (!entry) throw new DemoError("the registry has no Splendor simulator to walk through");
  return entry.sim.raw as SplendorSimulator;
}

function describeSimulators(running: Running[]): void {
  line("simulators (in this process, seeded as in npm run simulators):", 0);
  for (const { fixture, sim } of running) {
    line(`${fixture.kind.padEnd(13)} ${sim.url.padEnd(26)} ${fixture.demo.holds(SIMULATOR_START)}`, 2);
  }
}

function writeDemoConfig(dir: string, running: Running[]): { path: string; auditLog: string } {
  const auditLog = join(dir, "audit.jsonl");
  const config = {
    store: `sqlite:${join(dir, "state.db")}`,
    auditLog,
    confirmation: { mode: "token", ttlSeconds: 900 },
    backends: Object.fromEntries(
      running.map(({ fixture, sim, section }) => [
        fixture.demo.backend,
        {
          kind: fixture.kind,
          baseUrl: sim.url,
          credentialEnv: fixture.credentialEnv,
          ...fixture.demo.keys,
          ...section?.config,
        },
      ]),
    ),
  };
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return { path, auditLog };
}

// ─── Talking to deletegate ──────────────────────────────────────────────────────────────────────────

function resultText(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "(no text)";
}

/** Calls a tool and returns its structured result; an error result stops the demo with its code. */
async function call<T>(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  onprogress?: (progress: Progress) => void,
): Promise<T> {
  const result = (await client.callTool(
    { name, arguments: args },
    undefined,
    onprogress ? { onprogress } : undefined,
  )) as CallToolResult;
  if (result.isError) throw new DemoError(`${name} was refused: ${resultText(result)}`);
  if (!result.structuredContent) throw new DemoError(`${name} returned no structured content`);
  return result.structuredContent as T;
}

/** Polls get_delete_job until the job is terminal; `onPoll` sees every answer. */
async function pollUntilTerminal(
  client: Client,
  jobId: string,
  onPoll: (job: JobResult) => void = () => undefined,
): Promise<JobResult> {
  const deadline = Date.now() + POLL_DEADLINE_MS;
  for (;;) {
    const job = await call<JobResult>(client, "get_delete_job", { job_id: jobId });
    onPoll(job);
    if (TERMINAL.includes(job.status)) return job;
    if (Date.now() > deadline) throw new DemoError(`job ${jobId} is still ${job.status} after 20 s`);
    await sleep(POLL_EVERY_MS);
  }
}

function countsLine(job: JobResult): string {
  const { total, deleted, not_found, failed, pending } = job.counts;
  return `${deleted} deleted, ${not_found} not found, ${failed} failed, ${pending} pending of ${total}`;
}

function planCountsLine(plan: PlanResult): string {
  const { received, unique, duplicates, invalid, to_delete } = plan.counts;
  return `${received} received, ${unique} unique, ${duplicates} duplicates, ${invalid} invalid, ${to_delete} to delete`;
}

function readAudit(auditLog: string): { text: string; lines: AuditLine[] } {
  const text = readFileSync(auditLog, "utf8");
  const lines = text
    .split("\n")
    .filter((entry) => entry.trim() !== "")
    .map((entry) => JSON.parse(entry) as AuditLine);
  return { text, lines };
}

function header(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// ─── Steps 1–6: Splendor, step by step ──────────────────────────────────────────────────────────────

/** "3 running" or "1 succeeded, 2 running": the backend's own jobs at a glance. */
function backendJobsLine(job: JobResult): string {
  if (job.backend_jobs.length === 0) return "no backend jobs yet";
  const tally = new Map<string, number>();
  for (const backendJob of job.backend_jobs)
    tally.set(backendJob.status, (tally.get(backendJob.status) ?? 0) + 1);
  return `Splendor jobs: ${[...tally].map(([status, count]) => `${count} ${status}`).join(", ")}`;
}

/** 2,490 valid ids, 6 duplicates (two of them only after trimming) and 4 invalid ids: 2,500 in all. */
function splendorIds(): string[] {
  const valid = Array.from({ length: VALID_IDS }, (_, index) => `rec-${String(index + 1).padStart(5, "0")}`);
  const duplicates = ["rec-00001", "rec-00002", "rec-00003", "rec-01000", " rec-00010", "rec-00020 "];
  const invalid = ["", "x".repeat(513), "y".repeat(600), "z".repeat(1_000)];
  return [...valid.slice(0, 100), ...duplicates, ...invalid, ...valid.slice(100)];
}

async function listBackends(client: Client): Promise<void> {
  heading("1. list_backends — what can this server delete?");
  line("agent → {}");
  const { backends } = await call<{ backends: BackendSummary[] }>(client, "list_backends", {});
  for (const backend of backends) {
    const fields = backend.target_fields.length > 0 ? backend.target_fields.join(", ") : "none";
    line(`← ${backend.name} (${backend.kind}), target fields: ${fields}`);
    line(
      `allowed targets: ${backend.allow_targets?.join(", ") ?? "any"}; read-only: ${backend.read_only}`,
      5,
    );
    line(
      `at most ${plural(backend.max_batch_size, "id")} per request, ${backend.max_items_per_job} per job; ` +
        `confirmation: ${backend.confirmation_mode}`,
      5,
    );
    line(backend.description, 5);
  }
  if (backends.length !== FIXTURES.length)
    throw new DemoError(
      `expected ${inWords(FIXTURES.length)} backends, list_backends named ${backends.length}`,
    );
}

async function dryRun(client: Client, sim: SplendorSimulator): Promise<PlanResult> {
  heading("2. dry_run_delete — a preview; nothing is sent to Splendor");
  const ids = splendorIds();
  line(`agent → backend "${BACKEND}", target {"dataset_id":"${DATASET}"}, ${ids.length} ids,`);
  line(`reason "${REASON}"`, 9);
  const plan = await call<PlanResult>(client, "dry_run_delete", {
    backend: BACKEND,
    target: { dataset_id: DATASET },
    ids,
    reason: REASON,
  });
  line(`← plan ${plan.plan_id}`);
  line(`counts: ${planCountsLine(plan)}`, 5);
  line(`batches: ${plan.batches.count} of up to ${plan.batches.size} ids`, 5);
  line("invalid ids (left out of the plan):", 5);
  for (const item of plan.invalid_ids) line(`${shortId(item.id)} — ${item.error}`, 7);
  line(`sample ids: ${plan.sample_ids.join(", ")}`, 5);
  for (const note of plan.notes) line(`note: ${note}`, 5);
  line(
    `confirmation: ${plan.confirmation.mode} mode, token ${hideToken(plan.confirmation.token)}, ` +
      `expires ${plan.confirmation.expires_at}`,
    5,
  );
  line(`next step: ${plan.next_step}`, 5);
  line(`requests Splendor has received so far: ${sim.requests.length}`, 5);
  if (sim.requests.length > 0) throw new DemoError("the dry run sent requests to Splendor");
  if (plan.confirmation.mode !== "token" || !plan.confirmation.token)
    throw new DemoError(`expected a confirmation token, got mode ${plan.confirmation.mode}`);
  return plan;
}

async function execute(client: Client, plan: PlanResult): Promise<JobResult> {
  heading(`3. execute_delete — confirm with the plan's token; wait up to ${EXECUTE_WAIT_SECONDS} s`);
  line(
    `agent → plan_id ${plan.plan_id}, confirmation_token ${hideToken(plan.confirmation.token)}, ` +
      `wait_seconds ${EXECUTE_WAIT_SECONDS}, with a progress token`,
  );
  const job = await call<JobResult>(
    client,
    "execute_delete",
    {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
      wait_seconds: EXECUTE_WAIT_SECONDS,
    },
    (progress) =>
      line(
        `${elapsed()}  progress ${progress.progress}/${progress.total ?? "?"}: ${progress.message ?? ""}`,
        5,
      ),
  );
  line(`← job ${job.job_id}: ${job.status} — ${countsLine(job)}`);
  line(
    `batches: ${job.batches.total} total, ${job.batches.in_flight} in flight, ${job.batches.done} done; ` +
      backendJobsLine(job),
    5,
  );
  return job;
}

async function pollJob(client: Client, jobId: string): Promise<JobResult> {
  heading("4. get_delete_job — poll until the job is terminal (each change shown)");
  line(`agent → job_id ${jobId}, every ${POLL_EVERY_MS} ms`);
  let last = "";
  return pollUntilTerminal(client, jobId, (job) => {
    const now = `${job.status.padEnd(16)} ${countsLine(job)}; ${backendJobsLine(job)}`;
    if (now !== last) line(`${elapsed()}  ${now}`, 5);
    last = now;
  });
}

function reportJob(job: JobResult): void {
  line(`← final: ${job.status} — ${countsLine(job)}`);
  line(
    `batches: ${job.batches.done} done, ${job.batches.failed} failed; requested by "${job.requested_by}"`,
    5,
  );
  line(`finished at ${job.finished_at ?? "(not yet)"}`, 5);
  for (const failed of job.failed_ids.slice(0, 5)) line(`failed: ${failed.id} — ${failed.error}`, 5);
  if (job.status !== "succeeded") throw new DemoError(`the job ended ${job.status}, not succeeded`);
}

/** What the simulator saw, request by request. */
interface SimulatorFacts {
  requests: number;
  batchSizes: number[];
  polls: number;
  withBearer: number;
  withTenant: number;
  deletesWithReason: number;
  distinctIds: number;
  idsSentTwice: number;
  deletedNow: number;
}

function inspectSimulator(sim: SplendorSimulator, reason: string): SimulatorFacts {
  const deletes = sim.requests.filter((request) => request.path === "/v1/records/delete");
  const received = sim.received(DATASET);
  return {
    requests: sim.requests.length,
    batchSizes: deletes.map((request) => (request.body as { record_ids: string[] }).record_ids.length),
    polls: sim.requests.filter((request) => request.path.startsWith("/v1/admin/data-deletion-jobs/")).length,
    withBearer: sim.requests.filter((r) => header(r, "authorization") === `Bearer ${SPLENDOR_TOKEN}`).length,
    withTenant: sim.requests.filter((r) => header(r, "x-splendor-tenant-id") === TENANT).length,
    deletesWithReason: deletes.filter((request) => (request.body as { reason?: unknown }).reason === reason)
      .length,
    distinctIds: received.size,
    idsSentTwice: [...received.values()].filter((count) => count > 1).length,
    deletedNow: sim.deleted(DATASET).size,
  };
}

function reportSimulator(sim: SplendorSimulator, plan: PlanResult): void {
  heading("5. What Splendor received (checked from the simulator's request log)");
  const facts = inspectSimulator(sim, plan.reason);
  const deletes = facts.batchSizes.length;
  const largest = deletes > 0 ? Math.max(...facts.batchSizes) : 0;
  line(`${deletes} delete requests (POST /v1/records/delete) with ${facts.batchSizes.join(" + ")} ids`);
  line(`${facts.polls} job-status polls (GET /v1/admin/data-deletion-jobs/{id})`);
  fact("largest request", `${largest} ids (cap ${plan.batches.size})`);
  fact("requests with the bearer token", `${facts.withBearer} of ${facts.requests}`);
  fact(`requests with X-Splendor-Tenant-Id ${TENANT}`, `${facts.withTenant} of ${facts.requests}`);
  fact("deletes carrying the plan's reason", `${facts.deletesWithReason} of ${deletes}`);
  fact("distinct record ids received", `${facts.distinctIds} (${facts.idsSentTwice} sent twice)`);
  fact("records deleted by Splendor now", String(facts.deletedNow));
  fact("contract violations", sim.violations.length === 0 ? "none" : sim.violations.join("; "));
  check([
    facts.withBearer !== facts.requests && "a request lacked the bearer token",
    facts.withTenant !== facts.requests && "a request lacked the tenant header",
    facts.deletesWithReason !== deletes && "a delete lacked the plan's reason",
    largest > plan.batches.size && "a request exceeded the batch cap",
    facts.distinctIds !== plan.counts.to_delete && "Splendor did not receive exactly the planned ids",
    sim.violations.length > 0 && "the simulator reported contract violations",
  ]);
}

/** Consecutive repeats folded: "batch.completed ×3". */
function foldEvents(events: string[]): string {
  const folded: { event: string; count: number }[] = [];
  for (const event of events) {
    const previous = folded.at(-1);
    if (previous?.event === event) previous.count++;
    else folded.push({ event, count: 1 });
  }
  return folded.map(({ event, count }) => (count > 1 ? `${event} ×${count}` : event)).join(" → ");
}

/** Read while the server runs: job.finished is written before the job reads as terminal. */
function reportAudit(auditLog: string, plan: PlanResult): void {
  heading("6. The audit log so far (one JSON object per line)");
  const { text, lines } = readAudit(auditLog);
  const leaked = [SPLENDOR_TOKEN, plan.confirmation.token ?? ""].filter(
    (secret) => secret && text.includes(secret),
  );
  fact("file", auditLog);
  fact(`events (${lines.length} lines)`, foldEvents(lines.map((entry) => entry.event)));
  fact("actor", [...new Set(lines.map((entry) => entry.actor))].join(", "));
  fact("Splendor or confirmation token in it", leaked.length === 0 ? "no" : "YES");
  if (leaked.length > 0) throw new DemoError("a secret appeared in the audit log");
}

// ─── Steps 7 on: one compact section per other kind (each written in its simulator's fixture) ───────────────

/** The ids as an agent would send them: missing, repeated and invalid ids mixed in after the first 100. */
function idsOf(list: IdList): string[] {
  const head = list.existing.slice(0, 100);
  const rest = list.existing.slice(100);
  return [...head, ...list.duplicates, ...list.missing, ...list.invalid, ...rest];
}

/** What the plan must count for this list. */
function expectedPlanCounts(list: IdList): PlanResult["counts"] {
  const toDelete = list.existing.length + list.missing.length;
  const received = toDelete + list.duplicates.length + list.invalid.length;
  return {
    received,
    unique: toDelete + list.invalid.length,
    duplicates: list.duplicates.length,
    invalid: list.invalid.length,
    to_delete: toDelete,
  };
}

/** A kind's section with what the registry knows of the kind: its service, backend, simulator and key. */
interface KindSection {
  fixture: KindFixture;
  sim: KindSimulator;
  section: DemoSection;
}

function noteFor(plan: PlanResult, key: string): string {
  const note = plan.notes.find((text) => text.includes(key));
  if (!note) throw new DemoError(`the ${plan.kind} plan has no note about "${key}"`);
  return note;
}

async function sectionDryRun(client: Client, { fixture, sim, section }: KindSection): Promise<PlanResult> {
  const ids = idsOf(section.ids);
  const target = section.target ? `target ${JSON.stringify(section.target)}, ` : "no target, ";
  line(`agent → dry_run_delete: backend "${fixture.demo.backend}", ${target}${ids.length} ids`);
  line(`(${section.ids.summary}),`, 9);
  line(`reason "${section.reason}"`, 9);
  const plan = await call<PlanResult>(client, "dry_run_delete", {
    backend: fixture.demo.backend,
    ...(section.target ? { target: section.target } : {}),
    ids,
    reason: section.reason,
  });
  line(`← plan ${plan.plan_id}: ${planCountsLine(plan)}`);
  line(
    `${plural(plan.batches.count, "batch", "batches")} of up to ${plural(plan.batches.size, "id")}; sample: ${plan.sample_ids.slice(0, 3).join(", ")}, …`,
    5,
  );
  for (const item of plan.invalid_ids) line(`invalid: ${shortId(item.id)} — ${item.error}`, 5);
  for (const key of section.noteKeys) line(`note: ${noteFor(plan, key)}`, 5);
  line(`requests ${fixture.service} has received so far: ${sim.requests.length}`, 5);
  const expected = expectedPlanCounts(section.ids);
  check([
    sim.requests.length > 0 && `the dry run sent requests to ${fixture.service}`,
    JSON.stringify(plan.counts) !== JSON.stringify(expected) &&
      `plan counts ${JSON.stringify(plan.counts)}, expected ${JSON.stringify(expected)}`,
    !plan.confirmation.token && "the plan carries no confirmation token",
  ]);
  return plan;
}

async function sectionExecute(client: Client, plan: PlanResult): Promise<JobResult> {
  line(
    `agent → execute_delete: plan_id ${plan.plan_id}, confirmation_token ${hideToken(plan.confirmation.token)}, ` +
      `wait_seconds ${SECTION_WAIT_SECONDS}`,
  );
  const begun = Date.now();
  const answered = await call<JobResult>(client, "execute_delete", {
    plan_id: plan.plan_id,
    confirmation_token: plan.confirmation.token,
    wait_seconds: SECTION_WAIT_SECONDS,
  });
  const job = TERMINAL.includes(answered.status)
    ? answered
    : await pollUntilTerminal(client, answered.job_id);
  const polled = job === answered ? "" : " (after polling get_delete_job)";
  line(`← job ${job.job_id}: ${job.status} in ${seconds(Date.now() - begun)}${polled}`);
  line(
    `final counts: ${countsLine(job)}; failed ids: ${job.failed_ids.length === 0 ? "none" : job.failed_ids.length}`,
    5,
  );
  return job;
}

function checkFinalCounts({ fixture, section }: KindSection, job: JobResult): void {
  const deleted = section.ids.existing.length;
  const notFound = section.ids.missing.length;
  check([
    job.status !== "succeeded" && `the ${fixture.service} job ended ${job.status}, not succeeded`,
    job.counts.deleted !== deleted && `${job.counts.deleted} deleted, expected ${deleted}`,
    job.counts.not_found !== notFound && `${job.counts.not_found} not found, expected ${notFound}`,
    job.counts.failed !== 0 && `${job.counts.failed} ids failed`,
  ]);
}

/** Requests, largest request against the cap, the auth header on each, contract violations, then each request. */
function reportRequests({ fixture, sim, section }: KindSection, plan: PlanResult): void {
  const { requests, violations } = sim;
  const requestIds = (request: RecordedRequest) => sim.deleteIds(request) ?? [];
  const [authHeader, authValue] = fixture.auth(fixture.demo.secret);
  const sizes = requests.map((request) => requestIds(request).length);
  const largest = Math.max(0, ...sizes);
  const withAuth = requests.filter((request) => header(request, authHeader) === authValue);
  line(`${fixture.service} received (from the simulator's request log):`);
  fact(
    "requests",
    `${requests.length}, at most ${plural(largest, "id")} in one (cap ${plan.batches.size})`,
    5,
  );
  fact(`requests with ${section.authLabel}`, `${withAuth.length} of ${requests.length}`, 5);
  fact("contract violations", violations.length === 0 ? "none" : violations.join("; "), 5);
  for (const request of requests) {
    const path = request.path.split("?")[0] ?? request.path;
    const note = section.annotate?.(request);
    line(
      `${request.method} ${path}  ${plural(requestIds(request).length, "id")} → HTTP ${request.status}${note ? `: ${note}` : ""}`,
      7,
    );
  }
  check([
    requests.length === 0 && `${fixture.service} received no request`,
    largest > plan.batches.size && "a request exceeded the batch cap",
    withAuth.length !== requests.length && `a request lacked ${authHeader}`,
    violations.length > 0 && `the ${fixture.service} simulator reported contract violations`,
  ]);
}

async function runSection(
  client: Client,
  auditLog: string,
  number: number,
  entry: KindSection,
): Promise<PlanResult> {
  const { sim, section } = entry;
  heading(`${number}. ${section.title}`);
  for (const text of section.configLines ?? []) line(text);
  const plan = await sectionDryRun(client, entry);
  const prepared = section.prepare?.();
  if (prepared) line(`simulator set-up: ${prepared}`);
  const job = await sectionExecute(client, plan);
  checkFinalCounts(entry, job);
  reportRequests(entry, plan);
  const batchLines = readAudit(auditLog)
    .lines.filter(
      (line) =>
        line.job_id === job.job_id && (line.event === "batch.completed" || line.event === "batch.failed"),
    )
    .sort((a, b) => (a.batch ?? 0) - (b.batch ?? 0));
  line(section.specialTitle);
  section.showSpecial({ plan, job, batchLines, requests: sim.requests });
  return plan;
}

// ─── Then: the audit log across every job ───────────────────────────────────────────────────────────

function auditCountsLine(counts: Record<string, number> | undefined): string {
  if (!counts) return "no counts";
  return `${counts.deleted} deleted, ${counts.not_found} not found, ${counts.failed} failed of ${counts.total}`;
}

function reportFinalAudit(
  number: number,
  auditLog: string,
  confirmationTokens: string[],
  jobs: number,
): void {
  heading(`${number}. The audit log across all ${inWords(jobs)} jobs`);
  const { text, lines } = readAudit(auditLog);
  const counts = new Map<string, number>();
  for (const entry of lines) counts.set(entry.event, (counts.get(entry.event) ?? 0) + 1);
  fact("file", auditLog);
  fact(
    `events (${lines.length} lines)`,
    [...counts].map(([event, count]) => `${event} ×${count}`).join(", "),
  );
  for (const backend of [...new Set(lines.map((entry) => entry.backend))]) {
    const own = lines.filter((entry) => entry.backend === backend);
    const finished = own.find((entry) => entry.event === "job.finished");
    fact(
      `  ${backend}`,
      `${own.length} lines; job ${finished?.status ?? "?"}: ${auditCountsLine(finished?.counts)}`,
    );
  }
  const leaked = Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(secret))
    .map(([name]) => name);
  const tokensLeaked = confirmationTokens.filter((token) => text.includes(token)).length;
  fact(
    `secrets in it (all ${inWords(FIXTURES.length)} backends)`,
    leaked.length === 0 ? "none" : `YES: ${leaked.join(", ")}`,
  );
  fact(
    "confirmation tokens in it",
    tokensLeaked === 0 ? `none of ${confirmationTokens.length}` : `YES: ${tokensLeaked}`,
  );
  check([
    leaked.length > 0 && `secrets appeared in the audit log: ${leaked.join(", ")}`,
    tokensLeaked > 0 && "a confirmation token appeared in the audit log",
    counts.get("job.finished") !== jobs &&
      `expected ${jobs} job.finished lines, found ${counts.get("job.finished") ?? 0}`,
    (counts.get("batch.failed") ?? 0) > 0 && "a batch failed",
    [...counts.keys()].some((event) => event.endsWith(".refused")) && "a call was refused",
  ]);
}

// ─── The run ────────────────────────────────────────────────────────────────────────────────────────

/** deletegate as an MCP client starts it: a child process on stdio, every backend's secret in its environment. */
function serverTransport(configPath: string, stderr: string[]): StdioClientTransport {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "--config", configPath],
    env: { PATH: process.env.PATH ?? "", ...SECRETS },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  return transport;
}

/** The agent's walk: Splendor in six steps, then one section per other kind; throws at the first surprise. */
async function walk(client: Client, running: Running[], auditLog: string): Promise<void> {
  const server = client.getServerVersion();
  line(`connected to ${server?.name ?? "?"} ${server?.version ?? "?"}`, 0);
  const splendor = featured(running);
  await listBackends(client);
  const plan = await dryRun(client, splendor);
  const job = await execute(client, plan);
  reportJob(await pollJob(client, job.job_id));
  reportSimulator(splendor, plan);
  reportAudit(auditLog, plan);

  const tokens = [plan.confirmation.token ?? ""];
  const sections = running.flatMap(({ fixture, sim, section }) =>
    section ? [{ fixture, sim, section }] : [],
  );
  for (const [index, section] of sections.entries()) {
    const sectionPlan = await runSection(client, auditLog, 7 + index, section);
    tokens.push(sectionPlan.confirmation.token ?? "");
  }
  // Closing first lets the server write its last lines and exit before the log is read.
  await client.close();
  reportFinalAudit(7 + sections.length, auditLog, tokens, 1 + sections.length);
  await approvalSection({
    number: 7 + sections.length + 1,
    cli: CLI,
    dir: dirname(auditLog),
    splendor,
    secrets: SECRETS,
    tenant: TENANT,
    print: PRINT,
  });
  await erasureSection({
    number: 7 + sections.length + 2,
    cli: CLI,
    dir: dirname(auditLog),
    secrets: SECRETS,
    print: PRINT,
  });
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run npm install (or npm run build) first`);
    return 1;
  }
  console.log(
    `deletegate demo: an agent deletes data in ${inWords(FIXTURES.length)} backends through deletegate — Splendor step by step, then one section per other kind`,
  );
  const sims = await startSimulators();
  const dir = mkdtempSync(join(tmpdir(), "deletegate-demo-"));
  const { path, auditLog } = writeDemoConfig(dir, sims);
  describeSimulators(sims);
  line(`config: ${path} (${sims.length} backends; confirmation: token, store: sqlite)`, 0);
  line(
    `server: node dist/cli.js --config <config>, on stdio, the ${inWords(sims.length)} backends' secrets in its env`,
    0,
  );
  const stderr: string[] = [];
  const client = new Client({ name: "deletegate-demo", version: "1.0.0" });
  try {
    await client.connect(serverTransport(path, stderr));
    await walk(client, sims, auditLog);
    console.log(
      `\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. The demo's files stay in ${dir}.`,
    );
    return 0;
  } catch (error) {
    console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
    const serverLog = stderr.join("").trim();
    if (serverLog) console.error(`\ndeletegate's stderr:\n${serverLog}`);
    else if (!(error instanceof DemoError) && error instanceof Error) console.error(error.stack);
    return 1;
  } finally {
    await client.close().catch(() => undefined);
    await closeSimulators(sims);
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
});
