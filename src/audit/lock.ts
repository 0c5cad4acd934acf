// The cross-process lock around each audit append: stdio servers and `deletegate console` on one config append to
// one file (SPEC §8), and two appends must not interleave or both chain to the same line.
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { OWN_START_TIME, processAlive } from "../process-alive.js";

/** Blocks the thread: an append is synchronous, so a crash cannot lose a line the caller saw written. */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
export function lockFile(path: string): () => void {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      try {
        // Pid and start time: a pid alone may name a newer process (a restarted container's pid 1).
        writeSync(fd, `${process.pid} ${OWN_START_TIME ?? ""}`.trimEnd());
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

function lockIsStale(lock: string): boolean {
  try {
    const age = Date.now() - statSync(lock).mtimeMs;
    if (age > STALE_LOCK_MS) return true;
    const [pidText = "", startTime] = readFileSync(lock, "utf8").split(" ");
    const pid = Number(pidText);
    if (pidText === "" || !Number.isInteger(pid) || pid <= 0) return age > UNNAMED_LOCK_MS;
    return !processAlive(pid, startTime ?? null);
  } catch (error) {
    // Released meanwhile: free.
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}
