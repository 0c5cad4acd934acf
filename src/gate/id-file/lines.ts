// Text that arrives in pieces: the parsers' shape, the characters they look for, and the line splitter.

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

export const isBlank = (line: string) => line.trim() === "";

/** Cuts text that arrives in pieces into lines, without their \n or \r\n. */
export class LineSplitter implements IdParser {
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
