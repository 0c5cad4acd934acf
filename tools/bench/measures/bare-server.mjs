// The baseline of measures 2 and 5: a bare MCP SDK server on stdio with one "echo" tool taking dry_run_delete's input
// shape (backend, target, ids, reason) and answering a small summary, as a plain server would write it. Plain .mjs so
// it starts as node on JS, exactly like dist/cli.js (tsx loading would make the baseline look slower).
//   node tools/bench/measures/bare-server.mjs
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "bare-echo", version: "1.0.0" }, { capabilities: { tools: {} } });

server.registerTool(
  "echo",
  {
    description: "Echoes a delete request's shape: backend, target, ids and reason",
    inputSchema: {
      backend: z.string(),
      target: z.record(z.string(), z.unknown()).optional(),
      ids: z.array(z.union([z.string(), z.number()])),
      reason: z.string().optional(),
    },
    outputSchema: {
      backend: z.string(),
      target: z.record(z.string(), z.unknown()).nullable(),
      reason: z.string(),
      received: z.number(),
      sample_ids: z.array(z.string()),
    },
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

await server.connect(new StdioServerTransport());
