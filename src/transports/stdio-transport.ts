// The stdio transport: JSON-RPC messages one per line, read from a stream through LineBuffer (linear in a line's
// length, capped in bytes) and written to another, through the SDK's public Transport interface. One client per
// process, so no session id.
import type { Readable, Writable } from "node:stream";
import { type JSONRPCMessage, serializeMessage, type Transport } from "@modelcontextprotocol/server";
import { LineBuffer } from "./line-buffer.js";

export class StdioTransport implements Transport {
  onclose?: Transport["onclose"];
  onerror?: Transport["onerror"];
  onmessage?: Transport["onmessage"];
  /** stdio has one client per process: no session id. */
  readonly sessionId: string | undefined = undefined;

  /** Settles when the transport closes, whoever closed it (the SDK's serving entry owns `onclose`). */
  readonly closed: Promise<void>;

  private readonly buffer: LineBuffer;
  private started = false;
  private isClosed = false;
  private settleClosed: () => void = () => undefined;

  /** `maxMessageBytes` bounds the unread bytes held: a longer line is dropped and the transport closes. */
  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    maxMessageBytes: number,
  ) {
    this.buffer = new LineBuffer(maxMessageBytes);
    this.closed = new Promise((resolve) => {
      this.settleClosed = resolve;
    });
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("StdioTransport already started (connect() starts it)");
    this.started = true;
    this.input.on("data", this.onData);
    this.input.on("error", this.onInputError);
    // The client went away: nothing more can arrive.
    this.input.on("end", this.onInputEnd);
    this.input.on("close", this.onInputEnd);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error("StdioTransport is closed"));
    return new Promise((resolve) => {
      if (this.output.write(serializeMessage(message))) resolve();
      else this.output.once("drain", resolve);
    });
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.input.off("data", this.onData);
    this.input.off("error", this.onInputError);
    this.input.off("end", this.onInputEnd);
    this.input.off("close", this.onInputEnd);
    // Paused only when no one else reads it, as the SDK's transport does.
    if (this.input.listenerCount("data") === 0) this.input.pause();
    this.buffer.clear();
    try {
      this.onclose?.();
    } finally {
      this.settleClosed();
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.buffer.append(chunk);
    } catch (error) {
      // A line over the cap: dropped, and the session with it (a client that sends one is out of step).
      this.onerror?.(error as Error);
      this.close().catch((failure: Error) => this.onerror?.(failure));
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        // A line that is not JSON-RPC is reported and skipped; the lines after it still count.
        this.onerror?.(error as Error);
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  };

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onInputEnd = (): void => {
    this.close().catch((failure: Error) => this.onerror?.(failure));
  };
}
