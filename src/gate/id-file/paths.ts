// Where the ids file is: confined to the roots (see the threat model in index.ts), and opened only as a regular file
// that is proven, once open, to be the one inside the roots.
import { type BigIntStats, constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import type { GateError } from "../errors.js";
import { unsafeTextError } from "../plan.js";
import { changed, invalid, quote } from "./messages.js";

/** Whether a path is a root or lies under one, by whole segments: /data/ids never admits /data/ids-other/x. */
function insideRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

function outside(shown: string, roots: readonly string[]): GateError {
  return invalid(
    `ids_file ${shown} is outside the directories this server reads ids from (after resolving .. and symbolic links); put the file under one of ${roots.join(", ")}.`,
  );
}

export async function confinedRealPath(
  path: string,
  roots: readonly string[],
  shown: string,
): Promise<string> {
  if (roots.length === 0)
    throw invalid(
      "ids_file is disabled on this server; send the ids in `ids`, or ask its operator to list the directories it may read in limits.idFileRoots.",
    );
  // The path is shown to the person who confirms: refused like an unsafe reason, before the filesystem is touched.
  const unsafe = unsafeTextError(path);
  if (unsafe)
    throw invalid(
      `ids_file ${shown} ${unsafe}; the person who confirms sees the path: rename it to plain text.`,
    );
  if (!isAbsolute(path) || path.includes("\0"))
    throw invalid(
      `ids_file ${shown} is not an absolute path; give the full path of a file under ${roots.join(", ")}.`,
    );
  const lexical = resolve(path);
  // Before any filesystem call, so nothing outside the roots can be probed.
  if (!insideRoots(lexical, roots)) throw outside(shown, roots);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (error) {
    if (!(await existingPartInsideRoots(lexical, roots))) throw outside(shown, roots);
    throw accessError(error, shown);
  }
  if (!insideRoots(real, roots)) throw outside(shown, roots);
  // The real path is what the plan records and the person sees: a plain link must not lead to a hiding name.
  const unsafeReal = unsafeTextError(real);
  if (unsafeReal)
    throw invalid(
      `ids_file ${shown} leads to ${quote(real)}, which ${unsafeReal}; the person who confirms sees that path: rename it to plain text.`,
    );
  return real;
}

/**
 * For a path that does not resolve: whether the part of it that exists lies inside the roots. A symbolic link under
 * a root that leads out of it then gets "outside" whatever lies beyond it (missing, a file, forbidden), so it cannot
 * probe the world.
 */
async function existingPartInsideRoots(lexical: string, roots: readonly string[]): Promise<boolean> {
  let existing = lexical;
  while (!(await exists(existing))) existing = dirname(existing);
  const resolved = await realpath(existing).catch(() => null);
  if (resolved !== null) return insideRoots(resolved, roots);
  // A dangling symbolic link: judge where it points.
  const target = await readlink(existing).catch(() => null);
  const base = await realpath(dirname(existing)).catch(() => null);
  return target !== null && base !== null && insideRoots(resolve(base, target), roots);
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function accessError(error: unknown, shown: string): GateError {
  switch (errorCode(error)) {
    case "ENOENT":
    case "ENOTDIR":
      return invalid(`ids_file ${shown} does not exist; check the path.`);
    case "EACCES":
    case "EPERM":
      return invalid(
        `ids_file ${shown} cannot be read (permission denied); make it readable by deletegate's user.`,
      );
    case "ELOOP":
      return invalid(`ids_file ${shown} leads through a loop of symbolic links; name the file itself.`);
    default:
      return invalid(
        `ids_file ${shown} cannot be read (${errorCode(error) ?? "unknown error"}); check the file.`,
      );
  }
}

function refuseIrregular(stats: Stats | BigIntStats, shown: string): void {
  if (stats.isDirectory()) throw invalid(`ids_file ${shown} is a directory; name a file of ids inside it.`);
  if (!stats.isFile())
    throw invalid(
      `ids_file ${shown} is not a regular file (a FIFO, device or socket); write the ids to a file.`,
    );
}

/** A second name may lie outside the roots, and nothing tells which name is the file's own. */
function refuseHardLinked(stats: BigIntStats, shown: string): void {
  if (stats.nlink > 1n)
    throw invalid(
      `ids_file ${shown} has ${stats.nlink} names (hard links), and a hard-linked file may be another file's contents reached from outside the directories this server reads ids from; copy the ids into a file of its own instead of linking it.`,
    );
}

async function orRefuse<T>(operation: Promise<T>, shown: string): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw accessError(error, shown);
  }
}

/** An open ids file, with what fstat said of it right after the open. */
export interface OpenIdFile {
  handle: FileHandle;
  /** The real path it was opened by. */
  real: string;
  stats: BigIntStats;
}

/**
 * Opens only a regular file: stat before opening, no following of a last-moment symbolic link, no blocking open,
 * one name only, and then proof that the file opened is the one inside the roots, since O_NOFOLLOW guards only the
 * last component and a directory on the way may have been swapped for a symbolic link since `realpath`.
 */
export async function openRegularFile(
  real: string,
  roots: readonly string[],
  shown: string,
): Promise<OpenIdFile> {
  refuseIrregular(await orRefuse(lstat(real), shown), shown);
  const flags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  const handle = await orRefuse(open(real, flags), shown);
  try {
    const stats = await handle.stat({ bigint: true });
    refuseIrregular(stats, shown);
    refuseHardLinked(stats, shown);
    if (!(await isOpenInsideRoots(handle, stats, real, roots))) throw swapped(shown, roots);
    return { handle, real, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * After the file is read: still one name, not written to (size and times), and still the file the path names inside
 * the roots. The bytes read are hashed and parsed in the same pass, so this only refuses a file that changed under
 * the reader, which a writer still at work, or a swap timed around the open, would cause.
 */
export async function checkUnchanged(
  file: OpenIdFile,
  roots: readonly string[],
  shown: string,
): Promise<void> {
  const now = await file.handle.stat({ bigint: true });
  const before = file.stats;
  const same =
    now.dev === before.dev &&
    now.ino === before.ino &&
    now.nlink === before.nlink &&
    now.size === before.size &&
    now.mtimeNs === before.mtimeNs &&
    now.ctimeNs === before.ctimeNs;
  if (!same || !(await isOpenInsideRoots(file.handle, now, file.real, roots))) throw changed(shown);
}

function swapped(shown: string, roots: readonly string[]): GateError {
  return invalid(
    `ids_file ${shown} is outside the directories this server reads ids from: the file opened is not the one its path led to a moment before (a directory on the path was replaced while it was opened); put the file under one of ${roots.join(", ")}.`,
  );
}

/** Where /proc names an open file's path (Linux); absent on macOS and Windows, which rely on the dev/ino check. */
const PROC_FD = "/proc/self/fd";
let procFdAvailable: Promise<boolean> | undefined;

/** The open file's path as the kernel knows it, or null where no /proc tells it. */
async function pathOfOpenFile(handle: FileHandle): Promise<string | null> {
  procFdAvailable ??= lstat(PROC_FD).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (!(await procFdAvailable)) return null;
  // A file deleted since its open reads "<path> (deleted)"; its path was still the one opened.
  return readlink(`${PROC_FD}/${handle.fd}`);
}

/**
 * Whether the open file is the one inside the roots: on Linux, by the path the kernel gives the open file itself;
 * everywhere, by the real path resolving, now, inside the roots to the same device and inode. A single name (see
 * refuseHardLinked) makes the inode the file's identity. Exported for its tests.
 */
export async function isOpenInsideRoots(
  handle: FileHandle,
  stats: BigIntStats,
  real: string,
  roots: readonly string[],
): Promise<boolean> {
  const kernelPath = await pathOfOpenFile(handle).catch(() => "");
  if (kernelPath !== null && !insideRoots(kernelPath, roots)) return false;
  const resolved = await realpath(real).catch(() => null);
  if (resolved === null || !insideRoots(resolved, roots)) return false;
  const named = await stat(resolved, { bigint: true }).catch(() => null);
  return named !== null && named.dev === stats.dev && named.ino === stats.ino;
}
