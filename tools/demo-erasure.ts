// The demo's erasure-list section: 20,000 ids in a CSV file, a dry run that reads them with `ids_file` and asks
// LangSmith which exist (`preview`), a change behind the plan's back that the stale check catches, and the job that
// runs once the person has seen a fresh plan.

import { once } from "node:events";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { DemoPrint, PlanResult } from "./demo-section.js";
import type { KindSimulator } from "./simulators/fixture.js";
import { fixtureOf } from "./simulators/index.js";

const FIXTURE = fixtureOf("langsmith");
const BACKEND = "langsmith-erasure";
const LISTED = 20_000;
/** Of the listed ids, these exist in LangSmith; the rest were never there. */
const EXISTING = 19_000;
/** Deleted by an earlier job before the list was made: LangSmith keeps them, emptied. */
const DELETED_EARLIER = 500;
/** Deleted by someone else between the dry run and execute_delete. */
const DELETED_MEANWHILE = 3_000;
const REASON = "DSR-2291: erase every LangSmith example of the customer accounts in the attached export";
const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled"];

// biome-ignore lint/suspicious/noExplicitAny: tool results are read field by field
type Result = any;

/** The erasure list an operator drops into the allowed directory: a CSV export with a header and an id column. */
async function writeCsv(path: string, ids: readonly string[]): Promise<void> {
  const out = createWriteStream(path);
  out.write("account,id,exported_at\n");
  for (const [index, id] of ids.entries()) {
    if (!out.write(`"acct-${index % 977}, closed",${id},2026-11-30T09:00:00Z\n`)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

export async function erasureSection(options: {
  number: number;
  cli: string;
  dir: string;
  secrets: Record<string, string>;
  print: DemoPrint;
}): Promise<void> {
  const { print } = options;
  print.heading(`${options.number}. A real erasure list: 20,000 ids from a CSV file, with a preview`);
  const secret = FIXTURE.demo.secret;
  const ids = FIXTURE.ids(LISTED);
  const sim: KindSimulator = await FIXTURE.start({
    secret,
    items: ids.slice(0, EXISTING),
    host: "127.0.0.1",
    port: 0,
  });
  const roots = join(options.dir, "erasure-lists");
  mkdirSync(roots, { recursive: true });
  const csv = join(roots, "dsr-2291.csv");
  await writeCsv(csv, ids);
  const configPath = join(options.dir, "erasure.config.json");
  writeFileSync(
    configPath,
    `${JSON.stringify(
      {
        store: `sqlite:${join(options.dir, "erasure-state.db")}`,
        auditLog: join(options.dir, "erasure-audit.jsonl"),
        confirmation: { mode: "token" },
        limits: { idFileRoots: [roots] },
        preview: { maxChecked: 1_000 },
        backends: {
          [BACKEND]: {
            kind: FIXTURE.kind,
            baseUrl: sim.url,
            credentialEnv: FIXTURE.credentialEnv,
            ...FIXTURE.keys,
            maxItemsPerJob: 50_000,
            requestsPerSecond: 50,
          },
        },
      },
      null,
      2,
    )}\n`,
  );
  print.line(`config: limits.idFileRoots [${roots}]; preview.maxChecked 1000; one LangSmith backend`);
  print.line(
    `file: ${csv}: ${LISTED.toLocaleString("en-US")} rows (header account,id,exported_at); LangSmith holds ${EXISTING.toLocaleString("en-US")} of them`,
  );
  const client = new Client({ name: "deletegate-demo-erasure", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [options.cli, "--config", configPath],
      env: { PATH: process.env.PATH ?? "", ...options.secrets, [FIXTURE.credentialEnv]: secret },
      stderr: "ignore",
    }),
  );
  const call = async (name: string, args: Record<string, unknown>): Promise<Result> => {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    return result.isError
      ? { error: (result.content[0] as { text: string }).text }
      : result.structuredContent;
  };
  const runJob = async (plan: PlanResult): Promise<Result> => {
    let job = await call("execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
      wait_seconds: 10,
    });
    if (job.error) return job;
    for (let tries = 0; tries < 200 && !TERMINAL.includes(job.status); tries++) {
      await new Promise((done) => setTimeout(done, 100));
      job = await call("get_delete_job", { job_id: job.job_id });
    }
    return job;
  };
  const deleteDirectly = async (some: string[], why: string) => {
    const plan = await call("dry_run_delete", { backend: BACKEND, ids: some, reason: why });
    return runJob(plan);
  };
  const writes = () => sim.requests.filter((request) => sim.deleteIds(request) !== null).length;
  const reads = () => sim.requests.filter((request) => sim.readIds?.(request) != null);
  try {
    const earlier = await deleteDirectly(
      ids.slice(0, DELETED_EARLIER),
      "Earlier request DSR-2250 (same customer)",
    );
    print.line(`set-up: an earlier job deleted ${earlier.counts?.deleted} of the listed examples`);

    const writesBefore = writes();
    const readsBefore = reads().length;
    const started = Date.now();
    const plan = await call("dry_run_delete", {
      backend: BACKEND,
      ids_file: csv,
      preview: true,
      reason: REASON,
    });
    if (plan.error) throw new Error(`dry run refused: ${plan.error}`);
    const took = Date.now() - started;
    const previewReads = reads().slice(readsBefore);
    const previewWrites = writes() - writesBefore;
    const { preview } = plan;
    print.line(`agent → dry_run_delete { ids_file, preview: true } (${took} ms):`);
    print.fact(
      "ids",
      `${plan.counts.received} received, ${plan.counts.to_delete} to delete in ${plan.batches.count} batches`,
    );
    print.fact("file", `${plan.ids_file} (sha256 ${String(plan.ids_file_sha256).slice(0, 16)}…)`);
    print.fact(
      "preview",
      `${preview.checked} drawn at random and read (sampled: ${preview.sampled}): ${preview.found} found, ${preview.not_found} not found, ${preview.already_deleted} already deleted`,
    );
    for (const item of preview.sample.slice(0, 3))
      print.detail(`found ${item.id}`, JSON.stringify(item.summary));
    print.fact(
      "LangSmith during the dry run",
      `${previewReads.length} read requests of ≤ 100 ids, ${previewWrites} writes`,
    );

    const meanwhile = await deleteDirectly(
      ids.slice(DELETED_EARLIER, DELETED_EARLIER + DELETED_MEANWHILE),
      "A teammate's cleanup of the same accounts",
    );
    print.line(`meanwhile: someone else's job deleted ${meanwhile.counts?.deleted} of the listed examples`);
    const writesBeforeStale = writes();
    const stale = await runJob(plan);
    const staleWrites = writes() - writesBeforeStale;
    print.line(`agent → execute_delete: ${String(stale.error ?? stale.status).split(". ")[0]}`);
    print.fact("LangSmith writes for that plan", String(staleWrites));

    const fresh = await call("dry_run_delete", {
      backend: BACKEND,
      ids_file: csv,
      preview: true,
      reason: REASON,
    });
    print.line(
      `agent → dry_run_delete again: preview ${fresh.preview.found} found, ${fresh.preview.not_found} not found, ${fresh.preview.already_deleted} already deleted of ${fresh.preview.checked}`,
    );
    const job = await runJob(fresh);
    print.line(
      `agent → execute_delete: job ${job.status}: ${job.counts.deleted} deleted, ${job.counts.not_found} not found of ${job.counts.total}`,
    );
    const deletable = EXISTING - DELETED_EARLIER - DELETED_MEANWHILE;
    print.check([
      plan.counts.to_delete !== LISTED && `the file gave ${plan.counts.to_delete} ids, not ${LISTED}`,
      preview.checked !== 1_000 && `the preview read ${preview.checked} ids, not 1,000`,
      !preview.sampled && "a preview of 1,000 of 20,000 ids did not say it was a sample",
      preview.already_deleted === 0 && "the preview saw none of the ids deleted earlier",
      previewWrites !== 0 && `the preview sent ${previewWrites} writes`,
      !String(stale.error ?? "").startsWith("PLAN_STALE") &&
        `the stale plan was not refused: ${stale.status}`,
      staleWrites !== 0 && `the stale plan sent ${staleWrites} requests`,
      job.status !== "succeeded" && `the fresh plan's job ended ${job.status}`,
      job.counts.deleted !== deletable && `${job.counts.deleted} deleted, expected ${deletable}`,
      sim.violations.length > 0 && `contract violations: ${sim.violations.join("; ")}`,
    ]);
  } finally {
    await client.close().catch(() => undefined);
    await sim.close();
  }
}
