// Text that arrives in pieces: the parsers' shape, the characters they look for, the bounds on what they hold, and
// the line splitter.
import { MAX_ID_LENGTH } from "../plan.js";

export type Emit = (id: string | number) => void;

export interface IdParser {
  push(text: string): void;
  end(): void;
}

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const LF = 0x0a;
export const CR = 0x0d;

/**
 * The longest line, JSON token or CSV id field a parser holds: an id is at most MAX_ID_LENGTH characters, and JSON may
 * spell each of them as a six-character escape. Longer, the file is refused: no id is that long, and without a bound
 * one line of a sparse 2 GB file would become one string larger than memory.
 */
export const MAX_TOKEN_LENGTH = 8 * MAX_ID_LENGTH;
/** The longest CSV row, and any line read before the format is known: a row's other columns may hold long text. */
export const MAX_ROW_LENGTH = 1024 * 1024;

export const isBlank = (line: string) => line.trim() === "";

/** Cuts text that arrives in pieces into lines, without their \n or \r\n, refusing one longer than maxLength. */
export class LineSplitter implements IdParser {
  private partial = "";
  private number = 0;

  constructor(
    private readonly onLine: (line: string, number: number) => void,
    private readonly maxLength: number,
    private readonly tooLong: (number: number) => Error,
  ) {}

  push(text: string): void {
    const parts = text.split("\n");
    parts[0] = this.partial + parts[0];
    this.partial = parts.pop() as string;
    for (const part of parts) this.line(part);
    // Checked on every piece, so an unending line is refused one piece past the bound.
    if (this.partial.length > this.maxLength) throw this.tooLong(this.number + 1);
  }

  end(): void {
    if (this.partial !== "") this.line(this.partial);
    this.partial = "";
  }

  private line(part: string): void {
    const line = withoutCr(part);
    if (line.length > this.maxLength) throw this.tooLong(this.number + 1);
    this.onLine(line, ++this.number);
  }
}

const withoutCr = (line: string) => (line.endsWith("\r") ? line.slice(0, -1) : line);
