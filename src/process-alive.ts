// Whether a process on this machine is still alive: for locks and leases whose holder may have died (kill -9) and
// cannot release them. Linux adds two checks through /proc: a zombie (killed, not yet reaped) is dead, and a pid
// reused by a newer process (its start time differs from the one recorded) names a dead holder.
import { readFileSync } from "node:fs";

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** The process's start time (clock ticks since boot, /proc field 22), or null where /proc is not available. */
export function processStartTime(pid: number): string | null {
  // Field 3 (state) is the first after the name: field 22 is index 19.
  return statFields(pid)?.[19] ?? null;
}

/** This process's start time: with its pid, what names it in locks and leases. */
export const OWN_START_TIME = processStartTime(process.pid);

/**
 * Alive, not a zombie, and (when `startTime` is given and /proc can tell) the same process that recorded it. Our own
 * pid too is checked against its start time: in a restarted container every server is pid 1 again, and a lock or
 * lease its previous run left behind names a dead process.
 */
export function processAlive(pid: number, startTime: string | null = null): boolean {
  if (pid === process.pid)
    return startTime === null || OWN_START_TIME === null || startTime === OWN_START_TIME;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  const fields = statFields(pid);
  if (fields === null) return true;
  if (fields[0] === "Z") return false;
  return startTime === null || fields[19] === startTime;
}
