// The audit hash chain: genesis, every line chained to the previous line's bytes, going on across restarts and
// torn lines, and verify naming the first broken line for every kind of tamper.

import { spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type AuditEntry,
  createAudit,
  GENESIS_SHA256,
  readChainHead,
  sha256Hex,
  verifyAuditFile,
} from "../../src/audit/index.js";
import { protectSecrets } from "../../src/logger.js";
import { processAlive, processStartTime } from "../../src/process-alive.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "deletegate-audit-"));
  dirs.push(dir);
  return join(dir, "audit.jsonl");
}

const entry = (i: number): AuditEntry => ({
  event: i % 2 === 0 ? "plan.created" : "batch.completed",
  plan_id: `plan_${i}`,
  backend: "splendor-test",
  target: { dataset_id: "app-logs" },
  actor: "unit",
  reason: "Erasure request #1187",
  ids: [`id-${i}`, `id-${i + 1}`],
  counts: { deleted: 2 },
});

/** An audit file of `n` lines written by the real writer (reopened halfway, as a restart does). */
function writeLog(n: number, path = tempFile()): string {
  let audit = createAudit(path);
  for (let i = 0; i < n; i++) {
    if (i === Math.floor(n / 2)) {
      audit.close();
      audit = createAudit(path);
    }
    audit.record(entry(i));
  }
  audit.close();
  return path;
}

/** The file's lines, without the final "\n". */
function linesOf(path: string): string[] {
  const text = readFileSync(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n");
}

function writeLines(lines: string[]): string {
  const path = tempFile();
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

type Parsed = Record<string, unknown> & { seq: number; prev_sha256: string };
const parse = (line: string) => JSON.parse(line) as Parsed;

/** The first broken line verify names (null when it finds the file intact). */
function brokenLine(path: string, head?: string): number | null {
  const verdict = verifyAuditFile(path, { head });
  return verdict.ok ? null : verdict.line;
}

function reasonOf(path: string): string {
  const verdict = verifyAuditFile(path);
  if (verdict.ok) throw new Error("expected a broken chain");
  return verdict.reason;
}

/** A line that fits at 1-based position `k`: right seq, chained to the line before it. */
function forgedLine(lines: string[], k: number): string {
  const prev = k === 1 ? GENESIS_SHA256 : sha256Hex(lines[k - 2] as string);
  return JSON.stringify({ time: new Date().toISOString(), seq: k, prev_sha256: prev, event: "plan.created" });
}

describe("writing the chain", () => {
  it("takes over the append lock of a process that is gone, or of one held far too long", async () => {
    const path = tempFile();
    const audit = createAudit(path);
    // A lock left by a process that died holding it (no such pid).
    writeFileSync(`${path}.lock`, "2147483646");
    audit.record({ event: "plan.created" });
    // A lock of a live process (this one) that is older than any append takes.
    writeFileSync(`${path}.lock`, String(process.pid));
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    audit.record({ event: "plan.created" });
    // A lock whose holder died before writing its pid (empty), a while ago.
    writeFileSync(`${path}.lock`, "");
    const aWhileAgo = new Date(Date.now() - 2_000);
    utimesSync(`${path}.lock`, aWhileAgo, aWhileAgo);
    audit.record({ event: "plan.created" });
    // A lock of a killed process not yet reaped by its parent (a zombie: kill(pid, 0) still succeeds).
    const parent = spawn("sh", ["-c", "sleep 30 & echo $!; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const child = await new Promise<number>((resolve) =>
      parent.stdout.once("data", (data) => resolve(Number(String(data).trim()))),
    );
    process.kill(child, "SIGKILL");
    await new Promise((done) => setTimeout(done, 100));
    writeFileSync(`${path}.lock`, String(child));
    const started = Date.now();
    audit.record({ event: "plan.created" });
    expect(Date.now() - started).toBeLessThan(1_000);
    parent.kill("SIGKILL");
    audit.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 4 });
  });

  it("takes over at once a fresh lock naming its own pid with another start time (a restarted container's pid 1)", () => {
    const path = tempFile();
    const ownStart = processStartTime(process.pid);
    expect(ownStart).not.toBeNull();
    // Left by the previous run of a server that had this same pid; written just now, so not stale by its age.
    writeFileSync(`${path}.lock`, `${process.pid} ${Number(ownStart) + 1}`);
    const started = Date.now();
    const audit = createAudit(path);
    audit.record({ event: "plan.created" });
    // Not waited out: a lock not yet naming its holder is given 1 s, a named one of a live process 30 s.
    expect(Date.now() - started).toBeLessThan(500);
    audit.close();
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 1 });
    expect(processAlive(process.pid, `${Number(ownStart) + 1}`)).toBe(false);
    expect(processAlive(process.pid, ownStart)).toBe(true);
  });

  it("goes on from another writer's lines instead of forking the chain", () => {
    const path = tempFile();
    const first = createAudit(path);
    const second = createAudit(path);
    for (let round = 0; round < 5; round++) {
      first.record({ event: "plan.created", actor: "first" });
      second.record({ event: "plan.created", actor: "second" });
    }
    first.close();
    second.close();
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 10 });
  });

  it("starts from the genesis value and chains each line to the exact bytes of the one before", () => {
    const lines = linesOf(writeLog(6));
    expect(lines).toHaveLength(6);
    expect(GENESIS_SHA256).toBe("0".repeat(64));
    lines.forEach((line, i) => {
      const value = parse(line);
      expect(value.seq).toBe(i + 1);
      expect(value.prev_sha256).toBe(i === 0 ? GENESIS_SHA256 : sha256Hex(lines[i - 1] as string));
      expect(value.event).toBe(entry(i).event);
      expect(typeof value.time).toBe("string");
    });
  });

  it("goes on from the last line of an existing file after a restart", () => {
    const path = writeLog(3);
    const before = linesOf(path);
    const audit = createAudit(path);
    audit.record(entry(9));
    audit.close();
    const after = linesOf(path);
    expect(after.slice(0, 3)).toEqual(before);
    expect(parse(after[3] as string)).toMatchObject({ seq: 4, prev_sha256: sha256Hex(before[2] as string) });
    expect(verifyAuditFile(path)).toEqual({
      ok: true,
      lines: 4,
      lastSha256: sha256Hex(after[3] as string),
      headLine: null,
    });
  });

  it("a record after close (a late event at shutdown) reopens the file and goes on", () => {
    const path = tempFile();
    const audit = createAudit(path);
    audit.record(entry(0));
    audit.close();
    audit.record(entry(1));
    audit.close();
    const lines = linesOf(path);
    expect(parse(lines[1] as string)).toMatchObject({ seq: 2, prev_sha256: sha256Hex(lines[0] as string) });
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 2 });
  });

  it("redacts configured secrets in every encoding, and rewrites nothing else (verbatim)", () => {
    const secret = 'Cfg/Secret+77"aa';
    protectSecrets([secret]);
    const path = tempFile();
    const audit = createAudit(path);
    const forms = [
      secret,
      secret.toUpperCase(),
      secret.toLowerCase(),
      encodeURIComponent(secret),
      encodeURIComponent(secret).toLowerCase(),
      Buffer.from(secret).toString("base64"),
      Buffer.from(secret).toString("base64url"),
      Buffer.from(secret).toString("hex"),
      Buffer.from(secret).toString("hex").toUpperCase(),
    ];
    const agentText = ["Bearer doc0001", "token=abc12345", "api_key: xyz98765"];
    audit.record({
      event: "batch.sending",
      target: { token: "tok-secret-1", confirmation_token: "ct-2" },
      reason: `Bearer hello-world-reason ${forms.join(" ")}`,
      ids: [...agentText, ...forms],
    } as AuditEntry);
    audit.close();
    const line = parse(linesOf(path)[0] as string) as unknown as {
      ids: string[];
      reason: string;
      target: unknown;
    };
    expect(line.ids).toEqual([...agentText, ...forms.map(() => "[redacted]")]);
    expect(line.reason).toBe(`Bearer hello-world-reason ${forms.map(() => "[redacted]").join(" ")}`);
    // Agent text under names that look sensitive is the agent's words, not a configured secret.
    expect(line.target).toEqual({ token: "tok-secret-1", confirmation_token: "ct-2" });
    expect(verifyAuditFile(path).ok).toBe(true);
  });

  it("writes a batch's two lines, which share one ids array, exactly as the whole line scrubbed, whatever the secrets", () => {
    const secretInIds = "Shared-Ids-Secret-01";
    protectSecrets([secretInIds]);
    const path = tempFile();
    const audit = createAudit(path);
    const lateSecret = "Late-Registered-Secret";
    const ids = ["a", `x${secretInIds.toLowerCase()}y`, 'q"uote', `${lateSecret}-tail`];
    const batchLine = (event: string, extra: Record<string, unknown>) =>
      ({ event, job_id: "job_1", actor: "agent", reason: "r", batch: 0, ids, ...extra }) as AuditEntry;
    audit.record(batchLine("batch.sending", { attempts: 0 }));
    // Registered between the two lines: the second one must not show it though its ids were scrubbed before.
    protectSecrets([lateSecret]);
    audit.record(batchLine("batch.completed", { http_status: 200, counts: { deleted: 4 } }));
    audit.close();
    const lines = linesOf(path);
    const [sending, completed] = lines
      .slice(0, 2)
      .map((line) => parse(line) as unknown as Record<string, unknown>);
    // Key order as the entry gives it; each line is the JSON of its fields with the secrets replaced.
    expect(Object.keys(sending ?? {})).toEqual([
      "time",
      "seq",
      "prev_sha256",
      "event",
      "job_id",
      "actor",
      "reason",
      "batch",
      "ids",
      "attempts",
    ]);
    expect(sending?.ids).toEqual(["a", "x[redacted]y", 'q"uote', `${lateSecret}-tail`]);
    expect(completed?.ids).toEqual(["a", "x[redacted]y", 'q"uote', "[redacted]-tail"]);
    for (const line of lines) expect(line).not.toMatch(/ids-[0-9a-f]{32}/);
    expect(verifyAuditFile(path).ok).toBe(true);
    // A secret holding a bracket could span the cut around the ids: the line is scrubbed whole. (The secret is
    // replaced where it stands, across the JSON's own brackets and quotes, as a whole line always was.)
    const bracketSecret = 'zz"],"http_status';
    protectSecrets([bracketSecret]);
    const other = tempFile();
    const bracketed = createAudit(other);
    bracketed.record({ ...batchLine("batch.failed", { http_status: 500 }), ids: ["a", "zz"] } as AuditEntry);
    bracketed.close();
    const [line] = linesOf(other);
    expect(line).not.toContain(bracketSecret);
    expect(line).toContain('"ids":["a","[redacted]":500}');
  });

  it("a torn last line: the next line starts on a line of its own, chained to the torn bytes, and verify names it", () => {
    const path = writeLog(4);
    const torn = '{"time":"2026-01-01T00:00:00.000Z","seq":5,"prev_sha';
    appendFileSync(path, torn);
    expect(brokenLine(path)).toBe(5); // cut inside a line
    const audit = createAudit(path);
    audit.record(entry(5));
    audit.close();
    const lines = linesOf(path);
    expect(lines).toHaveLength(6);
    expect(lines[4]).toBe(torn);
    expect(parse(lines[5] as string)).toMatchObject({ seq: 6, prev_sha256: sha256Hex(torn) });
    expect(brokenLine(path)).toBe(5);
    expect(reasonOf(path)).toContain("not a JSON object");
  });

  it("a file that is nothing but a torn line", () => {
    const path = tempFile();
    writeFileSync(path, '{"time":"2026');
    const audit = createAudit(path);
    audit.record(entry(0));
    audit.close();
    const lines = linesOf(path);
    expect(parse(lines[1] as string)).toMatchObject({ seq: 2, prev_sha256: sha256Hex('{"time":"2026') });
    expect(brokenLine(path)).toBe(1);
  });

  it("a file from before the chain: lines are counted, so seq is still the line number, and verify says why", () => {
    const path = writeLines(['{"event":"plan.created"}', '{"event":"job.started"}', "not json"]);
    const audit = createAudit(path);
    audit.record(entry(0));
    audit.close();
    expect(parse(linesOf(path)[3] as string)).toMatchObject({ seq: 4, prev_sha256: sha256Hex("not json") });
    expect(brokenLine(path)).toBe(1);
    expect(reasonOf(path)).toContain("no seq or prev_sha256");
  });

  it("reads only the tail of a big file at start", () => {
    const path = tempFile();
    // 4 GB of sparse zeros, then two chained lines: reading it whole would take seconds.
    closeSync(openSync(path, "w"));
    truncateSync(path, 4 * 1024 ** 3);
    appendFileSync(path, `\n${JSON.stringify({ seq: 41, prev_sha256: GENESIS_SHA256 })}\n`);
    const fd = openSync(path, "r");
    const started = performance.now();
    const head = readChainHead(fd);
    const elapsed = performance.now() - started;
    closeSync(fd);
    truncateSync(path, 0);
    expect(head.seq).toBe(42);
    expect(head.torn).toBe(false);
    expect(elapsed).toBeLessThan(200);
  });

  it("writes lines of multi-byte text byte for byte, up to and beyond the length encoded in the kept buffer", () => {
    const path = tempFile();
    const audit = createAudit(path);
    // 3-byte characters (CJK) in lines of 128.7k and 143k UTF-16 units, just within the kept buffer's 128k units
    // and beyond them; 4-byte ones (an emoji, two units each) and 2-byte ones.
    const cjk = (count: number) => Array.from({ length: count }, (_, i) => `${"漢".repeat(139)}${i % 10}`);
    const idSets = [cjk(900), cjk(1000), Array.from({ length: 20_000 }, (_, i) => (i % 2 ? "😀" : "é"))];
    for (const ids of idSets) audit.record({ ...entry(0), ids });
    audit.record({ ...entry(1), reason: "ünïcödé ✓ 漢字 😀" });
    audit.close();
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 4 });
    const lines = linesOf(path);
    expect(lines.slice(0, 3).map((line) => parse(line).ids)).toEqual(idSets);
    expect(parse(lines[3] as string).reason).toBe("ünïcödé ✓ 漢字 😀");
  });

  it("verifies lines longer than the read chunk (a 3 MB batch line)", () => {
    const path = tempFile();
    const audit = createAudit(path);
    audit.record(entry(0));
    audit.record({ ...entry(1), ids: Array.from({ length: 1024 }, (_, i) => `${"x".repeat(3000)}-${i}`) });
    audit.record(entry(2));
    audit.close();
    expect(readFileSync(path).length).toBeGreaterThan(3_000_000);
    expect(verifyAuditFile(path)).toMatchObject({ ok: true, lines: 3 });
    const lines = linesOf(path);
    lines[1] = (lines[1] as string).replace("-1023", "-1024");
    expect(brokenLine(writeLines(lines))).toBe(3);
  });
});

describe("verify finds every tamper", () => {
  const N = 12;
  const original = linesOf(writeLog(N));

  it("an intact file, and the anchor a reader noted", () => {
    const path = writeLines(original);
    const last = sha256Hex(original[N - 1] as string);
    expect(verifyAuditFile(path)).toEqual({ ok: true, lines: N, lastSha256: last, headLine: null });
    expect(verifyAuditFile(path, { head: sha256Hex(original[4] as string) })).toMatchObject({
      ok: true,
      headLine: 5,
    });
    expect(brokenLine(writeLines([]))).toBe(1); // "\n" alone: one empty line, not an audit line
    const empty = tempFile();
    writeFileSync(empty, "");
    expect(verifyAuditFile(empty)).toEqual({ ok: true, lines: 0, lastSha256: null, headLine: null });
  });

  it("an edited field of line k: line k+1 no longer chains to it", () => {
    for (let k = 1; k < N; k++) {
      const lines = [...original];
      lines[k - 1] = (lines[k - 1] as string).replace('"actor":"unit"', '"actor":"someone else"');
      expect(lines[k - 1]).not.toBe(original[k - 1]);
      expect(brokenLine(writeLines(lines))).toBe(k + 1);
    }
    expect(
      reasonOf(
        writeLines([
          original[0] as string,
          (original[1] as string).replace("unit", "x"),
          original[2] as string,
        ]),
      ),
    ).toContain("does not match the sha256 of line 2");
  });

  it("an edited last line is caught only against the anchor (--head)", () => {
    const lines = [...original];
    lines[N - 1] = (lines[N - 1] as string).replace('"actor":"unit"', '"actor":"x"');
    const path = writeLines(lines);
    expect(brokenLine(path)).toBe(null);
    const verdict = verifyAuditFile(path, { head: sha256Hex(original[N - 1] as string) });
    expect(verdict).toMatchObject({ ok: false, line: null, lines: N });
  });

  it("an edited seq or prev_sha256 of line k: line k itself", () => {
    for (let k = 1; k <= N; k++) {
      const seq = [...original];
      seq[k - 1] = (seq[k - 1] as string).replace(`"seq":${k},`, `"seq":${k + 7},`);
      expect(brokenLine(writeLines(seq))).toBe(k);
      const prev = [...original];
      const value = parse(prev[k - 1] as string);
      prev[k - 1] = (prev[k - 1] as string).replace(value.prev_sha256, sha256Hex("forged"));
      expect(brokenLine(writeLines(prev))).toBe(k);
    }
  });

  it("a deleted line k: line k now carries seq k+1; the deleted last line only against the anchor", () => {
    for (let k = 1; k < N; k++) {
      const lines = original.filter((_, i) => i !== k - 1);
      expect(brokenLine(writeLines(lines))).toBe(k);
    }
    const cut = writeLines(original.slice(0, -1));
    expect(brokenLine(cut)).toBe(null);
    expect(verifyAuditFile(cut, { head: sha256Hex(original[N - 1] as string) })).toMatchObject({
      ok: false,
      line: null,
      lines: N - 1,
    });
  });

  it("a forged line inserted before line k, with the right seq and hash: the line after it", () => {
    for (let k = 1; k <= N; k++) {
      const lines = [...original];
      lines.splice(k - 1, 0, forgedLine(original, k));
      expect(brokenLine(writeLines(lines))).toBe(k + 1);
    }
  });

  it("a copied line inserted before line k: line k", () => {
    for (let k = 2; k <= N; k++) {
      const lines = [...original];
      lines.splice(k - 1, 0, original[0] as string);
      expect(brokenLine(writeLines(lines))).toBe(k);
    }
  });

  it("two lines swapped: the first of them", () => {
    for (let k = 1; k < N; k++) {
      const lines = [...original];
      [lines[k - 1], lines[k]] = [lines[k] as string, lines[k - 1] as string];
      expect(brokenLine(writeLines(lines))).toBe(k);
    }
    const far = [...original];
    [far[2], far[8]] = [far[8] as string, far[2] as string];
    expect(brokenLine(writeLines(far))).toBe(3);
  });

  it("a changed genesis: line 1", () => {
    const lines = [...original];
    lines[0] = (lines[0] as string).replace(GENESIS_SHA256, `${"0".repeat(63)}1`);
    expect(brokenLine(writeLines(lines))).toBe(1);
    expect(reasonOf(writeLines(lines))).toContain("genesis");
    // The first line removed and the rest re-numbered by hand still fails: line 2 was chained to line 1.
    const shifted = original.slice(1).map((line, i) => line.replace(`"seq":${i + 2},`, `"seq":${i + 1},`));
    expect(brokenLine(writeLines(shifted))).toBe(1);
  });

  it("a line that is not JSON, or not an object", () => {
    for (const junk of ["", "{", "[1,2]", "null", "42", "{not json}"]) {
      const lines = [...original];
      lines[5] = junk;
      expect(brokenLine(writeLines(lines))).toBe(6);
      expect(reasonOf(writeLines(lines))).toContain("not a JSON object");
    }
  });

  /**
   * What two writers without the shared lock leave (two machines on one network file, or a writer from before
   * the lock): each goes on from the tail it read, so the second line forks from the same line as the first.
   */
  function forked(before: number): string {
    const path = before === 0 ? tempFile() : writeLog(before);
    const copy = tempFile();
    writeFileSync(copy, existsSync(path) ? readFileSync(path) : "");
    const a = createAudit(path);
    const b = createAudit(copy);
    a.record(entry(10));
    b.record(entry(11));
    a.close();
    b.close();
    appendFileSync(path, `${readFileSync(copy, "utf8").split("\n").at(-2)}\n`);
    return path;
  }

  it("two writers without the shared lock: verify says so", () => {
    const path = forked(2);
    expect(brokenLine(path)).toBe(4);
    expect(reasonOf(path)).toContain("two processes may be appending to this file");
  });

  it("two writers without the lock that both started on an empty file: the second line starts the chain again", () => {
    const path = forked(0);
    expect(brokenLine(path)).toBe(2);
    expect(reasonOf(path)).toContain("continues from the genesis value");
    expect(reasonOf(path)).toContain("two processes may be appending to this file");
  });
});
