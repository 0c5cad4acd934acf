// stdio mode: one client, JSON-RPC on stdout and nothing else; the actor is the client's name (from initialize for
// MCP 2025-11-25, from each request for 2026-07-28). The SDK's serveStdio reads the first message to tell which.
import { serveStdio as serveMcpStdio } from "@modelcontextprotocol/server/stdio";
import { type App, shutdownOnSignals } from "../app.js";
import { maxMessageBytes } from "../config.js";
import { clientName, createServer } from "../server.js";
import { StdioTransport } from "./stdio-transport.js";

export async function serveStdio(app: App, version: string): Promise<void> {
  // A message takes what maxIdsPerCall allows, as the HTTP body cap does; a longer line closes the session.
  const transport = new StdioTransport(process.stdin, process.stdout, maxMessageBytes(app.config));
  const handle = serveMcpStdio(
    () =>
      createServer(app, {
        version,
        actor: (mcp, ctx) => clientName(mcp, ctx) ?? "unknown-client",
        owner: () => null,
      }),
    {
      transport,
      onerror: (error) => app.logger.debug({ err: error }, "stdio message not served"),
    },
  );
  const shutdown = shutdownOnSignals(app, () => handle.close());
  // An ended stdin is logged as such (the transport then closes too, and the second reason is not logged).
  process.stdin.on("end", () => void shutdown("stdin closed"));
  // The transport closed: the client went away, or sent a line over the cap.
  void transport.closed.then(() => shutdown("client disconnected"));
  app.logger.info(
    { backends: Object.keys(app.config.backends), store: app.store.kind },
    "deletegate ready on stdio",
  );
  await app.runner.resumeAll();
  app.approvals.startSweeping();
  if (app.config.approval && !app.store.shared) {
    // Said once, at start: no console process can see this process's own memory store.
    app.logger.warn(
      "approval mode with the memory store: no `deletegate console` can see these jobs; use a sqlite or redis store",
    );
  }
}
