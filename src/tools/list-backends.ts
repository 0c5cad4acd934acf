// list_backends: what this deletegate can delete, where, and how each kind completes.
import { z } from "zod";
import { CONFIRMATION_MODES } from "../gate/confirmation.js";
import { defineTool } from "./tool.js";

export const listBackends = defineTool({
  name: "list_backends",
  title: "List deletion backends",
  description:
    "Lists the backends this server can delete from, with each one's target fields, batch cap, policy and confirmation mode. " +
    "Start here, then preview a delete with dry_run_delete.",
  inputSchema: {},
  outputSchema: {
    backends: z.array(
      z.object({
        name: z.string(),
        kind: z.string(),
        description: z.string(),
        target_fields: z.array(z.string()),
        max_batch_size: z.number(),
        read_only: z.boolean(),
        allow_targets: z.array(z.string()).nullable(),
        max_items_per_job: z.number(),
        confirmation_mode: z.enum(CONFIRMATION_MODES),
      }),
    ),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handler: async (_input, { gate }, { caller }) => ({ backends: gate.listBackends(caller) }),
  summarize: ({ backends }) =>
    `${backends.length} backend(s): ${backends.map((b) => `${b.name} (${b.kind})`).join(", ")}.`,
});
