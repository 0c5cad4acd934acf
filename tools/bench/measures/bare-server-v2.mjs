// The baseline of measure 2: bare-server.mjs's echo tool on the SDK deletegate itself runs on
// (@modelcontextprotocol/server, v2, served by serveStdio as deletegate is), so the ratio is what deletegate adds.
//   node tools/bench/measures/bare-server-v2.mjs
import { McpServer } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { z } from "zod";

serveStdio(() => {
  const server = new McpServer({ name: "bare-echo", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.registerTool(
    "echo",
    {
      description: "Echoes a delete request's shape: backend, target, ids and reason",
      inputSchema: z.object({
        backend: z.string(),
        target: z.record(z.string(), z.unknown()).optional(),
        ids: z.array(z.union([z.string(), z.number()])),
        reason: z.string().optional(),
      }),
      outputSchema: z.object({
        backend: z.string(),
        target: z.record(z.string(), z.unknown()).nullable(),
        reason: z.string(),
        received: z.number(),
        sample_ids: z.array(z.string()),
      }),
    },
    async ({ backend, target, ids, reason }) => {
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
  );
  return server;
});
