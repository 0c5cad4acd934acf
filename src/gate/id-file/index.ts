// Reads the ids of dry_run_delete's `ids_file` (SPEC §4): a file under limits.idFileRoots, in a format detected
// from its content, streamed so that a million ids never sit in memory as one string or buffer.
//
// Threat model: the path comes from the agent, which may be hostile and can often write under a root (it writes
// the erasure list itself); the roots themselves and the files outside them are the operator's. Guaranteed: nothing
// outside the roots is read, and a path outside them gets the same answer whether or not it exists (checked on the
// path as written before the filesystem is touched, then again after `..` and symbolic links are resolved, then on
// the open file itself: a directory on the path swapped for a symbolic link between those checks and the open, or a
// hard link to a file elsewhere, is refused before a byte is read); nothing but a regular file is opened, and never
// in a way that blocks (FIFOs, devices); a path that would display as other text (controls, bidi, line separators)
// is refused, since the person who confirms sees it; no line, JSON token or CSV row longer than a bound well above
// the longest id is held, so memory stays bounded whatever the file (with limits.maxIdsPerFile); a message shows
// at most ~200 characters of the path or the file, JSON-escaped, so neither can smuggle control characters into the
// agent's context. Not guaranteed: where no /proc names the open file (macOS, Windows), the proof that the open file
// is the one inside the roots compares device and inode with a second resolution of the path, which a writer under
// a root could in principle beat by swapping the directory out and back twice with exact timing; and whether a path
// beyond such a swap exists may show in which refusal comes back, though never what the file holds.
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { pieces } from "./chunks.js";
import { CsvParser } from "./csv.js";
import { FormatDetector } from "./detect.js";
import { JsonArrayParser } from "./json.js";
import { type Emit, type IdParser, isBlank, LineSplitter, MAX_TOKEN_LENGTH } from "./lines.js";
import { changed, invalid, quote, tooLong, tooMany } from "./messages.js";
import { checkUnchanged, confinedRealPath, openRegularFile } from "./paths.js";

export type IdFileFormat = "json" | "jsonl" | "csv" | "lines";

export interface IdFile {
  /** In file order and raw: the gate trims, normalises, dedupes and validates them like `ids`. */
  ids: (string | number)[];
  /** The real path that was read. */
  path: string;
  /** Hex sha256 of the file's bytes. */
  sha256: string;
  format: IdFileFormat;
  bytes: number;
}

/** roots: absolute directories, already realpath'd by the caller at config load. */
export async function readIdFile(path: string, roots: readonly string[], maxIds: number): Promise<IdFile> {
  const shown = quote(path);
  const real = await confinedRealPath(path, roots, shown);
  const opened = await openRegularFile(real, roots, shown);
  const file = opened.handle;
  try {
    const first = await firstPass(file, maxIds, shown);
    const { ids, sha256, bytes } =
      first.format === "jsonl"
        ? { ids: first.ids, sha256: first.digest, bytes: first.examined }
        : await secondPass(file, first, maxIds, shown);
    await checkUnchanged(opened, roots, shown);
    if (ids.length === 0)
      throw invalid(
        `ids_file ${shown} holds no ids; write one id per line, or a JSON array, JSON lines or CSV.`,
      );
    return { ids, path: real, sha256, format: first.format, bytes };
  } finally {
    await file.close();
  }
}

// ---- Pass one: the format (SPEC §4), and the ids themselves when they are JSON lines

/** JSON lines are known as such only at the file's end, by which point their ids are read: no second pass. */
type SecondPassFormat = Exclude<IdFileFormat, "jsonl">;

type FirstPass = {
  /** How many bytes the pass read, and their sha256: a second pass must see the same. */
  examined: number;
  digest: string;
} & ({ format: "jsonl"; ids: (string | number)[] } | { format: SecondPassFormat });

async function firstPass(file: FileHandle, maxIds: number, shown: string): Promise<FirstPass> {
  const hash = createHash("sha256");
  const detector = new FormatDetector(maxIds, shown);
  let examined = 0;
  for await (const piece of pieces(file, hash, shown)) {
    examined = piece.end;
    if (detector.push(piece.text)) break;
  }
  const format = detector.end();
  const digest = hash.digest("hex");
  return format === "jsonl"
    ? { format, ids: detector.values, examined, digest }
    : { format, examined, digest };
}

// ---- Pass two: the ids of the other formats

async function secondPass(
  file: FileHandle,
  first: FirstPass & { format: SecondPassFormat },
  maxIds: number,
  shown: string,
) {
  const ids: (string | number)[] = [];
  const parser = makeParser(
    first.format,
    (id) => {
      if (ids.length === maxIds) throw tooMany(shown, maxIds);
      ids.push(id);
    },
    shown,
  );
  const hash = createHash("sha256");
  let verified = false;
  let bytes = 0;
  for await (const piece of pieces(file, hash, shown)) {
    if (!verified && piece.end === first.examined) {
      if (hash.copy().digest("hex") !== first.digest) throw changed(shown);
      verified = true;
    }
    parser.push(piece.text);
    bytes = piece.end;
  }
  if (!verified) throw changed(shown);
  parser.end();
  return { ids, sha256: hash.digest("hex"), bytes };
}

function makeParser(format: SecondPassFormat, emit: Emit, shown: string): IdParser {
  switch (format) {
    case "json":
      return new JsonArrayParser(emit, shown);
    case "csv":
      return new CsvParser(emit, shown);
    case "lines":
      return new LineSplitter(
        (line) => {
          if (!isBlank(line)) emit(line);
        },
        MAX_TOKEN_LENGTH,
        (number) => tooLong(shown, `line ${number}`, MAX_TOKEN_LENGTH),
      );
  }
}
