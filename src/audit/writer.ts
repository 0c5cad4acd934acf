// The audit writer (SPEC §8): one JSON object per line, appended synchronously so a crash cannot lose a written
// event, each line chained to the one before it (chain.ts); on a file, under a lock shared with other processes.
// Threat model: the agent's words (ids, targets, reasons) are hostile data, written verbatim as JSON values, never
// as structure; configured secrets never reach the file; a line that fails half-written is ended, not hidden, so
// verify names it; another process appending to the file is expected, and its lines are chained to, not overwritten.
// It does not stop someone with write access to the file from rewriting it: verify, with a noted head, finds that.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { scrubSecretValues, scrubsApartAt, secretsVersionNow } from "../logger.js";
import { CHUNK_BYTES, GENESIS_SHA256, MAX_LINE_BYTES, NEWLINE, sha256Hex } from "./chain.js";
import type { Audit, AuditEntry } from "./entry.js";
import { lockFile, sleepMs } from "./lock.js";

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
  const buffer = Buffer.alloc(CHUNK_BYTES);
  for (let at = start; at < end; ) {
    const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
    at += read;
  }
  return hash.digest("hex");
}

function countNewlines(fd: number, end: number): number {
  const buffer = Buffer.alloc(CHUNK_BYTES);
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

/** Lines up to this long (in UTF-16 units, 3 bytes each at most) are encoded into one buffer kept for all lines. */
const SCRATCH_UNITS = 128 * 1024;
const scratch = Buffer.allocUnsafeSlow(3 * SCRATCH_UNITS + 1);

/**
 * A line's parts encoded one after the other, then "\n", into the kept buffer: valid until the next line (writes are
 * synchronous). A batch line of a thousand ids is then never joined into one string, copied again to be flat, and
 * encoded into a new buffer: about 15 of the 245 ms of CPU a 200-batch job took, with collecting that garbage.
 */
function lineBytes(parts: readonly string[]): Buffer {
  let units = 0;
  for (const part of parts) units += part.length;
  const into = units <= SCRATCH_UNITS ? scratch : Buffer.allocUnsafe(3 * units + 1);
  let at = 0;
  for (const part of parts) at += into.write(part, at, "utf8");
  into[at++] = NEWLINE;
  return into.subarray(0, at);
}

/** The lock stays with this process this long after its last append, in case another line follows. */
const LOCK_IDLE_MS = 2;
/** ... and at most this long in all, so another process's append waits no longer. */
const LOCK_HOLD_MS = 20;

/** Per file, the writer of this process keeping its lock between appends (tests open several writers on one file). */
const HOLDERS = new Map<string, ChainedSink>();

/** A file (opened for append; the chain goes on from its last line) or stderr (chained from genesis). */
class ChainedSink {
  private fd: number | null = null;
  private head: ChainHead | null = null;
  /** The file's size after this process's last append: a different size means another process appended. */
  private end = 0;
  /** The cross-process lock while this process holds it across a burst of appends, and since when. */
  private held: { release: () => void; since: number; timer: NodeJS.Timeout | null } | null = null;

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
   * Appends the line `build` makes from the chain fields it gets, in parts written one after the other (nothing
   * when it returns null). On a file, under the cross-process lock, after reading the chain head again if another
   * process appended since.
   */
  append(build: (chain: { seq: number; prev_sha256: string }) => readonly string[] | null): void {
    if (this.path === null) {
      this.writeLine(2, this.head as ChainHead, build);
      return;
    }
    const fresh = this.held === null;
    if (fresh) {
      // Another writer of this process may be keeping the lock: it is between appends, so it lets go now.
      HOLDERS.get(this.path)?.releaseLock();
      this.held = { release: lockFile(this.path), since: Date.now(), timer: null };
      HOLDERS.set(this.path, this);
    }
    try {
      if (this.fd === null) this.fd = openSync(this.path, "a+");
      const fd = this.fd;
      // Held since the last append, nobody else can have appended: the head is still right.
      if (this.head === null || (fresh && fstatSync(fd).size !== this.end)) this.syncHead(fd);
      this.writeLine(fd, this.head as ChainHead, build);
    } catch (error) {
      // Part of a line may be on disk: read the file's tail again before the next line.
      this.close();
      throw error;
    }
    this.keepLock();
  }

  /**
   * Keeps the lock for the appends that follow within LOCK_IDLE_MS (a job writes two lines per batch), at most
   * LOCK_HOLD_MS in all: taking and dropping it (create, write, remove a file) cost more than the line itself,
   * and another process waits at most that long.
   */
  private keepLock(): void {
    const held = this.held;
    if (!held) return;
    if (held.timer) clearTimeout(held.timer);
    if (Date.now() - held.since >= LOCK_HOLD_MS) {
      this.releaseLock();
      return;
    }
    held.timer = setTimeout(() => this.releaseLock(), LOCK_IDLE_MS);
    held.timer.unref();
  }

  private releaseLock(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    if (this.path !== null && HOLDERS.get(this.path) === this) HOLDERS.delete(this.path);
    if (held.timer) clearTimeout(held.timer);
    held.release();
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
    build: (chain: { seq: number; prev_sha256: string }) => readonly string[] | null,
  ) {
    const parts = build({ seq: head.seq, prev_sha256: head.prevSha256 });
    if (parts === null) return;
    const bytes = lineBytes(parts);
    writeAll(fd, bytes);
    this.end += bytes.length;
    this.head = {
      seq: head.seq + 1,
      prevSha256: sha256Hex(bytes.subarray(0, bytes.length - 1)),
      torn: false,
    };
  }

  close(): void {
    this.releaseLock();
    if (this.path === null || this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    this.head = null;
    closeSync(fd);
  }
}

/**
 * Stands for a batch's ids while the rest of its line is written and scrubbed: random, so no text of the agent's
 * (an actor, a reason) can be it.
 */
const IDS_MARKER = `ids-${randomBytes(16).toString("hex")}`;

/**
 * A batch's ids as scrubbed JSON, by their array: a batch's `batch.sending` and `batch.completed` lines name the
 * same array (the runner replaces a batch's remaining ids, never edits them), so its thousand ids are serialised
 * and scrubbed once for both. Kept while the array lives; redone when secrets were registered since.
 */
const scrubbedIds = new WeakMap<readonly string[], { json: string; length: number; version: number }>();

function idsJson(ids: readonly string[]): string {
  const version = secretsVersionNow();
  const kept = scrubbedIds.get(ids);
  if (kept && kept.version === version && kept.length === ids.length) return kept.json;
  const json = scrubSecretValues(JSON.stringify(ids));
  scrubbedIds.set(ids, { json, length: ids.length, version });
  return json;
}

/**
 * One audit line, verbatim (SPEC §8), in parts: ids, targets and reasons are written as given; only the values of
 * configured secrets (backend keys, HTTP tokens) and their encodings are replaced, wherever they appear. A batch's
 * ids are scrubbed apart from the rest of the line when no secret holds the brackets around them (none can then
 * span the cut): the line is the same as the whole line scrubbed.
 */
function auditLine(entry: AuditEntry, chain: { seq: number; prev_sha256: string }): readonly string[] {
  const fields = { time: new Date().toISOString(), ...chain, ...entry };
  if (entry.ids && scrubsApartAt("[]")) {
    // The ids keep their place among the keys: the marker takes their value, then the JSON of the ids its place.
    const line = scrubSecretValues(JSON.stringify({ ...fields, ids: IDS_MARKER }));
    const at = line.indexOf(`"${IDS_MARKER}"`);
    if (at !== -1) return [line.slice(0, at), idsJson(entry.ids), line.slice(at + IDS_MARKER.length + 2)];
  }
  return [scrubSecretValues(JSON.stringify(fields))];
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
