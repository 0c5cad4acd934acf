// stdio mode: one client, JSON-RPC on stdout and nothing else; the actor is the client's name from initialize.
import { type App, shutdownOnSignals } from "../app.js";
import { maxMessageBytes } from "../config.js";
import { createServer } from "../server.js";
import { StdioTransport } from "./stdio-transport.js";

export async function serveStdio(app: App, version: string): Promise<void> {
  const server = createServer(app, {
    version,
    actor: (mcp) => mcp.server.getClientVersion()?.name ?? "unknown-client",
    owner: () => null,
  });
  // A message takes what maxIdsPerCall allows, as the HTTP body cap does; a longer line closes the session.
  const transport = new StdioTransport(process.stdin, process.stdout, maxMessageBytes(app.config));
  const shutdown = shutdownOnSignals(app, () => server.close());
  // Before connect() starts the transport, so an ended stdin is logged as such (the transport then closes too).
  process.stdin.on("end", () => void shutdown("stdin closed"));
  await server.connect(transport);
  // The protocol calls this when the transport closes (the client went away).
  server.server.onclose = () => void shutdown("client disconnected");
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
