// Reads the ids of dry_run_delete's `ids_file` (SPEC §4): a file under limits.idFileRoots, in a format detected
// from its content, streamed so that a million ids never sit in memory as one string or buffer.
//
// Threat model: the path comes from the agent, which may be hostile; the files under the roots and the roots
// themselves are the operator's. Guaranteed: nothing outside the roots is opened, and a path outside them gets the
// same answer whether or not it exists (checked on the path as written before the filesystem is touched, then
// again after `..` and symbolic links are resolved); nothing but a regular file is opened, and never in a way that
// blocks (FIFOs, devices); a message shows at most ~200 characters of the path or the file, JSON-escaped, so
// neither can smuggle control characters into the agent's context. Not guaranteed: a process that can write under
// a root can race these checks by swapping a directory for a symbolic link between them, so the roots must be
// writable by trusted users only.
import { createHash, type Hash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { GateError } from "./errors.js";

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
  const file = await openRegularFile(real, shown);
  try {
    const first = await firstPass(file, maxIds, shown);
    const { ids, sha256, bytes } =
      first.format === "jsonl"
        ? { ids: first.ids, sha256: first.digest, bytes: first.examined }
        : await secondPass(file, first, maxIds, shown);
    if (ids.length === 0)
      throw invalid(
        `ids_file ${shown} holds no ids; write one id per line, or a JSON array, JSON lines or CSV.`,
      );
    return { ids, path: real, sha256, format: first.format, bytes };
  } finally {
    await file.close();
  }
}

// ---- Where the file is

function invalid(message: string): GateError {
  return new GateError("INVALID_INPUT", message);
}

/** Whether a path is a root or lies under one, by whole segments: /data/ids never admits /data/ids-other/x. */
function insideRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

function outside(shown: string, roots: readonly string[]): GateError {
  return invalid(
    `ids_file ${shown} is outside the directories this server reads ids from (after resolving .. and symbolic links); put the file under one of ${roots.join(", ")}.`,
  );
}

async function confinedRealPath(path: string, roots: readonly string[], shown: string): Promise<string> {
  if (roots.length === 0)
    throw invalid(
      "ids_file is disabled on this server; send the ids in `ids`, or ask its operator to list the directories it may read in limits.idFileRoots.",
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
async function openRegularFile(real: string, shown: string): Promise<FileHandle> {
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

// ---- Reading: fixed chunks, hashed, decoded as they come

const CHUNK_BYTES = 256 * 1024;

interface Piece {
  text: string;
  /** Bytes read and hashed so far, this piece's included. */
  end: number;
}

/**
 * The file from its start as decoded text, chunk by chunk, each chunk's bytes added to `hash` before it is yielded.
 * Chunks are always CHUNK_BYTES at multiples of it, so two passes over the same bytes cut them alike. The last piece
 * is empty: it ends the decoding (refusing a cut-off character).
 */
async function* pieces(file: FileHandle, hash: Hash, shown: string): AsyncGenerator<Piece> {
  const decoder = new TextDecoder("utf-8", { fatal: true }); // also drops a leading BOM
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let end = 0; ; ) {
    const { bytesRead } = await file.read(buffer, 0, CHUNK_BYTES, end);
    const bytes = buffer.subarray(0, bytesRead);
    hash.update(bytes);
    let text: string;
    try {
      text = decoder.decode(bytes, { stream: bytesRead > 0 });
    } catch {
      throw invalid(
        `ids_file ${shown} is not UTF-8 text (near byte ${end + decodableLength(bytes)}); save it as UTF-8.`,
      );
    }
    end += bytesRead;
    yield { text, end };
    if (bytesRead === 0) return;
  }
}

/** How many leading bytes decode (a cut-off character at the end counts as decodable): where decoding failed. */
function decodableLength(bytes: Uint8Array): number {
  const decodes = (length: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, length), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  // Binary search: a prefix decodes only if every shorter one does.
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (decodes(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}

const changed = (shown: string) =>
  invalid(`ids_file ${shown} changed while it was read; send it again once it is complete.`);

const tooMany = (shown: string, maxIds: number) =>
  new GateError(
    "TOO_MANY_IDS",
    `ids_file ${shown} holds more than ${maxIds} ids (limits.maxIdsPerFile); split it into files of at most ${maxIds} ids.`,
  );

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

/**
 * `[` first → JSON array, at once; otherwise JSON lines until a line is not a JSON string or number, which makes it
 * CSV when the first line has a `,` or a quoted field, else plain lines.
 */
class FormatDetector {
  /** The JSON lines' values so far, while the file may still be JSON lines. */
  values: (string | number)[] = [];
  private format: IdFileFormat | null = null;
  private started = false;
  /** Set by the first non-blank line. */
  private csvLike: boolean | null = null;
  private jsonLines = 0;
  /** The first line holding a number JSON makes ±Infinity: refused if the file is JSON lines. */
  private infiniteLine: number | null = null;
  private readonly lines = new LineSplitter((line, number) => this.line(line, number));

  constructor(
    private readonly maxIds: number,
    private readonly shown: string,
  ) {}

  /** True once the format is known. */
  push(text: string): boolean {
    if (!this.started) {
      // Looked for in the text, not in lines: a JSON array is often one line of many megabytes.
      const first = text.search(/\S/);
      this.started = first !== -1;
      if (this.started && text[first] === "[") this.format = "json";
    }
    if (this.format === null) this.lines.push(text);
    return this.format !== null;
  }

  end(): IdFileFormat {
    if (this.format === null) this.lines.end();
    if (this.format !== null) return this.format;
    // No line at all: no ids, refused as such.
    if (this.jsonLines === 0) return "lines";
    if (this.jsonLines > this.maxIds) throw tooMany(this.shown, this.maxIds);
    if (this.infiniteLine !== null)
      throw invalid(`ids_file ${this.shown} holds on line ${this.infiniteLine} ${NO_INFINITY}.`);
    return "jsonl";
  }

  private line(line: string, number: number): void {
    if (this.format !== null || isBlank(line)) return;
    this.csvLike ??= line.includes(",") || line.trimStart().startsWith('"');
    const value = jsonLineValue(line);
    if (value === undefined) {
      this.format = this.csvLike ? "csv" : "lines";
      this.values = [];
      return;
    }
    if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY)
      this.infiniteLine ??= number;
    if (++this.jsonLines <= this.maxIds) this.values.push(value);
    // Without CSV in view, every non-blank line is an id, whichever of the two formats wins.
    else if (!this.csvLike) throw tooMany(this.shown, this.maxIds);
    else this.values = [];
  }
}

// ---- Pass two: the ids of the other formats

type Emit = (id: string | number) => void;

interface IdParser {
  push(text: string): void;
  end(): void;
}

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
      return new LineSplitter((line) => {
        if (!isBlank(line)) emit(line);
      });
  }
}

// ---- Lines and JSON lines

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

const isBlank = (line: string) => line.trim() === "";

/** Cuts text that arrives in pieces into lines, without their \n or \r\n. */
class LineSplitter implements IdParser {
  private partial = "";
  private number = 0;

  constructor(private readonly onLine: (line: string, number: number) => void) {}

  push(text: string): void {
    const parts = text.split("\n");
    parts[0] = this.partial + parts[0];
    this.partial = parts.pop() as string;
    for (const part of parts) this.onLine(withoutCr(part), ++this.number);
  }

  end(): void {
    if (this.partial !== "") this.onLine(withoutCr(this.partial), ++this.number);
    this.partial = "";
  }
}

const withoutCr = (line: string) => (line.endsWith("\r") ? line.slice(0, -1) : line);

/** As `ids` would refuse it: zod's number takes no ±Infinity, which is what JSON makes of 1e400. */
const NO_INFINITY = "a number beyond ±1.8e308, which is no exact id; write that id as a string";
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const JSON_SPACE_AROUND = /^[ \t\r]+|[ \t\r]+$/g;

const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === CR || c === LF;

/** A line of JSON lines (a JSON string or number, JSON whitespace around it allowed) as its value, else undefined. */
function jsonLineValue(line: string): string | number | undefined {
  const spaced = isJsonSpace(line.charCodeAt(0)) || isJsonSpace(line.charCodeAt(line.length - 1));
  const token = spaced ? line.replace(JSON_SPACE_AROUND, "") : line;
  if (token.charCodeAt(0) !== QUOTE) return JSON_NUMBER.test(token) ? Number(token) : undefined;
  if (
    token.length >= 2 &&
    token.charCodeAt(token.length - 1) === QUOTE &&
    isPlainJsonText(token, 1, token.length - 1)
  )
    return token.slice(1, -1);
  return parsedString(token);
}

/** Whether text[from, to) is a JSON string's content as it is: no quote, backslash (escape) or control character. */
function isPlainJsonText(text: string, from: number, to: number): boolean {
  for (let at = from; at < to; at++) {
    const c = text.charCodeAt(at);
    if (c === QUOTE || c === BACKSLASH || c < 0x20) return false;
  }
  return true;
}

function parsedString(token: string): string | undefined {
  try {
    const value: unknown = JSON.parse(token);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---- JSON array: a streaming tokenizer for an array of strings and numbers

type JsonState = "open" | "firstItem" | "item" | "afterItem" | "string" | "number" | "closed";

const EXPECTED: Record<JsonState, string> = {
  open: "[",
  firstItem: "an id or ]",
  item: "an id (a string or a number)",
  afterItem: ", or ]",
  string: "the end of the string",
  number: "a number",
  closed: "nothing after the closing ]",
};

class JsonArrayParser implements IdParser {
  private state: JsonState = "open";
  /** What is read so far of a string (inside its quotes) or a number that a piece boundary cut. */
  private token = "";
  /** The string's last character so far is a backslash that escapes the next one. */
  private escaped = false;
  /** The string so far holds no escape or control character, so its text is its value. */
  private plain = true;
  private line = 1;

  constructor(
    private readonly emit: Emit,
    private readonly shown: string,
  ) {}

  push(text: string): void {
    let at = 0;
    while (at < text.length) {
      if (this.state === "string") at = this.readString(text, at);
      else if (this.state === "number") at = this.readNumber(text, at);
      else at = this.readStructure(text, at);
    }
  }

  end(): void {
    if (this.state === "number") this.finishNumber();
    if (this.state !== "closed")
      throw invalid(`ids_file ${this.shown} is a JSON array that ends before its closing ]; fix the file.`);
  }

  private readStructure(text: string, at: number): number {
    const c = text.charCodeAt(at);
    if (c === LF) this.line++;
    if (isJsonSpace(c)) return at + 1;
    if (this.state === "open" && c === 0x5b) this.state = "firstItem";
    else if ((this.state === "firstItem" || this.state === "afterItem") && c === 0x5d) this.state = "closed";
    else if (this.state === "afterItem" && c === COMMA) this.state = "item";
    else if (this.state === "firstItem" || this.state === "item") return this.startItem(text, at);
    else throw this.malformed(text.slice(at));
    return at + 1;
  }

  private startItem(text: string, at: number): number {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      this.state = "string";
      this.plain = true;
      return at + 1;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.state = "number";
      return at;
    }
    if ("[{tfn".includes(text[at] as string))
      throw invalid(
        `ids_file ${this.shown} is a JSON array with an item on line ${this.line} that is not a string or a number (${quote(text.slice(at, at + 40))}); list only ids.`,
      );
    throw this.malformed(text.slice(at));
  }

  private readString(text: string, from: number): number {
    let escaped = this.escaped;
    let plain = this.plain;
    let at = from;
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at);
      if (escaped) escaped = false;
      else if (c === QUOTE) break;
      else if (c === BACKSLASH) {
        escaped = true;
        plain = false;
      } else if (c < 0x20) plain = false;
    }
    this.escaped = escaped;
    this.plain = plain;
    if (at === text.length) {
      this.token += text.slice(from);
      return at;
    }
    const content = this.token === "" ? text.slice(from, at) : this.token + text.slice(from, at);
    this.token = "";
    this.state = "afterItem";
    this.emit(plain ? content : this.parseString(`"${content}"`));
    return at + 1;
  }

  private parseString(token: string): string {
    const value = parsedString(token);
    if (value === undefined)
      throw this.malformed(token, "a string with valid escapes and no control character");
    return value;
  }

  private readNumber(text: string, from: number): number {
    let at = from;
    while (at < text.length && isNumberCharacter(text.charCodeAt(at))) at++;
    this.token += text.slice(from, at);
    if (at < text.length) this.finishNumber();
    return at;
  }

  private finishNumber(): void {
    if (!JSON_NUMBER.test(this.token)) throw this.malformed(this.token, "a JSON number");
    const value = Number(this.token);
    if (!Number.isFinite(value)) throw this.malformed(this.token, NO_INFINITY);
    this.emit(value);
    this.token = "";
    this.state = "afterItem";
  }

  private malformed(found: string, expected = EXPECTED[this.state]): GateError {
    return invalid(
      `ids_file ${this.shown} is not a valid JSON array: on line ${this.line} expected ${expected} but found ${quote(found.slice(0, 40))}; fix the file.`,
    );
  }
}

/** Digits, sign, point and exponent: what a JSON number is made of (its grammar is checked at its end). */
function isNumberCharacter(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

// ---- CSV (RFC 4180): the id column of a header row, else the first column

/** Where an unquoted field's ordinary characters end: at a comma, a quote, a line end or the piece's end. */
function endOfUnquotedText(text: string, from: number): number {
  let at = from;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === COMMA || c === QUOTE || c === LF || c === CR) break;
  }
  return at;
}

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A quote inside a quoted field: the field's end, or the first of a doubled quote. */
const QUOTE_IN_QUOTED = 3;

class CsvParser implements IdParser {
  private state = FIELD_START;
  private field = "";
  private record: string[] = [];
  private recordQuoted = false;
  /** A \r ended the last record, so a \n right after it is part of that line end. */
  private afterCr = false;
  private line = 1;
  private recordLine = 1;
  /** Set by the first record: the header's `id` column, or 0 when the first record is data. */
  private idColumn: number | null = null;

  constructor(
    private readonly emit: Emit,
    private readonly shown: string,
  ) {}

  push(text: string): void {
    let start = 0; // where the current field's text in this piece begins
    for (let at = 0; at < text.length; at++) {
      if (this.state === QUOTED) {
        at = this.skipQuotedText(text, at);
        if (at === text.length) break;
        this.field += text.slice(start, at);
        this.state = QUOTE_IN_QUOTED;
        continue;
      }
      const c = text.charCodeAt(at);
      if (this.afterCr) {
        this.afterCr = false;
        if (c === LF) {
          this.nextLine();
          continue;
        }
      }
      if (c === COMMA || c === LF || c === CR) {
        if (this.state === UNQUOTED) this.field += text.slice(start, at);
        this.endOfField(c);
      } else if (c === QUOTE && this.state === FIELD_START) {
        this.state = QUOTED;
        this.recordQuoted = true;
        start = at + 1;
      } else if (c === QUOTE && this.state === QUOTE_IN_QUOTED) {
        this.field += '"';
        this.state = QUOTED;
        start = at + 1;
      } else if (this.state === QUOTE_IN_QUOTED) {
        throw this.malformed("a closing quote must be followed by , or the line's end", text.slice(at));
      } else if (c === QUOTE) {
        throw this.malformed(
          "a quote inside an unquoted field (quote the whole field and double its quotes)",
        );
      } else if (this.state === FIELD_START) {
        this.state = UNQUOTED;
        start = at;
        at = endOfUnquotedText(text, at + 1) - 1;
      }
    }
    if (this.state === UNQUOTED || this.state === QUOTED) this.field += text.slice(start);
  }

  /** Where the next quote is (or the piece's end), counting the line ends on the way. */
  private skipQuotedText(text: string, from: number): number {
    let at = from;
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at);
      if (c === QUOTE) break;
      if (c === LF) this.line++;
    }
    return at;
  }

  end(): void {
    if (this.state === QUOTED) {
      this.line = this.recordLine;
      throw this.malformed("a quoted field in the row that starts here is never closed (a quote is missing)");
    }
    if (this.state !== FIELD_START || this.record.length > 0) this.endOfField(LF);
  }

  /** A comma ends a field; a \n or \r ends the record too (a \n right after a \r is skipped by push). */
  private endOfField(separator: number): void {
    this.record.push(this.field);
    this.field = "";
    this.state = FIELD_START;
    if (separator === COMMA) return;
    this.endOfRecord(this.record);
    this.record = [];
    this.recordQuoted = false;
    if (separator === CR) this.afterCr = true;
    else this.nextLine();
  }

  private nextLine(): void {
    this.line++;
    this.recordLine = this.line;
  }

  private endOfRecord(record: string[]): void {
    if (record.length === 1 && !this.recordQuoted && isBlank(record[0] as string)) return;
    if (this.idColumn === null) {
      const header = record.findIndex((cell) => cell.trim() === "id");
      this.idColumn = Math.max(header, 0);
      if (header !== -1) return;
    }
    const id = record[this.idColumn];
    if (id === undefined)
      throw invalid(
        `ids_file ${this.shown} has a CSV row on line ${this.recordLine} with no value in the id column (column ${this.idColumn + 1}); fill it in or remove the row.`,
      );
    this.emit(id);
  }

  private malformed(problem: string, found?: string): GateError {
    const shownFound = found === undefined ? "" : ` (found ${quote(found.slice(0, 40))})`;
    return invalid(
      `ids_file ${this.shown} is not valid CSV on line ${this.line}: ${problem}${shownFound}; fix the file.`,
    );
  }
}

// ---- Messages

const SHOWN_CHARACTERS = 200;
const UNSAFE_IN_MESSAGE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Text from the agent or the file as shown in a message: cut short, JSON-quoted, no control character left raw. */
function quote(text: string): string {
  const cut = text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}…` : text;
  return JSON.stringify(cut).replace(UNSAFE_IN_MESSAGE, (character) =>
    character
      .split("")
      .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`)
      .join(""),
  );
}
