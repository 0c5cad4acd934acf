// Signing in to the approval console and calling its JSON API, as an approver's browser or script would.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { hashPassword } from "../../src/approval/password.js";
import { type JobStatus, TERMINAL_STATUSES } from "../../src/jobs/store.js";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  editConfig,
  range,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  structured,
  tempDir,
  writeConfig,
} from "./harness.js";
import { addHttpTokens } from "./http-harness.js";

/**
 * A config in approval mode for one Splendor backend ("splendor-test", targets crm-*) at `simUrl`, with these
 * approvers (name → passwordHash); `agentToken`: an HTTP token named "agent" read from DELETEGATE_TOKEN_AGENT.
 */
export function writeApprovalConfig(
  simUrl: string,
  approvers: Record<string, string>,
  options: {
    approval?: Record<string, unknown>;
    backend?: Record<string, unknown>;
    store?: string;
    agentToken?: boolean;
  } = {},
): { path: string; auditLog: string } {
  const config = writeConfig(tempDir(), simUrl, {
    confirmation: { mode: "approval" },
    backend: { allowTargets: ["crm-*"], ...options.backend },
    ...(options.store ? { store: options.store } : {}),
  });
  if (options.agentToken) addHttpTokens(config.path, { agent: "DELETEGATE_TOKEN_AGENT" });
  editConfig(config.path, (raw) => {
    raw.approval = {
      approvers: Object.entries(approvers).map(([name, passwordHash]) => ({ name, passwordHash })),
      ...options.approval,
    };
  });
  return config;
}

/** The agent's dry run of `count` ids of `dataset` on splendor-test, then its execute: the job awaiting approval. */
export async function requestApproval(
  agent: { call(name: string, args?: Record<string, unknown>): Promise<CallToolResult> },
  dataset: string,
  reason: string,
  count = 5,
  // biome-ignore lint/suspicious/noExplicitAny: plan and job are checked field by field
): Promise<{ plan: any; job: any }> {
  const plan = structured(
    await agent.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: dataset },
      ids: range(count, `${dataset}-`),
      reason,
    }),
  );
  const job = structured(await agent.call("execute_delete", { plan_id: plan.plan_id }));
  return { plan, job };
}

/** A Splendor simulator whose backend jobs stay pending, then running, `jobMs` each; each approver's password hash. */
export async function approvalFixture<Name extends string>(
  passwords: Record<Name, string>,
  jobMs = 10,
): Promise<{ sim: SplendorSimulator; hashes: Record<Name, string> }> {
  const sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: jobMs,
    jobRunningMs: jobMs,
  });
  const hashes = {} as Record<Name, string>;
  for (const name of Object.keys(passwords) as Name[]) hashes[name] = await hashPassword(passwords[name]);
  return { sim, hashes };
}

export interface Signed {
  cookie: string;
  csrf: string;
}

export async function login(
  origin: string,
  name: string,
  password: string,
): Promise<Signed & { status: number }> {
  const response = await fetch(`${origin}/console/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  const body = (await response.json()) as { csrf?: string };
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  return { status: response.status, cookie, csrf: body.csrf ?? "" };
}

export async function consoleCall(
  origin: string,
  signed: Partial<Signed>,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: {
      ...(signed.cookie ? { cookie: signed.cookie } : {}),
      ...(signed.csrf ? { "x-deletegate-csrf": signed.csrf } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  // biome-ignore lint/suspicious/noExplicitAny: console answers are checked field by field
  return { status: response.status, body: json as any, headers: response.headers };
}

export const approve = (origin: string, signed: Signed, jobId: string, comment?: string) =>
  consoleCall(origin, signed, "POST", `/console/api/approvals/${jobId}/approve`, comment ? { comment } : {});

export async function finalJob(
  agent: { call(name: string, args?: Record<string, unknown>): Promise<CallToolResult> },
  jobId: string,
) {
  let job: { status: string } = { status: "" };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    job = structured(await agent.call("get_delete_job", { job_id: jobId }));
    if (TERMINAL_STATUSES.includes(job.status as JobStatus)) break;
    await new Promise((done) => setTimeout(done, 100));
  }
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return job as any;
}
