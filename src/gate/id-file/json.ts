// JSON in the ids file: a line of JSON lines as its value, and a streaming parser for a JSON array of ids.
import type { GateError } from "../errors.js";
import { BACKSLASH, COMMA, CR, type Emit, type IdParser, LF, MAX_TOKEN_LENGTH, QUOTE } from "./lines.js";
import { invalid, quote, tooLong } from "./messages.js";

/** As `ids` would refuse it: zod's number takes no ±Infinity, which is what JSON makes of 1e400. */
export const NO_INFINITY = "a number beyond ±1.8e308, which is no exact id; write that id as a string";
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const JSON_SPACE_AROUND = /^[ \t\r]+|[ \t\r]+$/g;

const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === CR || c === LF;

/** A line of JSON lines (a JSON string or number, JSON whitespace around it allowed) as its value, else undefined. */
export function jsonLineValue(line: string): string | number | undefined {
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

export class JsonArrayParser implements IdParser {
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
    this.refuseLongToken(at - from);
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
    this.refuseLongToken(at - from);
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

  /** Before `more` characters join the token: a string or number cut by pieces must not grow without end. */
  private refuseLongToken(more: number): void {
    if (this.token.length + more > MAX_TOKEN_LENGTH)
      throw tooLong(this.shown, `the JSON array's item on line ${this.line}`, MAX_TOKEN_LENGTH);
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
