// The baseline of measures 2 and 5: a bare MCP SDK server on stdio with one "echo" tool taking dry_run_delete's input
// shape (backend, target, ids, reason) and answering a small summary, as a plain server would write it. Plain .mjs so
// it starts as node on JS, exactly like dist/cli.js (tsx loading would make the baseline look slower).
//   node tools/bench/measures/bare-server.mjs
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ECHO } from "./echo-tool.mjs";

const server = new McpServer({ name: "bare-echo", version: "1.0.0" }, { capabilities: { tools: {} } });

server.registerTool(
  ECHO.name,
  { description: ECHO.description, inputSchema: ECHO.input, outputSchema: ECHO.output },
  ECHO.handler,
);

await server.connect(new StdioServerTransport());
