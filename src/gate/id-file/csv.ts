// CSV in the ids file (RFC 4180): a streaming parser that takes the id column of a header row, else the first column.
import type { GateError } from "../errors.js";
import {
  COMMA,
  CR,
  type Emit,
  type IdParser,
  isBlank,
  LF,
  MAX_ROW_LENGTH,
  MAX_TOKEN_LENGTH,
  QUOTE,
} from "./lines.js";
import { invalid, quote, tooLong } from "./messages.js";

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

export class CsvParser implements IdParser {
  private state = FIELD_START;
  private field = "";
  private record: string[] = [];
  /** Characters in the record's ended fields, a separator counted for each: with `field`, bounded by MAX_ROW_LENGTH. */
  private recordLength = 0;
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
    this.refuseLongRecord();
  }

  /** Checked per piece and per field, so a row (even one of empty fields) is refused a piece past the bound. */
  private refuseLongRecord(): void {
    if (this.recordLength + this.field.length > MAX_ROW_LENGTH)
      throw tooLong(this.shown, `the CSV row on line ${this.recordLine}`, MAX_ROW_LENGTH);
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
    this.recordLength += this.field.length + 1;
    this.field = "";
    this.refuseLongRecord();
    this.state = FIELD_START;
    if (separator === COMMA) return;
    this.endOfRecord(this.record);
    this.record = [];
    this.recordLength = 0;
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
    // Kept until the plan is made, unlike the row's other fields: the bound of an id, not of a row.
    if (id.length > MAX_TOKEN_LENGTH)
      throw tooLong(this.shown, `the id of the CSV row on line ${this.recordLine}`, MAX_TOKEN_LENGTH);
    this.emit(id);
  }

  private malformed(problem: string, found?: string): GateError {
    const shownFound = found === undefined ? "" : ` (found ${quote(found.slice(0, 40))})`;
    return invalid(
      `ids_file ${this.shown} is not valid CSV on line ${this.line}: ${problem}${shownFound}; fix the file.`,
    );
  }
}
