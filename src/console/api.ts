// The approval console's HTTP side (SPEC §10): sign-in, the JSON API, and the approval page a job's link opens.
//
// Threat model: the agent holds an MCP bearer token and may know the console's address; it must not be able to
// approve. So the console never reads the Authorization header (a bearer token opens nothing here), approvers
// sign in with a name and password checked against scrypt hashes in constant time, the session lives in an
// HttpOnly, SameSite=Strict cookie (Secure on https), and every state-changing call needs the CSRF token that
// login returned, in a header a cross-site form cannot set. Failed sign-ins are slowed down, never refused, so
// nobody can lock an approver out. Agent text (reason, target, ids) is data: JSON in the API, escaped in pages.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../app.js";
import type { Decision } from "../approval/approvals.js";
import { verifyPassword } from "../approval/password.js";
import { ABORTED, drain, readBody, readJson } from "../transports/http-body.js";
import { approvalPage, signInPage } from "./pages.js";

export const CONSOLE_PATH = "/console";
const COOKIE = "deletegate_console";
/** A console session lasts this long after sign-in. */
export const SESSION_MS = 8 * 3_600_000;
const BODY_LIMIT = 64 * 1024;
/** Failed sign-ins of one name or address are answered after 250 ms × 2^(n−1), at most 5 s, for 15 min. */
const FAILURE_BASE_MS = 250;
const FAILURE_MAX_MS = 5_000;
const FAILURE_MEMORY_MS = 15 * 60_000;
/** A hash with the default cost, so an unknown name takes as long as a known one. */
const DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

interface ConsoleSession {
  approver: string;
  csrf: string;
  expiresAt: number;
}

const APPROVAL_PATH = /^\/console\/api\/approvals\/([^/]+)(?:\/(approve|reject))?$/;
const PAGE_PATH = /^\/console\/approvals\/([^/]+)(\/ids\.csv)?$/;

/** One CSV field: quoted when it holds a quote, a comma or a line break; a leading =+-@ cannot start a formula. */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function cookieValue(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, error: string, message: string) {
  sendJson(res, status, { error, message });
}

export class ConsoleServer {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly app: App,
    /** The console is reached over https: its cookie is then Secure. */
    private readonly secure: () => boolean,
  ) {}

  /** Answers a request under /console (Host and Origin already checked by the transport). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (path === `${CONSOLE_PATH}/api/login` && req.method === "POST") return this.login(req, res);
    if (path.startsWith(`${CONSOLE_PATH}/api/`)) return this.api(req, res, url);
    if (path === `${CONSOLE_PATH}/login` && req.method === "POST") return this.formLogin(req, res);
    const page = PAGE_PATH.exec(path);
    if (page) {
      const jobId = decodeURIComponent(page[1] as string);
      if (page[2] && req.method === "GET") return this.download(req, res, jobId);
      if (!page[2] && req.method === "GET") return this.page(req, res, jobId);
      if (!page[2] && req.method === "POST") return this.formDecision(req, res, jobId);
    }
    if ((path === CONSOLE_PATH || path === `${CONSOLE_PATH}/`) && req.method === "GET") {
      return this.html(res, 200, signInPage(null));
    }
    drain(req);
    sendError(res, 404, "NOT_FOUND", "No such console page.");
  }

  private async body(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Record<string, unknown> | undefined> {
    if (!(req.headers["content-type"] ?? "").includes("application/json")) {
      drain(req);
      sendError(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Send Content-Type: application/json.");
      return undefined;
    }
    const body = await readJson(req, BODY_LIMIT);
    if (body === ABORTED) return undefined;
    if (body === "too-large") {
      drain(req);
      sendError(res, 413, "TOO_LARGE", `The body is larger than ${BODY_LIMIT} bytes.`);
      return undefined;
    }
    if (body === "invalid" || typeof body !== "object" || body === null || Array.isArray(body)) {
      sendError(res, 400, "INVALID_INPUT", "The body must be a JSON object.");
      return undefined;
    }
    return body as Record<string, unknown>;
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.body(req, res);
    if (!body) return;
    const name = typeof body.name === "string" ? body.name : "";
    const password = typeof body.password === "string" ? body.password : "";
    const started = await this.signIn(req, name, password);
    if (!started) return sendError(res, 401, "UNAUTHORIZED", "Wrong approver name or password.");
    sendJson(res, 200, { approver: name, csrf: started.csrf }, { "set-cookie": started.cookie });
  }

  /** The no-JavaScript sign-in form: back to the page it came from, or the form again with a message. */
  private async formLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await this.form(req, res);
    if (!form) return;
    const next = form.get("next") ?? "";
    const started = await this.signIn(req, form.get("name") ?? "", form.get("password") ?? "");
    // Only a console page of this server, never an address the link chose.
    const target = PAGE_PATH.test(next) ? next : `${CONSOLE_PATH}/`;
    if (!started)
      return this.html(
        res,
        401,
        signInPage(PAGE_PATH.test(next) ? next : null, "Wrong approver name or password."),
      );
    res.writeHead(303, { location: target, "set-cookie": started.cookie, "cache-control": "no-store" });
    res.end();
  }

  /** The approve / reject form of the approval page (the CSRF token in a hidden field). */
  private async formDecision(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    const session = this.session(req);
    const form = await this.form(req, res);
    if (!form) return;
    if (!session)
      return this.html(res, 401, signInPage(`${CONSOLE_PATH}/approvals/${encodeURIComponent(jobId)}`));
    const csrf = form.get("csrf") ?? "";
    if (!sameSecret(csrf, session.csrf))
      return this.html(res, 403, signInPage(null, "The form expired; sign in again."));
    const action = form.get("action");
    const comment = (form.get("comment") ?? "").trim().slice(0, 2_000);
    if (action !== "approve" && action !== "reject")
      return sendError(res, 400, "INVALID_INPUT", "Approve or reject.");
    const decision =
      action === "approve"
        ? await this.app.approvals.approve(jobId, session.approver, comment || null)
        : await this.app.approvals.reject(jobId, session.approver, comment);
    const facts = await this.app.approvals.facts(jobId);
    if (!facts) return sendError(res, 404, "JOB_NOT_FOUND", `No approval for job ${jobId}.`);
    const message = decision.ok
      ? `Recorded: ${action === "approve" ? "approved" : "rejected"}.`
      : decision.message;
    this.html(
      res,
      decision.ok ? 200 : decision.status,
      approvalPage(facts, session.approver, session.csrf, message),
    );
  }

  private async form(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | undefined> {
    if (!(req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded")) {
      drain(req);
      sendError(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Send the form as application/x-www-form-urlencoded.");
      return undefined;
    }
    const body = await readBody(req, BODY_LIMIT);
    if (body === ABORTED) return undefined;
    if (body === "too-large") {
      drain(req);
      sendError(res, 413, "TOO_LARGE", `The body is larger than ${BODY_LIMIT} bytes.`);
      return undefined;
    }
    return new URLSearchParams(body.toString("utf8"));
  }

  /** Checks an approver's credentials (slowing down failures); the new session's cookie and CSRF token, or null. */
  private async signIn(
    req: IncomingMessage,
    name: string,
    password: string,
  ): Promise<{ cookie: string; csrf: string } | null> {
    const approvers = this.app.live.current.approval?.approvers ?? [];
    const approver = approvers.find((candidate) => candidate.name === name);
    // Always one scrypt, so an unknown name answers as slowly as a wrong password.
    const valid =
      (await verifyPassword(password, approver?.passwordHash ?? DUMMY_HASH)) && approver !== undefined;
    const keys = [`name:${name}`, `addr:${req.socket.remoteAddress ?? ""}`];
    if (!valid) {
      const delay = this.failed(keys);
      await new Promise((done) => setTimeout(done, delay));
      this.app.logger.warn({ remote: req.socket.remoteAddress, delay_ms: delay }, "console sign-in failed");
      return null;
    }
    for (const key of keys) this.failures.delete(key);
    const id = randomBytes(32).toString("base64url");
    const csrf = randomBytes(32).toString("base64url");
    this.sessions.set(id, { approver: name, csrf, expiresAt: Date.now() + SESSION_MS });
    const cookie = [
      `${COOKIE}=${id}`,
      `Path=${CONSOLE_PATH}`,
      "HttpOnly",
      "SameSite=Strict",
      `Max-Age=${SESSION_MS / 1000}`,
      ...(this.secure() ? ["Secure"] : []),
    ].join("; ");
    this.app.logger.info({ approver: name }, "console sign-in");
    return { cookie, csrf };
  }

  /** Counts a failed sign-in for each key; returns how long to delay this answer. */
  private failed(keys: string[]): number {
    const now = Date.now();
    let worst = 0;
    for (const key of keys) {
      const previous = this.failures.get(key);
      const count = previous && now - previous.last < FAILURE_MEMORY_MS ? previous.count + 1 : 1;
      this.failures.set(key, { count, last: now });
      worst = Math.max(worst, count);
    }
    if (this.failures.size > 10_000) this.failures.clear();
    return Math.min(FAILURE_MAX_MS, FAILURE_BASE_MS * 2 ** (worst - 1));
  }

  private session(req: IncomingMessage): ConsoleSession | null {
    const id = cookieValue(req, COOKIE);
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt <= Date.now()) {
      this.sessions.delete(id);
      return null;
    }
    return session;
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // A bearer token is never read here: only a console session opens the API.
    const session = this.session(req);
    if (!session) {
      drain(req);
      return sendError(res, 401, "UNAUTHORIZED", "Sign in to the console first (POST /console/api/login).");
    }
    const path = url.pathname;
    if (req.method === "GET" && path === `${CONSOLE_PATH}/api/approvals`) {
      const status = url.searchParams.get("status") ?? "pending";
      if (status !== "pending" && status !== "all") {
        return sendError(res, 400, "INVALID_INPUT", "status must be pending or all.");
      }
      return sendJson(res, 200, { approvals: await this.app.approvals.list(status === "pending") });
    }
    const match = APPROVAL_PATH.exec(path);
    if (!match) {
      drain(req);
      return sendError(res, 404, "NOT_FOUND", "No such console API.");
    }
    const jobId = decodeURIComponent(match[1] as string);
    const action = match[2];
    if (!action && req.method === "GET") {
      const job = await this.app.approvals.view(jobId);
      return job
        ? sendJson(res, 200, job)
        : sendError(res, 404, "JOB_NOT_FOUND", `No approval for job ${jobId}.`);
    }
    if (!action || req.method !== "POST") {
      drain(req);
      return sendError(res, 405, "METHOD_NOT_ALLOWED", "Use GET for an approval, POST to approve or reject.");
    }
    const csrf = req.headers["x-deletegate-csrf"];
    if (typeof csrf !== "string" || !sameSecret(csrf, session.csrf)) {
      drain(req);
      return sendError(res, 403, "CSRF", "Send the X-Deletegate-CSRF header with the value login returned.");
    }
    const body = await this.body(req, res);
    if (!body) return;
    const comment = typeof body.comment === "string" ? body.comment.trim().slice(0, 2_000) : null;
    const decision: Decision =
      action === "approve"
        ? await this.app.approvals.approve(jobId, session.approver, comment || null)
        : await this.app.approvals.reject(jobId, session.approver, comment ?? "");
    if (decision.ok) return sendJson(res, 200, decision.job);
    sendError(res, decision.status, decision.code, decision.message);
  }

  private async page(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    const session = this.session(req);
    if (!session)
      return this.html(res, 200, signInPage(`${CONSOLE_PATH}/approvals/${encodeURIComponent(jobId)}`));
    const facts = await this.app.approvals.facts(jobId);
    if (!facts) return this.html(res, 404, signInPage(null, `No approval for job ${jobId}.`));
    return this.html(res, 200, approvalPage(facts, session.approver, session.csrf));
  }

  /** Every id of the job, one per line under an `id` header, as the person's download. */
  private async download(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    if (!this.session(req)) return sendError(res, 401, "UNAUTHORIZED", "Sign in to the console first.");
    if (!(await this.app.approvals.view(jobId)))
      return sendError(res, 404, "JOB_NOT_FOUND", `No approval for job ${jobId}.`);
    res.writeHead(200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${jobId.replace(/[^A-Za-z0-9_-]/g, "")}-ids.csv"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    });
    res.write("id\n");
    for await (const ids of this.app.approvals.ids(jobId)) res.write(`${ids.map(csvField).join("\n")}\n`);
    res.end();
  }

  private html(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy":
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    });
    res.end(body);
  }
}
