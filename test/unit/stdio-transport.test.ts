// The stdio transport on in-memory streams: messages split across chunks and several per chunk, one line per
// message written, a line over the cap, lines that are not JSON-RPC, the end of input, close() and start() once.
import { PassThrough, Writable } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import { StdioTransport } from "../../src/transports/stdio-transport.js";

const message = (id: number, text = "x"): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  method: "ping",
  params: { text },
});
const line = (value: unknown) => `${JSON.stringify(value)}\n`;

interface Rig {
  input: PassThrough;
  written: string[];
  transport: StdioTransport;
  messages: JSONRPCMessage[];
  errors: Error[];
  closes: number;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.transport.close();
});

async function rig(maxBytes = 1024, output?: Writable): Promise<Rig> {
  const input = new PassThrough();
  const written: string[] = [];
  const sink =
    output ??
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString("utf8"));
        done();
      },
    });
  const transport = new StdioTransport(input, sink, maxBytes);
  const state: Rig = { input, written, transport, messages: [], errors: [], closes: 0 };
  transport.onmessage = (received) => state.messages.push(received);
  transport.onerror = (error) => state.errors.push(error);
  transport.onclose = () => state.closes++;
  await transport.start();
  rigs.push(state);
  return state;
}

/** Lets the streams deliver what was written to them. */
const settle = () => new Promise((done) => setImmediate(done));

describe("StdioTransport", () => {
  it("delivers a message split across chunks, however the bytes are cut", async () => {
    const bytes = Buffer.from(line(message(1, "héllo ✓ 𝄞")) + line(message(2)));
    for (const size of [1, 3, 7, bytes.length]) {
      const { input, messages, errors } = await rig();
      for (let start = 0; start < bytes.length; start += size)
        input.write(bytes.subarray(start, start + size));
      await settle();
      expect(messages, `chunks of ${size}`).toEqual([message(1, "héllo ✓ 𝄞"), message(2)]);
      expect(errors).toEqual([]);
    }
  });

  it("delivers several messages from one chunk, in order, CRLF included", async () => {
    const { input, messages } = await rig();
    input.write(`${line(message(1))}${JSON.stringify(message(2))}\r\n${line(message(3))}`);
    await settle();
    expect(messages).toEqual([message(1), message(2), message(3)]);
  });

  it("writes each message as one JSON line", async () => {
    const { transport, written } = await rig();
    await transport.send(message(7, "a\nb"));
    await transport.send({ jsonrpc: "2.0", id: 7, result: {} });
    expect(written).toEqual([line(message(7, "a\nb")), line({ jsonrpc: "2.0", id: 7, result: {} })]);
    for (const text of written) expect(text.indexOf("\n")).toBe(text.length - 1);
  });

  it("waits for drain when the output is full", async () => {
    const written: string[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString("utf8"));
        setTimeout(done, 20);
      },
    });
    const { transport } = await rig(1024, slow);
    let sent = false;
    const sending = transport.send(message(1)).then(() => {
      sent = true;
    });
    await settle();
    expect(sent).toBe(false);
    await sending;
    expect(written).toEqual([line(message(1))]);
  });

  it("reports a line that is not JSON-RPC and goes on with the next", async () => {
    const { input, messages, errors, closes } = await rig();
    input.write(`this is not json\n${line({ jsonrpc: "2.0", id: 1, nonsense: true })}`);
    input.write(`{"jsonrpc":"2.0","id":\n${line(message(2))}`);
    await settle();
    expect(errors).toHaveLength(3);
    expect(errors[0]).toBeInstanceOf(SyntaxError);
    expect(messages).toEqual([message(2)]);
    expect(closes).toBe(0);
  });

  it("drops a line over the cap and closes, as the session cannot go on in step", async () => {
    const { input, transport, messages, errors } = await rig(100);
    input.write(line(message(1)));
    input.write(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"text":"${"x".repeat(200)}"}}\n`);
    input.write(line(message(3)));
    await settle();
    expect(messages).toEqual([message(1)]);
    expect(errors.map((error) => error.message)).toEqual([
      "a message over 100 bytes was dropped (see limits.maxIdsPerCall)",
    ]);
    expect(rigs.at(-1)?.closes).toBe(1);
    expect(input.listenerCount("data")).toBe(0);
    expect(input.isPaused()).toBe(true);
    await expect(transport.send(message(4))).rejects.toThrow("closed");
  });

  it("takes a message as long as the cap allows", async () => {
    const long = line(message(1, "y".repeat(900)));
    const { input, messages, errors } = await rig(long.length);
    input.write(long);
    await settle();
    expect(messages).toEqual([message(1, "y".repeat(900))]);
    expect(errors).toEqual([]);
  });

  it("closes when the input ends, once, after the messages before the end", async () => {
    const state = await rig();
    state.input.end(line(message(1)));
    await settle();
    await settle();
    expect(state.messages).toEqual([message(1)]);
    expect(state.closes).toBe(1);
    expect(state.input.listenerCount("end")).toBe(0);
  });

  it("reports an input error, and closes when the input closes", async () => {
    const state = await rig();
    state.input.destroy(new Error("EIO"));
    await settle();
    expect(state.errors.map((error) => error.message)).toEqual(["EIO"]);
    expect(state.closes).toBe(1);
  });

  it("close() stops reading, calls onclose once and refuses later sends", async () => {
    const state = await rig();
    await state.transport.close();
    await state.transport.close();
    state.input.write(line(message(1)));
    await settle();
    expect(state.closes).toBe(1);
    expect(state.messages).toEqual([]);
    expect(state.input.listenerCount("data")).toBe(0);
    await expect(state.transport.send(message(2))).rejects.toThrow("StdioTransport is closed");
    expect(state.written).toEqual([]);
  });

  it("starts once, and has no session id (one client per process)", async () => {
    const { transport } = await rig();
    await expect(transport.start()).rejects.toThrow("already started");
    expect(transport.sessionId).toBeUndefined();
  });
});
