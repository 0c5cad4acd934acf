// HTTP mode: Streamable HTTP at /mcp and the approval console at /console/, behind the guards of http-guards.ts. At
// /mcp, MCP 2025-11-25 clients get the sessions of http-sessions.ts, and 2026-07-28 requests (which carry their
// revision in each request) are served one by one, statelessly, by the SDK's handler.
import { randomUUID } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Duplex } from "node:stream";
import {
  type NodeIncomingMessageLike,
  type NodeMcpRequestHandler,
  NodeStreamableHTTPServerTransport,
  toNodeHandler,
} from "@modelcontextprotocol/node";
import {
  type AuthInfo,
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  type McpHttpHandler,
} from "@modelcontextprotocol/server";
import { type App, shutdownOnSignals } from "../app.js";
import { maxMessageBytes, maxMessageValues } from "../config.js";
import { CONSOLE_PATH, ConsoleServer } from "../console/api.js";
import { clientName, createServer } from "../server.js";
import { ABORTED, drain, readJson } from "./http-body.js";
import { HttpGuards, jsonRpcError } from "./http-guards.js";
import { CallerLoad, type Charge, messageCost, tokenAllowance } from "./http-load.js";
import { type Reservation, Sessions, sessionShare } from "./http-sessions.js";

// The CLI checks the bind address through this module, its one HTTP import.
export { isLoopback } from "./http-guards.js";

export const MCP_PATH = "/mcp";
/** A client has this long to send its headers, and this long for the whole request, before it is cut off. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The caller as the SDK's handler carries it to the per-request server: the token's name as clientId ("" without
 * tokens; names are never empty). The token itself is never passed on.
 */
function callerAuth(owner: string | null): AuthInfo {
  return { token: "", clientId: owner ?? "", scopes: [] };
}

function ownerOf(auth: AuthInfo | undefined): string | null {
  return auth?.clientId ? auth.clientId : null;
}

/** The headers of a request, for the SDK's routing check (which reads the body already parsed, not the stream). */
function headersOnly(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return new Request(`http://deletegate${MCP_PATH}`, { method: req.method ?? "POST", headers });
}

/** One JSON-RPC message's shape: an object, not a batch. */
function isMessage(json: unknown): boolean {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

export interface HttpOptions {
  host: string;
  port: number;
  version: string;
  /** A session unused this long is closed. */
  sessionIdleMs: number;
  /**
   * Sessions open at once; a new one beyond it is refused with 503 until idle ones are reaped. Each token may hold
   * its share of them (sessionShare), so one token cannot take them all.
   */
  maxSessions: number;
  /** `deletegate console`: the approval console only, no MCP at /mcp (stdio servers serve the agents). */
  consoleOnly?: boolean;
}

export class HttpTransportServer {
  private readonly sessions: Sessions;
  private readonly guards: HttpGuards;
  private readonly http: Server;
  /** Large enough for maxIdsPerCall ids of 512 characters, and no larger. */
  private readonly bodyLimit: number;
  /** The most JSON values a message may hold: maxIdsPerCall ids and room for the rest. */
  private readonly valueLimit: number;
  /** What each token's requests in flight hold, bounded (http-load.ts). */
  private readonly load: CallerLoad;
  /** The approval console at /console/ (SPEC §10). */
  private readonly console: ConsoleServer;
  /** MCP 2026-07-28: one server per request, no session. */
  private readonly stateless: McpHttpHandler;
  private readonly serveStateless: NodeMcpRequestHandler;

  constructor(
    private readonly app: App,
    private readonly options: HttpOptions,
  ) {
    this.bodyLimit = maxMessageBytes(app.config);
    this.valueLimit = maxMessageValues(app.config);
    this.load = new CallerLoad(tokenAllowance(this.bodyLimit, this.valueLimit));
    this.guards = new HttpGuards(app, options.host);
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
      this.guards.clientError(error, socket),
    );
    this.sessions = new Sessions(app.logger, {
      idleMs: options.sessionIdleMs,
      max: options.maxSessions,
      perOwner: sessionShare(options.maxSessions, app.config.http.tokens.length),
    });
    const onerror = (error: Error) => app.logger.debug({ err: error }, "mcp request not served");
    this.stateless = createMcpHandler(
      ({ authInfo }) => {
        const owner = ownerOf(authInfo);
        return createServer(app, {
          version: options.version,
          actor: (mcp, ctx) => owner ?? clientName(mcp, ctx) ?? "unknown-client",
          owner: () => owner,
        });
      },
      // 2025-11-25 requests never reach it (they go to the sessions).
      { legacy: "reject", onerror, maxRequestBodySize: this.bodyLimit },
    );
    this.serveStateless = toNodeHandler(this.stateless, { onerror, maxRequestBodySize: this.bodyLimit });
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
    await this.sessions.closeAll();
    await this.stateless.close();
    // Open keep-alive and SSE connections would hold close() for seconds: end them first.
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }

  /** Closes sessions idle longer than sessionIdleMs. */
  reap(now = Date.now()): Promise<number> {
    return this.sessions.reap(now);
  }

  /** Hands a request to the MCP transport; what it refuses (bad JSON-RPC, wrong Accept …) is logged too. */
  private async forward(
    transport: NodeStreamableHTTPServerTransport,
    req: IncomingMessage,
    res: ServerResponse,
    client: string | null,
    body?: unknown,
  ): Promise<void> {
    this.logRefusalOf(req, res, client);
    await transport.handleRequest(req, res, body);
  }

  /**
   * Hands a 2026-07-28 request to the SDK's stateless handler, with the body's bytes as they came (already read and
   * capped here; the SDK parses them again rather than this re-serializing them); what it refuses is logged too.
   */
  private async forwardStateless(
    req: IncomingMessage,
    res: ServerResponse,
    client: string | null,
    bytes: Buffer,
  ): Promise<void> {
    this.logRefusalOf(req, res, client);
    const request: NodeIncomingMessageLike = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      auth: callerAuth(client),
      async *[Symbol.asyncIterator]() {
        yield bytes;
      },
    };
    await this.serveStateless(request, res);
  }

  private logRefusalOf(req: IncomingMessage, res: ServerResponse, client: string | null): void {
    res.once("finish", () => {
      if (res.statusCode >= 400)
        this.guards.logRefusal(req, res.statusCode, client, "refused by the MCP transport");
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const guards = this.guards;
    const url = new URL(req.url ?? "/", "http://deletegate");
    if (url.pathname === CONSOLE_PATH || url.pathname.startsWith(`${CONSOLE_PATH}/`)) {
      const refusal = guards.checkHostAndOrigin(req);
      if (refusal) return guards.refuse(req, res, 403, `Forbidden: ${refusal}`);
      return this.console.handle(req, res, url);
    }
    if (this.options.consoleOnly) {
      return guards.refuse(req, res, 404, `Not found: this is the approval console, at ${CONSOLE_PATH}/`);
    }
    if (url.pathname !== MCP_PATH) {
      return guards.refuse(req, res, 404, `Not found: MCP is served at ${MCP_PATH}`);
    }
    const refusal = guards.checkHostAndOrigin(req);
    if (refusal) return guards.refuse(req, res, 403, `Forbidden: ${refusal}`);
    const owner = guards.authenticate(req, res);
    if (owner === undefined) return;
    const charge = this.load.open(owner);
    if (!charge) return this.refuseBusy(req, res, owner);
    res.once("close", () => charge.release());

    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = this.sessions.use(sessionId, owner);
      if (!session) {
        const why = "Session not found: it expired or was closed; initialize a new session";
        return guards.refuse(req, res, 404, why, { client: owner });
      }
      if (req.method !== "POST") return this.forward(session.transport, req, res, owner);
      const body = await this.readBody(req, res, owner, charge);
      if (body) await this.forward(session.transport, req, res, owner, body.json);
      return;
    }

    if (req.method !== "POST") {
      const why = "Bad Request: send Mcp-Session-Id, or POST initialize to start a session";
      return guards.refuse(req, res, 400, why, { client: owner });
    }
    const body = await this.readBody(req, res, owner, charge);
    if (!body) return;
    // One message that names its revision in its own _meta (2026-07-28) needs no session. Anything else (a batch
    // included) is 2025-11-25 traffic, which must open a session first.
    if (isMessage(body.json) && !(await isLegacyRequest(headersOnly(req), body.json))) {
      return this.forwardStateless(req, res, owner, body.bytes);
    }
    if (!isInitializeRequest(body.json)) {
      return guards.refuse(req, res, 400, "Bad Request: no session; the first request must be initialize", {
        client: owner,
      });
    }
    const room = await this.sessions.reserve(owner);
    if (room === "full" || room === "share") {
      const why =
        room === "full"
          ? "Too many open sessions; close unused ones or retry later"
          : `Too many open sessions for this token (its share of http.maxSessions is ${this.sessions.share}); ` +
            "close unused ones or retry later";
      return guards.refuse(req, res, 503, why, { client: owner, headers: { "retry-after": "5" } });
    }
    try {
      await this.openSession(owner, req, res, body.json, room);
    } finally {
      room.release();
    }
  }

  /** The token's requests in flight already hold its allowance: this one waits until some end. */
  private refuseBusy(req: IncomingMessage, res: ServerResponse, owner: string | null): void {
    const held = Math.round(this.load.heldBy(owner) / (1024 * 1024));
    const why =
      `Too many requests in flight for this token (they hold about ${held} MiB of its ` +
      `${Math.round(this.load.allowance / (1024 * 1024))} MiB); wait for some to finish or retry later`;
    this.guards.refuse(req, res, 429, why, { client: owner, headers: { "retry-after": "1" } });
  }

  /**
   * A POST's JSON body, charged to the request's token as it is read and before it is parsed; undefined when the
   * request was refused (or the client went away).
   */
  private async readBody(
    req: IncomingMessage,
    res: ServerResponse,
    client: string | null,
    charge: Charge,
  ): Promise<{ json: unknown; bytes: Buffer } | undefined> {
    // Checked before reading, so a form post or a text body costs nothing (and no session is built for it).
    if (!(req.headers["content-type"] ?? "").includes("application/json")) {
      this.guards.refuse(req, res, 415, "Unsupported Media Type: send Content-Type: application/json", {
        client,
      });
      return undefined;
    }
    const body = await readJson(req, {
      bytes: this.bodyLimit,
      values: this.valueLimit,
      take: (bytes, values) => charge.take(messageCost(bytes, values)),
    });
    if (body === ABORTED) return undefined;
    if (body === "too-large") {
      this.guards.refuse(req, res, 413, `Request body larger than ${this.bodyLimit} bytes`, { client });
      return undefined;
    }
    if (body === "too-many-values") {
      const why = `Request body has more than ${this.valueLimit} JSON values (limits.maxIdsPerCall ids and 10000 more)`;
      this.guards.refuse(req, res, 413, why, { client });
      return undefined;
    }
    if (body === "busy") {
      this.refuseBusy(req, res, client);
      return undefined;
    }
    if (body === "invalid") {
      this.guards.refuse(req, res, 400, "Parse error: the body is not JSON", { client });
      return undefined;
    }
    return body;
  }

  /** Opens a session in the place `room` holds, which its session takes over once it is initialized. */
  private async openSession(
    owner: string | null,
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    room: Reservation,
  ) {
    const server = createServer(this.app, {
      version: this.options.version,
      // Over HTTP the token's name is the actor; without tokens (loopback only) the client's name, as on stdio.
      actor: (mcp, ctx) => owner ?? clientName(mcp, ctx) ?? "unknown-client",
      owner: () => owner,
    });
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: this.bodyLimit,
      onsessioninitialized: (id) => {
        room.release();
        this.sessions.add(id, { transport, server, owner, lastSeen: Date.now() });
      },
      onsessionclosed: (id) => {
        this.sessions.forget(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.forget(transport.sessionId);
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
