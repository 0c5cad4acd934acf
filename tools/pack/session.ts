// The packed deletegate, installed in an empty folder, used as a person and a client would (issue 15): `init`
// writes a config for a Splendor simulator, `check-config` accepts it, and an MCP client (the SDK's) drives a
// stdio session through `npx deletegate`: dry run, execute in token mode, the job to its end; then the
// simulator must hold the deletes and the audit log the job's lines, in an intact chain.
// Usage: tsx tools/pack/session.ts <app dir with the package installed> <empty work dir>   (exit 0 or 1)
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { callTool as call, jobAtEnd, TOOL_NAMES } from "../lib/tool-calls.js";
import { startSplendorSimulator } from "../simulators/splendor.js";

const [app, work] = process.argv.slice(2);
if (!app || !work) {
  console.error("usage: tsx tools/pack/session.ts <app dir> <work dir>");
  process.exit(2);
}
const TOKEN = "pack-test-splendor-token";
const TENANT = "pack";
const BACKEND = "splendor-pack";
const DATASET = "app-logs";
const IDS = ["rec-1", "rec-2", "rec-3", "rec-4", "rec-5"];
/** Only what the server needs: PATH (for node and npx), HOME (npm's cache) and the backend's key. */
const ENV = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? work,
  ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
};

function fail(message: string): never {
  throw new Error(message);
}

/** The installed package's command through npx, which never downloads here (`--no-install`). */
function deletegate(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync("npx", ["--no-install", "deletegate", ...args], {
    cwd: app,
    env: { ...ENV, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0) {
    fail(`deletegate ${args.join(" ")} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

async function main(): Promise<void> {
  const sim = await startSplendorSimulator({
    token: TOKEN,
    tenantId: TENANT,
    jobPendingMs: 50,
    jobRunningMs: 100,
  });
  const config = join(work as string, "deletegate.config.json");
  let client: Client | undefined;
  try {
    deletegate([
      "init",
      "--yes",
      "--config",
      config,
      "--kind",
      "splendor",
      "--name",
      BACKEND,
      "--base-url",
      sim.url,
      "--tenant-id",
      TENANT,
      "--allow-target",
      DATASET,
      "--confirmation",
      "token",
    ]);
    const checked = deletegate(["check-config", "--config", config], { SPLENDOR_TOKEN: TOKEN });
    if (!checked.includes("config OK")) fail(`check-config did not say config OK:\n${checked}`);
    console.log(`init wrote ${config}; check-config: config OK`);

    const transport = new StdioClientTransport({
      command: "npx",
      args: ["--no-install", "deletegate", "--config", config],
      cwd: app,
      env: { ...ENV, SPLENDOR_TOKEN: TOKEN },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const errors: string[] = [];
    client = new Client({ name: "pack-test", version: "1.0.0" });
    // A line on stdout that is not JSON-RPC surfaces here.
    client.onerror = (error) => errors.push(error.message);
    await client.connect(transport);
    const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
    if (tools.join(" ") !== TOOL_NAMES.join(" ")) fail(`tools/list: ${tools.join(" ")}`);

    const plan = await call(client, "dry_run_delete", {
      backend: BACKEND,
      target: { dataset_id: DATASET },
      ids: [...IDS, "rec-1"],
      reason: "Pack test: delete synthetic records through the installed package",
    });
    if (
      plan.counts.to_delete !== IDS.length ||
      plan.confirmation.mode !== "token" ||
      !plan.confirmation.token
    )
      fail(`unexpected plan: ${JSON.stringify(plan)}`);
    if (sim.requests.some((request) => request.path === "/v1/records/delete"))
      fail("the dry run sent a delete to the backend");
    console.log(`dry_run_delete: ${plan.plan_id}, ${plan.counts.to_delete} to delete, token mode`);

    let job = await call(client, "execute_delete", {
      plan_id: plan.plan_id,
      confirmation_token: plan.confirmation.token,
      wait_seconds: 10,
    });
    job = await jobAtEnd(client, job, 30_000);
    if (job.status !== "succeeded" || job.counts.deleted !== IDS.length)
      fail(`job ended ${job.status} with ${JSON.stringify(job.counts)}`);
    console.log(`execute_delete: ${job.job_id} ${job.status}, ${job.counts.deleted} deleted`);

    const deleted = sim.deleted(DATASET);
    const missing = IDS.filter((id) => !deleted.has(id));
    if (missing.length > 0 || deleted.size !== IDS.length)
      fail(`the simulator deleted ${[...deleted].join(", ")}; expected ${IDS.join(", ")}`);
    if (sim.violations.length > 0) fail(`contract violations: ${sim.violations.join("; ")}`);
    console.log(`simulator: ${deleted.size} records deleted in ${DATASET}, no contract violation`);

    const auditLog = join(work as string, ".deletegate", "audit.jsonl");
    const lines = readFileSync(auditLog, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as { event: string; job_id?: string; plan_id?: string });
    const events = lines
      .filter((line) => line.job_id === job.job_id || line.plan_id === plan.plan_id)
      .map((line) => line.event);
    for (const event of [
      "plan.created",
      "delete.confirmed",
      "job.started",
      "batch.sending",
      "batch.completed",
      "job.finished",
    ]) {
      if (!events.includes(event))
        fail(`the audit log has no ${event} line for the job: ${events.join(", ")}`);
    }
    if (readFileSync(auditLog, "utf8").includes(TOKEN)) fail("the backend's key is in the audit log");
    const verified = deletegate(["audit", "verify", auditLog]);
    if (!verified.startsWith("OK:")) fail(`audit verify: ${verified}`);
    console.log(`audit log: ${events.join(", ")}; ${verified.trim()}`);

    await client.close();
    client = undefined;
    if (errors.length > 0) fail(`the client saw protocol errors: ${errors.join("; ")}`);
    if (stderr.includes(TOKEN)) fail("the backend's key is in the server's log");
  } finally {
    await client?.close().catch(() => undefined);
    await sim.close();
  }
}

main().then(
  () => console.log("session: passed"),
  (error: Error) => {
    console.error(`session: FAILED: ${error.message}`);
    process.exit(1);
  },
);
