// The audit trail (SPEC §8): one JSON object per line, appended synchronously so a crash cannot lose a written
// event, each line chained to the one before it by `prev_sha256` so that `deletegate audit verify` can find edits.
import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { scrubSecretValues } from "./logger.js";

export type AuditEventName =
  | "plan.created"
  | "plan.refused"
  | "delete.confirmed"
  | "delete.refused"
  | "job.started"
  | "batch.sending"
  | "batch.completed"
  | "batch.failed"
  | "job.finished"
  | "job.cancelled"
  | "approval.requested"
  | "approval.granted"
  | "approval.rejected"
  | "approval.expired"
  | "config.reloaded";

export interface AuditEntry {
  event: AuditEventName;
  plan_id?: string | null;
  job_id?: string | null;
  backend?: string | null;
  target?: unknown;
  actor?: string;
  reason?: string | null;
  counts?: Record<string, number>;
  code?: string;
  error?: string;
  status?: string;
  batch?: number;
  ids?: string[];
  http_status?: number | null;
  backend_ref?: string | null;
  attempts?: number;
  /** Approval events: who decided, what they said, and the plan digest they consented to. */
  approver?: string;
  comment?: string | null;
  digest?: string;
  approvals?: number;
  required?: number;
  /** config.reloaded: the key paths applied at once, and those that wait for a restart. */
  applied?: string[];
  restart_needed?: string[];
}

export interface Audit {
  record(entry: AuditEntry): void;
  close(): void;
}

/** The `prev_sha256` of a file's first line (and of the first line on stderr after each start). */
export const GENESIS_SHA256 = "0".repeat(64);
/** Longer lines are not audit lines (a batch line of 1,024 ids of 512 characters is a few MB). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;
const NEWLINE = 0x0a;
const CHUNK = 1024 * 1024;

export function sha256Hex(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Where the chain goes on: the next line's `seq` and `prev_sha256`. */
export interface ChainHead {
  seq: number;
  prevSha256: string;
  /** The file ended inside a line (a torn write): the writer ends that line before its own. */
  torn: boolean;
}

/** The position of the last "\n" before `end`, reading backwards in chunks (so a 1 GB file is not read). */
function lastNewlineBefore(fd: number, end: number): number {
  const buffer = Buffer.alloc(64 * 1024);
  for (let stop = end; stop > 0; ) {
    const start = Math.max(0, stop - buffer.length);
    const read = readSync(fd, buffer, 0, stop - start, start);
    const at = buffer.subarray(0, read).lastIndexOf(NEWLINE);
    if (at >= 0) return start + at;
    stop = start;
  }
  return -1;
}

function hashRange(fd: number, start: number, end: number): string {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(CHUNK);
  for (let at = start; at < end; ) {
    const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
    at += read;
  }
  return hash.digest("hex");
}

function countNewlines(fd: number, end: number): number {
  const buffer = Buffer.alloc(CHUNK);
  let count = 0;
  for (let at = 0; at < end; ) {
    const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
    if (read === 0) break;
    for (let i = buffer.indexOf(NEWLINE); i >= 0 && i < read; i = buffer.indexOf(NEWLINE, i + 1)) count++;
    at += read;
  }
  return count;
}

function seqOf(line: Buffer): number | null {
  try {
    const value = JSON.parse(line.toString("utf8")) as { seq?: unknown };
    return Number.isSafeInteger(value?.seq) && (value.seq as number) >= 1 ? (value.seq as number) : null;
  } catch {
    return null;
  }
}

/**
 * Reads where the chain of the file open at `fd` goes on, from its tail only: the last complete line gives `seq`
 * and the hash. A torn last line (no "\n") counts as a line: the next line chains to its bytes, so `verify` reports
 * it as broken instead of the writer hiding it. Only when the last line carries no `seq` (a file written before
 * the chain, or garbage) are the lines counted, reading the whole file once.
 */
export function readChainHead(fd: number): ChainHead {
  const size = fstatSync(fd).size;
  if (size === 0) return { seq: 1, prevSha256: GENESIS_SHA256, torn: false };
  const lastNewline = lastNewlineBefore(fd, size);
  const torn = lastNewline !== size - 1;
  const lineEnd = torn ? lastNewline : size - 1;
  let seq: number | null = null;
  let lastLineSha = GENESIS_SHA256;
  if (lineEnd >= 0) {
    const lineStart = lastNewlineBefore(fd, lineEnd) + 1;
    if (lineEnd - lineStart <= MAX_LINE_BYTES) {
      const line = Buffer.alloc(lineEnd - lineStart);
      readSync(fd, line, 0, line.length, lineStart);
      seq = seqOf(line);
      lastLineSha = sha256Hex(line);
    } else {
      lastLineSha = hashRange(fd, lineStart, lineEnd);
    }
  } else {
    seq = 0; // the torn line is the file's only line
  }
  const completeLines = seq ?? countNewlines(fd, size);
  return {
    seq: completeLines + 1 + (torn ? 1 : 0),
    prevSha256: torn ? hashRange(fd, lastNewline + 1, size) : lastLineSha,
    torn,
  };
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Writes all of `bytes`, retrying a full pipe (stderr may be non-blocking) like pino's sync destination does. */
function writeAll(fd: number, bytes: Buffer): void {
  let retries = 0;
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(fd, bytes, at, bytes.length - at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== "EAGAIN" && code !== "EBUSY") || ++retries > 1000) throw error;
      sleepMs(10);
    }
  }
}

/** How long a writer waits for another process's append before the line fails (as a full disk would). */
const LOCK_WAIT_MS = 10_000;
/** A lock file older than this is left over by a process that died holding it: an append takes microseconds. */
const STALE_LOCK_MS = 30_000;

/**
 * Serialises appends to one audit file across processes (stdio servers and `deletegate console` on one config,
 * SPEC §8): `<file>.lock`, created exclusively, names its holder; a holder that died (its pid gone, or the lock
 * older than STALE_LOCK_MS) loses it. Returns the release.
 */
function lockFile(path: string): () => void {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (lockIsStale(lock)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`${lock} is held by another process for over ${LOCK_WAIT_MS} ms`);
    sleepMs(1);
  }
}

/** A lock file with no pid yet is being written by its holder; after this long, its holder died in between. */
const UNNAMED_LOCK_MS = 1_000;

/** Whether `pid` is a process that can still release a lock: alive, and not a zombie (killed, not yet reaped). */
function holderAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // Linux: "pid (comm) S …"; the state after the last ")" is Z for a zombie.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return true;
  }
}

function lockIsStale(lock: string): boolean {
  try {
    const age = Date.now() - statSync(lock).mtimeMs;
    if (age > STALE_LOCK_MS) return true;
    const pid = Number(readFileSync(lock, "utf8"));
    if (!Number.isInteger(pid) || pid <= 0) return age > UNNAMED_LOCK_MS;
    return !holderAlive(pid);
  } catch (error) {
    // Released meanwhile: free.
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** A file (opened for append; the chain goes on from its last line) or stderr (chained from genesis). */
class ChainedSink {
  private fd: number | null = null;
  private head: ChainHead | null = null;
  /** The file's size after this process's last append: a different size means another process appended. */
  private end = 0;

  constructor(private readonly path: string | null) {
    if (path === null) {
      this.fd = 2;
      this.head = { seq: 1, prevSha256: GENESIS_SHA256, torn: false };
    } else {
      mkdirSync(dirname(path), { recursive: true });
      this.append(() => null);
    }
  }

  /**
   * Appends the line `build` makes from the chain fields it gets (nothing when it returns null). On a file, under
   * the cross-process lock, after reading the chain head again if another process appended since.
   */
  append(build: (chain: { seq: number; prev_sha256: string }) => string | null): void {
    if (this.path === null) {
      this.writeLine(2, this.head as ChainHead, build);
      return;
    }
    const release = lockFile(this.path);
    try {
      if (this.fd === null) this.fd = openSync(this.path, "a+");
      const fd = this.fd;
      if (this.head === null || fstatSync(fd).size !== this.end) this.syncHead(fd);
      this.writeLine(fd, this.head as ChainHead, build);
    } catch (error) {
      // Part of a line may be on disk: read the file's tail again before the next line.
      this.close();
      throw error;
    } finally {
      release();
    }
  }

  /** Reads where the chain goes on from the file's tail; a torn last line is ended so verify names it. */
  private syncHead(fd: number): void {
    const head = readChainHead(fd);
    if (head.torn) writeAll(fd, Buffer.from("\n"));
    this.head = { ...head, torn: false };
    this.end = fstatSync(fd).size;
  }

  private writeLine(
    fd: number,
    head: ChainHead,
    build: (chain: { seq: number; prev_sha256: string }) => string | null,
  ) {
    const line = build({ seq: head.seq, prev_sha256: head.prevSha256 });
    if (line === null) return;
    const bytes = Buffer.from(`${line}\n`, "utf8");
    writeAll(fd, bytes);
    this.end += bytes.length;
    this.head = {
      seq: head.seq + 1,
      prevSha256: sha256Hex(bytes.subarray(0, bytes.length - 1)),
      torn: false,
    };
  }

  close(): void {
    if (this.path === null || this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    this.head = null;
    closeSync(fd);
  }
}

/**
 * One audit line, verbatim (SPEC §8): ids, targets and reasons are written as given; only the values of configured
 * secrets (backend keys, HTTP tokens) and their encodings are replaced, wherever they appear.
 */
function auditLine(entry: AuditEntry, chain: { seq: number; prev_sha256: string }): string {
  return scrubSecretValues(JSON.stringify({ time: new Date().toISOString(), ...chain, ...entry }));
}

/** `stderr` or a file path (directories created, lines appended; the chain goes on from the file's last line). */
export function createAudit(destination: string): Audit {
  const sink = new ChainedSink(destination === "stderr" ? null : destination);
  return {
    record: (entry) => sink.append((chain) => auditLine(entry, chain)),
    // A late record after close reopens the file and goes on from its tail.
    close: () => sink.close(),
  };
}

export type AuditVerdict =
  | { ok: true; lines: number; lastSha256: string | null; headLine: number | null }
  | { ok: false; line: number | null; reason: string; lines: number };

const TWO_WRITERS =
  "two processes may be appending to this file without the shared lock (instances on different machines each need their own auditLog)";
/** How many recent line hashes verify remembers, to say when a line continues an earlier one. */
const RECENT_LINES = 4096;

/** Checks one line after another; `check` returns why a line breaks the chain, or null. */
export class ChainVerifier {
  lines = 0;
  lastSha256: string | null = null;
  /** Recent line hashes → line numbers. */
  private readonly recent = new Map<string, number>();

  check(line: Buffer): string | null {
    const n = this.lines + 1;
    const sha = sha256Hex(line);
    const reason = this.reasonFor(n, line);
    if (reason !== null) return reason;
    this.lines = n;
    this.lastSha256 = sha;
    this.recent.set(sha, n);
    if (this.recent.size > RECENT_LINES) this.recent.delete(this.recent.keys().next().value as string);
    return null;
  }

  private reasonFor(n: number, line: Buffer): string | null {
    let value: unknown;
    try {
      value = JSON.parse(line.toString("utf8"));
    } catch {
      value = undefined;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
    const { seq, prev_sha256: prev } = value as { seq?: unknown; prev_sha256?: unknown };
    if (typeof seq !== "number" || typeof prev !== "string" || !/^[0-9a-f]{64}$/.test(prev))
      return "no seq or prev_sha256 (a line from before the chain, or the fields were removed)";
    // A line that correctly continues an earlier line, not the one before it (genesis: "line 0", a chain restarted).
    const earlier = prev === GENESIS_SHA256 ? 0 : this.recent.get(prev);
    const continues =
      earlier !== undefined && earlier < n - 1 && seq === earlier + 1
        ? `; it continues ${earlier === 0 ? "from the genesis value" : `line ${earlier}`}: lines were inserted before it, or ${TWO_WRITERS}`
        : "";
    if (seq !== n)
      return `seq is ${JSON.stringify(seq)}, expected ${n} (a line was removed, inserted or moved before it)${continues}`;
    if (n === 1 && prev !== GENESIS_SHA256)
      return `prev_sha256 is not the genesis value (${GENESIS_SHA256.slice(0, 8)}…, 64 zeros): the start of the file was changed or removed`;
    if (n > 1 && prev !== this.lastSha256)
      return `prev_sha256 does not match the sha256 of line ${n - 1} (line ${n - 1} was changed, or a line was removed, inserted or moved here)${continues}`;
    return null;
  }
}

/**
 * Verifies the chain of an audit file, reading it in chunks (memory bounded by the longest line). With `head`, the
 * sha256 of a line an operator noted earlier, that line must still be in the file. Throws only when the file
 * cannot be read.
 */
export function verifyAuditFile(path: string, options: { head?: string } = {}): AuditVerdict {
  const verifier = new ChainVerifier();
  let headLine: number | null = null;
  const broken = (line: number | null, reason: string): AuditVerdict => ({
    ok: false,
    line,
    reason,
    lines: verifier.lines,
  });
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(CHUNK);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      let start = 0;
      for (let at = buffer.indexOf(NEWLINE); at >= 0 && at < read; at = buffer.indexOf(NEWLINE, start)) {
        const part = buffer.subarray(start, at);
        const line = pending.length === 0 ? part : Buffer.concat([...pending, part]);
        pending = [];
        pendingBytes = 0;
        start = at + 1;
        if (line.length > MAX_LINE_BYTES)
          return broken(verifier.lines + 1, "longer than 64 MiB, not an audit line");
        const reason = verifier.check(line);
        if (reason !== null) return broken(verifier.lines + 1, reason);
        if (options.head !== undefined && verifier.lastSha256 === options.head) headLine = verifier.lines;
      }
      if (start < read) {
        pendingBytes += read - start;
        if (pendingBytes > MAX_LINE_BYTES)
          return broken(verifier.lines + 1, "longer than 64 MiB, not an audit line");
        pending.push(Buffer.from(buffer.subarray(start, read)));
      }
    }
    if (pendingBytes > 0)
      return broken(
        verifier.lines + 1,
        "no newline at its end: the file was cut or torn inside this line (a write that failed, e.g. on a full disk, also stops every running job; see the README's audit log section)",
      );
  } finally {
    closeSync(fd);
  }
  if (options.head !== undefined && headLine === null)
    return broken(
      null,
      `no line has sha256 ${options.head}: the file was cut or rewritten at or before the line you noted`,
    );
  return { ok: true, lines: verifier.lines, lastSha256: verifier.lastSha256, headLine };
}
