// `npm run demo`: five backend simulators, deletegate over stdio, and an agent's calls — Splendor step by step, then one compact section per other kind.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import type { AuditEntry } from "../src/audit/index.js";
import type { BackendSummary, PlanView } from "../src/gate/gate.js";
import type { JobView } from "../src/jobs/view.js";
import { approvalSection } from "./demo-approval.js";
import type { RecordedRequest } from "./simulators/base.js";
import { type LangsmithSimulator, startLangsmithSimulator } from "./simulators/langsmith.js";
import { type MoorchehSimulator, startMoorchehSimulator } from "./simulators/moorcheh.js";
import { type PiianoVaultSimulator, startPiianoVaultSimulator } from "./simulators/piiano-vault.js";
import { DEMO_SEED, demoUuid } from "./simulators/seed.js";
import { type SplendorSimulator, startSplendorSimulator } from "./simulators/splendor.js";
import { type SubworkflowSimulator, startSubworkflowSimulator } from "./simulators/subworkflow.js";

const REPO = resolve(import.meta.dirname, "..");
const CLI = join(REPO, "dist", "cli.js");
const TENANT = "demo";
const BACKEND = "splendor-demo";
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
/** The demo config's pace for subworkflow-demo, so six datasets take half a second, not six. */
const SUBWORKFLOW_DEMO_RPS = 10;
/** The demo's Vault access reason: Other (the default) sends the plan's reason as adhoc_reason. */
const PIIANO_ACCESS_REASON = "Other";

/** The secret of each backend, as its credentialEnv names it; none of them may reach the audit log. */
const SECRETS = {
  SPLENDOR_TOKEN: "demo-splendor-secret-7c1e",
  MOORCHEH_API_KEY: "demo-moorcheh-secret-52d0",
  LANGSMITH_API_KEY: "demo-langsmith-secret-a9b3",
  SUBWORKFLOW_API_KEY: "demo-subworkflow-secret-e41f",
  PIIANO_API_KEY: "demo-piiano-secret-0b77",
} as const;
const SPLENDOR_TOKEN = SECRETS.SPLENDOR_TOKEN;

/** The tools' structured results, as deletegate declares them. */
type PlanResult = PlanView;
type JobResult = JobView & { failed_ids: { id: string; error: string }[] };
/** One line of the audit log. */
type AuditLine = AuditEntry & { time: string };

/** A failure the demo explains in one sentence. */
class DemoError extends Error {}

const started = Date.now();

function elapsed(): string {
  return `+${((Date.now() - started) / 1000).toFixed(1)} s`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
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

interface Simulators {
  splendor: SplendorSimulator;
  moorcheh: MoorchehSimulator;
  langsmith: LangsmithSimulator;
  subworkflow: SubworkflowSimulator;
  piiano: PiianoVaultSimulator;
}

/** Every simulator in this process on a free port, seeded with the same data as `npm run simulators`. */
async function startSimulators(): Promise<Simulators> {
  const { moorcheh, langsmith, subworkflow, piianoVault } = DEMO_SEED;
  const common = { host: "127.0.0.1", port: 0 };
  const results = await Promise.allSettled([
    startSplendorSimulator({
      token: SECRETS.SPLENDOR_TOKEN,
      tenantId: TENANT,
      jobPendingMs: JOB_PENDING_MS,
      jobRunningMs: JOB_RUNNING_MS,
      ...common,
    }),
    startMoorchehSimulator({
      apiKey: SECRETS.MOORCHEH_API_KEY,
      namespaces: { [moorcheh.namespace]: { documents: moorcheh.documents, vectors: moorcheh.vectors } },
      ...common,
    }),
    startLangsmithSimulator({ apiKey: SECRETS.LANGSMITH_API_KEY, examples: langsmith.examples, ...common }),
    startSubworkflowSimulator({
      apiKey: SECRETS.SUBWORKFLOW_API_KEY,
      datasets: subworkflow.datasets,
      ...common,
    }),
    startPiianoVaultSimulator({
      apiKey: SECRETS.PIIANO_API_KEY,
      collections: {
        [piianoVault.collection]: { active: piianoVault.active, archived: piianoVault.archived },
      },
      ...common,
    }),
  ]);
  const [splendorSim, moorchehSim, langsmithSim, subworkflowSim, piianoSim] = results;
  if (
    splendorSim.status === "fulfilled" &&
    moorchehSim.status === "fulfilled" &&
    langsmithSim.status === "fulfilled" &&
    subworkflowSim.status === "fulfilled" &&
    piianoSim.status === "fulfilled"
  ) {
    return {
      splendor: splendorSim.value,
      moorcheh: moorchehSim.value,
      langsmith: langsmithSim.value,
      subworkflow: subworkflowSim.value,
      piiano: piianoSim.value,
    };
  }
  // Close what did start, so a failed start leaves no server running.
  await Promise.allSettled(
    results.map((sim) => (sim.status === "fulfilled" ? sim.value.close() : undefined)),
  );
  const failure = results.find((sim) => sim.status === "rejected");
  throw new DemoError(`a simulator did not start: ${String(failure?.reason)}`);
}

async function closeSimulators(sims: Simulators): Promise<void> {
  await Promise.allSettled(Object.values(sims).map((sim) => sim.close()));
}

function describeSimulators(sims: Simulators): void {
  const { moorcheh, langsmith, subworkflow, piianoVault } = DEMO_SEED;
  line("simulators (in this process, seeded from DEMO_SEED as in npm run simulators):", 0);
  const rows: [string, string, string][] = [
    [
      "splendor",
      sims.splendor.url,
      `tenant "${TENANT}"; each deletion job ${JOB_PENDING_MS} ms pending, then ${JOB_RUNNING_MS} ms running`,
    ],
    [
      "moorcheh",
      sims.moorcheh.url,
      `namespace ${moorcheh.namespace}: ${moorcheh.documents.length} documents, ${moorcheh.vectors.length} vectors`,
    ],
    ["langsmith", sims.langsmith.url, `${langsmith.examples.length} dataset examples`],
    [
      "subworkflow",
      sims.subworkflow.url,
      `${subworkflow.datasets.length} datasets ${subworkflow.datasets[0]} … ${subworkflow.datasets.at(-1)}`,
    ],
    [
      "piiano-vault",
      sims.piiano.url,
      `collection ${piianoVault.collection}: ${piianoVault.active.length} active, ${piianoVault.archived.length} archived objects`,
    ],
  ];
  for (const [kind, url, seed] of rows) line(`${kind.padEnd(13)} ${url.padEnd(26)} ${seed}`, 2);
}

function writeDemoConfig(dir: string, sims: Simulators): { path: string; auditLog: string } {
  const auditLog = join(dir, "audit.jsonl");
  const config = {
    store: `sqlite:${join(dir, "state.db")}`,
    auditLog,
    confirmation: { mode: "token", ttlSeconds: 900 },
    backends: {
      [BACKEND]: {
        kind: "splendor",
        baseUrl: sims.splendor.url,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: TENANT,
        allowTargets: ["app-logs", "crm-*"],
      },
      "moorcheh-demo": {
        kind: "moorcheh",
        baseUrl: sims.moorcheh.url,
        credentialEnv: "MOORCHEH_API_KEY",
        allowTargets: ["kb-*"],
      },
      "langsmith-demo": {
        kind: "langsmith",
        baseUrl: sims.langsmith.url,
        credentialEnv: "LANGSMITH_API_KEY",
      },
      "subworkflow-demo": {
        kind: "subworkflow",
        baseUrl: sims.subworkflow.url,
        credentialEnv: "SUBWORKFLOW_API_KEY",
        requestsPerSecond: SUBWORKFLOW_DEMO_RPS,
      },
      "piiano-demo": {
        kind: "piiano-vault",
        baseUrl: sims.piiano.url,
        credentialEnv: "PIIANO_API_KEY",
        accessReason: PIIANO_ACCESS_REASON,
        allowTargets: [DEMO_SEED.piianoVault.collection],
      },
    },
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
  if (backends.length !== 5)
    throw new DemoError(`expected five backends, list_backends named ${backends.length}`);
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

// ─── Steps 7–10: one compact section per other kind ─────────────────────────────────────────────────

/** A realistic id list: ids that exist, ids that do not, repeats (some only after normalising) and invalid ones. */
interface IdList {
  existing: string[];
  missing: string[];
  duplicates: string[];
  invalid: string[];
  /** How the list reads to a person, e.g. "1200 that exist, 4 that do not, …". */
  summary: string;
}

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

/** What a section shows and checks once its job is terminal. */
interface SectionOutcome {
  plan: PlanResult;
  job: JobResult;
  /** This job's batch.completed / batch.failed audit lines, by batch index. */
  batchLines: AuditLine[];
  /** The requests the job sent, in the order the simulator received them. */
  requests: RecordedRequest[];
}

/** One backend kind's compact section: the data it uses and what is special about it. */
interface KindSection {
  title: string;
  /** The service's name in sentences, e.g. "Moorcheh". */
  service: string;
  backend: string;
  target?: Record<string, unknown>;
  ids: IdList;
  reason: string;
  /** Substrings that pick the plan's notes worth showing (each must match a note). */
  noteKeys: string[];
  /** Lines about the config worth saying up front (e.g. a pace that differs from the default). */
  configLines?: string[];
  sim: { requests: RecordedRequest[]; violations: string[] };
  /** The header that must carry the secret, and its expected value. */
  auth: { header: string; value: string; label: string };
  /** The sub-heading of the kind's special behaviour. */
  specialTitle: string;
  /** The item ids a delete request names. */
  requestIds(request: RecordedRequest): string[];
  /** An explanation of one request beside its status, if it has one. */
  annotate?(request: RecordedRequest): string;
  /** Simulator set-up before the execute, said in the transcript. */
  prepare?(): string;
  /** Shows the kind's special behaviour concretely; throws when it is not as it should be. */
  showSpecial(outcome: SectionOutcome): void;
}

function noteFor(plan: PlanResult, key: string): string {
  const note = plan.notes.find((text) => text.includes(key));
  if (!note) throw new DemoError(`the ${plan.kind} plan has no note about "${key}"`);
  return note;
}

async function sectionDryRun(client: Client, section: KindSection): Promise<PlanResult> {
  const ids = idsOf(section.ids);
  const target = section.target ? `target ${JSON.stringify(section.target)}, ` : "no target, ";
  line(`agent → dry_run_delete: backend "${section.backend}", ${target}${ids.length} ids`);
  line(`(${section.ids.summary}),`, 9);
  line(`reason "${section.reason}"`, 9);
  const plan = await call<PlanResult>(client, "dry_run_delete", {
    backend: section.backend,
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
  line(`requests ${section.service} has received so far: ${section.sim.requests.length}`, 5);
  const expected = expectedPlanCounts(section.ids);
  check([
    section.sim.requests.length > 0 && `the dry run sent requests to ${section.service}`,
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

function checkFinalCounts(section: KindSection, job: JobResult): void {
  const deleted = section.ids.existing.length;
  const notFound = section.ids.missing.length;
  check([
    job.status !== "succeeded" && `the ${section.service} job ended ${job.status}, not succeeded`,
    job.counts.deleted !== deleted && `${job.counts.deleted} deleted, expected ${deleted}`,
    job.counts.not_found !== notFound && `${job.counts.not_found} not found, expected ${notFound}`,
    job.counts.failed !== 0 && `${job.counts.failed} ids failed`,
  ]);
}

/** Requests, largest request against the cap, the auth header on each, contract violations, then each request. */
function reportRequests(section: KindSection, plan: PlanResult): void {
  const { requests, violations } = section.sim;
  const sizes = requests.map((request) => section.requestIds(request).length);
  const largest = Math.max(0, ...sizes);
  const withAuth = requests.filter((request) => header(request, section.auth.header) === section.auth.value);
  line(`${section.service} received (from the simulator's request log):`);
  fact(
    "requests",
    `${requests.length}, at most ${plural(largest, "id")} in one (cap ${plan.batches.size})`,
    5,
  );
  fact(`requests with ${section.auth.label}`, `${withAuth.length} of ${requests.length}`, 5);
  fact("contract violations", violations.length === 0 ? "none" : violations.join("; "), 5);
  for (const request of requests) {
    const path = request.path.split("?")[0] ?? request.path;
    const note = section.annotate?.(request);
    line(
      `${request.method} ${path}  ${plural(section.requestIds(request).length, "id")} → HTTP ${request.status}${note ? `: ${note}` : ""}`,
      7,
    );
  }
  check([
    requests.length === 0 && `${section.service} received no request`,
    largest > plan.batches.size && "a request exceeded the batch cap",
    withAuth.length !== requests.length && `a request lacked ${section.auth.header}`,
    violations.length > 0 && `the ${section.service} simulator reported contract violations`,
  ]);
}

async function runSection(
  client: Client,
  auditLog: string,
  number: number,
  section: KindSection,
): Promise<PlanResult> {
  heading(`${number}. ${section.title}`);
  for (const text of section.configLines ?? []) line(text);
  const plan = await sectionDryRun(client, section);
  const prepared = section.prepare?.();
  if (prepared) line(`simulator set-up: ${prepared}`);
  const job = await sectionExecute(client, plan);
  checkFinalCounts(section, job);
  reportRequests(section, plan);
  const batchLines = readAudit(auditLog)
    .lines.filter(
      (entry) =>
        entry.job_id === job.job_id && (entry.event === "batch.completed" || entry.event === "batch.failed"),
    )
    .sort((a, b) => (a.batch ?? 0) - (b.batch ?? 0));
  line(section.specialTitle);
  section.showSpecial({ plan, job, batchLines, requests: section.sim.requests });
  return plan;
}

function bodyList(body: unknown, field: string): string[] {
  const value =
    typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  return Array.isArray(value) ? value.map(String) : [];
}

// Moorcheh: documents of a namespace; three ids left unprocessed by a 207, retried, then deleted.
function moorchehSection(sim: MoorchehSimulator): KindSection {
  const { namespace, documents } = DEMO_SEED.moorcheh;
  /** Existing documents of the first batch that Moorcheh's first answer leaves unprocessed. */
  const unprocessed = ["doc-0007", "doc-0512", "doc-0900"];
  const isRetry = (request: RecordedRequest) => {
    const ids = bodyList(request.body, "ids");
    return ids.length === unprocessed.length && ids.every((id) => unprocessed.includes(id));
  };
  return {
    title: `moorcheh — documents of namespace ${namespace}; a 207 leaves ids unprocessed, and they are retried`,
    service: "Moorcheh",
    backend: "moorcheh-demo",
    target: { namespace, type: "documents" },
    ids: {
      existing: documents.slice(0, 1200),
      missing: ["doc-9001", "doc-9002", "doc-9003", "doc-9004"],
      duplicates: ["doc-0001", " doc-0010 ", "doc-0100"],
      invalid: ["   "],
      summary: "1200 documents that exist, 4 that do not, 3 repeats, 1 blank",
    },
    reason: "Support ticket #8812: remove the help-center articles retired with the v1 product from search",
    noteKeys: ["not_found is a count", "HTTP 207"],
    sim,
    auth: { header: "x-api-key", value: SECRETS.MOORCHEH_API_KEY, label: "x-api-key" },
    specialTitle: "HTTP 207 and the retry of the unprocessed ids:",
    requestIds: (request) => bodyList(request.body, "ids"),
    annotate(request) {
      if (request.status === 207) {
        const left = bodyList(request.body, "ids").filter((id) => unprocessed.includes(id));
        const settled = bodyList(request.body, "ids").length - left.length;
        return `${left.length} left unprocessed (${left.join(", ")}); the other ${settled} deleted or not found`;
      }
      return isRetry(request) ? "the unprocessed ids, sent again after a backoff — deleted" : "";
    },
    prepare() {
      sim.unprocessNext(unprocessed, 1);
      return `unprocessNext([${unprocessed.join(", ")}], 1): Moorcheh's next request naming them answers HTTP 207 and leaves them unprocessed`;
    },
    showSpecial({ job, batchLines, requests }) {
      const received = sim.received(namespace, "documents");
      const deleted = sim.deleted(namespace, "documents");
      const retried = batchLines.find((entry) => entry.attempts === 2);
      detail(
        "ids received twice",
        `${[...received.values()].filter((count) => count === 2).length} (the unprocessed ones)`,
      );
      detail(
        "documents deleted by Moorcheh",
        `${deleted.size}; ${unprocessed.filter((id) => deleted.has(id)).length} of the ${unprocessed.length} unprocessed`,
      );
      detail(
        `audit line of batch ${retried?.batch ?? "?"}`,
        `completed after ${retried?.attempts ?? "?"} attempts; backend_ref "${retried?.backend_ref ?? ""}"`,
      );
      detail(
        "not found",
        `${job.counts.not_found}, a count: Moorcheh says how many ids did not exist, not which (none is listed)`,
      );
      check([
        requests.filter((request) => request.status === 207).length !== 1 && "expected exactly one HTTP 207",
        !requests.some(isRetry) && "the unprocessed ids were not sent again",
        unprocessed.some((id) => received.get(id) !== 2 || !deleted.has(id)) &&
          "an unprocessed id was not retried once and deleted",
        retried === undefined && "no audit line shows the batch's second attempt",
        job.failed_ids.length > 0 && "ids failed",
      ]);
    },
  };
}

// LangSmith: hard delete by example UUID, no target; LangSmith's count says how many were deleted.
function langsmithSection(sim: LangsmithSimulator): KindSection {
  const { examples } = DEMO_SEED.langsmith;
  return {
    title: "langsmith — hard delete of dataset examples by UUID (no target)",
    service: "LangSmith",
    backend: "langsmith-demo",
    ids: {
      existing: examples.slice(0, 1200),
      missing: [demoUuid(9_001), demoUuid(9_002), demoUuid(9_003)],
      duplicates: [(examples[0] ?? "").toUpperCase(), examples[1] ?? "", examples[2] ?? ""],
      invalid: ["example-1042"],
      summary:
        "1200 examples that exist, 3 UUIDs that do not, 3 repeats (one in upper case), 1 that is not a UUID",
    },
    reason: "Dataset hygiene DH-57: remove evaluation examples that contain customer PII",
    noteKeys: ["7 days"],
    sim,
    auth: { header: "x-api-key", value: SECRETS.LANGSMITH_API_KEY, label: "X-API-Key" },
    specialTitle: "LangSmith's count, batch by batch (a count lower than the batch means not found):",
    requestIds: (request) => bodyList(request.body, "example_ids"),
    showSpecial({ job, batchLines, requests }) {
      const uncounted: number[] = [];
      for (const entry of batchLines) {
        const sent = entry.ids?.length ?? 0;
        const deleted = entry.counts?.deleted ?? 0;
        const notFound = entry.counts?.not_found ?? 0;
        if (deleted + notFound !== sent) uncounted.push(entry.batch ?? -1);
        line(
          `audit batch ${entry.batch}: ${sent} ids sent, LangSmith's count ${deleted} → ${deleted} deleted, ${notFound} not found`,
          5,
        );
      }
      const hard = requests.filter(
        (request) => (request.body as { hard_delete?: unknown } | undefined)?.hard_delete === true,
      );
      detail('requests with "hard_delete": true', `${hard.length} of ${requests.length}`);
      detail("examples hard-deleted by LangSmith", String(sim.deleted().size));
      detail("attachments", "may take up to 7 days to be purged (the plan's and the job's note)");
      check([
        hard.length !== requests.length && "a request lacked hard_delete: true",
        uncounted.length > 0 &&
          `batch ${uncounted.join(", ")}: deleted + not found differs from the ids sent`,
        sim.deleted().size !== job.counts.deleted && "LangSmith's deletions differ from the job's count",
        !job.notes.some((note) => note.includes("7 days")) && "the job lacks the 7-day attachment note",
      ]);
    },
  };
}

// Subworkflow: one DELETE per dataset; "deleted" means marked, the purge comes later; expiresAt is audited.
function subworkflowSection(sim: SubworkflowSimulator): KindSection {
  const { datasets } = DEMO_SEED.subworkflow;
  const existing = datasets.slice(0, 5);
  const datasetOf = (request: RecordedRequest) => [decodeURIComponent(request.path.split("/").at(-1) ?? "")];
  return {
    title: "subworkflow — datasets, one request each; deleted means marked, the purge comes later",
    service: "Subworkflow",
    backend: "subworkflow-demo",
    ids: {
      existing,
      missing: ["ds_demo0099"],
      duplicates: ["ds_demo0002", " ds_demo0003"],
      invalid: ["demo0004"],
      summary: "5 datasets that exist, 1 that does not, 2 repeats, 1 without the ds_ prefix",
    },
    reason: "Retention policy RP-3: delete uploaded call recordings older than 90 days",
    noteKeys: ["twice a day", "requestsPerSecond"],
    configLines: [
      `config: requestsPerSecond ${SUBWORKFLOW_DEMO_RPS} for subworkflow-demo, to keep the demo short; the default for subworkflow is 1 per second (and concurrency 1)`,
    ],
    sim,
    auth: { header: "x-api-key", value: SECRETS.SUBWORKFLOW_API_KEY, label: "x-api-key" },
    specialTitle: "Marked now, purged later:",
    requestIds: datasetOf,
    annotate: (request) =>
      request.status === 404 ? "not found (counted, not failed)" : "marked for deletion",
    showSpecial({ job, batchLines, requests }) {
      const span = (requests.at(-1)?.time ?? 0) - (requests[0]?.time ?? 0);
      detail(
        "pace",
        `${requests.length} requests over ${seconds(span)} at ${SUBWORKFLOW_DEMO_RPS}/s; at the default 1/s about ${requests.length - 1} s`,
      );
      line("expiresAt recorded in the audit (backend_ref of each batch.completed line):", 5);
      const mismatched: string[] = [];
      for (const entry of batchLines) {
        const id = entry.ids?.[0] ?? "?";
        const expiresAt = sim.dataset(id)?.expiresAt;
        const simulated =
          typeof expiresAt === "number" ? `expiresAt=${new Date(expiresAt).toISOString()}` : null;
        if (entry.backend_ref !== simulated) mismatched.push(id);
        line(`${id.padEnd(12)} HTTP ${entry.http_status}  ${entry.backend_ref ?? "(none: not found)"}`, 7);
      }
      const marked = sim.marked();
      detail("datasets marked now, awaiting the purge", `${marked.size}: ${[...marked].join(", ")}`);
      detail("purge", "Subworkflow's background job, twice a day; until then GET shows expiresAt ≤ now");
      check([
        mismatched.length > 0 &&
          `the audited expiresAt differs from Subworkflow's for ${mismatched.join(", ")}`,
        existing.some((id) => !marked.has(id)) && "a dataset was not marked for deletion",
        !job.notes.some((note) => note.includes("twice a day")) && "the job lacks the purge note",
      ]);
    },
  };
}

// Piiano Vault: all-or-nothing bulk delete; the one missing object is split out and the other 999 resent.
function piianoSection(sim: PiianoVaultSimulator): KindSection {
  const { collection, active } = DEMO_SEED.piianoVault;
  const missing = demoUuid(777_777);
  const objectIds = (request: RecordedRequest) =>
    Array.isArray(request.body)
      ? request.body.map((entry: unknown) => String((entry as { id?: unknown }).id))
      : [];
  return {
    title: `piiano-vault — objects of collection ${collection}; an all-or-nothing bulk with one missing object`,
    service: "Piiano Vault",
    backend: "piiano-demo",
    target: { collection },
    ids: {
      existing: active.slice(0, 999),
      missing: [missing],
      duplicates: [(active[0] ?? "").toUpperCase(), active[1] ?? "", active[2] ?? ""],
      invalid: ["cust-00042"],
      summary: "999 objects that exist, 1 that does not, 3 repeats (one in upper case), 1 that is not a UUID",
    },
    reason: "GDPR erasure request #4712: erase the profiles of customers who closed their accounts in 2023",
    noteKeys: ["all-or-nothing", "adhoc_reason"],
    configLines: [
      `config: accessReason "${PIIANO_ACCESS_REASON}" (the default), so the plan's reason is sent as adhoc_reason`,
    ],
    sim,
    auth: {
      header: "authorization",
      value: `Bearer ${SECRETS.PIIANO_API_KEY}`,
      label: "Authorization: Bearer",
    },
    specialTitle: "All-or-nothing, the access reason, and what is left:",
    requestIds: objectIds,
    annotate: (request) =>
      objectIds(request).includes(missing)
        ? `ok: false, the missing object failed "not found", so the vault deleted none of the ${objectIds(request).length}`
        : "ok: true, all deleted (the resend without the missing object)",
    showSpecial({ plan, job, requests }) {
      const [first, resend] = requests;
      const query = new URL(first?.path ?? "/", "http://vault").searchParams;
      const sameQuery = requests.every((request) => request.path.split("?")[1] === first?.path.split("?")[1]);
      detail(
        "query of every request",
        `reason=${query.get("reason")}, adhoc_reason="${query.get("adhoc_reason")}"`,
      );
      detail("adhoc_reason is the plan's reason", query.get("adhoc_reason") === plan.reason ? "yes" : "NO");
      const resent = [...sim.received(collection).values()].filter((count) => count === 2).length;
      detail("objects sent twice", `${resent} (the resend)`);
      detail(
        "active objects left in the vault",
        `${sim.objects(collection).active.size} of ${active.length}`,
      );
      check([
        requests.length !== 2 && `expected 2 requests, the vault received ${requests.length}`,
        resend !== undefined && objectIds(resend).includes(missing) && "the missing object was sent again",
        !sameQuery && "the requests' queries differ",
        query.get("reason") !== PIIANO_ACCESS_REASON &&
          `reason is ${query.get("reason")}, not ${PIIANO_ACCESS_REASON}`,
        query.get("adhoc_reason") !== plan.reason && "adhoc_reason is not the plan's reason",
        sim.deleted(collection).size !== job.counts.deleted &&
          "the vault's deletions differ from the job's count",
      ]);
    },
  };
}

// ─── Step 11: the audit log across every job ────────────────────────────────────────────────────────

function auditCountsLine(counts: Record<string, number> | undefined): string {
  if (!counts) return "no counts";
  return `${counts.deleted} deleted, ${counts.not_found} not found, ${counts.failed} failed of ${counts.total}`;
}

function reportFinalAudit(auditLog: string, confirmationTokens: string[], jobs: number): void {
  heading("11. The audit log across all five jobs");
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
  fact("secrets in it (all five backends)", leaked.length === 0 ? "none" : `YES: ${leaked.join(", ")}`);
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

/** deletegate as an MCP client starts it: a child process on stdio, the five secrets in its environment. */
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
async function walk(client: Client, sims: Simulators, auditLog: string): Promise<void> {
  const server = client.getServerVersion();
  line(`connected to ${server?.name ?? "?"} ${server?.version ?? "?"}`, 0);
  await listBackends(client);
  const plan = await dryRun(client, sims.splendor);
  const job = await execute(client, plan);
  reportJob(await pollJob(client, job.job_id));
  reportSimulator(sims.splendor, plan);
  reportAudit(auditLog, plan);

  const tokens = [plan.confirmation.token ?? ""];
  const sections = [
    moorchehSection(sims.moorcheh),
    langsmithSection(sims.langsmith),
    subworkflowSection(sims.subworkflow),
    piianoSection(sims.piiano),
  ];
  for (const [index, section] of sections.entries()) {
    const sectionPlan = await runSection(client, auditLog, 7 + index, section);
    tokens.push(sectionPlan.confirmation.token ?? "");
  }
  // Closing first lets the server write its last lines and exit before the log is read.
  await client.close();
  reportFinalAudit(auditLog, tokens, 1 + sections.length);
  await approvalSection({
    number: 7 + sections.length + 1,
    cli: CLI,
    dir: dirname(auditLog),
    splendor: sims.splendor,
    secrets: SECRETS,
    tenant: TENANT,
    print: { heading, line, fact, check },
  });
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run npm install (or npm run build) first`);
    return 1;
  }
  console.log(
    "deletegate demo: an agent deletes data in five backends through deletegate — Splendor step by step, then one section per other kind",
  );
  const sims = await startSimulators();
  const dir = mkdtempSync(join(tmpdir(), "deletegate-demo-"));
  const { path, auditLog } = writeDemoConfig(dir, sims);
  describeSimulators(sims);
  line(`config: ${path} (5 backends; confirmation: token, store: sqlite)`, 0);
  line("server: node dist/cli.js --config <config>, on stdio, the five backends' secrets in its env", 0);
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
