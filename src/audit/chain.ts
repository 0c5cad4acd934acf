// The audit log's hash chain (SPEC §8): each line carries `seq` and `prev_sha256`, the sha256 of the line before
// it, so `deletegate audit verify` finds a line changed, removed, inserted or moved, and names the first one.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

/** The `prev_sha256` of a file's first line (and of the first line on stderr after each start). */
export const GENESIS_SHA256 = "0".repeat(64);
/** Longer lines are not audit lines (a batch line of 1,024 ids of 512 characters is a few MB). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;
export const NEWLINE = 0x0a;
/** Files are read this many bytes at a time. */
export const CHUNK_BYTES = 1024 * 1024;

export function sha256Hex(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
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
    const buffer = Buffer.alloc(CHUNK_BYTES);
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
        "no newline at its end: the file was cut or torn inside this line (a write that failed, e.g. on a full disk, also stops every running job; see docs/audit-log.md)",
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
