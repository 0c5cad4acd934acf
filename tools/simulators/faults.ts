// Fault injection and server plumbing shared by every backend simulator, so each simulator only describes its API.
import type { IncomingMessage, Server, ServerResponse } from "node:http";

export type FaultSpec =
  /**
   * Delay, then answer normally. With `afterProcessing` the request is processed first and only the answer is
   * delayed: a client that gives up meanwhile never learns that its delete happened.
   */
  | { type: "latency"; ms: number; afterProcessing?: boolean }
  /**
   * Answer this status without processing the request. `body` is sent as JSON, or as text/plain when it
   * is a string; when omitted the simulator's default error body for the status is used. `echoHeaders`
   * adds the request's headers to the body, as a careless service might.
   */
  | { type: "status"; status: number; retryAfterSeconds?: number; body?: unknown; echoHeaders?: boolean }
  /**
   * Destroy the socket (TCP RST) without answering; the request is not processed, unless `afterProcessing`:
   * then it is processed and the answer is lost (an outcome the client cannot know).
   */
  | { type: "reset"; afterProcessing?: boolean }
  /**
   * Never answer; the socket stays open until the client gives up or the server closes. With
   * `afterProcessing` the request is processed first.
   */
  | { type: "hang"; afterProcessing?: boolean };

/** What a rule's `when` sees of a request. */
export interface FaultRequest {
  method: string;
  /** Path with the query string. */
  path: string;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

export interface FaultRule {
  fault: FaultSpec;
  /** How many matching requests get this fault; default 1, `Infinity` for all of them. */
  times?: number;
  /** Route name defined by the simulator (e.g. "delete"); omitted matches any route. */
  route?: string;
  /** Only requests this accepts match (e.g. the ones naming a given id); omitted matches every request. */
  when?: (request: FaultRequest) => boolean;
}

export interface ApplyFaultOptions {
  /** Error body for a status fault that has no `body`, so each simulator keeps its backend's error shape. */
  defaultBody?: (status: number) => unknown;
}

/** An ordered list of fault rules; the first rule matching a request's route is used and consumed. */
export class FaultInjector {
  private readonly rules: {
    fault: FaultSpec;
    remaining: number;
    route: string | undefined;
    when: FaultRule["when"];
  }[] = [];

  add(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new RangeError(`fault rule times must be > 0, got ${times}`);
    this.rules.push({ fault: rule.fault, remaining: times, route: rule.route, when: rule.when });
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** Rules not yet used up. */
  get pending(): number {
    return this.rules.length;
  }

  /**
   * Returns the fault to apply to this request (consuming one use), or undefined. Rules with `when` match only
   * when the request is given and accepted.
   */
  take(route: string, request?: FaultRequest): FaultSpec | undefined {
    const index = this.rules.findIndex(
      (rule) =>
        (rule.route === undefined || rule.route === route) &&
        (rule.when === undefined || (request !== undefined && rule.when(request))),
    );
    if (index === -1) return undefined;
    const rule = this.rules[index];
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(index, 1);
    return rule.fault;
  }
}

/**
 * Waits `ms`, ending early if the client goes away, so a closed simulator leaves no timer behind.
 * Returns false when the response can no longer be written.
 */
export function delay(ms: number, res: ServerResponse): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!isGone(res));
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off("close", onClose);
      resolve(!isGone(res));
    }, ms);
    res.once("close", onClose);
  });
}

/** True when the response was already sent or its socket is gone. */
export function isGone(res: ServerResponse): boolean {
  return res.writableEnded || res.destroyed || res.socket === null || res.socket.destroyed;
}

/** Applies one fault: "continue" means process the request normally, "handled" means stop here. */
export async function applyFault(
  fault: FaultSpec,
  req: IncomingMessage,
  res: ServerResponse,
  options: ApplyFaultOptions = {},
): Promise<"handled" | "continue"> {
  // Applied by the caller once the request is processed (see applyFaultAfter).
  if ("afterProcessing" in fault && fault.afterProcessing) return "continue";
  switch (fault.type) {
    case "latency":
      return (await delay(fault.ms, res)) ? "continue" : "handled";
    case "status": {
      const chosen = fault.body ??
        options.defaultBody?.(fault.status) ?? { detail: `simulator: injected fault ${fault.status}` };
      // A careless service that echoes the request's headers (credentials included) in its error body.
      const body = fault.echoHeaders
        ? typeof chosen === "string"
          ? `${chosen} ${JSON.stringify(req.headers)}`
          : { ...(chosen as object), request_headers: req.headers }
        : chosen;
      const isText = typeof body === "string";
      const headers: Record<string, string> = {
        "content-type": isText ? "text/plain; charset=utf-8" : "application/json",
      };
      if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
      res.writeHead(fault.status, headers);
      res.end(isText ? body : JSON.stringify(body));
      return "handled";
    }
    case "reset":
      // RST rather than FIN, so clients see a connection reset as they would from a failing proxy.
      req.socket.resetAndDestroy();
      return "handled";
    case "hang":
      // Nothing to do: closeServer() destroys the socket if the client never gives up.
      return "handled";
  }
}

/**
 * The part of an `afterProcessing` fault that comes once the request is processed: "send" means answer now,
 * "handled" means the answer is lost (reset, hang, or the client left during the delay).
 */
export async function applyFaultAfter(
  fault: FaultSpec | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<"send" | "handled"> {
  if (fault === undefined || !("afterProcessing" in fault) || !fault.afterProcessing) return "send";
  switch (fault.type) {
    case "latency":
      return (await delay(fault.ms, res)) ? "send" : "handled";
    case "reset":
      req.socket.resetAndDestroy();
      return "handled";
    case "hang":
      return "handled";
  }
}

/** Listens on host:port (0 = OS-chosen) and returns the base URL. */
export function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("simulator: server has no TCP address"));
        return;
      }
      const hostPart = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve(`http://${hostPart}:${address.port}`);
    });
  });
}

/** Stops the server, destroying idle, in-flight and hung connections so tests leak nothing. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
