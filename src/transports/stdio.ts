// stdio mode: one client, JSON-RPC on stdout and nothing else; the actor is the client's name from initialize.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { type App, shutdownOnSignals } from "../app.js";
import { createServer } from "../server.js";

export async function serveStdio(app: App, version: string): Promise<void> {
  const server = createServer(app, {
    version,
    actor: (mcp) => mcp.server.getClientVersion()?.name ?? "unknown-client",
    owner: () => null,
  });
  const transport = new StdioServerTransport();
  const shutdown = shutdownOnSignals(app, () => server.close());
  process.stdin.on("end", () => void shutdown("stdin closed"));
  await server.connect(transport);
  // The protocol calls this when the transport closes (the client went away).
  server.server.onclose = () => void shutdown("client disconnected");
  app.logger.info(
    { backends: Object.keys(app.config.backends), store: app.store.kind },
    "deletegate ready on stdio",
  );
  await app.runner.resumeAll();
}
