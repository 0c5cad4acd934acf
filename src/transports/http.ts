// HTTP mode: Streamable HTTP at /mcp with stateful sessions, bearer tokens, Host/Origin checks and idle expiry.
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { type App, shutdownOnSignals } from "../app.js";
import { maxMessageBytes } from "../config.js";
import { CONSOLE_PATH, ConsoleServer } from "../console/api.js";
import { createServer } from "../server.js";
import { ABORTED, drain, readJson } from "./http-body.js";

export const MCP_PATH = "/mcp";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
/** An IPv4 loopback literal; a name like "127.attacker.example" is not one (DNS rebinding). */
const LOOPBACK_V4 = /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A client has this long to send its headers, and this long for the whole request, before it is cut off. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpOptions {
  host: string;
  port: number;
  version: string;
  /** A session unused this long is closed. */
  sessionIdleMs: number;
  /** Sessions open at once; a new one beyond it is refused with 503 until idle ones are reaped. */
  maxSessions: number;
  /** `deletegate console`: the approval console only, no MCP at /mcp (stdio servers serve the agents). */
  consoleOnly?: boolean;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  /** The token name that opened the session; no other token may use it. */
  owner: string | null;
  lastSeen: number;
}

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || LOOPBACK_V4.test(host);
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

/** An attacker-chosen header value, short enough to quote in an answer or a log line. */
function clip(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
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
  /** The approval console at /console/ (SPEC §10). */
  private readonly console: ConsoleServer;

  constructor(
    private readonly app: App,
    private readonly options: HttpOptions,
  ) {
    this.bodyLimit = maxMessageBytes(app.config);
    this.console = new ConsoleServer(app, () =>
      (app.live.current.approval?.publicUrl ?? "").startsWith("https://"),
    );
    this.http = createHttpServer(
      {
        // Slow clients (slowloris) are cut off instead of holding a connection open indefinitely.
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: 1_000,
        // A request without Host reaches checkHostAndOrigin, which refuses it (and logs it) like a foreign one.
        requireHostHeader: false,
      },
      (req, res) => {
        this.handle(req, res).catch((error: Error) => {
          app.logger.error({ err: error }, "http request failed");
          jsonRpcError(res, 500, "Internal server error");
          drain(req);
        });
      },
    );
    this.http.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.clientError(error, socket),
    );
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
    this.app.setConsoleOrigin(`http://${host}:${port}`);
    return `http://${host}:${port}${this.options.consoleOnly ? `${CONSOLE_PATH}/` : MCP_PATH}`;
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

  /**
   * Answers a refused request and logs it (never a header value: a wrong token may be one character off a real
   * one). `client` is the token's name once the caller is known.
   */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message: string,
    options: { client?: string | null; headers?: Record<string, string> } = {},
  ): void {
    this.logRefusal(req, status, options.client ?? null, message);
    jsonRpcError(res, status, message, options.headers);
    drain(req);
  }

  private logRefusal(req: IncomingMessage, status: number, client: string | null, why: string): void {
    this.app.logger.warn(
      {
        status,
        method: req.method,
        // The path only: a query string may carry a credential.
        path: clip(new URL(req.url ?? "/", "http://deletegate").pathname),
        remote: req.socket.remoteAddress,
        ...(client ? { client } : {}),
        why,
      },
      "http request refused",
    );
  }

  /** Hands a request to the MCP transport; what it refuses (bad JSON-RPC, wrong Accept …) is logged too. */
  private async forward(
    transport: StreamableHTTPServerTransport,
    req: IncomingMessage,
    res: ServerResponse,
    client: string | null,
    body?: unknown,
  ): Promise<void> {
    res.once("finish", () => {
      if (res.statusCode >= 400) this.logRefusal(req, res.statusCode, client, "refused by the MCP transport");
    });
    await transport.handleRequest(req, res, body);
  }

  /**
   * A connection Node refused before any request reached handle(): oversized headers, a slow client, bytes that
   * are not HTTP. Answered as Node would (when nothing was sent yet), and logged.
   */
  private clientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const status =
      error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    this.app.logger.warn(
      { status, code: error.code, remote: (socket as Socket).remoteAddress },
      "http connection refused",
    );
    const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && !response?.headersSent) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    }
    socket.destroy();
  }

  /**
   * DNS rebinding: a loopback server answers only loopback Host names (and the host of `approval.publicUrl`, where
   * people's browsers reach the console through a proxy), and any Origin must be that host.
   */
  private checkHostAndOrigin(req: IncomingMessage): string | null {
    const host = req.headers.host ?? "";
    const publicUrl = this.app.live.current.approval?.publicUrl;
    const publicHost = publicUrl ? new URL(publicUrl).host : null;
    if (isLoopback(this.options.host) && !isLoopback(hostname(host)) && host !== publicHost)
      return `Invalid Host header: ${clip(host)}`;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== "null") {
      let originHost = "";
      try {
        originHost = new URL(origin).host;
      } catch {
        return `Invalid Origin header: ${clip(origin)}`;
      }
      if (originHost !== host) return `Invalid Origin header: ${clip(origin)}`;
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
      const why = "Unauthorized: send Authorization: Bearer <token> with a token from http.tokens";
      this.refuse(req, res, 401, why, { headers: { "www-authenticate": 'Bearer realm="deletegate"' } });
      return undefined;
    }
    return name;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://deletegate");
    if (url.pathname === CONSOLE_PATH || url.pathname.startsWith(`${CONSOLE_PATH}/`)) {
      const refusal = this.checkHostAndOrigin(req);
      if (refusal) return this.refuse(req, res, 403, `Forbidden: ${refusal}`);
      return this.console.handle(req, res, url);
    }
    if (this.options.consoleOnly) {
      return this.refuse(req, res, 404, `Not found: this is the approval console, at ${CONSOLE_PATH}/`);
    }
    if (url.pathname !== MCP_PATH) {
      return this.refuse(req, res, 404, `Not found: MCP is served at ${MCP_PATH}`);
    }
    const refusal = this.checkHostAndOrigin(req);
    if (refusal) return this.refuse(req, res, 403, `Forbidden: ${refusal}`);
    const owner = this.authenticate(req, res);
    if (owner === undefined) return;

    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = this.sessions.get(sessionId);
      // Another token's session is answered exactly like an unknown one.
      if (!session || session.owner !== owner) {
        const why = "Session not found: it expired or was closed; initialize a new session";
        return this.refuse(req, res, 404, why, { client: owner });
      }
      session.lastSeen = Date.now();
      if (req.method !== "POST") return this.forward(session.transport, req, res, owner);
      const body = await this.readBody(req, res, owner);
      if (body) await this.forward(session.transport, req, res, owner, body.json);
      return;
    }

    if (req.method !== "POST") {
      const why = "Bad Request: send Mcp-Session-Id, or POST initialize to start a session";
      return this.refuse(req, res, 400, why, { client: owner });
    }
    const body = await this.readBody(req, res, owner);
    if (!body) return;
    if (!isInitializeRequest(body.json)) {
      return this.refuse(req, res, 400, "Bad Request: no session; the first request must be initialize", {
        client: owner,
      });
    }
    if (this.sessions.size >= this.options.maxSessions) await this.reap();
    if (this.sessions.size >= this.options.maxSessions) {
      return this.refuse(req, res, 503, "Too many open sessions; close unused ones or retry later", {
        client: owner,
        headers: { "retry-after": "5" },
      });
    }
    await this.openSession(owner, req, res, body.json);
  }

  /** A POST's JSON body; undefined when the request was refused (or the client went away). */
  private async readBody(
    req: IncomingMessage,
    res: ServerResponse,
    client: string | null,
  ): Promise<{ json: unknown } | undefined> {
    // Checked before reading, so a form post or a text body costs nothing (and no session is built for it).
    if (!(req.headers["content-type"] ?? "").includes("application/json")) {
      this.refuse(req, res, 415, "Unsupported Media Type: send Content-Type: application/json", { client });
      return undefined;
    }
    const body = await readJson(req, this.bodyLimit);
    if (body === ABORTED) return undefined;
    if (body === "too-large") {
      this.refuse(req, res, 413, `Request body larger than ${this.bodyLimit} bytes`, { client });
      return undefined;
    }
    if (body === "invalid") {
      this.refuse(req, res, 400, "Parse error: the body is not JSON", { client });
      return undefined;
    }
    return { json: body };
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
    await this.forward(transport, req, res, owner, body);
  }
}

export async function serveHttp(app: App, options: HttpOptions): Promise<HttpTransportServer> {
  const server = new HttpTransportServer(app, options);
  const url = await server.listen();
  if (options.consoleOnly) {
    app.logger.info({ url, store: app.store.kind }, "deletegate approval console ready");
  } else {
    app.logger.info(
      { url, tokens: app.config.http.tokens.map((token) => token.name), store: app.store.kind },
      "deletegate ready on HTTP",
    );
  }
  if (!options.consoleOnly && app.config.http.tokens.length === 0) {
    app.logger.warn(
      "no http.tokens configured: any local process can use this server (allowed on loopback only)",
    );
  }
  shutdownOnSignals(app, () => server.close());
  await app.runner.resumeAll();
  app.approvals.startSweeping();
  return server;
}
