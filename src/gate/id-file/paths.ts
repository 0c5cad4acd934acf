// Where the ids file is: confined to the roots (see the threat model in index.ts), and opened only as a regular file.
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import type { GateError } from "../errors.js";
import { unsafeTextError } from "../plan.js";
import { invalid, quote } from "./messages.js";

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

function refuseIrregular(stats: Stats, shown: string): void {
  if (stats.isDirectory()) throw invalid(`ids_file ${shown} is a directory; name a file of ids inside it.`);
  if (!stats.isFile())
    throw invalid(
      `ids_file ${shown} is not a regular file (a FIFO, device or socket); write the ids to a file.`,
    );
}

async function orRefuse<T>(operation: Promise<T>, shown: string): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw accessError(error, shown);
  }
}

/** Opens only a regular file: stat before opening, no following of a last-moment symbolic link, no blocking open. */
export async function openRegularFile(real: string, shown: string): Promise<FileHandle> {
  refuseIrregular(await orRefuse(lstat(real), shown), shown);
  const flags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  const file = await orRefuse(open(real, flags), shown);
  try {
    refuseIrregular(await file.stat(), shown);
    return file;
  } catch (error) {
    await file.close();
    throw error;
  }
}
