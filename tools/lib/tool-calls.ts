// Tool calls for the scripts that drive a real deletegate through an MCP client (the package test, the bundle
// check): a call's structured result or an error naming the tool, and a job followed to its end.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type JobStatus, TERMINAL_STATUSES } from "../../src/jobs/store.js";

/** The six tools SPEC §4 names, sorted: what tools/list must answer, written out here rather than read from src. */
export const TOOL_NAMES = [
  "cancel_delete_job",
  "dry_run_delete",
  "execute_delete",
  "get_delete_job",
  "list_backends",
  "list_delete_jobs",
];

/** One tool call's structured result; an error result throws with its text. */
export async function callTool(
  client: Client,
  tool: string,
  args: Record<string, unknown> = {},
  // biome-ignore lint/suspicious/noExplicitAny: the callers check the result field by field
): Promise<any> {
  const result = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
  if (result.isError) {
    const first = result.content[0];
    throw new Error(
      `${tool} failed: ${first?.type === "text" ? first.text : JSON.stringify(result.content)}`,
    );
  }
  return result.structuredContent;
}

/** Reads the job until its status is terminal (any of them: rejected and expired too); throws past `timeoutMs`. */
export async function jobAtEnd<Job extends { job_id: string; status: string }>(
  client: Client,
  job: Job,
  timeoutMs: number,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  let current = job;
  while (!TERMINAL_STATUSES.includes(current.status as JobStatus)) {
    if (Date.now() > deadline)
      throw new Error(`job ${current.job_id} still ${current.status} after ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
    current = await callTool(client, "get_delete_job", { job_id: current.job_id });
  }
  return current;
}
