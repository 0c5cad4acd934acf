// The demo's approval section: `deletegate --http` in approval mode; the agent executes and gets a link; an approver
// signs in to the console's JSON API with her own password and approves; only then does the job run.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { hashPassword } from "../src/approval/password.js";
import type { SplendorSimulator } from "./simulators/splendor.js";

export interface Printer {
  heading(title: string): void;
  line(text: string, indent?: number): void;
  fact(label: string, value: string): void;
  check(problems: (string | false)[]): void;
}

const AGENT_TOKEN = "demo-agent-token-7f3c2b";
const APPROVER = { name: "dana", password: "dana's demo password" };
const DATASET = "crm-approvals";
const REASON = "DSR #4713: erase the contact records of account 8812 (closed by the customer)";

// biome-ignore lint/suspicious/noExplicitAny: tool results are read field by field
function structured(result: CallToolResult): any {
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  return result.structuredContent;
}

/** Starts `deletegate --http --port 0` and resolves with its /mcp URL once it is ready. */
function startHttp(cli: string, configPath: string, env: Record<string, string>, stderr: string[]) {
  const child = spawn(process.execPath, [cli, "--http", "--port", "0", "--config", configPath], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("deletegate --http did not start in time")), 15_000);
    child.once("exit", (code) => reject(new Error(`deletegate --http exited with ${code}`)));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr.push(chunk.toString());
      const match = /"url":"([^"]+)","tokens"/.exec(stderr.join(""));
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { child, url };
}

export async function approvalSection(options: {
  number: number;
  cli: string;
  dir: string;
  splendor: SplendorSimulator;
  secrets: Record<string, string>;
  tenant: string;
  print: Printer;
}): Promise<void> {
  const { print, splendor } = options;
  print.heading(`${options.number}. Approval mode: people approve in deletegate's console, not the agent`);
  const path = join(options.dir, "approval.config.json");
  const config = {
    store: `sqlite:${join(options.dir, "approval-state.db")}`,
    auditLog: join(options.dir, "approval-audit.jsonl"),
    confirmation: { mode: "approval" },
    approval: {
      approvers: [{ name: APPROVER.name, passwordHash: await hashPassword(APPROVER.password) }],
      required: 1,
      ttlSeconds: 3600,
    },
    http: { tokens: [{ name: "demo-agent", tokenEnv: "DELETEGATE_TOKEN_AGENT" }] },
    backends: {
      "splendor-approval": {
        kind: "splendor",
        baseUrl: splendor.url,
        credentialEnv: "SPLENDOR_TOKEN",
        tenantId: options.tenant,
        allowTargets: ["crm-*"],
      },
    },
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  print.line(
    `config: confirmation approval; approver ${APPROVER.name} (only a scrypt hash in the file); server: --http`,
  );
  const stderr: string[] = [];
  const server = startHttp(
    options.cli,
    path,
    { ...options.secrets, DELETEGATE_TOKEN_AGENT: AGENT_TOKEN },
    stderr,
  );
  const client = new Client({ name: "deletegate-demo", version: "1.0.0" });
  try {
    const url = await server.url;
    const origin = new URL(url).origin;
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } },
      }),
    );
    const call = async (name: string, args: Record<string, unknown>) =>
      structured((await client.callTool({ name, arguments: args })) as CallToolResult);
    const before = splendor.requests.length;
    const ids = Array.from({ length: 12 }, (_, index) => `rec-a${String(index).padStart(4, "0")}`);
    const plan = await call("dry_run_delete", {
      backend: "splendor-approval",
      target: { dataset_id: DATASET },
      ids,
      reason: REASON,
    });
    print.line(
      `agent → dry_run_delete: ${plan.counts.to_delete} to delete; confirmation mode ${plan.confirmation.mode}`,
    );
    const job = await call("execute_delete", { plan_id: plan.plan_id });
    print.line(`agent → execute_delete: job ${job.status}; link for the person: ${job.approval.url}`);
    const waited = splendor.requests.length - before;

    const login = await fetch(`${origin}/console/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: APPROVER.name, password: APPROVER.password }),
    });
    const { csrf } = (await login.json()) as { csrf: string };
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    print.line(
      `${APPROVER.name} → POST /console/api/login: HTTP ${login.status} (session cookie, CSRF token)`,
    );
    const pending = (await (
      await fetch(`${origin}/console/api/approvals?status=pending`, { headers: { cookie } })
    ).json()) as { approvals: { job_id: string; counts: { total: number }; reason: string }[] };
    const mine = pending.approvals.find((item) => item.job_id === job.job_id);
    print.line(
      `${APPROVER.name} sees: ${mine?.counts.total} items, requested by ${job.requested_by}, reason (the requester's words): "${mine?.reason}"`,
    );
    const approved = await fetch(`${origin}/console/api/approvals/${job.job_id}/approve`, {
      method: "POST",
      headers: { cookie, "x-deletegate-csrf": csrf, "content-type": "application/json" },
      body: JSON.stringify({ comment: "Matches ticket DSR #4713" }),
    });
    print.line(`${APPROVER.name} → approve: HTTP ${approved.status}`);
    let final = await call("get_delete_job", { job_id: job.job_id });
    for (
      let tries = 0;
      tries < 100 && !["succeeded", "failed", "partially_failed"].includes(final.status);
      tries++
    ) {
      await new Promise((done) => setTimeout(done, 100));
      final = await call("get_delete_job", { job_id: job.job_id });
    }
    print.fact("requests to Splendor before approval", String(waited));
    print.fact(
      "job after approval",
      `${final.status}: ${final.counts.deleted} deleted of ${final.counts.total}`,
    );
    print.check([
      plan.confirmation.mode !== "approval" && `confirmation mode ${plan.confirmation.mode}, wanted approval`,
      job.status !== "awaiting_approval" && `execute_delete returned ${job.status}`,
      waited !== 0 && `${waited} requests reached Splendor before the approval`,
      login.status !== 200 && `sign-in answered ${login.status}`,
      !mine && "the job is not in the pending approvals",
      approved.status !== 200 && `approve answered ${approved.status}`,
      final.status !== "succeeded" && `the approved job ended ${final.status}`,
    ]);
  } catch (error) {
    print.line(`deletegate --http stderr:\n${stderr.join("").slice(-2000)}`, 0);
    throw error;
  } finally {
    await client.close().catch(() => undefined);
    server.child.kill("SIGTERM");
  }
}
