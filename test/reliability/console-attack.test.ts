// The approval console under attack (SPEC §10): the built `deletegate --http` in approval mode, a job awaiting
// approval, and an attacker who knows the console's address (and may hold the agent's bearer token) sending
// malformed and huge bodies, forged cookies, cross-origin and rebinding requests, and password guesses. Nothing
// may approve or reject the job, start a delete, answer 5xx, show a secret or kill the server.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processMemoryKb } from "../../tools/bench/stats.js";
import type { SplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  approvalFixture,
  requestApproval,
  type Signed,
  writeApprovalConfig,
} from "../integration/console-harness.js";
import { deleteRequests, readAudit, structured } from "../integration/harness.js";
import {
  connectHttp,
  type HttpServer,
  type HttpSession,
  startHttpServer,
} from "../integration/http-harness.js";
import { type Answer, rawClient, repeat, type Send, tally } from "./raw-http.js";
import { recordTrial } from "./report.js";
import { streamBody } from "./stream-body.js";

const AGENT_TOKEN = `tka_${randomBytes(24).toString("base64url")}`;
const PASSWORDS = {
  alice: `alice-${randomBytes(12).toString("base64url")}`,
  bob: `bob-${randomBytes(12).toString("base64url")}`,
  agent: `agent-${randomBytes(12).toString("base64url")}`,
};
/** The console's body limit (src/console/api.ts). */
const BODY_LIMIT = 64 * 1024;
const REASON = "Console attack test: erase synthetic contacts";
const MB = 1024 * 1024;

let sim: SplendorSimulator;
let server: HttpServer;
let agentSession: HttpSession;
let auditLog: string;
let port: number;
const http = rawClient(() => port, 24);
const { send } = http;
const { count, total, ofClass, figures } = tally();

/** The job every attack aims at, and a second one only the wrong-typed comments of trial 1 aim at. */
let mainJob: string;
let canaryJob: string;

let alice: Signed;
let bob: Signed;

/** Every secret that must never appear in an attack's answer or in the server's stderr. */
const secrets: { name: string; value: string }[] = [];

/** Secrets shown in an answer's body or Set-Cookie header; each is a loss. */
function leaksIn(answer: Answer): string[] {
  const text = `${answer.body}\n${String(answer.headers["set-cookie"] ?? "")}`;
  return secrets.filter((secret) => text.includes(secret.value)).map((secret) => secret.name);
}

/** Secrets (or a 12-character part of a random one) in the server's stderr from `from` on. */
function leaksInStderr(from = 0): string[] {
  const stderr = server.stderr().slice(from);
  const found = new Set<string>();
  for (const secret of secrets) {
    if (stderr.includes(secret.value)) found.add(secret.name);
    if (secret.name.startsWith("password")) continue;
    for (let i = 0; i + 12 <= secret.value.length; i += 4) {
      if (stderr.includes(secret.value.slice(i, i + 12))) found.add(`part of ${secret.name}`);
    }
  }
  return [...found];
}

/** A 4xx answer with a JSON body naming the error (the console's, or the transport's JSON-RPC one). */
function isJsonError(answer: Answer): boolean {
  if (!String(answer.headers["content-type"] ?? "").includes("application/json")) return false;
  try {
    return JSON.parse(answer.body).error !== undefined;
  } catch {
    return false;
  }
}

function alive(): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

async function login(name: string, password: string): Promise<Signed & { answer: Answer }> {
  const answer = await send({
    path: "/console/api/login",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  const cookie = String(answer.headers["set-cookie"] ?? "").split(";")[0] ?? "";
  const csrf = answer.outcome === 200 ? (JSON.parse(answer.body).csrf as string) : "";
  if (answer.outcome === 200) {
    secrets.push({ name: `session cookie of ${name}`, value: cookie.split("=")[1] ?? "" });
    secrets.push({ name: `CSRF token of ${name}`, value: csrf });
  }
  return { cookie, csrf, answer };
}

const own = () => `127.0.0.1:${port}`;
const json = (signed?: Partial<Signed>, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  ...(signed?.cookie ? { cookie: signed.cookie } : {}),
  ...(signed?.csrf ? { "x-deletegate-csrf": signed.csrf } : {}),
  ...extra,
});
const decide = (job: string, action: "approve" | "reject") => `/console/api/approvals/${job}/${action}`;

/** The job as the agent sees it (get_delete_job over MCP). */
async function jobState(jobId: string): Promise<{ status: string; approvals: number; rejected: boolean }> {
  const job = structured(await agentSession.call("get_delete_job", { job_id: jobId }));
  return {
    status: job.status,
    approvals: job.approval?.approvals?.length ?? -1,
    rejected: (job.approval?.rejected ?? null) !== null,
  };
}

/** Approval decisions and job starts the audit log holds for a job. */
function decisionsFor(jobId: string): string[] {
  return readAudit(auditLog)
    .filter((line) => line.job_id === jobId)
    .map((line) => String(line.event))
    .filter((event) =>
      ["approval.granted", "approval.rejected", "delete.confirmed", "job.started"].includes(event),
    );
}

/** Approvals recorded or jobs started (for the two jobs) since a trial began: each is a loss. */
async function harm(): Promise<{ count: number; text: string }> {
  let harmed = 0;
  const parts: string[] = [];
  for (const [label, jobId] of [
    ["job", mainJob],
    ["canary job", canaryJob],
  ] as const) {
    const state = await jobState(jobId);
    const events = decisionsFor(jobId);
    const bad =
      (state.status === "awaiting_approval" ? 0 : 1) +
      state.approvals +
      (state.rejected ? 1 : 0) +
      events.length;
    harmed += bad;
    parts.push(
      `${label} ${state.status}, ${state.approvals} approvals${events.length ? ` (${events.join(", ")})` : ""}`,
    );
  }
  return { count: harmed, text: parts.join("; ") };
}

const rss = { before: 0, peak: 0 };
let sampler: NodeJS.Timeout | undefined;

beforeAll(async () => {
  const fixture = await approvalFixture(PASSWORDS);
  sim = fixture.sim;
  const { hashes } = fixture;
  for (const [name, password] of Object.entries(PASSWORDS)) {
    secrets.push({ name: `password of ${name}`, value: password });
  }
  for (const [name, hash] of Object.entries(hashes)) {
    secrets.push({ name: `hash of ${name}`, value: hash });
    secrets.push({ name: `hash part of ${name}`, value: hash.split("$").at(-1) as string });
  }
  secrets.push({ name: "agent bearer token", value: AGENT_TOKEN });
  const config = writeApprovalConfig(sim.url, hashes, { agentToken: true });
  auditLog = config.auditLog;
  server = await startHttpServer(config.path, { env: { DELETEGATE_TOKEN_AGENT: AGENT_TOKEN } });
  port = Number(new URL(server.url).port);
  agentSession = await connectHttp(server.url, AGENT_TOKEN, { name: "agent-client" });
  const requestJob = async (dataset: string) => {
    const { job } = await requestApproval(agentSession, dataset, REASON);
    expect(job.status).toBe("awaiting_approval");
    return job.job_id as string;
  };
  mainJob = await requestJob("crm-main");
  canaryJob = await requestJob("crm-canary");
  const first = { alice: await login("alice", PASSWORDS.alice), bob: await login("bob", PASSWORDS.bob) };
  expect(first.alice.answer.outcome).toBe(200);
  expect(first.bob.answer.outcome).toBe(200);
  alice = first.alice;
  bob = first.bob;
  rss.before = processMemoryKb(server.pid).rss;
  rss.peak = rss.before;
  sampler = setInterval(() => {
    if (alive()) rss.peak = Math.max(rss.peak, processMemoryKb(server.pid).rss);
  }, 50);
});

afterAll(async () => {
  clearInterval(sampler);
  await agentSession?.close().catch(() => undefined);
  await server?.stop();
  await sim?.close();
  http.destroy();
});

describe("approval console under attack", () => {
  it("1. answers malformed bodies to login, approve and reject with 400/401/413/415 and a JSON error", async () => {
    const category = "console: malformed bodies";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const unexpected: string[] = [];
    const leaks: string[] = [];
    const started = Date.now();
    const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
    const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
    const big = "x".repeat(MB);
    const invalidUtf8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x7b, 0x7d]);
    const judge = (name: string, answer: Answer, allowed: (number | string)[], jsonError = true) => {
      count(category, answer.outcome);
      if (!allowed.includes(answer.outcome)) unexpected.push(`${name}: ${answer.outcome} ${answer.body}`);
      else if (jsonError && !isJsonError(answer)) unexpected.push(`${name}: no JSON error: ${answer.body}`);
      if (answer.headers["set-cookie"]) unexpected.push(`${name}: a cookie was set`);
      leaks.push(...leaksIn(answer).map((secret) => `${name}: ${secret}`));
    };

    // Bodies refused before any decision; the same for login (bob's right password where the body carries one,
    // so a content type slipping through would be a sign-in) and for approve/reject of the job.
    type Variant = { name: string; body: string | Buffer; type?: string | null; expect: number };
    const shapes = (fields: Record<string, unknown>, form: string): Variant[] => [
      { name: "truncated JSON", body: JSON.stringify(fields).slice(0, -6), expect: 400 },
      { name: "not JSON", body: "approve it, please", expect: 400 },
      { name: "empty body", body: "", expect: 400 },
      { name: "JSON array of the object", body: JSON.stringify([fields]), expect: 400 },
      { name: "empty array", body: "[]", expect: 400 },
      { name: "number", body: "42", expect: 400 },
      { name: "string", body: '"approve"', expect: 400 },
      { name: "null", body: "null", expect: 400 },
      { name: "true", body: "true", expect: 400 },
      { name: "invalid UTF-8", body: invalidUtf8, expect: 400 },
      { name: "30,000 nested arrays (60 KB)", body: deep(30_000), expect: 400 },
      { name: "100,000 nested arrays (200 KB)", body: deep(100_000), expect: 413 },
      { name: "1 MB string", body: JSON.stringify({ ...fields, comment: big, password: big }), expect: 413 },
      { name: "text/plain", body: JSON.stringify(fields), type: "text/plain", expect: 415 },
      {
        name: "text/plain; charset=utf-8",
        body: JSON.stringify(fields),
        type: "text/plain; charset=utf-8",
        expect: 415,
      },
      { name: "form-encoded", body: form, type: "application/x-www-form-urlencoded", expect: 415 },
      { name: "multipart", body: form, type: "multipart/form-data; boundary=x", expect: 415 },
      { name: "no content type", body: JSON.stringify(fields), type: null, expect: 415 },
    ];
    const targets = [
      {
        label: "login",
        path: "/console/api/login",
        signed: {},
        variants: shapes(
          { name: "bob", password: PASSWORDS.bob },
          `name=bob&password=${encodeURIComponent(PASSWORDS.bob)}`,
        ),
      },
      { label: "approve", path: decide(mainJob, "approve"), signed: alice, variants: shapes({}, "x=1") },
      {
        label: "reject",
        path: decide(mainJob, "reject"),
        signed: alice,
        variants: shapes({ comment: "malformed" }, "comment=malformed"),
      },
    ];
    for (const target of targets) {
      for (const variant of target.variants) {
        await repeat(4, 4, async () => {
          const headers: Record<string, string> = json(target.signed);
          if (variant.type === null) delete headers["content-type"];
          else if (variant.type) headers["content-type"] = variant.type;
          const answer = await send({ path: target.path, headers, body: variant.body });
          judge(`${target.label}, ${variant.name}`, answer, [variant.expect]);
        });
      }
    }
    // Sign-in bodies of the right shape with wrong types reach the password check: 401 (SPEC: "401 otherwise")
    // or 400, each slowed down like a wrong password, so they are sent at once.
    const wrongTypes: Record<string, string> = {
      "name a number": JSON.stringify({ name: 5, password: PASSWORDS.bob }),
      "password a number": JSON.stringify({ name: "bob", password: 12345 }),
      "both null": JSON.stringify({ name: null, password: null }),
      arrays: JSON.stringify({ name: ["bob"], password: [PASSWORDS.bob] }),
      objects: JSON.stringify({ name: { bob: true }, password: { value: PASSWORDS.bob } }),
      booleans: JSON.stringify({ name: true, password: true }),
      "empty object": "{}",
      "name only": JSON.stringify({ name: "bob" }),
      "password only": JSON.stringify({ password: PASSWORDS.bob }),
      "60 KB password": JSON.stringify({ name: "bob", password: "p".repeat(60_000) }),
      "8,000 nested objects as password": `{"name":"bob","password":${deepObject(8_000)}}`,
      "name __proto__": JSON.stringify({ name: "__proto__", password: "x" }),
    };
    const signInStarted = Date.now();
    await Promise.all(
      Object.entries(wrongTypes).map(async ([name, body]) => {
        const answer = await send({ path: "/console/api/login", headers: json(), body });
        judge(`login, ${name}`, answer, [400, 401]);
      }),
    );
    const signInMs = Date.now() - signInStarted;
    // A right sign-in clears this address's failures for the trials after.
    const again = await login("bob", PASSWORDS.bob);
    expect(again.answer.outcome).toBe(200);
    bob = again;

    // Comments of a wrong type, with a valid session and CSRF token, aimed at a job of their own: 400, and never an
    // approval or a rejection (rejections first: an approval that slipped through ends the job).
    const comments: Record<string, string> = {
      "comment a number": '{"comment":5}',
      "comment a boolean": '{"comment":true}',
      "comment an array": '{"comment":["checked"]}',
      "comment an object": '{"comment":{"text":"checked"}}',
      "comment 10,000 nested arrays": `{"comment":${deep(10_000)}}`,
    };
    for (const action of ["reject", "approve"] as const) {
      for (const [name, body] of Object.entries(comments)) {
        const answer = await send({ path: decide(canaryJob, action), headers: json(alice), body });
        judge(`${action}, ${name}`, answer, [400]);
      }
    }
    // A job approved by a wrong-typed comment starts within 5 s: give it the time to show.
    if (unexpected.some((line) => line.startsWith("approve, comment"))) {
      await new Promise((done) => setTimeout(done, 1_500));
    }
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const lost =
      ofClass(category, 2) +
      ofClass(category, 5) +
      (harmed.count - before.count) +
      leaks.length +
      stderrLeaks.length;
    recordTrial({
      area: "console",
      trial:
        "malformed bodies to login, approve and reject with a valid session and CSRF token: truncated, not JSON, empty, arrays, numbers, null, BOM, invalid UTF-8, 30,000 and 100,000 nested arrays, 1 MB strings, text/plain, form, multipart, no content type; wrong-typed name, password and comment",
      runs: total(category),
      unit: "requests",
      lost: lost + (alive() ? 0 : 1),
      figures:
        `${figures(category)}; ${Object.keys(wrongTypes).length} wrong-typed sign-ins answered together in ` +
        `${(signInMs / 1000).toFixed(1)} s; ${harmed.text}; ${leaks.length + stderrLeaks.length} secrets shown; ` +
        `${unexpected.length} unexpected answers; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    });
    expect(unexpected).toEqual([]);
    expect(leaks).toEqual([]);
    expect(stderrLeaks).toEqual([]);
    expect(harmed.count - before.count, harmed.text).toBe(0);
    expect(lost).toBe(0);
    expect(alive()).toBe(true);
  });

  it("1b. answers malformed job ids in console paths without a 5xx", async () => {
    const category = "console: malformed job ids";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const unexpected: string[] = [];
    const leaks: string[] = [];
    // Percent-encoding that does not decode, a NUL, a traversal, and a 10 KB id.
    const ids = ["%ZZ", "%E0%A4%A", "%", "abc%00def", "..%2F..%2Fetc%2Fpasswd", "j".repeat(10_000)];
    const calls: { name: string; send: (id: string) => Send; allowed: number[] }[] = [
      {
        name: "GET approval (signed in)",
        send: (id) => ({ method: "GET", path: `/console/api/approvals/${id}`, headers: json(alice) }),
        allowed: [400, 404],
      },
      {
        name: "POST approve (signed in, CSRF)",
        send: (id) => ({ path: `/console/api/approvals/${id}/approve`, headers: json(alice), body: "{}" }),
        allowed: [400, 404],
      },
      {
        name: "POST reject (signed in, CSRF)",
        send: (id) => ({
          path: `/console/api/approvals/${id}/reject`,
          headers: json(alice),
          body: '{"comment":"no"}',
        }),
        allowed: [400, 404],
      },
      {
        name: "GET approval page (no session)",
        send: (id) => ({ method: "GET", path: `/console/approvals/${id}` }),
        // Without a session the page is the sign-in form.
        allowed: [200, 400, 404],
      },
      {
        name: "GET ids.csv (no session)",
        send: (id) => ({ method: "GET", path: `/console/approvals/${id}/ids.csv` }),
        allowed: [400, 401, 404],
      },
      {
        name: "GET ids.csv (signed in)",
        send: (id) => ({ method: "GET", path: `/console/approvals/${id}/ids.csv`, headers: json(alice) }),
        allowed: [400, 404],
      },
    ];
    for (const id of ids) {
      for (const call of calls) {
        const answer = await send(call.send(id));
        count(category, answer.outcome);
        if (!call.allowed.includes(answer.outcome as number))
          unexpected.push(
            `${call.name}, id ${id.slice(0, 20)}: ${answer.outcome} ${answer.body.slice(0, 120)}`,
          );
        if (answer.outcome === 200 && answer.body.includes(REASON))
          unexpected.push(`${call.name}, id ${id.slice(0, 20)}: showed a job`);
        leaks.push(...leaksIn(answer));
      }
    }
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const lost =
      ofClass(category, 5) +
      (harmed.count - before.count) +
      leaks.length +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial:
        "malformed job ids in console paths (undecodable percent-encoding, NUL, traversal, 10 KB), signed in and not",
      runs: total(category),
      unit: "requests",
      lost,
      figures: `${figures(category)}; ${harmed.text}; ${unexpected.length} unexpected answers`,
    });
    expect(unexpected).toEqual([]);
    expect(lost).toBe(0);
  });

  it("2. answers huge bodies with 413 at once, without holding them in memory", async () => {
    const category = "console: huge bodies";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const rssAtStart = processMemoryKb(server.pid).rss;
    rss.peak = rssAtStart;
    const unexpected: string[] = [];
    const results: { name: string; outcome: number | string; sentMb: number; ms: number }[] = [];
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const cases: {
      name: string;
      path: string;
      headers: Record<string, string>;
      size: number;
      chunked: boolean;
      expect: number;
    }[] = [
      {
        name: "login, Content-Length 64 KB + 1",
        path: "/console/api/login",
        headers: json(),
        size: BODY_LIMIT + 1,
        chunked: false,
        expect: 413,
      },
      {
        name: "login, chunked 64 KB + 1 KB",
        path: "/console/api/login",
        headers: json(),
        size: BODY_LIMIT + 1024,
        chunked: true,
        expect: 413,
      },
      {
        name: "login, Content-Length 100 MB",
        path: "/console/api/login",
        headers: json(),
        size: 100 * MB,
        chunked: false,
        expect: 413,
      },
      {
        name: "login, chunked 100 MB",
        path: "/console/api/login",
        headers: json(),
        size: 100 * MB,
        chunked: true,
        expect: 413,
      },
      {
        name: "approve, Content-Length 64 KB + 1",
        path: decide(mainJob, "approve"),
        headers: json(alice),
        size: BODY_LIMIT + 1,
        chunked: false,
        expect: 413,
      },
      {
        name: "approve, chunked 100 MB",
        path: decide(mainJob, "approve"),
        headers: json(alice),
        size: 100 * MB,
        chunked: true,
        expect: 413,
      },
      {
        name: "reject, chunked 100 MB",
        path: decide(mainJob, "reject"),
        headers: json(alice),
        size: 100 * MB,
        chunked: true,
        expect: 413,
      },
      {
        name: "approve without a session, chunked 100 MB",
        path: decide(mainJob, "approve"),
        headers: json(),
        size: 100 * MB,
        chunked: true,
        expect: 401,
      },
      {
        name: "form sign-in, chunked 100 MB",
        path: "/console/login",
        headers: form,
        size: 100 * MB,
        chunked: true,
        expect: 413,
      },
      {
        name: "approval page form, chunked 100 MB",
        path: `/console/approvals/${mainJob}`,
        headers: { ...form, cookie: alice.cookie },
        size: 100 * MB,
        chunked: true,
        expect: 413,
      },
    ];
    for (const test of cases) {
      for (let round = 0; round < 3; round++) {
        const result = await streamBody(port, test.path, test.headers, test.size, test.chunked);
        count(category, result.outcome);
        results.push({ name: test.name, ...result });
        // Node may cut a connection it answered while the client is still sending.
        if (![test.expect, "ECONNRESET", "EPIPE"].includes(result.outcome))
          unexpected.push(`${test.name}: ${result.outcome}`);
        if (result.ms > 3_000) unexpected.push(`${test.name}: answered after ${result.ms} ms`);
        if (test.size > 50 * MB && result.sentMb > 40)
          unexpected.push(`${test.name}: ${result.sentMb.toFixed(0)} MB read`);
      }
    }
    // The approver's session still works after all of it.
    const after = await send({
      method: "GET",
      path: `/console/api/approvals/${mainJob}`,
      headers: json(alice),
    });
    expect(after.outcome).toBe(200);
    const peakMb = (rss.peak - rssAtStart) / 1024;
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const worstMb = Math.max(...results.filter((r) => r.name.includes("100 MB")).map((r) => r.sentMb));
    const slowest = Math.max(...results.map((r) => r.ms));
    const answered413 = results.filter((r) => r.outcome === 413).map((r) => r.ms);
    const lost =
      ofClass(category, 2) +
      ofClass(category, 5) +
      (harmed.count - before.count) +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial:
        "huge bodies to login, approve, reject and the no-JavaScript forms: Content-Length 64 KB + 1 and 100 MB, chunked 64 KB + 1 KB and 100 MB streamed",
      runs: total(category),
      unit: "requests",
      lost,
      figures:
        `${figures(category)}; 413 answered within ${Math.max(...answered413).toFixed(0)} ms (slowest outcome ${slowest.toFixed(0)} ms); ` +
        `at most ${worstMb.toFixed(1)} MB of a 100 MB stream sent before the answer or the cut; ` +
        `server RSS ${(rssAtStart / 1024).toFixed(0)} MB at the start, peak +${peakMb.toFixed(0)} MB; ${harmed.text}`,
    });
    expect(unexpected).toEqual([]);
    expect(lost).toBe(0);
    // A 64 KB limit and an 8 MB drain: the server never holds a body, so its RSS barely moves.
    expect(peakMb).toBeLessThan(64);
  });

  it("3. opens nothing with forged, truncated or borrowed cookies, nor with the agent's bearer token", async () => {
    const category = "console: forged cookies";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const unexpected: string[] = [];
    const leaks: string[] = [];
    const real = alice.cookie.split("=")[1] as string;
    const flip = (text: string, at: number) =>
      `${text.slice(0, at)}${text[at] === "A" ? "B" : "A"}${text.slice(at + 1)}`;
    const name = "deletegate_console";
    const many = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? `${name}=${randomBytes(32).toString("base64url")}` : `junk${i}=${i}`,
    ).join("; ");
    const variants: Record<string, Record<string, string>> = {
      "no cookie": {},
      "random word": { cookie: `${name}=forged` },
      "empty value": { cookie: `${name}=` },
      "valid-looking base64url (32 random bytes)": {
        cookie: `${name}=${randomBytes(32).toString("base64url")}`,
      },
      "the real session truncated by 1": { cookie: `${name}=${real.slice(0, -1)}` },
      "the real session's first half": { cookie: `${name}=${real.slice(0, 21)}` },
      "the real session plus a character": { cookie: `${name}=${real}A` },
      "the real session, last character changed": { cookie: `${name}=${flip(real, real.length - 1)}` },
      "the real session, first character changed": { cookie: `${name}=${flip(real, 0)}` },
      "the real session in upper case": { cookie: `${name}=${real.toUpperCase()}` },
      "the session's CSRF token as the cookie": { cookie: `${name}=${alice.csrf}` },
      "the agent's bearer token as the cookie": { cookie: `${name}=${AGENT_TOKEN}` },
      "a prototype key as the cookie": { cookie: `${name}=__proto__` },
      "cookie with attributes": {
        cookie: `${name}=${randomBytes(32).toString("base64url")}; Path=/console; HttpOnly`,
      },
      "300 cookies, 100 forged sessions": { cookie: many },
      "the agent's bearer token": { authorization: `Bearer ${AGENT_TOKEN}` },
      "the agent's bearer token and a forged cookie": {
        authorization: `Bearer ${AGENT_TOKEN}`,
        cookie: `${name}=${randomBytes(32).toString("base64url")}`,
      },
      "an approver's password as Basic auth": {
        authorization: `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString("base64")}`,
      },
    };
    // Every call a session opens, each with the real session's CSRF token (an attacker who stole only that).
    const calls: { name: string; send: (headers: Record<string, string>) => Send; html?: boolean }[] = [
      {
        name: "GET pending",
        send: (h) => ({ method: "GET", path: "/console/api/approvals?status=pending", headers: h }),
      },
      {
        name: "GET all",
        send: (h) => ({ method: "GET", path: "/console/api/approvals?status=all", headers: h }),
      },
      {
        name: "GET the job",
        send: (h) => ({ method: "GET", path: `/console/api/approvals/${mainJob}`, headers: h }),
      },
      {
        name: "POST approve",
        send: (h) => ({
          path: decide(mainJob, "approve"),
          headers: { ...json(), ...h, "x-deletegate-csrf": alice.csrf },
          body: "{}",
        }),
      },
      {
        name: "POST reject",
        send: (h) => ({
          path: decide(mainJob, "reject"),
          headers: { ...json(), ...h, "x-deletegate-csrf": alice.csrf },
          body: '{"comment":"forged"}',
        }),
      },
      {
        name: "GET ids.csv",
        send: (h) => ({ method: "GET", path: `/console/approvals/${mainJob}/ids.csv`, headers: h }),
      },
      {
        name: "POST the approval page's form",
        send: (h) => ({
          path: `/console/approvals/${mainJob}`,
          headers: { "content-type": "application/x-www-form-urlencoded", ...h },
          body: `action=approve&csrf=${encodeURIComponent(alice.csrf)}`,
        }),
        html: true,
      },
    ];
    for (const [variant, headers] of Object.entries(variants)) {
      for (const call of calls) {
        await repeat(5, 5, async () => {
          const answer = await send(call.send(headers));
          count(category, answer.outcome);
          if (answer.outcome !== 401) unexpected.push(`${variant}, ${call.name}: ${answer.outcome}`);
          else if (!call.html && !isJsonError(answer)) unexpected.push(`${variant}, ${call.name}: not JSON`);
          else if (call.html && answer.body.includes(REASON))
            unexpected.push(`${variant}, ${call.name}: job shown`);
          if (answer.headers.location) unexpected.push(`${variant}, ${call.name}: redirected`);
          leaks.push(...leaksIn(answer).map((secret) => `${variant}, ${call.name}: ${secret}`));
        });
      }
    }
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const lost =
      ofClass(category, 2) +
      ofClass(category, 5) +
      (harmed.count - before.count) +
      leaks.length +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial: `forged, truncated, altered and borrowed session cookies (the CSRF token or the agent's bearer token as the cookie, 300 cookies), the agent's bearer token instead of a cookie (${Object.keys(variants).length} kinds × ${calls.length} calls)`,
      runs: total(category),
      unit: "requests",
      lost,
      figures: `${figures(category)}; ${harmed.text}; ${leaks.length + stderrLeaks.length} secrets shown (no sign-out exists, so no signed-out cookie to replay)`,
    });
    expect(unexpected).toEqual([]);
    expect(leaks).toEqual([]);
    expect(lost).toBe(0);
  });

  it("4. refuses cross-origin, rebinding and CSRF-less state changes with 403 (or 415)", async () => {
    const category = "console: cross-origin";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const unexpected: string[] = [];
    const leaks: string[] = [];
    const refusedBy = new Map<string, number>();
    /** Who refused: the transport's Host/Origin check (JSON-RPC error) or the console (its own error code). */
    const layer = (answer: Answer) => {
      try {
        const body = JSON.parse(answer.body);
        if (body.jsonrpc) return "Host/Origin check";
        return `console ${body.error}`;
      } catch {
        return "console page";
      }
    };
    const note = (name: string, answer: Answer, allowed: number[]) => {
      count(category, answer.outcome);
      if (!allowed.includes(answer.outcome as number))
        unexpected.push(`${name}: ${answer.outcome} ${answer.body.slice(0, 120)}`);
      const by = layer(answer);
      refusedBy.set(by, (refusedBy.get(by) ?? 0) + 1);
      leaks.push(...leaksIn(answer).map((secret) => `${name}: ${secret}`));
      return by;
    };
    // The worst case: the request carries a valid session and the right CSRF token; only Host/Origin stop it.
    const foreign: Record<string, Record<string, string>> = {
      "Origin http://evil.example": { origin: "http://evil.example" },
      "Origin https://evil.example": { origin: "https://evil.example" },
      "Origin null": { origin: "null" },
      "Origin http://127.0.0.1.evil.example": { origin: `http://127.0.0.1.evil.example:${port}` },
      "Origin https://127.0.0.1.evil.example": { origin: `https://127.0.0.1.evil.example:${port}` },
      "Origin http://localhost (other name)": { origin: `http://localhost:${port}` },
      "Origin https://localhost (other name)": { origin: `https://localhost:${port}` },
      "Origin 127.0.0.1, other port": { origin: "http://127.0.0.1:1" },
      "Origin not a URL": { origin: "evil" },
      "Host evil.example": { host: `evil.example:${port}` },
      "Host 127.attacker.example (rebinding)": { host: `127.attacker.example:${port}` },
      "Host and Origin 127.attacker.example (rebinding)": {
        host: `127.attacker.example:${port}`,
        origin: `http://127.attacker.example:${port}`,
      },
      "Host localhost.evil.example": { host: `localhost.evil.example:${port}` },
      "Host 127.0.0.1.nip.io": {
        host: `127.0.0.1.nip.io:${port}`,
        origin: `http://127.0.0.1.nip.io:${port}`,
      },
      "Host 10.0.0.1": { host: "10.0.0.1" },
    };
    const stateChanging: { name: string; send: (extra: Record<string, string>) => Send }[] = [
      {
        name: "approve",
        send: (extra) => ({ path: decide(mainJob, "approve"), headers: json(alice, extra), body: "{}" }),
      },
      {
        name: "reject",
        send: (extra) => ({
          path: decide(mainJob, "reject"),
          headers: json(alice, extra),
          body: '{"comment":"cross-origin"}',
        }),
      },
      {
        name: "approval page form",
        send: (extra) => ({
          path: `/console/approvals/${mainJob}`,
          headers: { "content-type": "application/x-www-form-urlencoded", cookie: alice.cookie, ...extra },
          body: `action=approve&csrf=${encodeURIComponent(alice.csrf)}`,
        }),
      },
      {
        name: "login (login CSRF, right password)",
        send: (extra) => ({
          path: "/console/api/login",
          headers: json(undefined, extra),
          body: JSON.stringify({ name: "bob", password: PASSWORDS.bob }),
        }),
      },
    ];
    for (const [name, extra] of Object.entries(foreign)) {
      for (const call of stateChanging) {
        await repeat(4, 4, async () => {
          const by = note(`${name}, ${call.name}`, await send(call.send(extra)), [403]);
          if (by !== "Host/Origin check") unexpected.push(`${name}, ${call.name}: refused by ${by}`);
        });
      }
    }
    // No Host header at all.
    for (const call of stateChanging) {
      await repeat(4, 4, async () => {
        note(`no Host, ${call.name}`, await send({ ...call.send({}), setHost: false }), [403]);
      });
    }
    // The server's own host over https (another origin, which no one can serve on this plain-HTTP port): sent
    // as a cross-origin page would, with the cookie but without the CSRF token it cannot read.
    let httpsOwnHost = "";
    await repeat(4, 4, async () => {
      httpsOwnHost = note(
        "Origin https://<own host>, no CSRF header",
        await send({
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie }, { origin: `https://${own()}` }),
          body: "{}",
        }),
        [403],
      );
    });
    // What a cross-site form or a no-CORS fetch can send: a cookie, a simple content type, no custom header.
    const simple: { name: string; send: Send; allowed: number[] }[] = [
      {
        name: "form-encoded approve, no CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: { cookie: alice.cookie, "content-type": "application/x-www-form-urlencoded" },
          body: "comment=approved",
        },
        allowed: [403, 415],
      },
      {
        name: "form-encoded approve with the CSRF token as a field",
        send: {
          path: decide(mainJob, "approve"),
          headers: { cookie: alice.cookie, "content-type": "application/x-www-form-urlencoded" },
          body: `csrf=${encodeURIComponent(alice.csrf)}&x-deletegate-csrf=${encodeURIComponent(alice.csrf)}`,
        },
        allowed: [403, 415],
      },
      {
        name: "form-encoded reject, no CSRF header",
        send: {
          path: decide(mainJob, "reject"),
          headers: { cookie: alice.cookie, "content-type": "application/x-www-form-urlencoded" },
          body: "comment=rejected",
        },
        allowed: [403, 415],
      },
      {
        name: "text/plain JSON approve, no CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: { cookie: alice.cookie, "content-type": "text/plain" },
          body: "{}",
        },
        allowed: [403, 415],
      },
      {
        name: "text/plain;application/json approve, no CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: { cookie: alice.cookie, "content-type": "text/plain;application/json" },
          body: "{}",
        },
        allowed: [403, 415],
      },
      {
        name: "multipart approve, no CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: { cookie: alice.cookie, "content-type": "multipart/form-data; boundary=b" },
          body: '--b\r\nContent-Disposition: form-data; name="comment"\r\n\r\nok\r\n--b--\r\n',
        },
        allowed: [403, 415],
      },
      {
        name: "JSON approve, empty CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie }, { "x-deletegate-csrf": "" }),
          body: "{}",
        },
        allowed: [403],
      },
      {
        name: "JSON approve, another session's CSRF token",
        send: {
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie, csrf: bob.csrf }),
          body: "{}",
        },
        allowed: [403],
      },
      {
        name: "JSON approve, the session id as CSRF token",
        send: {
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie, csrf: alice.cookie.split("=")[1] }),
          body: "{}",
        },
        allowed: [403],
      },
      {
        name: "JSON approve, CSRF token truncated",
        send: {
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie, csrf: alice.csrf.slice(0, -1) }),
          body: "{}",
        },
        allowed: [403],
      },
      {
        name: "JSON approve, the agent's bearer token as CSRF",
        send: {
          path: decide(mainJob, "approve"),
          headers: json({ cookie: alice.cookie, csrf: AGENT_TOKEN }),
          body: "{}",
        },
        allowed: [403],
      },
      {
        name: "form-encoded approve with the right CSRF header",
        send: {
          path: decide(mainJob, "approve"),
          headers: {
            cookie: alice.cookie,
            "x-deletegate-csrf": alice.csrf,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: "comment=approved",
        },
        allowed: [415],
      },
      {
        name: "approval page form without its csrf field",
        send: {
          path: `/console/approvals/${mainJob}`,
          headers: { cookie: alice.cookie, "content-type": "application/x-www-form-urlencoded" },
          body: "action=approve",
        },
        allowed: [403],
      },
      {
        name: "approval page form with another session's csrf field",
        send: {
          path: `/console/approvals/${mainJob}`,
          headers: { cookie: alice.cookie, "content-type": "application/x-www-form-urlencoded" },
          body: `action=reject&comment=no&csrf=${encodeURIComponent(bob.csrf)}`,
        },
        allowed: [403],
      },
    ];
    for (const call of simple) {
      await repeat(4, 4, async () => {
        note(call.name, await send(call.send), call.allowed);
      });
    }
    // The job is untouched: the agent (MCP) and the console both see it awaiting, with no approval.
    const state = await jobState(mainJob);
    const view = await send({
      method: "GET",
      path: `/console/api/approvals/${mainJob}`,
      headers: json(alice),
    });
    const viewed = JSON.parse(view.body);
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const lost =
      ofClass(category, 2) +
      ofClass(category, 5) +
      (harmed.count - before.count) +
      leaks.length +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial: `cross-origin and DNS-rebinding state changes with a valid session and CSRF token (${Object.keys(foreign).length + 1} Origin/Host kinds × approve, reject, form, login), and what a cross-site form can send without the CSRF header (${simple.length + 1} kinds)`,
      runs: total(category),
      unit: "requests",
      lost,
      figures:
        `${figures(category)}; refused by ${[...refusedBy].map(([by, n]) => `${by} ×${n}`).join(", ")} ` +
        `(Origin https://<own host> is refused by ${httpsOwnHost}: the Origin check compares hosts, not schemes); ` +
        `${harmed.text}; the console shows the job ${viewed.status} with ${viewed.approval?.approvals?.length} approvals; ` +
        `${leaks.length + stderrLeaks.length} secrets shown`,
    });
    expect(unexpected).toEqual([]);
    expect(leaks).toEqual([]);
    expect(state).toEqual({ status: "awaiting_approval", approvals: 0, rejected: false });
    expect(viewed.status).toBe("awaiting_approval");
    expect(viewed.approval.approvals).toEqual([]);
    expect(lost).toBe(0);
  });

  it("5. checks 20 guesses for one approver no faster than the schedule, and lets the right one in", async () => {
    const category = "console: sign-in throttling";
    const stderrFrom = server.stderr().length;
    const before = await harm();
    const wrong = Array.from({ length: 20 }, (_, i) => `wrong-${i}-${randomBytes(6).toString("hex")}`);
    for (const [i, password] of wrong.entries())
      secrets.push({ name: `password guess ${i}`, value: password });
    // This address's earlier failures (trial 1) were cleared by a right sign-in; alice has none.
    const fresh = await login("bob", PASSWORDS.bob);
    expect(fresh.answer.outcome).toBe(200);
    const times: number[] = [];
    const leaks: string[] = [];
    const outcomes: (number | string)[] = [];
    // Six one after the other (250 ms × 2^(n−1), capped at 5 s), then fourteen at once, as a patient attacker would.
    // Those at once are checked one at a time, each after the 5 s of the one before; past two waiting from this
    // address, they are refused unchecked (401, saying so), which tells the attacker nothing about the password.
    const guess = async (password: string) => {
      const { answer } = await login("alice", password);
      count(category, answer.outcome);
      leaks.push(...leaksIn(answer));
      outcomes.push(answer.outcome);
      return answer;
    };
    const checked = (answer: Answer) => !answer.body.includes("Too many sign-ins");
    const sequentialStart = performance.now();
    for (const password of wrong.slice(0, 6)) times.push((await guess(password)).ms);
    const sequentialMs = performance.now() - sequentialStart;
    const parallelStart = performance.now();
    const parallel = await Promise.all(wrong.slice(6).map(guess));
    const parallelMs = performance.now() - parallelStart;
    const parallelChecked = parallel.filter(checked).map((answer) => answer.ms);
    const parallelRefused = parallel.length - parallelChecked.length;
    times.push(...parallelChecked);
    // Checked guesses of one name end at least 5 s apart: a burst is decided no faster than one guess per 5 s.
    const sorted = [...parallelChecked].sort((a, b) => a - b);
    const closer = sorted.slice(1).filter((ms, i) => ms - (sorted[i] as number) < 5_000 - 50).length;
    const right = await login("alice", PASSWORDS.alice);
    alice = right;
    const rightMs = right.answer.ms;
    const harmed = await harm();
    const stderrLeaks = leaksInStderr(stderrFrom);
    const refused = outcomes.filter((outcome) => outcome !== 401).length;
    const expected = [250, 500, 1_000, 2_000, 4_000, 5_000];
    const tooFast = times.filter((ms, i) => ms < (expected[Math.min(i, 5)] as number) - 5).length + closer;
    const lost =
      refused +
      (right.answer.outcome === 200 ? 0 : 1) +
      (harmed.count - before.count) +
      leaks.length +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial:
        "sign-in throttling: 20 wrong passwords for one approver (6 one after another, then 14 at once from one address), then the right one",
      runs: outcomes.length + 1,
      unit: "sign-ins",
      lost,
      figures:
        `${figures(category)}; answered after ${times
          .slice(0, 6)
          .map((ms) => `${(ms / 1000).toFixed(2)}`)
          .join(", ")} s ` +
        `(${(sequentialMs / 1000).toFixed(1)} s in all), of the 14 sent at once ${parallelChecked.length} checked, ` +
        `answered after ${sorted.map((ms) => (ms / 1000).toFixed(2)).join(", ")} s, and ${parallelRefused} refused unchecked ` +
        `(${(parallelMs / 1000).toFixed(1)} s in all: one guess per 5 s at most); ` +
        `${tooFast} answered faster than the schedule; the right password then ${right.answer.outcome} in ${rightMs.toFixed(0)} ms; ${harmed.text}`,
    });
    expect(outcomes).toEqual(Array(20).fill(401));
    expect(parallelChecked.length).toBeGreaterThan(0);
    expect(parallelChecked.length).toBeLessThanOrEqual(1 + Math.floor(parallelMs / 5_000));
    expect(tooFast).toBe(0);
    expect(right.answer.outcome).toBe(200);
    expect(lost).toBe(0);
  });

  it("after every attack: the job still awaits with no approval, no delete was sent, nothing leaked", async () => {
    // An approval that slipped through starts its job within 5 s: look after that long.
    await new Promise((done) => setTimeout(done, 1_000));
    const main = await jobState(mainJob);
    const canary = await jobState(canaryJob);
    const deletes = deleteRequests(sim).length;
    const events = [...decisionsFor(mainJob), ...decisionsFor(canaryJob)];
    const stderrLeaks = leaksInStderr();
    const errors = server
      .stderr()
      .split("\n")
      .filter((line) => line.includes('"level":50')).length;
    const lost =
      (main.status === "awaiting_approval" ? 0 : 1) +
      main.approvals +
      (canary.status === "awaiting_approval" ? 0 : 1) +
      canary.approvals +
      events.length +
      deletes +
      stderrLeaks.length +
      (alive() ? 0 : 1);
    recordTrial({
      area: "console",
      trial:
        "after all console attacks: the jobs awaiting approval, the backend, the server's log and the process",
      runs: 2,
      unit: "jobs",
      lost,
      figures:
        `job ${main.status} with ${main.approvals} approvals, canary job ${canary.status} with ${canary.approvals}; ` +
        `${events.length} approval/start audit events; ${deletes} delete requests at the simulator; ` +
        `${stderrLeaks.length} secrets in ${(server.stderr().length / 1024).toFixed(0)} KB of stderr; ${errors} error lines; ` +
        `server ${alive() ? "alive" : "dead"}`,
    });
    expect(main).toEqual({ status: "awaiting_approval", approvals: 0, rejected: false });
    expect(canary).toEqual({ status: "awaiting_approval", approvals: 0, rejected: false });
    expect(events).toEqual([]);
    expect(deletes).toBe(0);
    expect(stderrLeaks).toEqual([]);
    expect(alive()).toBe(true);
  });
});
