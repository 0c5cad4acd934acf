// dry_run_delete: previews a delete and stores the plan that execute_delete may run; sends nothing to the backend.
import { z } from "zod";
import { defineTool, ID_LIST } from "./tool.js";

export const dryRunDelete = defineTool({
  name: "dry_run_delete",
  title: "Preview a delete (dry run)",
  description:
    "Previews deleting ids from a backend: validates, dedupes and batches them, checks policy, and returns a plan with exact counts; nothing is deleted. " +
    "Show the person the counts, then call execute_delete with the plan_id (and the confirmation token, in token mode).",
  inputSchema: {
    backend: z.string().describe("Backend name from list_backends"),
    // Listed as an object but parsed as is: the kind's strict target schema (policy) then sees every own key,
    // `__proto__` included, which a zod record would drop silently.
    target: z
      .unknown()
      .meta({ type: "object", propertyNames: { type: "string" }, additionalProperties: {} })
      .optional()
      .describe("The kind's target fields, e.g. {dataset_id}; omit for kinds without a target"),
    ids: ID_LIST.describe(
      "Ids to delete (strings or numbers); duplicates and invalid ids are reported, not sent",
    ),
    reason: z
      .string()
      .optional()
      .describe("Why these items must be deleted; recorded, audited and sent to the backend where supported"),
  },
  outputSchema: {
    plan_id: z.string(),
    backend: z.string(),
    kind: z.string(),
    target: z.record(z.string(), z.unknown()).nullable(),
    reason: z.string(),
    counts: z.object({
      received: z.number(),
      unique: z.number(),
      duplicates: z.number(),
      invalid: z.number(),
      to_delete: z.number(),
    }),
    invalid_ids: z.array(z.object({ id: z.string(), error: z.string() })),
    batches: z.object({ count: z.number(), size: z.number() }),
    sample_ids: z.array(z.string()),
    notes: z.array(z.string()),
    confirmation: z.object({
      mode: z.enum(["token", "human"]),
      token: z.string().optional(),
      expires_at: z.string(),
    }),
    next_step: z.string(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  idListArgument: "ids",
  refusalEvent: "plan.refused",
  handler: async (input, { gate }, { caller }) => gate.dryRun(input, caller),
  summarize: (plan) =>
    `Plan ${plan.plan_id}: ${plan.counts.to_delete} to delete on ${plan.backend} in ${plan.batches.count} batch(es) ` +
    `(${plan.counts.received} received, ${plan.counts.duplicates} duplicates, ${plan.counts.invalid} invalid). ${plan.next_step}`,
});
