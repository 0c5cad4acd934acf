// What a tool is: one object with name, description, schemas, annotations and a handler that sees a small context.
import type { ToolAnnotations } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { Approvals } from "../approval/approvals.js";
import type { AuditEventName } from "../audit/index.js";
import type { Caller, DeletionGate } from "../gate/gate.js";
import type { Runner } from "../jobs/runner.js";

/** A list of ids: strings or numbers. A long one is checked by isIdList rather than by zod item by item. */
export const ID_LIST = z.array(z.union([z.string(), z.number()]));

/** Exactly what ID_LIST accepts (zod's number refuses NaN and ±Infinity), in one loop with no result per item. */
export function isIdList(value: unknown): value is (string | number)[] {
  if (!Array.isArray(value)) return false;
  // Indexed: a for-of allocates an iterator result per id until the loop is optimised.
  for (let index = 0; index < value.length; index++) {
    const id: unknown = value[index];
    if (typeof id !== "string" && !(typeof id === "number" && Number.isFinite(id))) return false;
  }
  return true;
}

/** What every tool may use: the gate and the jobs, never the raw MCP server or the store. */
export interface ToolContext {
  gate: DeletionGate;
  runner: Runner;
  approvals: Approvals;
}

/** What one call brings: who calls, and how to reach the calling request's client. */
export interface CallContext {
  caller: Caller;
  /** Sends a progress notification tied to this call; null when the client sent no progress token. */
  reportProgress: ((progress: number, total: number, message: string) => void) | null;
}

export interface ToolDefinition<In extends z.ZodRawShape, Out extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  /**
   * Arguments listed as required though parsed as optional: the handler refuses them missing with a telling code
   * (a missing reason is REASON_REQUIRED, not a schema error), and strict clients still see them as required.
   */
  listedRequired?: (keyof In & string)[];
  /** The argument whose schema is ID_LIST (possibly described), which may hold 100,000 ids or more. */
  idListArgument?: keyof In & string;
  /** The audit event written when the handler refuses the call. */
  refusalEvent?: Extract<AuditEventName, "plan.refused" | "delete.refused">;
  handler(
    input: z.output<z.ZodObject<In>>,
    context: ToolContext,
    call: CallContext,
  ): Promise<z.output<z.ZodObject<Out>>>;
  /** One line for the readable text that accompanies the structured result. */
  summarize(output: z.output<z.ZodObject<Out>>): string;
}

// biome-ignore lint/suspicious/noExplicitAny: a list of tools with different schemas
export type AnyTool = ToolDefinition<any, any>;

export function defineTool<In extends z.ZodRawShape, Out extends z.ZodRawShape>(
  tool: ToolDefinition<In, Out>,
): ToolDefinition<In, Out> {
  return tool;
}
