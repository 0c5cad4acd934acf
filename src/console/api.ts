// The approval console's HTTP side (SPEC §10): sign-in, the JSON API, and the approval page a job's link opens.
//
// Threat model: the agent holds an MCP bearer token and may know the console's address; it must not be able to
// approve. So the console never reads the Authorization header (a bearer token opens nothing here), approvers
// sign in with a name and password checked against scrypt hashes in constant time, the session lives in an
// HttpOnly, SameSite=Strict cookie (Secure on https), and every state-changing call needs the CSRF token that
// login returned, in a header a cross-site form cannot set. Guessing is bounded per name, however many sign-ins are
// sent at once (see sign-in-throttle.ts for what that does and does not promise); the right password alone is
// never refused, only delayed. Agent text (reason, target, ids) is data: JSON in the API, escaped in pages.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import type { App } from "../app.js";
import type { Decision } from "../approval/approvals.js";
import { verifyPassword } from "../approval/password.js";
import { verifyAuditFile } from "../audit/index.js";
import { ABORTED, drain, readBody } from "../transports/http-body.js";
import {
  type AuditFacts,
  approvalPage,
  auditPage,
  type ConsoleUser,
  jobPage,
  jobsPage,
  notFoundPage,
  pendingPage,
  refusedPage,
  signInPage,
} from "./pages.js";
import { SignInThrottle } from "./sign-in-throttle.js";

export const CONSOLE_PATH = "/console";
const COOKIE = "deletegate_console";
/** A console session lasts this long after sign-in. */
export const SESSION_MS = 8 * 3_600_000;
const BODY_LIMIT = 64 * 1024;
/** A hash with the default cost, so an unknown name takes as long as a known one. */
const DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

interface ConsoleSession {
  approver: string;
  /** The password hash the approver signed in with: a session ends when the operator changes it (or removes them). */
  passwordHash: string;
  csrf: string;
  expiresAt: number;
}

const APPROVAL_PATH = /^\/console\/api\/approvals\/([^/]+)(?:\/(approve|reject))?$/;
const PAGE_PATH = /^\/console\/approvals\/([^/]+)(\/ids\.csv)?$/;
const JOBS_API_PATH = /^\/console\/api\/jobs(?:\/([^/]+))?$/;
const JOB_PAGE_PATH = /^\/console\/jobs\/([^/]+)$/;
/** Where sign-in may return to: a console page of this server, never an address a link chose. */
const NEXT_PATH = /^\/console\/(?:jobs(?:\/[\w.~%-]+)?|audit|approvals\/[\w.~%-]+)?$/;
/** Jobs on the jobs page (and in its JSON), newest first. */
const JOBS_SHOWN = 50;
/** Failed ids on one job page, by default and at most. */
const FAILED_PAGE = 100;
const FAILED_PAGE_MAX = 1_000;
/** The audit page shows this many last lines, reading at most AUDIT_TAIL_BYTES from the file's end. */
const AUDIT_LINES = 200;
const AUDIT_TAIL_BYTES = 4 * 1024 * 1024;
/** The stylesheet and script, next to this module (the build copies src/console/assets to dist/console/assets). */
const ASSETS_DIR = fileURLToPath(new URL("./assets/", import.meta.url));
const ASSET_TYPES: Record<string, string> = {
  "console.css": "text/css; charset=utf-8",
  "console.js": "text/javascript; charset=utf-8",
};
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A path segment decoded, or null when it is not valid percent-encoding. */
function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** A whole number query parameter within [min, max], else the fallback. */
function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || !/^\d{1,9}$/.test(raw)) return fallback;
  return Math.min(max, Math.max(min, Number(raw)));
}

/**
 * The last `count` lines of a file (oldest first), reading backwards at most `maxBytes`; `clipped` when fewer were
 * returned because the lines were longer than that.
 */
async function tailLines(
  path: string,
  count: number,
  maxBytes: number,
): Promise<{ lines: string[]; clipped: boolean }> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const chunks: Buffer[] = [];
    let position = size;
    let newlines = 0;
    while (position > 0 && newlines <= count && size - position < maxBytes) {
      const length = Math.min(64 * 1024, position, maxBytes - (size - position));
      position -= length;
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await file.read(chunk, 0, length, position);
      const read = chunk.subarray(0, bytesRead);
      for (const byte of read) if (byte === 0x0a) newlines++;
      chunks.unshift(read);
    }
    const lines = Buffer.concat(chunks).toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    // Unless the read reached the start of the file, its first line is a part of a line.
    if (position > 0) lines.shift();
    return { lines: lines.slice(-count), clipped: position > 0 && lines.length < count };
  } finally {
    await file.close();
  }
}

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
  private readonly throttle = new SignInThrottle();
  /** The stylesheet and script, read once. */
  private readonly assets = new Map<string, { body: Buffer; etag: string }>();

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
    if (path === `${CONSOLE_PATH}/logout` && req.method === "POST") return this.logout(req, res);
    if (path.startsWith(`${CONSOLE_PATH}/assets/`) && req.method === "GET")
      return this.asset(req, res, path.slice(`${CONSOLE_PATH}/assets/`.length));
    const page = PAGE_PATH.exec(path);
    const pageJob = page && decodeSegment(page[1] as string);
    if (page && pageJob) {
      if (page[2] && req.method === "GET") return this.download(req, res, pageJob);
      if (!page[2] && req.method === "GET") return this.page(req, res, pageJob);
      if (!page[2] && req.method === "POST") return this.formDecision(req, res, pageJob);
    }
    if (req.method === "GET") {
      if (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/`) return this.pendingPage(req, res);
      if (path === `${CONSOLE_PATH}/jobs`) return this.jobsPage(req, res);
      if (path === `${CONSOLE_PATH}/audit`) return this.auditPage(req, res);
      const job = JOB_PAGE_PATH.exec(path);
      const jobId = job && decodeSegment(job[1] as string);
      if (job && jobId) return this.jobPage(req, res, url, jobId);
    }
    drain(req);
    sendError(res, 404, "NOT_FOUND", "No such console page.");
  }

  /** A body of the one content type a route takes, at most BODY_LIMIT bytes; undefined once refused (answered). */
  private async read(req: IncomingMessage, res: ServerResponse, type: string): Promise<Buffer | undefined> {
    if (!(req.headers["content-type"] ?? "").includes(type)) {
      drain(req);
      sendError(res, 415, "UNSUPPORTED_MEDIA_TYPE", `Send Content-Type: ${type}.`);
      return undefined;
    }
    const body = await readBody(req, BODY_LIMIT);
    if (body === ABORTED) return undefined;
    if (body === "too-large") {
      drain(req);
      sendError(res, 413, "TOO_LARGE", `The body is larger than ${BODY_LIMIT} bytes.`);
      return undefined;
    }
    return body;
  }

  private async body(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Record<string, unknown> | undefined> {
    const raw = await this.read(req, res, "application/json");
    if (!raw) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      body = undefined;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      sendError(res, 400, "INVALID_INPUT", "The body must be a JSON object.");
      return undefined;
    }
    return body as Record<string, unknown>;
  }

  private async form(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | undefined> {
    const raw = await this.read(req, res, "application/x-www-form-urlencoded");
    return raw && new URLSearchParams(raw.toString("utf8"));
  }

  /** One approve or reject, from the JSON API or the page's form alike. */
  private decide(jobId: string, approver: string, action: "approve" | "reject", rawComment: string | null) {
    const comment = (rawComment ?? "").trim().slice(0, 2_000);
    return action === "approve"
      ? this.app.approvals.approve(jobId, approver, comment || null)
      : this.app.approvals.reject(jobId, approver, comment);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.body(req, res);
    if (!body) return;
    const name = typeof body.name === "string" ? body.name : "";
    const password = typeof body.password === "string" ? body.password : "";
    const started = await this.signIn(req, name, password);
    if (typeof started === "string") return sendError(res, 401, "UNAUTHORIZED", started);
    sendJson(res, 200, { approver: name, csrf: started.csrf }, { "set-cookie": started.cookie });
  }

  /** The no-JavaScript sign-in form: back to the page it came from, or the form again with a message. */
  private async formLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await this.form(req, res);
    if (!form) return;
    const next = form.get("next") ?? "";
    const started = await this.signIn(req, form.get("name") ?? "", form.get("password") ?? "");
    // Only a console page of this server, never an address the link chose.
    const safeNext = NEXT_PATH.test(next) ? next : null;
    const target = safeNext ?? `${CONSOLE_PATH}/`;
    if (typeof started === "string") return this.html(res, 401, signInPage(safeNext, started));
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
    if (!sameSecret(csrf, session.csrf)) {
      this.logRefusal(req, 403, "no valid csrf field in the form");
      return this.html(res, 403, signInPage(null, "The form expired; sign in again."));
    }
    const action = form.get("action");
    if (action !== "approve" && action !== "reject")
      return sendError(res, 400, "INVALID_INPUT", "Approve or reject.");
    const decision = await this.decide(jobId, session.approver, action, form.get("comment"));
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

  /**
   * Checks an approver's credentials in the name's turn (failures slow the name's next check down); the new
   * session's cookie and CSRF token, or why not, in words fit to show.
   */
  private async signIn(
    req: IncomingMessage,
    name: string,
    password: string,
  ): Promise<{ cookie: string; csrf: string } | string> {
    const remote = req.socket.remoteAddress ?? "";
    let approver: { name: string; passwordHash: string } | undefined;
    const outcome = await this.throttle.attempt(name, remote, async () => {
      // Read in the name's turn, so a password changed while waiting is the one checked.
      approver = (this.app.live.current.approval?.approvers ?? []).find(
        (candidate) => candidate.name === name,
      );
      // Always one scrypt, so an unknown name answers as slowly as a wrong password.
      return (await verifyPassword(password, approver?.passwordHash ?? DUMMY_HASH)) && approver !== undefined;
    });
    if (outcome.verdict === "busy") {
      this.app.logger.warn({ remote }, "console sign-in refused: too many sign-ins waiting");
      return "Too many sign-ins for this name are waiting; try again in a few seconds.";
    }
    if (outcome.verdict === "wrong" || !approver) {
      const delay = outcome.verdict === "wrong" ? outcome.delayMs : 0;
      this.app.logger.warn({ remote, delay_ms: delay }, "console sign-in failed");
      return "Wrong approver name or password.";
    }
    const id = randomBytes(32).toString("base64url");
    const csrf = randomBytes(32).toString("base64url");
    this.sessions.set(id, {
      approver: name,
      passwordHash: approver.passwordHash,
      csrf,
      expiresAt: Date.now() + SESSION_MS,
    });
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

  private session(req: IncomingMessage): ConsoleSession | null {
    const id = cookieValue(req, COOKIE);
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    // A password rotated after a leak (or an approver removed) ends the sessions opened with the old one.
    const current = this.app.live.current.approval?.approvers.find(
      (approver) => approver.name === session.approver,
    );
    if (session.expiresAt <= Date.now() || current?.passwordHash !== session.passwordHash) {
      this.sessions.delete(id);
      return null;
    }
    return session;
  }

  /** A refused state-changing request is worth an operator's look (a forged post, a stolen page). */
  private logRefusal(req: IncomingMessage, status: number, why: string): void {
    this.app.logger.warn(
      {
        status,
        method: req.method,
        path: new URL(req.url ?? "/", "http://deletegate").pathname,
        remote: req.socket.remoteAddress,
        why,
      },
      "console request refused",
    );
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // A bearer token is never read here: only a console session opens the API.
    const session = this.session(req);
    if (!session) {
      drain(req);
      return sendError(res, 401, "UNAUTHORIZED", "Sign in to the console first (POST /console/api/login).");
    }
    const path = url.pathname;
    const jobs = JOBS_API_PATH.exec(path);
    if (jobs) {
      drain(req);
      if (req.method !== "GET") return sendError(res, 405, "METHOD_NOT_ALLOWED", "Jobs are read with GET.");
      if (!jobs[1])
        return sendJson(res, 200, { jobs: await this.app.runner.list({ owner: null, limit: JOBS_SHOWN }) });
      const jobId = decodeSegment(jobs[1]);
      const job = jobId === null ? undefined : await this.app.runner.view(jobId, null, null);
      return job
        ? sendJson(res, 200, job)
        : sendError(res, 404, "JOB_NOT_FOUND", `No job has the id ${jobId ?? jobs[1]}.`);
    }
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
    const jobId = decodeSegment(match[1] as string);
    if (jobId === null) {
      drain(req);
      return sendError(res, 404, "JOB_NOT_FOUND", "No job has that id.");
    }
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
      this.logRefusal(req, 403, "no valid X-Deletegate-CSRF header");
      return sendError(res, 403, "CSRF", "Send the X-Deletegate-CSRF header with the value login returned.");
    }
    const body = await this.body(req, res);
    if (!body) return;
    // Only `comment`, and only as text: anything else is a malformed decision, not an approval without comment.
    const unknown = Object.keys(body).filter((key) => key !== "comment");
    if (unknown.length > 0 || (body.comment !== undefined && typeof body.comment !== "string")) {
      return sendError(
        res,
        400,
        "INVALID_INPUT",
        'The body is {"comment": "…"} (a string; required to reject).',
      );
    }
    const decision: Decision = await this.decide(
      jobId,
      session.approver,
      action as "approve" | "reject",
      (body.comment as string | undefined) ?? null,
    );
    if (decision.ok) return sendJson(res, 200, decision.job);
    sendError(res, decision.status, decision.code, decision.message);
  }

  private async page(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    const session = this.session(req);
    if (!session)
      return this.html(res, 200, signInPage(`${CONSOLE_PATH}/approvals/${encodeURIComponent(jobId)}`));
    const facts = await this.app.approvals.facts(jobId);
    if (!facts) return this.html(res, 404, notFoundPage(`No approval for job ${jobId}.`, session));
    return this.html(res, 200, approvalPage(facts, session.approver, session.csrf));
  }

  /** The signed-in approver of a page request, or null after answering with the sign-in form (back to `next`). */
  private pageSession(req: IncomingMessage, res: ServerResponse, next: string): ConsoleUser | null {
    const session = this.session(req);
    if (session) return session;
    this.html(res, 200, signInPage(NEXT_PATH.test(next) ? next : null));
    return null;
  }

  /** `/console/`: the jobs awaiting approval (the sign-in form until signed in). */
  private async pendingPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = this.pageSession(req, res, `${CONSOLE_PATH}/`);
    if (!user) return;
    this.html(res, 200, pendingPage(await this.app.approvals.list(true), user));
  }

  private async jobsPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = this.pageSession(req, res, `${CONSOLE_PATH}/jobs`);
    if (!user) return;
    this.html(res, 200, jobsPage(await this.app.runner.list({ owner: null, limit: JOBS_SHOWN }), user));
  }

  private async jobPage(req: IncomingMessage, res: ServerResponse, url: URL, jobId: string): Promise<void> {
    const user = this.pageSession(req, res, `${CONSOLE_PATH}/jobs/${encodeURIComponent(jobId)}`);
    if (!user) return;
    const page = {
      offset: intParam(url, "offset", 0, 0, Number.MAX_SAFE_INTEGER),
      limit: intParam(url, "limit", FAILED_PAGE, 1, FAILED_PAGE_MAX),
    };
    const job = await this.app.runner.view(jobId, page, null);
    if (!job) return this.html(res, 404, notFoundPage(`No job has the id ${jobId}.`, user));
    this.html(res, 200, jobPage(job, page, user));
  }

  private async auditPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = this.pageSession(req, res, `${CONSOLE_PATH}/audit`);
    if (!user) return;
    const path = this.app.config.auditLog;
    let facts: AuditFacts;
    if (path === "stderr") {
      facts = { destination: "stderr" };
    } else {
      let verdict: Extract<AuditFacts, { destination: "file" }>["verdict"];
      let tail = { lines: [] as string[], clipped: false };
      try {
        // Reads the whole file (synchronously, as `deletegate audit verify` does).
        verdict = verifyAuditFile(path);
        tail = await tailLines(path, AUDIT_LINES, AUDIT_TAIL_BYTES);
      } catch (error) {
        verdict = { error: (error as Error).message };
      }
      facts = { destination: "file", path, verdict, ...tail, asked: AUDIT_LINES };
    }
    this.html(res, 200, auditPage(facts, user));
  }

  /** The sign-out button: ends the session (its CSRF token required) and clears the cookie. */
  private async logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await this.form(req, res);
    if (!form) return;
    const id = cookieValue(req, COOKIE);
    const session = this.session(req);
    if (session && id) {
      if (!sameSecret(form.get("csrf") ?? "", session.csrf))
        return this.html(res, 403, refusedPage("The sign-out form expired; use the button again.", session));
      this.sessions.delete(id);
      this.app.logger.info({ approver: session.approver }, "console sign-out");
    }
    res.writeHead(303, {
      location: `${CONSOLE_PATH}/`,
      "set-cookie": `${COOKIE}=; Path=${CONSOLE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0${this.secure() ? "; Secure" : ""}`,
      "cache-control": "no-store",
    });
    res.end();
  }

  /** The console's stylesheet or script (no session needed: they hold nothing private). */
  private async asset(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    drain(req);
    const type = Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined;
    if (!type) return sendError(res, 404, "NOT_FOUND", "No such console asset.");
    let asset = this.assets.get(name);
    if (!asset) {
      let body: Buffer;
      try {
        body = await readFile(`${ASSETS_DIR}${name}`);
      } catch (error) {
        // A build that skipped `npm run build`'s copy of src/console/assets: the pages still work, unstyled.
        this.app.logger.error({ err: error, asset: name }, "console asset missing");
        return sendError(res, 500, "ASSET_MISSING", `The console's ${name} is missing from this build.`);
      }
      asset = { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` };
      this.assets.set(name, asset);
    }
    const headers = {
      "content-type": type,
      etag: asset.etag,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "cross-origin-resource-policy": "same-origin",
      "content-security-policy": PAGE_CSP,
    };
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, "content-length": String(asset.body.length) });
    res.end(asset.body);
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
      // Not no-referrer: with it, browsers send `Origin: null` on the pages' own form posts, which the transport
      // refuses (DNS-rebinding check). same-origin still sends nothing to other sites.
      "referrer-policy": "same-origin",
      "content-security-policy": PAGE_CSP,
    });
    res.end(body);
  }
}
