// The part every simulator shares: a real HTTP server that records requests, injects faults and flags contract breaks.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import {
  applyFault,
  applyFaultAfter,
  closeServer,
  delay,
  FaultInjector,
  type FaultSpec,
  isGone,
  listen,
} from "./faults.js";

export type { FaultSpec } from "./faults.js";

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface RecordedRequest {
  method: string;
  /** Path with the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  /** The status answered; 0 while unanswered, and for resets and hangs. */
  status: number;
  /** When the request arrived (epoch ms). */
  time: number;
  /** When the answer was sent (epoch ms); null while unanswered, and for resets and hangs. */
  answeredAt: number | null;
  /** The injected fault this request got, if any. */
  fault: FaultSpec | null;
  /** The contract route it matched (e.g. "delete", "read"), or "unmatched": how a test tells reads from writes. */
  route: string;
}

/** One incoming request, read whole, as a simulator's handler sees it. */
export interface SimRequest {
  method: string;
  url: URL;
  text: string;
  body: unknown;
  header(name: string): string | undefined;
}

export interface SimReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Route<Name extends string> {
  name: Name;
  /** Methods the contract allows on this path. */
  allowed: string[];
  /** Path parameters, decoded. */
  params?: Record<string, string>;
}

export interface SimulatorSpec<Name extends string> {
  /** The service's name in violation messages, e.g. "Splendor". */
  service: string;
  /** The route of a path (by method where one path serves reads and writes), or null when the contract has no such path. */
  route(pathname: string, method: string): Route<Name> | null;
  /** The body of an injected error status (the service's own error shape). */
  faultBody(status: number): unknown;
  /** The body of the simulator's own 404/405/413 answers. */
  errorBody(message: string): unknown;
  /** Answers a request on a known route with an allowed method; `violate` records a contract break. */
  handle(
    request: SimRequest,
    route: Route<Name>,
    violate: (message: string) => void,
  ): SimReply | Promise<SimReply>;
}

export interface SimulatorServer {
  url: string;
  /** Route names are the spec's; "unmatched" for paths outside the contract. */
  faults: FaultInjector;
  requests: RecordedRequest[];
  /** Every request outside the contract, as a sentence. */
  violations: string[];
  /** How many requests the rate limit answered 429. */
  rateLimited(): number;
  close(): Promise<void>;
}

export interface ServerOptions {
  host?: string;
  port?: number;
  /** Added to every request. */
  latencyMs?: number;
  /** Answers 429 (the service's error body) to requests above this rate; see RateLimit. */
  rateLimit?: RateLimit;
  /** Default true. False: request bodies are dropped once answered (benchmarks of a million ids). */
  recordBodies?: boolean;
}

/**
 * A service's rate limit: at most `requestsPerSecond` requests are processed in any rolling second (a sliding
 * window over arrival times); above it the request gets 429 and is not processed, and does not count. With
 * `retryAfterSeconds` the 429 carries that Retry-After (services differ: some send it, some do not).
 */
export interface RateLimit {
  requestsPerSecond: number;
  retryAfterSeconds?: number;
}

/** The sliding-window limiter: `take(now)` is true when the request fits in the last second's allowance. */
export function slidingWindow(limit: RateLimit): { take(now: number): boolean; limited: () => number } {
  if (!(limit.requestsPerSecond >= 1)) throw new RangeError("rateLimit.requestsPerSecond must be ≥ 1");
  const capacity = Math.floor(limit.requestsPerSecond);
  // Arrival times of the last `capacity` processed requests, as a ring.
  const ring = new Float64Array(capacity).fill(Number.NEGATIVE_INFINITY);
  let next = 0;
  let limited = 0;
  return {
    take(now) {
      // The oldest of the last `capacity` accepted requests must be a full second old.
      if (now - (ring[next] as number) < 1000) {
        limited++;
        return false;
      }
      ring[next] = now;
      next = (next + 1) % capacity;
      return true;
    },
    limited: () => limited,
  };
}

/** Reads the whole body; past the size cap it keeps draining so a 413 reaches the client cleanly. */
function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => resolve({ text: tooLarge ? "" : Buffer.concat(chunks).toString("utf8"), tooLarge }));
    req.on("error", reject);
  });
}

function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (isGone(res)) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export async function startSimulatorServer<Name extends string>(
  spec: SimulatorSpec<Name>,
  options: ServerOptions = {},
): Promise<SimulatorServer> {
  const faults = new FaultInjector();
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const limiter = options.rateLimit ? slidingWindow(options.rateLimit) : null;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://simulator");
    const route = spec.route(url.pathname, method);
    const record: RecordedRequest = {
      method,
      path: url.pathname + url.search,
      headers: { ...req.headers },
      body: undefined,
      status: 0,
      time: Date.now(),
      answeredAt: null,
      fault: null,
      route: route?.name ?? "unmatched",
    };
    res.on("finish", () => {
      record.status = res.statusCode;
      record.answeredAt = Date.now();
    });
    const where = `${method} ${record.path}`;
    const violate = (message: string) => violations.push(`${where}: ${message}`);

    const read = await readBody(req);
    record.body = parseBody(read.text);
    requests.push(record);
    if (options.recordBodies === false) res.on("finish", () => (record.body = undefined));

    // Counted on arrival, as a gateway in front of the service would; a limited request is not processed.
    if (limiter && route && !limiter.take(performance.now())) {
      const retryAfter = options.rateLimit?.retryAfterSeconds;
      sendJson(
        res,
        429,
        spec.faultBody(429),
        retryAfter === undefined ? {} : { "retry-after": String(retryAfter) },
      );
      return;
    }

    if (!(await delay(options.latencyMs ?? 0, res))) return;
    // Faults come before any processing: an injected 503, reset or hang never deletes anything.
    const fault = faults.take(route?.name ?? "unmatched", record);
    record.fault = fault ?? null;
    if (
      fault !== undefined &&
      (await applyFault(fault, req, res, { defaultBody: spec.faultBody })) === "handled"
    ) {
      return;
    }
    if (isGone(res)) return;

    if (read.tooLarge) {
      violate(`body larger than ${MAX_BODY_BYTES} bytes (413).`);
      sendJson(res, 413, spec.errorBody("Request body too large"));
      return;
    }
    if (!route?.allowed.includes(method)) {
      const status = route ? 405 : 404;
      violate(`no such route in the ${spec.service} contract (${status}).`);
      sendJson(res, status, spec.errorBody(`simulator: no route ${method} ${url.pathname}`), {
        ...(route ? { allow: route.allowed.join(", ") } : {}),
      });
      return;
    }
    const request: SimRequest = {
      method,
      url,
      text: read.text,
      body: record.body,
      header: (name) => {
        const value = req.headers[name.toLowerCase()];
        return Array.isArray(value) ? value[0] : value;
      },
    };
    const reply = await spec.handle(request, route, violate);
    if ((await applyFaultAfter(fault, req, res)) === "handled") return;
    sendJson(res, reply.status, reply.body, reply.headers);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      violations.push(`${req.method ?? "?"} ${req.url ?? "?"}: simulator error: ${String(error)}`);
      if (!isGone(res) && !res.headersSent) sendJson(res, 500, spec.errorBody("simulator: internal error"));
    });
  });
  const url = await listen(server, options.host ?? "127.0.0.1", options.port ?? 0);
  return {
    url,
    faults,
    requests,
    violations,
    rateLimited: () => limiter?.limited() ?? 0,
    close: () => closeServer(server),
  };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
