// The baseline of measure 2: bare-server.mjs's echo tool on the SDK deletegate itself runs on
// (@modelcontextprotocol/server, v2, served by serveStdio as deletegate is), so the ratio is what deletegate adds.
//   node tools/bench/measures/bare-server-v2.mjs
import { McpServer } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { z } from "zod";
import { ECHO } from "./echo-tool.mjs";

serveStdio(() => {
  const server = new McpServer({ name: "bare-echo", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.registerTool(
    ECHO.name,
    { description: ECHO.description, inputSchema: z.object(ECHO.input), outputSchema: z.object(ECHO.output) },
    ECHO.handler,
  );
  return server;
});
