// `npm run demo`: one delete walked end to end — a Splendor simulator, deletegate over stdio, and an agent's calls.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import type { BackendSummary, PlanView } from "../src/gate/gate.js";
import type { JobView } from "../src/jobs/view.js";
import { type SplendorSimulator, startSplendorSimulator } from "./simulators/splendor.js";

const REPO = resolve(import.meta.dirname, "..");
const CLI = join(REPO, "dist", "cli.js");
const SPLENDOR_TOKEN = "demo-splendor-secret-7c1e";
const TENANT = "demo";
const BACKEND = "splendor-demo";
const DATASET = "crm-contacts";
const REASON = "GDPR erasure request #4711: remove the contact records of accounts closed in 2023";
const VALID_IDS = 2_490;
const JOB_PENDING_MS = 600;
const JOB_RUNNING_MS = 900;
/** execute_delete waits this long, so the job is still awaiting Splendor when it answers. */
const EXECUTE_WAIT_SECONDS = 1;
const POLL_EVERY_MS = 200;
const POLL_DEADLINE_MS = 20_000;
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];

/** The tools' structured results, as deletegate declares them. */
type PlanResult = PlanView;
type JobResult = JobView & { failed_ids: { id: string; error: string }[] };

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
function fact(label: string, value: string): void {
  line(`${`${label}:`.padEnd(40)} ${value}`);
}

function hideToken(token: string | undefined): string {
  return token ? "dg_…(hidden)" : "(none)";
}

/** 2,490 valid ids, 6 duplicates (two of them only after trimming) and 4 invalid ids: 2,500 in all. */
function demoIds(): string[] {
  const valid = Array.from({ length: VALID_IDS }, (_, index) => `rec-${String(index + 1).padStart(5, "0")}`);
  const duplicates = ["rec-00001", "rec-00002", "rec-00003", "rec-01000", " rec-00010", "rec-00020 "];
  const invalid = ["", "x".repeat(513), "y".repeat(600), "z".repeat(1_000)];
  return [...valid.slice(0, 100), ...duplicates, ...invalid, ...valid.slice(100)];
}

function writeDemoConfig(dir: string, baseUrl: string): { path: string; auditLog: string } {
  const auditLog = join(dir, "audit.jsonl");
  const config = {
    store: `sqlite:${join(dir, "state.db")}`,
    auditLog,
    confirmation: { mode: "token", ttlSeconds: 900 },
    backends: {
      [BACKEND]: {
        kind: "splendor",
        baseUrl,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: TENANT,
        allowTargets: ["app-logs", "crm-*"],
      },
    },
  };
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return { path, auditLog };
}

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

function countsLine(job: JobResult): string {
  const { total, deleted, not_found, failed, pending } = job.counts;
  return `${deleted} deleted, ${not_found} not found, ${failed} failed, ${pending} pending of ${total}`;
}

/** "3 running" or "1 succeeded, 2 running": the backend's own jobs at a glance. */
function backendJobsLine(job: JobResult): string {
  if (job.backend_jobs.length === 0) return "no backend jobs yet";
  const tally = new Map<string, number>();
  for (const backendJob of job.backend_jobs)
    tally.set(backendJob.status, (tally.get(backendJob.status) ?? 0) + 1);
  return `Splendor jobs: ${[...tally].map(([status, count]) => `${count} ${status}`).join(", ")}`;
}

async function listBackends(client: Client): Promise<void> {
  heading("1. list_backends — what can this server delete?");
  line("agent → {}");
  const { backends } = await call<{ backends: BackendSummary[] }>(client, "list_backends", {});
  for (const backend of backends) {
    line(`← ${backend.name} (${backend.kind}), target fields: ${backend.target_fields.join(", ")}`);
    line(
      `allowed targets: ${backend.allow_targets?.join(", ") ?? "any"}; read-only: ${backend.read_only}`,
      5,
    );
    line(
      `at most ${backend.max_batch_size} ids per request, ${backend.max_items_per_job} per job; ` +
        `confirmation: ${backend.confirmation_mode}`,
      5,
    );
    line(backend.description, 5);
  }
}

async function dryRun(client: Client, sim: SplendorSimulator): Promise<PlanResult> {
  heading("2. dry_run_delete — a preview; nothing is sent to Splendor");
  const ids = demoIds();
  line(`agent → backend "${BACKEND}", target {"dataset_id":"${DATASET}"}, ${ids.length} ids,`);
  line(`reason "${REASON}"`, 9);
  const plan = await call<PlanResult>(client, "dry_run_delete", {
    backend: BACKEND,
    target: { dataset_id: DATASET },
    ids,
    reason: REASON,
  });
  const { received, unique, duplicates, invalid, to_delete } = plan.counts;
  line(`← plan ${plan.plan_id}`);
  line(
    `counts: ${received} received, ${unique} unique, ${duplicates} duplicates, ${invalid} invalid, ${to_delete} to delete`,
    5,
  );
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
  const deadline = Date.now() + POLL_DEADLINE_MS;
  let last = "";
  for (;;) {
    const job = await call<JobResult>(client, "get_delete_job", { job_id: jobId });
    const now = `${job.status.padEnd(16)} ${countsLine(job)}; ${backendJobsLine(job)}`;
    if (now !== last) line(`${elapsed()}  ${now}`, 5);
    last = now;
    if (TERMINAL.includes(job.status)) return job;
    if (Date.now() > deadline) throw new DemoError(`job ${jobId} is still ${job.status} after 20 s`);
    await sleep(POLL_EVERY_MS);
  }
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

function header(request: SplendorSimulator["requests"][number], name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
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
  const problems = [
    facts.withBearer !== facts.requests && "a request lacked the bearer token",
    facts.withTenant !== facts.requests && "a request lacked the tenant header",
    facts.deletesWithReason !== deletes && "a delete lacked the plan's reason",
    largest > plan.batches.size && "a request exceeded the batch cap",
    facts.distinctIds !== plan.counts.to_delete && "Splendor did not receive exactly the planned ids",
    sim.violations.length > 0 && "the simulator reported contract violations",
  ].filter((problem): problem is string => typeof problem === "string");
  if (problems.length > 0) throw new DemoError(problems.join("; "));
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

function reportAudit(auditLog: string, plan: PlanResult): void {
  heading("6. The audit log (one JSON object per line)");
  const text = readFileSync(auditLog, "utf8");
  const entries = text
    .split("\n")
    .filter((entry) => entry.trim() !== "")
    .map((entry) => JSON.parse(entry) as { event: string; actor?: string });
  const leaked = [SPLENDOR_TOKEN, plan.confirmation.token ?? ""].filter(
    (secret) => secret && text.includes(secret),
  );
  fact("file", auditLog);
  fact(`events (${entries.length} lines)`, foldEvents(entries.map((entry) => entry.event)));
  fact("actor", [...new Set(entries.map((entry) => entry.actor))].join(", "));
  fact("Splendor or confirmation token in it", leaked.length === 0 ? "no" : "YES");
  if (leaked.length > 0) throw new DemoError("a secret appeared in the audit log");
}

/** deletegate as an MCP client starts it: a child process on stdio, its secret in the environment. */
function serverTransport(configPath: string, stderr: string[]): StdioClientTransport {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "--config", configPath],
    env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  return transport;
}

/** The agent's walk through the six steps; throws at the first thing that is not as it should be. */
async function walk(client: Client, sim: SplendorSimulator, auditLog: string): Promise<void> {
  const server = client.getServerVersion();
  line(`connected to ${server?.name ?? "?"} ${server?.version ?? "?"}`, 0);
  await listBackends(client);
  const plan = await dryRun(client, sim);
  const job = await execute(client, plan);
  reportJob(await pollJob(client, job.job_id));
  // Closing first lets the server write its last audit lines and exit before the log is read.
  await client.close();
  reportSimulator(sim, plan);
  reportAudit(auditLog, plan);
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run npm install (or npm run build) first`);
    return 1;
  }
  console.log("deletegate demo: an agent deletes 2,490 Splendor records through deletegate, step by step");
  const sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: TENANT,
    host: "127.0.0.1",
    port: 0,
    jobPendingMs: JOB_PENDING_MS,
    jobRunningMs: JOB_RUNNING_MS,
  });
  const dir = mkdtempSync(join(tmpdir(), "deletegate-demo-"));
  const { path, auditLog } = writeDemoConfig(dir, sim.url);
  line(
    `Splendor simulator: ${sim.url} (tenant "${TENANT}"; each deletion job ${JOB_PENDING_MS} ms pending, then ${JOB_RUNNING_MS} ms running)`,
    0,
  );
  line(`config:             ${path} (confirmation: token, store: sqlite)`, 0);
  line("server:             node dist/cli.js --config <config>, on stdio, SPLENDOR_TOKEN in its env", 0);
  const stderr: string[] = [];
  const client = new Client({ name: "deletegate-demo", version: "1.0.0" });
  try {
    await client.connect(serverTransport(path, stderr));
    await walk(client, sim, auditLog);
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
    await sim.close();
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
});
