// stdio mode: one client, JSON-RPC on stdout and nothing else; the actor is the client's name from initialize.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { type App, shutdownOnSignals } from "../app.js";
import { maxMessageBytes } from "../config.js";
import { createServer } from "../server.js";
import { LineBuffer } from "./line-buffer.js";

export async function serveStdio(app: App, version: string): Promise<void> {
  const server = createServer(app, {
    version,
    actor: (mcp) => mcp.server.getClientVersion()?.name ?? "unknown-client",
    owner: () => null,
  });
  const transport = new StdioServerTransport();
  // The SDK's buffer drops a message over 10 MB (and the session with it) and copies what it holds on every
  // chunk: ours takes what maxIdsPerCall allows, as the HTTP body cap does, in linear time. It replaces the
  // SDK's private field, so an SDK that renames it fails here, at start-up, not silently.
  if (!("_readBuffer" in transport)) throw new Error("StdioServerTransport has no _readBuffer to replace");
  Object.assign(transport, { _readBuffer: new LineBuffer(maxMessageBytes(app.config)) });
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
  app.approvals.startSweeping();
  if (app.config.approval && !app.store.shared) {
    // Said once, at start: no console process can see this process's own memory store.
    app.logger.warn(
      "approval mode with the memory store: no `deletegate console` can see these jobs; use a sqlite or redis store",
    );
  }
}
