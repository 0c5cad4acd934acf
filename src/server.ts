// createServer: an McpServer with every tool registered through one wrapper that maps errors and audits refusals.
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  ErrorCode,
  McpError,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { App } from "./app.js";
import type { AuditEntry } from "./audit/index.js";
import type { AskHuman, HumanAnswer, HumanPrompt } from "./gate/confirmation.js";
import { GateError } from "./gate/errors.js";
import { displayId } from "./gate/plan.js";
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

/** The actor as audited: at most MAX_ACTOR_LENGTH characters (code points, so no pair is cut in two). */
export function capActor(actor: string): string {
  if (actor.length <= MAX_ACTOR_LENGTH) return actor;
  return Array.from(actor.slice(0, 2 * MAX_ACTOR_LENGTH))
    .slice(0, MAX_ACTOR_LENGTH)
    .join("");
}

export interface ServerOptions {
  version: string;
  /** The audit actor of a call: the client's name on stdio, the token's name over HTTP. */
  actor(server: McpServer, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): string;
  /** Whose plans and jobs a call may see: null on stdio (one client), the token's name over HTTP. */
  owner(extra: RequestHandlerExtra<ServerRequest, ServerNotification>): string | null;
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
 * What the SDK lists and parses for a tool: the tool's own schema as JSON Schema, over a parser that lets any object
 * through, so the wrapper validates the raw arguments itself and refuses bad ones with INVALID_INPUT (SPEC §6) rather
 * than the SDK's uncoded message; raw values also keep own `__proto__` keys that zod's records would silently drop.
 */
function listedInputSchema(tool: AnyTool) {
  const { $schema: _dialect, ...json } = z.toJSONSchema(z.strictObject(tool.inputSchema), {
    target: "draft-7",
    io: "input",
  });
  const required = [
    ...new Set([...((json.required as string[] | undefined) ?? []), ...(tool.listedRequired ?? [])]),
  ];
  return z.looseObject({}).meta({ ...json, ...(required.length > 0 ? { required } : {}) });
}

/** Per tool, built once for every session: what the SDK lists, and the strict schema the wrapper validates with. */
const INPUT_SCHEMAS = new Map(
  TOOLS.map((tool) => [tool, { listed: listedInputSchema(tool), strict: z.strictObject(tool.inputSchema) }]),
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

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Progress of one call: job progress, and ticks while a person reads the form, always increasing (MCP requires it). */
interface ProgressReporter {
  report(progress: number, total: number, message: string): void;
  tick(message: string): void;
}

function progressReporter(extra: Extra, app: App): ProgressReporter | null {
  const progressToken = extra._meta?.progressToken;
  if (progressToken === undefined) return null;
  // Ticks while waiting come first; job progress is counted on from them.
  let ticks = 0;
  let last = -1;
  const send = (progress: number, total: number | undefined, message: string) => {
    if (progress <= last) return;
    last = progress;
    extra
      .sendNotification({
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

/**
 * Asks the person through the client's form. The request lives only as long as the call: when the client
 * cancels the call (or times it out), the form request is cancelled too and its answer, if any, counts for
 * nothing (SPEC §5).
 */
async function askThroughForm(
  server: McpServer,
  extra: Extra,
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
    const result = await server.server.elicitInput(
      {
        mode: "form",
        message: prompt.message,
        requestedSchema: {
          type: "object",
          properties: {
            confirm_count: {
              type: "integer",
              title: "Number of ids to delete",
              description: `Type ${prompt.expectedCount} to confirm the delete`,
            },
          },
          required: ["confirm_count"],
        },
      },
      { relatedRequestId: extra.requestId, timeout: HUMAN_CONFIRMATION_TIMEOUT_MS, signal: extra.signal },
    );
    return result.action === "accept"
      ? { action: "accept", count: result.content?.confirm_count }
      : ({ action: result.action } as HumanAnswer);
  } catch (error) {
    if (extra.signal.aborted) {
      throw new GateError(
        "CONFIRMATION_DECLINED",
        "The execute_delete call was cancelled or timed out before the person answered; nothing was sent.",
      );
    }
    if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
      throw new GateError(
        "CONFIRMATION_DECLINED",
        "The person did not answer the confirmation in time; nothing was sent.",
      );
    }
    // The client declared elicitation but does not implement it.
    if (error instanceof McpError && error.code === ErrorCode.MethodNotFound) {
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
function openThroughClient(server: McpServer, extra: Extra, url: string, message: string, app: App): void {
  server.server
    .elicitInput(
      { mode: "url", url, message, elicitationId: randomUUID() },
      { relatedRequestId: extra.requestId },
    )
    .catch((error: Error) => app.logger.debug({ err: error }, "approval link not opened by the client"));
}

export function createServer(app: App, options: ServerOptions): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: options.version },
    { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  );
  const context: ToolContext = { gate: app.gate, runner: app.runner, approvals: app.approvals };

  const canElicit = () => {
    const elicitation = server.server.getClientCapabilities()?.elicitation;
    return Boolean(elicitation && (elicitation.form || !elicitation.url));
  };

  for (const [tool, schemas] of INPUT_SCHEMAS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: schemas.listed,
        outputSchema: tool.outputSchema,
        annotations: { title: tool.title, ...tool.annotations },
      },
      async (
        args: Record<string, unknown>,
        extra: RequestHandlerExtra<ServerRequest, ServerNotification>,
      ) => {
        const actor = capActor(options.actor(server, extra));
        const progress = progressReporter(extra, app);
        const askHuman: AskHuman = canElicit()
          ? (prompt) => askThroughForm(server, extra, prompt, progress)
          : null;
        const call: CallContext = {
          caller: {
            actor,
            owner: options.owner(extra),
            askHuman,
            signal: extra.signal,
            ...(server.server.getClientCapabilities()?.elicitation?.url
              ? {
                  openUrl: (url: string, message: string) =>
                    openThroughClient(server, extra, url, message, app),
                }
              : {}),
          },
          reportProgress: progress?.report ?? null,
        };
        try {
          const input = parseArguments(tool, schemas.strict, args);
          if (!input.success) throw invalidInput(tool, input.error.issues);
          const output = await tool.handler(input.data, context, call);
          return {
            content: [
              {
                type: "text" as const,
                text: `${tool.summarize(output)}\n\n${JSON.stringify(output, null, 2)}`,
              },
            ],
            structuredContent: output,
          };
        } catch (error) {
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
          return {
            content: [{ type: "text" as const, text: `${refusal.code}: ${refusal.message}` }],
            isError: true,
          };
        }
      },
    );
  }
  return server;
}
