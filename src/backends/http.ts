// HTTP for adapters: undici with a per-request timeout, JSON bodies, Retry-After parsing and secret redaction.
import type { Agent } from "undici";
import type { BatchOutcome } from "./types.js";

/** The transient answer deletes and reads share: send the same request again after a backoff. */
export type RetryOutcome = Extract<BatchOutcome, { type: "retry" }>;
/** The permanent failure deletes and reads share. */
export type FailedOutcome = Extract<BatchOutcome, { type: "failed" }>;

/**
 * undici is loaded when a plan is made (`loadHttpClientSoon`) or at the first request, not at start-up: nothing
 * before `initialize` needs it, and a server that never deletes never loads it.
 */
let undici: Promise<typeof import("undici")> | null = null;
/** How long `loadHttpClientSoon` lets the answer in hand go out first. */
const LOAD_SOON_MS = 10;
function loadUndici(): Promise<typeof import("undici")> {
  undici ??= import("undici");
  return undici;
}

/**
 * Starts loading undici (once per process) a moment from now, if nothing has yet: called when a plan is made, so
 * the job that may follow does not wait for it (about 60 ms, half of a first small job). Not at once: loading
 * holds the thread, and the answer in hand goes out first. A failure surfaces at the first request.
 */
export function loadHttpClientSoon(): void {
  if (undici !== null) return;
  setTimeout(() => void loadUndici().catch(() => undefined), LOAD_SOON_MS).unref();
}

/**
 * The most bytes read of one backend answer. Far above any contract's largest (a read of 100 LangSmith examples
 * with their inputs and outputs, or a Splendor job listing 1,024 items, is a few hundred KB), so only a broken or
 * hostile backend passes it: its stream is then cut, and the answer is one outside the contract (asked again,
 * never counted), instead of one request holding the whole body (900 MB once took 1 GB of RSS).
 */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const TOO_LARGE = `answer larger than ${MAX_ANSWER_BYTES} bytes, outside any contract`;

export interface HttpResponse {
  type: "response";
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: unknown;
}

/** No answer to use: the connection failed, no answer came in time, or it passed MAX_ANSWER_BYTES. */
export interface HttpNetworkError {
  type: "network-error";
  error: string;
}

export interface HttpRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** A list repeats the parameter once per value, in order (`id=a&id=b`). */
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface HttpClientOptions {
  baseUrl: string;
  timeoutMs: number;
  connections: number;
  /** Headers sent with every request (auth, tenant). */
  headers: Record<string, string>;
  /** Values that must never leave through an error message: the credential. */
  secrets: string[];
}

export class HttpClient {
  /** Made at the first request; closed for good by close(). */
  private agent: Agent | null = null;
  private closed = false;

  /** Each secret as sent, JSON-escaped and URL-encoded; longest first, so no form is cut by a shorter one. */
  private readonly secretForms: string[];

  constructor(private readonly options: HttpClientOptions) {
    const forms = options.secrets
      .filter((secret) => secret.length >= 4)
      .flatMap((secret) => {
        const once = JSON.stringify(secret).slice(1, -1);
        return [secret, once, JSON.stringify(once).slice(1, -1), encodeURIComponent(secret)];
      });
    this.secretForms = [...new Set(forms)].sort((a, b) => b.length - a.length);
  }

  /**
   * Loads undici (once per process): the runner awaits this before a job takes its first pacing slot, so the load
   * never sits between a slot and its request. A failure here surfaces at the request, as a network error.
   */
  async ready(): Promise<void> {
    await loadUndici().catch(() => undefined);
  }

  async send(req: HttpRequest): Promise<HttpResponse | HttpNetworkError> {
    const url = new URL(this.options.baseUrl + req.path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      for (const one of typeof value === "string" ? [value] : value) url.searchParams.append(key, one);
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      ...this.options.headers,
      ...req.headers,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["content-type"] = "application/json";
    }
    try {
      const { Agent, request, errors } = await loadUndici();
      // As a closed Agent answers: a request after close() fails instead of opening new connections.
      if (this.closed) throw new errors.ClientClosedError();
      // maxResponseSize: past it undici stops reading, closes the connection and fails the body (declared or not).
      this.agent ??= new Agent({
        connections: this.options.connections,
        keepAliveTimeout: 10_000,
        maxResponseSize: MAX_ANSWER_BYTES,
      });
      const response = await request(url, {
        method: req.method,
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // A declared length past the cap is refused before a byte of it is read; an undeclared one, by maxResponseSize.
      if (Number(response.headers["content-length"]) > MAX_ANSWER_BYTES) {
        response.body.destroy();
        return { type: "network-error", error: this.redact(`request to ${url.host} failed: ${TOO_LARGE}`) };
      }
      const text = await response.body.text();
      let parsed: unknown = text;
      try {
        parsed = text.length > 0 ? JSON.parse(text) : null;
      } catch {
        // Not JSON: keep the text for the error message.
      }
      return { type: "response", status: response.statusCode, headers: response.headers, body: parsed };
    } catch (error) {
      const err = error as Error & { code?: string };
      const timedOut = err.name === "TimeoutError" || err.name === "AbortError";
      const reason = timedOut
        ? `no answer within ${this.options.timeoutMs} ms`
        : err.code === "UND_ERR_RES_EXCEEDED_MAX_SIZE"
          ? TOO_LARGE
          : `${err.code ?? err.name}: ${err.message}`;
      return { type: "network-error", error: this.redact(`request to ${url.host} failed: ${reason}`) };
    }
  }

  /**
   * Replaces every secret in a backend-provided text, which may echo request headers: as sent, and as JSON text
   * (once or twice) or a URL would escape it (an echo of the headers as JSON turns `"` into `\"`).
   */
  redact(text: string): string {
    let out = text;
    for (const form of this.secretForms) out = out.split(form).join("[redacted]");
    return out;
  }

  /** The human-readable error of a backend answer: `detail`, `message` or `error`, else the status. */
  errorText(response: HttpResponse): string {
    const body = response.body as Record<string, unknown> | string | null;
    let text: string | undefined;
    if (typeof body === "string" && body.length > 0) text = body;
    else if (body && typeof body === "object") {
      const field = body.detail ?? body.message ?? body.error;
      if (typeof field === "string") text = field;
      else if (field !== undefined) text = JSON.stringify(field);
    }
    // Redact before cutting: a secret straddling the cut would otherwise survive in part.
    const summary = this.redact(`HTTP ${response.status}${text ? `: ${text}` : ""}`);
    return summary.length > 500 ? `${summary.slice(0, 500)}…` : summary;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.agent?.close();
  }
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterMs(headers: HttpResponse["headers"]): number | undefined {
  const raw = headers["retry-after"];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 300_000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - Date.now()), 300_000);
}

/** 429 and 5xx are worth another try; other statuses are the backend's final word. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * An answer none of the contract's documented ones: 429/5xx are sent again (`transient` says why), another 4xx is
 * the backend's refusal (`refusal`), and a 1xx–3xx confirms nothing, so it is asked again (`outside`), which the
 * caller's attempts bound. Each kind words the three; this is the one place that tells them apart.
 */
export function undocumentedAnswer(
  response: HttpResponse,
  words: { transient: string; refusal: () => string; outside: string },
): RetryOutcome | FailedOutcome {
  const transient = retryIfTransient(response, words.transient);
  if (transient) return transient;
  if (response.status >= 400) return { type: "failed", error: words.refusal(), httpStatus: response.status };
  return { type: "retry", error: words.outside, httpStatus: response.status };
}

/** SPEC §7: a 429 or 5xx answer is sent again after a backoff of at least its Retry-After; null for others. */
export function retryIfTransient(response: HttpResponse, error: string): RetryOutcome | null {
  if (!isTransientStatus(response.status)) return null;
  return { type: "retry", error, retryAfterMs: retryAfterMs(response.headers), httpStatus: response.status };
}
