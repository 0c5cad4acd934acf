// The guards in front of every HTTP request: Host and Origin (DNS rebinding), the bearer token, and how a refusal is
// answered and logged. Threat model: any local process, and any web page a local browser opens, can send requests;
// a request is served only when its Host and Origin name this server and, on /mcp, it carries a configured token.
// Refusals never echo a header value into a log line (a wrong token may be one character off a real one).
import { createHash, timingSafeEqual } from "node:crypto";
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { App } from "../app.js";
import { drain } from "./http-body.js";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
/** An IPv4 loopback literal; a name like "127.attacker.example" is not one (DNS rebinding). */
const LOOPBACK_V4 = /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

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

export function jsonRpcError(
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

export class HttpGuards {
  /** `bindHost`: the address the server listens on; a loopback one answers loopback Host names only. */
  constructor(
    private readonly app: App,
    private readonly bindHost: string,
  ) {}

  /**
   * Answers a refused request and logs it (never a header value: a wrong token may be one character off a real
   * one). `client` is the token's name once the caller is known.
   */
  refuse(
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

  logRefusal(req: IncomingMessage, status: number, client: string | null, why: string): void {
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

  /**
   * A connection Node refused before any request reached the handler: oversized headers, a slow client, bytes that
   * are not HTTP. Answered as Node would (when nothing was sent yet), and logged.
   */
  clientError(error: NodeJS.ErrnoException, socket: Duplex): void {
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
   * Whether a Host header's name is one this server answers to (SPEC §9): one of `http.allowedHosts` when the operator
   * lists them, else a loopback name, the bind address or the host of `approval.publicUrl` (where people's browsers
   * reach the console through a proxy). Whatever the bind address: a server on 0.0.0.0 is as open to a rebound name.
   */
  private hostAllowed(name: string): boolean {
    const listed = this.app.config.http.allowedHosts;
    if (listed) return listed.includes(name);
    const publicUrl = this.app.live.current.approval?.publicUrl;
    return (
      isLoopback(name) ||
      name === hostname(this.bindHost.includes(":") ? `[${this.bindHost}]` : this.bindHost) ||
      (publicUrl !== undefined && publicUrl !== null && name === new URL(publicUrl).hostname)
    );
  }

  /**
   * DNS rebinding: the Host header must name this server (hostAllowed), and any Origin must be that host. Why the
   * request is refused, or null.
   */
  checkHostAndOrigin(req: IncomingMessage): string | null {
    const host = req.headers.host ?? "";
    if (host === "" || !this.hostAllowed(hostname(host).toLowerCase()))
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

  /** The caller's token name (null when no tokens are configured); undefined when refused (401 already sent). */
  authenticate(req: IncomingMessage, res: ServerResponse): string | null | undefined {
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
}
