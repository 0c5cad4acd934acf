// Splits stdin into JSON-RPC messages, one per line, holding the chunks of a long line as a list: the SDK's own
// buffer copies everything it holds on every chunk, which for a dry run of a million ids (megabytes on one line)
// is quadratic work and hundreds of megabytes of garbage.
import { deserializeMessage, type JSONRPCMessage } from "@modelcontextprotocol/server";

const NEWLINE = 0x0a;

export class LineBuffer {
  private parts: Buffer[] = [];
  /** Bytes held, across all parts. */
  private size = 0;
  /** parts[0 .. scanned) hold no newline. */
  private scanned = 0;

  constructor(private readonly maxBytes: number) {}

  append(chunk: Buffer): void {
    if (this.size + chunk.length > this.maxBytes) {
      this.clear();
      throw new Error(`a message over ${this.maxBytes} bytes was dropped (see limits.maxIdsPerCall)`);
    }
    this.parts.push(chunk);
    this.size += chunk.length;
  }

  readMessage(): JSONRPCMessage | null {
    for (; this.scanned < this.parts.length; this.scanned++) {
      const part = this.parts[this.scanned] as Buffer;
      const at = part.indexOf(NEWLINE);
      if (at === -1) continue;
      const pieces = [...this.parts.slice(0, this.scanned), part.subarray(0, at)];
      const rest = part.subarray(at + 1);
      this.parts =
        rest.length > 0 ? [rest, ...this.parts.slice(this.scanned + 1)] : this.parts.slice(this.scanned + 1);
      this.size = this.parts.reduce((sum, piece) => sum + piece.length, 0);
      this.scanned = 0;
      const line = (pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)).toString("utf8");
      return deserializeMessage(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    return null;
  }

  clear(): void {
    this.parts = [];
    this.size = 0;
    this.scanned = 0;
  }
}
