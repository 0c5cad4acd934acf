// The echo tool of the bare baseline servers (bare-server.mjs on the v1 SDK, bare-server-v2.mjs on v2): it takes
// dry_run_delete's input shape (backend, target, ids, reason) and answers a small summary, as a plain server would.
import { z } from "zod";

export const ECHO = {
  name: "echo",
  description: "Echoes a delete request's shape: backend, target, ids and reason",
  input: {
    backend: z.string(),
    target: z.record(z.string(), z.unknown()).optional(),
    ids: z.array(z.union([z.string(), z.number()])),
    reason: z.string().optional(),
  },
  output: {
    backend: z.string(),
    target: z.record(z.string(), z.unknown()).nullable(),
    reason: z.string(),
    received: z.number(),
    sample_ids: z.array(z.string()),
  },
  async handler({ backend, target, ids, reason }) {
    const output = {
      backend,
      target: target ?? null,
      reason: reason ?? "",
      received: ids.length,
      sample_ids: ids.slice(0, 10).map(String),
    };
    return {
      content: [{ type: "text", text: `${ids.length} ids received\n\n${JSON.stringify(output, null, 2)}` }],
      structuredContent: output,
    };
  },
};
