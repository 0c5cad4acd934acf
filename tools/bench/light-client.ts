// A small MCP client for the load benchmark (`--client http`): one Streamable HTTP session over node:http with
// keep-alive, JSON-RPC written and read by hand (an SSE answer is scanned for its response). The SDK client with
// Node's fetch and web streams costs the generator a whole core at ~1,500 calls/s on this 2-core machine, so with
// it the generator, not the server, sets the rate; this one costs a fraction of that. It speaks what the server
// must serve any client: initialize, the session header, notifications/initialized, tools/call, DELETE.
import { Agent, type IncomingHttpHeaders, request } from "node:http";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const PROTOCOL_VERSION = "2025-11-25";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The JSON-RPC message with this id in a JSON or SSE body, or null. */
function responseOf(reply: Reply, id: number): { result?: unknown; error?: { message: string } } | null {
  const type = String(reply.headers["content-type"] ?? "");
  const messages = type.startsWith("text/event-stream")
    ? reply.body
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => JSON.parse(line.slice(5)))
    : [JSON.parse(reply.body)];
  return messages.find((message) => message?.id === id) ?? null;
}

export class LightClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly url: URL;
  private session: string | null = null;
  private nextId = 1;

  constructor(
    url: string,
    private readonly token: string,
    private readonly name: string,
  ) {
    this.url = new URL(url);
  }

  async connect(): Promise<void> {
    const id = this.nextId++;
    const reply = await this.post({
      jsonrpc: "2.0",
      id,
      method: "initialize",
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: this.name, version: "1.0.0" },
      },
    });
    const answer = responseOf(reply, id);
    if (reply.status !== 200 || !answer?.result)
      throw new Error(`initialize: HTTP ${reply.status} ${reply.body}`);
    this.session = String(reply.headers["mcp-session-id"] ?? "");
    const initialized = await this.post({ jsonrpc: "2.0", method: "notifications/initialized" });
    if (initialized.status !== 202) throw new Error(`notifications/initialized: HTTP ${initialized.status}`);
  }

  /** tools/call; resolves with the result, rejects on an HTTP or JSON-RPC error. */
  async callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<CallToolResult> {
    const id = this.nextId++;
    const reply = await this.post({ jsonrpc: "2.0", id, method: "tools/call", params });
    const answer = responseOf(reply, id);
    if (reply.status !== 200 || !answer)
      throw new Error(`tools/call: HTTP ${reply.status} ${reply.body.slice(0, 200)}`);
    if (answer.error) throw new Error(`tools/call: ${answer.error.message}`);
    return answer.result as CallToolResult;
  }

  /** Ends the session (DELETE), then the connection. */
  async close(): Promise<void> {
    try {
      if (this.session) await this.send("DELETE", undefined);
    } finally {
      this.agent.destroy();
    }
  }

  private post(message: unknown): Promise<Reply> {
    return this.send("POST", JSON.stringify(message));
  }

  private send(method: "POST" | "DELETE", body: string | undefined): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: "application/json, text/event-stream",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
            ...(this.session
              ? { "mcp-session-id": this.session, "mcp-protocol-version": PROTOCOL_VERSION }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
}
