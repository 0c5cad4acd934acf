// createServer: an MCP server whose every tool call passes through one wrapper that maps errors and audits refusals.
import { randomUUID } from "node:crypto";
import {
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type ClientCapabilities,
  type Implementation,
  type InputRequiredResult,
  inputRequired,
  inputResponse,
  isInputRequiredResult,
  ProtocolError,
  ProtocolErrorCode,
  SdkError,
  SdkErrorCode,
  Server,
  type ServerContext,
  type Tool,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import type { App } from "./app.js";
import type { AuditEntry } from "./audit/index.js";
import type { AskHuman, HumanAnswer, HumanPrompt } from "./gate/confirmation.js";
import { GateError } from "./gate/errors.js";
import type { InputRound } from "./gate/gate.js";
import { displayId, visibleText } from "./gate/plan.js";
import { InputRequired } from "./gate/request-state.js";
import { TOOLS } from "./tools/index.js";
import { type AnyTool, type CallContext, isIdList, type ToolContext } from "./tools/tool.js";

export const SERVER_NAME = "deletegate";

const INSTRUCTIONS =
  "deletegate deletes data in configured backends safely. Flow: list_backends → dry_run_delete (a preview that " +
  "deletes nothing and returns a plan) → show the person the counts → execute_delete with the plan_id (and the " +
  "confirmation token in token mode; in human mode the person confirms in a form; in approval mode the job waits " +
  "until people approve it in deletegate's console: give the person its approval.url) → get_delete_job until the job is terminal. " +
  "Every delete needs a reason saying why.";

/** How long a person may take to answer the confirmation form. */
const HUMAN_CONFIRMATION_TIMEOUT_MS = 10 * 60 * 1000;
/**
 * While the person reads the form, a progress notification this often (when the call has a progress token), so a
 * client that resets its request timeout on progress keeps waiting for the answer instead of giving up the call.
 */
export const HUMAN_WAIT_PROGRESS_MS = 5_000;
/** The longest actor written to the audit log (SPEC §8): a client names itself, and may name itself at length. */
export const MAX_ACTOR_LENGTH = 256;

/**
 * The actor as stored, audited and shown: at most MAX_ACTOR_LENGTH characters (code points, so no pair is cut in
 * two), with controls, invisible formatting (bidi overrides, zero-width characters), line separators and unpaired
 * surrogates shown as U+FFFD. Without an HTTP token the actor is whatever name the client declared, so a name like
 * "bob\u202e" must not reverse what the console shows after it; a client is never refused for its name.
 */
export function capActor(actor: string): string {
  const capped =
    actor.length <= MAX_ACTOR_LENGTH
      ? actor
      : Array.from(actor.slice(0, 2 * MAX_ACTOR_LENGTH))
          .slice(0, MAX_ACTOR_LENGTH)
          .join("");
  return visibleText(capped);
}

export interface ServerOptions {
  version: string;
  /** The audit actor of a call: the client's name on stdio, the token's name over HTTP. */
  actor(server: Server, ctx: ServerContext): string;
  /** Whose plans and jobs a call may see: null on stdio (one client), the token's name over HTTP. */
  owner(ctx: ServerContext): string | null;
}

function clip(value: unknown, max: number): unknown {
  if (value === undefined) return undefined;
  if (typeof value === "string") return displayId(value.slice(0, max));
  let json: string;
  try {
    json = JSON.stringify(value) ?? "";
  } catch {
    // Nested deeper than the stack allows: still refused and audited, without the value.
    return "[omitted: nested too deeply to write]";
  }
  return json.length <= max ? value : `[omitted: ${json.length} characters]`;
}

/** At most this many schema problems are named in one INVALID_INPUT message. */
const MAX_LISTED_PROBLEMS = 5;

/**
 * What tools/list shows for a tool's input: its own schema as JSON Schema, with the arguments it refuses itself
 * (listedRequired) marked required. The wrapper validates the raw arguments and refuses bad ones with INVALID_INPUT
 * (SPEC §6).
 */
function listedInputSchema(tool: AnyTool): Tool["inputSchema"] {
  const json = z.toJSONSchema(z.strictObject(tool.inputSchema), { target: "draft-2020-12", io: "input" });
  const required = [
    ...new Set([...((json.required as string[] | undefined) ?? []), ...(tool.listedRequired ?? [])]),
  ];
  return { ...json, type: "object", ...(required.length > 0 ? { required } : {}) } as Tool["inputSchema"];
}

/** Per tool, built once for every server: its tools/list entry, and the strict schemas calls are checked with. */
const TOOL_TABLE = new Map(
  TOOLS.map((tool) => {
    const output = z.object(tool.outputSchema);
    const listing: Tool = {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: listedInputSchema(tool),
      outputSchema: z.toJSONSchema(output, { target: "draft-2020-12", io: "output" }) as Tool["outputSchema"],
      annotations: { title: tool.title, ...tool.annotations },
    };
    return [tool.name, { tool, listing, strict: z.strictObject(tool.inputSchema), output }];
  }),
);

/**
 * The arguments parsed by the tool's strict schema, except a valid id list, which is checked in one loop and passed
 * as is: zod builds a result per id (10 to 30 ms and a copy of the list for 100,000 ids). An invalid list goes
 * through zod, so its problems are named exactly as before.
 */
function parseArguments(
  tool: AnyTool,
  strict: z.ZodType<Record<string, unknown>>,
  args: Record<string, unknown>,
): z.ZodSafeParseResult<Record<string, unknown>> {
  const key = tool.idListArgument;
  if (key === undefined || !Object.hasOwn(args, key) || !isIdList(args[key])) return strict.safeParse(args);
  const rest = strict.safeParse({ ...args, [key]: [] });
  return rest.success ? { success: true, data: { ...rest.data, [key]: args[key] } } : rest;
}

/** Arguments that fail the tool's input schema, named field by field, short whatever the input's size. */
function invalidInput(tool: AnyTool, issues: readonly z.core.$ZodIssue[]): GateError {
  const problems = issues.slice(0, MAX_LISTED_PROBLEMS).map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.slice(0, MAX_LISTED_PROBLEMS).map((key) => JSON.stringify(displayId(key)));
      return `unknown argument${issue.keys.length > 1 ? "s" : ""} ${keys.join(", ")}${issue.keys.length > keys.length ? ", …" : ""}`;
    }
    const path = issue.path.map((key) => displayId(String(key))).join(".");
    return `${path || "arguments"}: ${issue.message}`;
  });
  const more = issues.length > problems.length ? `; and ${issues.length - problems.length} more` : "";
  return new GateError(
    "INVALID_INPUT",
    `Invalid arguments for ${tool.name}: ${problems.join("; ")}${more}. The tool's input schema lists what it takes.`,
  );
}

/** The refusal's audit line, from untrusted arguments kept small. */
function refusalEntry(
  tool: AnyTool,
  args: Record<string, unknown>,
  actor: string,
  error: GateError,
): AuditEntry {
  return {
    event: tool.refusalEvent as AuditEntry["event"],
    plan_id: typeof args.plan_id === "string" ? displayId(args.plan_id) : null,
    backend: typeof args.backend === "string" ? displayId(args.backend) : null,
    target: clip(args.target, 500),
    actor,
    reason: typeof args.reason === "string" ? (clip(args.reason, 1024) as string) : null,
    ...(Array.isArray(args.ids) ? { counts: { received: args.ids.length } } : {}),
    code: error.code,
    error: error.message,
    ...error.context,
  };
}

/** A 2026-07-28 request's `_meta` envelope (the SDK types it as an empty object); undefined for 2025-11-25. */
function envelope(ctx: ServerContext): Record<string, unknown> | undefined {
  return ctx.mcpReq.envelope as Record<string, unknown> | undefined;
}

/**
 * What the calling client declared it can do: per request for MCP 2026-07-28 (its `_meta` envelope), per connection
 * for 2025-11-25 (initialize).
 */
function clientCapabilities(server: Server, ctx: ServerContext): ClientCapabilities | undefined {
  const perRequest = envelope(ctx)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
  return perRequest ?? server.getClientCapabilities();
}

/** The calling client's name: per request for MCP 2026-07-28, from initialize for 2025-11-25. */
export function clientName(server: Server, ctx: ServerContext): string | undefined {
  const perRequest = envelope(ctx)?.[CLIENT_INFO_META_KEY] as Implementation | undefined;
  return (perRequest ?? server.getClientVersion())?.name;
}

/**
 * Whether this call may push requests to its client (elicitation). Only a 2025-11-25 connection can: MCP 2026-07-28
 * has no server-to-client requests; its forms come as `input_required` results (SPEC §5).
 */
function canPush(ctx: ServerContext): boolean {
  return ctx.mcpReq.envelope === undefined;
}

/** Progress of one call: job progress, and ticks while a person reads the form, always increasing (MCP requires it). */
interface ProgressReporter {
  report(progress: number, total: number, message: string): void;
  tick(message: string): void;
}

function progressReporter(ctx: ServerContext, app: App): ProgressReporter | null {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return null;
  // Ticks while waiting come first; job progress is counted on from them.
  let ticks = 0;
  let last = -1;
  const send = (progress: number, total: number | undefined, message: string) => {
    if (progress <= last) return;
    last = progress;
    ctx.mcpReq
      .notify({
        method: "notifications/progress",
        params: { progressToken, progress, ...(total === undefined ? {} : { total }), message },
      })
      .catch((error: Error) => app.logger.debug({ err: error }, "progress notification not delivered"));
  };
  return {
    report: (progress, total, message) => send(ticks + progress, ticks + total, message),
    tick: (message) => send(++ticks, undefined, message),
  };
}

/** The form's one required field: the number of ids, which the person types to confirm (SPEC §5). */
function formSchema(prompt: HumanPrompt) {
  return {
    type: "object" as const,
    properties: {
      confirm_count: {
        type: "integer" as const,
        title: "Number of ids to delete",
        description: `Type ${prompt.expectedCount} to confirm the delete`,
      },
    },
    required: ["confirm_count"],
  };
}

/** The key of the form among a 2026-07-28 call's input requests. */
const FORM_KEY = "confirm";
/** The key of the approval page's link among a 2026-07-28 call's input requests. */
const LINK_KEY = "approval_link";
/** The input_required result that asks the form, with the state the gate sealed for the retried call. */
function askForm(asked: InputRequired): InputRequiredResult {
  return inputRequired({
    inputRequests: {
      [FORM_KEY]: inputRequired.elicit({
        mode: "form",
        message: asked.prompt.message,
        requestedSchema: formSchema(asked.prompt),
      }),
    },
    requestState: asked.requestState,
  });
}

/**
 * What a 2026-07-28 call brings back for the gate to judge: the state it was given and the person's answer, if
 * any. The gate opens the state (sealed, bound, single use) before the answer counts (SPEC §5).
 */
function inputRound(ctx: ServerContext): InputRound {
  const requestState = ctx.mcpReq.requestState();
  const view = inputResponse(ctx.mcpReq.inputResponses, FORM_KEY);
  const answer: HumanAnswer | undefined =
    view.kind !== "elicit"
      ? undefined
      : view.action === "accept"
        ? { action: "accept", count: view.content?.confirm_count }
        : { action: view.action };
  return { ...(requestState === undefined ? {} : { requestState }), ...(answer ? { answer } : {}) };
}

/**
 * Asks the person through the client's form. The request lives only as long as the call: when the client
 * cancels the call (or times it out), the form request is cancelled too and its answer, if any, counts for
 * nothing (SPEC §5).
 */
async function askThroughForm(
  ctx: ServerContext,
  prompt: HumanPrompt,
  progress: ProgressReporter | null,
): Promise<HumanAnswer> {
  const waiting = progress
    ? setInterval(
        () => progress.tick("Waiting for the person to confirm in the form"),
        HUMAN_WAIT_PROGRESS_MS,
      )
    : null;
  try {
    const result = await ctx.mcpReq.elicitInput(
      {
        mode: "form",
        message: prompt.message,
        requestedSchema: formSchema(prompt),
      },
      { relatedRequestId: ctx.mcpReq.id, timeout: HUMAN_CONFIRMATION_TIMEOUT_MS, signal: ctx.mcpReq.signal },
    );
    return result.action === "accept"
      ? { action: "accept", count: result.content?.confirm_count }
      : ({ action: result.action } as HumanAnswer);
  } catch (error) {
    if (ctx.mcpReq.signal.aborted) {
      throw new GateError(
        "CONFIRMATION_DECLINED",
        "The execute_delete call was cancelled or timed out before the person answered; nothing was sent.",
      );
    }
    if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
      throw new GateError(
        "CONFIRMATION_DECLINED",
        "The person did not answer the confirmation in time; nothing was sent.",
      );
    }
    // The client declared elicitation but does not implement it.
    if (error instanceof ProtocolError && error.code === ProtocolErrorCode.MethodNotFound) {
      throw new GateError(
        "HUMAN_CONFIRMATION_UNAVAILABLE",
        "This client declares form elicitation but does not answer form requests, so no person can confirm; nothing was sent. Use a client that shows forms, or ask the operator for another confirmation mode.",
      );
    }
    throw new GateError(
      "CONFIRMATION_INVALID",
      `The confirmation form was not answered validly (${displayId((error as Error).message)}); nothing was sent.`,
    );
  } finally {
    if (waiting) clearInterval(waiting);
  }
}

/**
 * Asks the client to open the approval page (URL-mode elicitation). Not awaited and not consent: the console is
 * the consent; this only saves the person copying the link.
 */
function openThroughClient(ctx: ServerContext, url: string, message: string, app: App): void {
  ctx.mcpReq
    .elicitInput(
      { mode: "url", url, message, elicitationId: randomUUID() },
      { relatedRequestId: ctx.mcpReq.id },
    )
    .catch((error: Error) => app.logger.debug({ err: error }, "approval link not opened by the client"));
}

/** A link deletegate asks the client to open (the approval page), with the line that says what it is for. */
interface Link {
  url: string;
  message: string;
}

/**
 * MCP 2026-07-28 has no server-to-client requests, so the approval page's link goes out as a URL-mode input request
 * of the call's result. The job already waits for approvers; the retried call (same plan) returns it, whatever the
 * client answered, since opening the page is not consent: the console is (SPEC §5).
 */
function askToOpen(link: Link): InputRequiredResult {
  return inputRequired({ inputRequests: { [LINK_KEY]: inputRequired.elicitUrl(link) } });
}

/**
 * How this call offers a link to its client: pushed at once to a 2025-11-25 session, kept to be asked as
 * input_required for a 2026-07-28 client; undefined when the client declares no URL-mode elicitation.
 */
function linkOpener(
  server: Server,
  ctx: ServerContext,
  app: App,
  keep: (link: Link) => void,
): ((url: string, message: string) => void) | undefined {
  if (!clientCapabilities(server, ctx)?.elicitation?.url) return undefined;
  return canPush(ctx)
    ? (url, message) => openThroughClient(ctx, url, message, app)
    : (url, message) => keep({ url, message });
}

/**
 * The server, with tools/list and tools/call answered here rather than through McpServer: SPEC §4 makes every
 * failed call a tool result, an unknown tool's included, which McpServer answers with a JSON-RPC error.
 */
export function createServer(app: App, options: ServerOptions): Server {
  const server = new Server(
    { name: SERVER_NAME, version: options.version },
    { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS },
  );
  const context: ToolContext = { gate: app.gate, runner: app.runner, approvals: app.approvals };
  const tools = [...TOOL_TABLE.values()].map((entry) => entry.listing);

  const canElicit = (ctx: ServerContext) => {
    const elicitation = clientCapabilities(server, ctx)?.elicitation;
    return Boolean(elicitation && (elicitation.form || !elicitation.url));
  };

  const callTool = async (
    entry: NonNullable<ReturnType<typeof TOOL_TABLE.get>>,
    args: Record<string, unknown>,
    ctx: ServerContext,
  ): Promise<CallToolResult | InputRequiredResult> => {
    const { tool } = entry;
    const actor = capActor(options.actor(server, ctx));
    const progress = progressReporter(ctx, app);
    const owner = options.owner(ctx);
    // 2025-11-25 sessions are asked by a form request; 2026-07-28 clients, which take no server-to-client requests,
    // by answering input_required (the gate's InputRequired) and a retried call.
    const elicits = canElicit(ctx);
    const askHuman: AskHuman =
      elicits && canPush(ctx) ? (prompt) => askThroughForm(ctx, prompt, progress) : null;
    // A link the gate asked this 2026-07-28 client to open, sent back as the call's input request.
    const asked: { link: Link | null } = { link: null };
    const openUrl = linkOpener(server, ctx, app, (link) => {
      asked.link = link;
    });
    const call: CallContext = {
      caller: {
        actor,
        owner,
        askHuman,
        ...(elicits && !canPush(ctx) ? { inputRound: inputRound(ctx) } : {}),
        signal: ctx.mcpReq.signal,
        ...(openUrl ? { openUrl } : {}),
      },
      reportProgress: progress?.report ?? null,
    };
    try {
      const input = parseArguments(tool, entry.strict, args);
      if (!input.success) throw invalidInput(tool, input.error.issues);
      const output = await tool.handler(input.data, context, call);
      // A result that breaks the tool's own output schema is a bug here, never sent as if valid.
      const checked = entry.output.safeParse(output);
      if (!checked.success)
        throw new Error(`${tool.name} output breaks its schema: ${checked.error.message}`);
      if (asked.link) return askToOpen(asked.link);
      return {
        content: [{ type: "text", text: `${tool.summarize(output)}\n\n${JSON.stringify(output, null, 2)}` }],
        structuredContent: output,
      };
    } catch (error) {
      if (error instanceof InputRequired) return askForm(error);
      const refusal =
        error instanceof GateError
          ? error
          : new GateError(
              "INTERNAL_ERROR",
              "deletegate failed to handle this call; the operator's log (stderr) has the details.",
            );
      if (!(error instanceof GateError))
        app.logger.error({ err: error, tool: tool.name }, "tool handler failed");
      if (tool.refusalEvent) app.audit.record(refusalEntry(tool, args, actor, refusal));
      return { content: [{ type: "text", text: `${refusal.code}: ${refusal.message}` }], isError: true };
    }
  };

  server.setRequestHandler("tools/list", () => ({ tools }));
  server.setRequestHandler("tools/call", async (request, ctx) => {
    const entry = TOOL_TABLE.get(request.params.name);
    const result: CallToolResult | InputRequiredResult = entry
      ? await callTool(entry, request.params.arguments ?? {}, ctx)
      : {
          content: [
            {
              type: "text",
              text: `INVALID_INPUT: No tool named ${JSON.stringify(displayId(request.params.name))}; tools/list names the tools.`,
            },
          ],
          isError: true,
        };
    if (isInputRequiredResult(result)) return result;
    return server.projectCallToolResult(result, entry?.listing.outputSchema);
  });
  return server;
}
