// HTTP mode: Streamable HTTP at /mcp with stateful sessions, bearer tokens, Host/Origin checks and idle expiry.
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { type App, shutdownOnSignals } from "../app.js";
import { createServer } from "../server.js";

export const MCP_PATH = "/mcp";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export interface HttpOptions {
  host: string;
  port: number;
  version: string;
  /** A session unused this long is closed. */
  sessionIdleMs: number;
  /** Sessions open at once; a new one beyond it is refused with 503 until idle ones are reaped. */
  maxSessions: number;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  /** The token name that opened the session; no other token may use it. */
  owner: string | null;
  lastSeen: number;
}

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || host.startsWith("127.");
}

/** Matches a presented bearer token against every configured one in constant time; the token's name or null. */
export function tokenName(
  presented: string,
  tokens: readonly { name: string; token: string }[],
): string | null {
  const digest = createHash("sha256").update(presented).digest();
  let match: string | null = null;
  // No early exit: every configured token is compared, so timing says nothing about which one matched.
  for (const candidate of tokens) {
    const expected = createHash("sha256").update(candidate.token).digest();
    if (timingSafeEqual(digest, expected) && match === null) match = candidate.name;
  }
  return match;
}

function jsonRpcError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

/** Reads a JSON body up to `limit` bytes; "too-large" past it, "invalid" when it is not JSON. */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown | "too-large" | "invalid"> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Past the limit the rest is read and dropped, so the client, still sending, can read the 413; past the
  // hard cap the connection is cut instead.
  const hardCap = limit * 4;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > hardCap) {
      req.destroy();
      return "too-large";
    }
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  if (size > limit) return "too-large";
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return "invalid";
  }
}

/** The host part of a Host header ("127.0.0.1:8808" → "127.0.0.1", "[::1]:80" → "[::1]"). */
function hostname(hostHeader: string): string {
  return hostHeader.startsWith("[")
    ? hostHeader.slice(0, hostHeader.indexOf("]") + 1)
    : (hostHeader.split(":")[0] ?? "");
}

export class HttpTransportServer {
  private readonly sessions = new Map<string, Session>();
  private readonly http: Server;
  private readonly reaper: NodeJS.Timeout;
  /** Large enough for maxIdsPerCall ids of 512 characters, and no larger. */
  private readonly bodyLimit: number;

  constructor(
    private readonly app: App,
    private readonly options: HttpOptions,
  ) {
    this.bodyLimit = 1024 * 1024 + app.config.limits.maxIdsPerCall * 600;
    this.http = createHttpServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        app.logger.error({ err: error }, "http request failed");
        jsonRpcError(res, 500, "Internal server error");
      });
    });
    this.reaper = setInterval(
      () => void this.reap(),
      Math.min(60_000, Math.max(1_000, options.sessionIdleMs / 2)),
    );
    this.reaper.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(this.options.port, this.options.host, () => resolve());
    });
    const address = this.http.address();
    const port = typeof address === "object" && address ? address.port : this.options.port;
    const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${port}${MCP_PATH}`;
  }

  async close(): Promise<void> {
    clearInterval(this.reaper);
    for (const id of [...this.sessions.keys()]) await this.closeSession(id);
    // Open keep-alive and SSE connections would hold close() for seconds: end them first.
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }

  /** Closes sessions idle longer than sessionIdleMs. */
  async reap(now = Date.now()): Promise<number> {
    let closed = 0;
    for (const [id, session] of this.sessions) {
      if (now - session.lastSeen > this.options.sessionIdleMs) {
        await this.closeSession(id);
        closed++;
      }
    }
    if (closed > 0) this.app.logger.info({ closed, open: this.sessions.size }, "idle sessions closed");
    return closed;
  }

  private async closeSession(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    await session.server.close().catch(() => undefined);
  }

  /** DNS rebinding: a loopback server answers only loopback Host names, and any Origin must be that host. */
  private checkHostAndOrigin(req: IncomingMessage): string | null {
    const host = req.headers.host ?? "";
    if (isLoopback(this.options.host) && !isLoopback(hostname(host))) return `Invalid Host header: ${host}`;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== "null") {
      let originHost = "";
      try {
        originHost = new URL(origin).host;
      } catch {
        return `Invalid Origin header: ${origin}`;
      }
      if (originHost !== host) return `Invalid Origin header: ${origin}`;
    } else if (origin === "null") {
      return "Invalid Origin header: null";
    }
    return null;
  }

  /** The caller's token name; undefined when the request must be refused (401 already sent). */
  private authenticate(req: IncomingMessage, res: ServerResponse): string | null | undefined {
    const tokens = this.app.config.http.tokens;
    if (tokens.length === 0) return null;
    const header = req.headers.authorization ?? "";
    const presented = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const name = presented ? tokenName(presented, tokens) : null;
    if (name === null) {
      jsonRpcError(
        res,
        401,
        "Unauthorized: send Authorization: Bearer <token> with a token from http.tokens",
        {
          "www-authenticate": 'Bearer realm="deletegate"',
        },
      );
      return undefined;
    }
    return name;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://deletegate");
    if (url.pathname !== MCP_PATH) return jsonRpcError(res, 404, `Not found: MCP is served at ${MCP_PATH}`);
    const refusal = this.checkHostAndOrigin(req);
    if (refusal) return jsonRpcError(res, 403, `Forbidden: ${refusal}`);
    const owner = this.authenticate(req, res);
    if (owner === undefined) return;

    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = this.sessions.get(sessionId);
      // Another token's session is answered exactly like an unknown one.
      if (!session || session.owner !== owner) {
        return jsonRpcError(
          res,
          404,
          "Session not found: it expired or was closed; initialize a new session",
        );
      }
      session.lastSeen = Date.now();
      if (req.method === "POST") {
        const body = await readJson(req, this.bodyLimit);
        if (body === "too-large")
          return jsonRpcError(res, 413, `Request body larger than ${this.bodyLimit} bytes`);
        if (body === "invalid") return jsonRpcError(res, 400, "Parse error: the body is not JSON");
        return session.transport.handleRequest(req, res, body);
      }
      return session.transport.handleRequest(req, res);
    }

    if (req.method !== "POST") {
      return jsonRpcError(
        res,
        400,
        "Bad Request: send Mcp-Session-Id, or POST initialize to start a session",
      );
    }
    const body = await readJson(req, this.bodyLimit);
    if (body === "too-large")
      return jsonRpcError(res, 413, `Request body larger than ${this.bodyLimit} bytes`);
    if (body === "invalid") return jsonRpcError(res, 400, "Parse error: the body is not JSON");
    if (!isInitializeRequest(body)) {
      return jsonRpcError(res, 400, "Bad Request: no session; the first request must be initialize");
    }
    if (this.sessions.size >= this.options.maxSessions) await this.reap();
    if (this.sessions.size >= this.options.maxSessions) {
      return jsonRpcError(res, 503, "Too many open sessions; close unused ones or retry later", {
        "retry-after": "5",
      });
    }
    await this.openSession(owner, req, res, body);
  }

  private async openSession(owner: string | null, req: IncomingMessage, res: ServerResponse, body: unknown) {
    const server = createServer(this.app, {
      version: this.options.version,
      // Over HTTP the token's name is the actor; without tokens (loopback only) the client's name, as on stdio.
      actor: (mcp) => owner ?? mcp.server.getClientVersion()?.name ?? "unknown-client",
      owner: () => owner,
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: this.bodyLimit,
      onsessioninitialized: (id) => {
        this.sessions.set(id, { transport, server, owner, lastSeen: Date.now() });
      },
      onsessionclosed: (id) => {
        this.sessions.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }
}

export async function serveHttp(app: App, options: HttpOptions): Promise<HttpTransportServer> {
  const server = new HttpTransportServer(app, options);
  const url = await server.listen();
  app.logger.info(
    { url, tokens: app.config.http.tokens.map((token) => token.name), store: app.store.kind },
    "deletegate ready on HTTP",
  );
  if (app.config.http.tokens.length === 0) {
    app.logger.warn(
      "no http.tokens configured: any local process can use this server (allowed on loopback only)",
    );
  }
  shutdownOnSignals(app, () => server.close());
  await app.runner.resumeAll();
  return server;
}
