// Format detection for the ids file (SPEC §4), fed by pass one: collects the ids too while they may be JSON lines.
import type { IdFileFormat } from "./index.js";
import { jsonLineValue, NO_INFINITY } from "./json.js";
import { isBlank, LineSplitter, MAX_ROW_LENGTH, MAX_TOKEN_LENGTH } from "./lines.js";
import { invalid, tooLong, tooMany } from "./messages.js";

/**
 * `[` first → JSON array, at once; otherwise JSON lines until a line is not a JSON string or number, which makes it
 * CSV when the first line has a `,` or a quoted field, else plain lines.
 */
export class FormatDetector {
  /** The JSON lines' values so far, while the file may still be JSON lines. */
  values: (string | number)[] = [];
  private format: IdFileFormat | null = null;
  private started = false;
  /** Set by the first non-blank line. */
  private csvLike: boolean | null = null;
  private jsonLines = 0;
  /** The first line holding a number JSON makes ±Infinity: refused if the file is JSON lines. */
  private infiniteLine: number | null = null;
  // A line may be a CSV row here: the row's bound; a JSON line holds one id, so a longer one is not JSON lines.
  private readonly lines = new LineSplitter(
    (line, number) => this.line(line, number),
    MAX_ROW_LENGTH,
    (number) => tooLong(this.shown, `line ${number}`, MAX_ROW_LENGTH),
  );

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
    const value = line.length > MAX_TOKEN_LENGTH ? undefined : jsonLineValue(line);
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
