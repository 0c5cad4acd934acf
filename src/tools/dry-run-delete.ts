// dry_run_delete: previews a delete and stores the plan that execute_delete may run; sends nothing to the backend.
import { z } from "zod";
import { BACKEND_KINDS } from "../backends/index.js";
import { CONFIRMATION_MODES } from "../gate/confirmation.js";
import { defineTool, ID_LIST } from "./tool.js";

/**
 * The target as listed: every kind's target fields as properties, nothing else, so strict function-calling
 * converters (OpenAI strict mode, Gemini) keep them; which fields a backend takes is checked by the gate.
 */
function targetListing() {
  const properties: Record<string, unknown> = {};
  for (const kind of Object.values(BACKEND_KINDS)) {
    if (!kind.targetSchema) continue;
    const json = z.toJSONSchema(kind.targetSchema, { target: "draft-7", io: "input" }) as {
      properties?: Record<string, { description?: string }>;
    };
    for (const [field, schema] of Object.entries(json.properties ?? {})) {
      const taken = properties[field] as { description: string } | undefined;
      properties[field] = {
        ...schema,
        description: taken ? `${taken.description}, ${kind.kind}` : `Target field of kind ${kind.kind}`,
      };
    }
  }
  return { type: "object", properties, additionalProperties: false };
}

/** What a preview found (SPEC §4); `{ supported: false }` alone for kinds and targets without a read API. */
export const PREVIEW_SCHEMA = z.object({
  supported: z.boolean(),
  checked: z.number().optional(),
  found: z.number().optional(),
  not_found: z.number().optional(),
  already_deleted: z.number().optional(),
  sampled: z.boolean().optional(),
  sample: z.array(z.object({ id: z.string(), summary: z.string().nullable() })).optional(),
  stopped: z.string().optional(),
});

/** The preview in one sentence of the text result. */
function previewLine(preview: z.infer<typeof PREVIEW_SCHEMA> | undefined): string {
  if (!preview) return "";
  if (!preview.supported) return " Preview: this backend cannot read items by id, so nothing was checked.";
  const of = preview.sampled ? ` (a sample${preview.stopped ? `; ${preview.stopped}` : ""})` : "";
  return ` Preview of ${preview.checked} id(s)${of}: ${preview.found} found, ${preview.not_found} not found, ${preview.already_deleted} already deleted.`;
}

export const dryRunDelete = defineTool({
  name: "dry_run_delete",
  title: "Preview a delete (dry run)",
  description:
    "Previews deleting ids from a backend: validates, dedupes and batches them, checks policy, and returns a plan with exact counts; nothing is deleted. " +
    "Show the person the counts, then call execute_delete with the plan_id (and the confirmation token, in token mode).",
  inputSchema: {
    backend: z.string().describe("Backend name from list_backends"),
    // Listed with every kind's fields but parsed as is: the kind's strict target schema (policy) then sees every own
    // key, `__proto__` included, which a zod object would drop silently.
    target: z
      .unknown()
      .meta(targetListing())
      .optional()
      .describe("The kind's target fields, e.g. {dataset_id}; omit for kinds without a target"),
    ids: ID_LIST.optional().describe(
      "Ids to delete (strings or numbers); duplicates and invalid ids are reported, not sent. Give ids or ids_file",
    ),
    ids_file: z
      .string()
      .optional()
      .describe(
        "Instead of ids: the absolute path of a file of ids on the server's machine (one per line, CSV with an id column, a JSON array or JSON lines), under a directory the operator allows",
      ),
    preview: z
      .boolean()
      .optional()
      .describe(
        "Also ask the backend which ids exist (read-only, a sample of large lists), so the person sees what will be deleted",
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
    preview: PREVIEW_SCHEMA.optional(),
    ids_file: z.string().optional(),
    ids_file_sha256: z.string().optional(),
    notes: z.array(z.string()),
    confirmation: z.object({
      mode: z.enum(CONFIRMATION_MODES),
      token: z.string().optional(),
      expires_at: z.string(),
    }),
    next_step: z.string(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  listedRequired: ["reason"],
  idListArgument: "ids",
  refusalEvent: "plan.refused",
  handler: async (input, { gate }, { caller }) => gate.dryRun(input, caller),
  summarize: (plan) =>
    `Plan ${plan.plan_id}: ${plan.counts.to_delete} to delete on ${plan.backend} in ${plan.batches.count} batch(es) ` +
    `(${plan.counts.received} received, ${plan.counts.duplicates} duplicates, ${plan.counts.invalid} invalid)` +
    `${plan.ids_file ? ` from ${plan.ids_file}` : ""}.${previewLine(plan.preview)} ${plan.next_step}`,
});
