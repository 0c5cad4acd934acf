// The stdio line buffer: messages split across chunks, several per chunk, CRLF, multibyte characters cut by a
// chunk boundary, and the size cap.
import { describe, expect, it } from "vitest";
import { LineBuffer } from "../../src/transports/line-buffer.js";

const message = (id: number, text = "x") => ({ jsonrpc: "2.0", id, method: "ping", params: { text } });
const line = (value: unknown) => `${JSON.stringify(value)}\n`;

function drain(buffer: LineBuffer): unknown[] {
  const out: unknown[] = [];
  for (let next = buffer.readMessage(); next !== null; next = buffer.readMessage()) out.push(next);
  return out;
}

describe("LineBuffer", () => {
  it("returns whole lines only, however the bytes are cut", () => {
    const bytes = Buffer.from(line(message(1, "héllo ✓ 𝄞")) + line(message(2)) + line(message(3)));
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const buffer = new LineBuffer(1024);
      const seen: unknown[] = [];
      for (let start = 0; start < bytes.length; start += size) {
        buffer.append(bytes.subarray(start, start + size));
        seen.push(...drain(buffer));
      }
      expect(seen, `chunks of ${size}`).toEqual([message(1, "héllo ✓ 𝄞"), message(2), message(3)]);
    }
  });

  it("takes CRLF line ends and keeps a partial line for later", () => {
    const buffer = new LineBuffer(1024);
    buffer.append(Buffer.from(`${JSON.stringify(message(1))}\r\n${JSON.stringify(message(2)).slice(0, 10)}`));
    expect(drain(buffer)).toEqual([message(1)]);
    buffer.append(Buffer.from(`${JSON.stringify(message(2)).slice(10)}\n`));
    expect(drain(buffer)).toEqual([message(2)]);
  });

  it("refuses more than its cap of unread bytes, then starts afresh", () => {
    const buffer = new LineBuffer(100);
    buffer.append(Buffer.alloc(60, 0x20));
    expect(() => buffer.append(Buffer.alloc(60, 0x20))).toThrow("a message over 100 bytes was dropped");
    buffer.append(Buffer.from(line(message(4))));
    expect(drain(buffer)).toEqual([message(4)]);
  });

  it("counts only what is still unread against the cap", () => {
    const buffer = new LineBuffer(200);
    for (let id = 0; id < 20; id++) {
      buffer.append(Buffer.from(line(message(id))));
      expect(drain(buffer)).toEqual([message(id)]);
    }
  });
});
