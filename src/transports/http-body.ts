// Reading and dropping request bodies safely, for every HTTP endpoint (/mcp and the console): bounded in bytes
// and time, so a client cannot hold memory or a connection with a body.
import type { IncomingMessage } from "node:http";

/** After an answer, the rest of a body is read and dropped for this long and up to this many bytes, then cut. */
const DRAIN_MS = 5_000;
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Reads and drops what is left of a refused request's body, so a client still sending can read the answer
 * (closing at once would reset the connection under it); a body larger than DRAIN_LIMIT, or still arriving after
 * DRAIN_MS, cuts the connection.
 */
export function drain(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let drained = 0;
  const timer = setTimeout(() => req.destroy(), DRAIN_MS);
  timer.unref();
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) req.destroy();
  });
  req.on("close", () => clearTimeout(timer));
  req.on("error", () => undefined);
  req.resume();
}

export const ABORTED = Symbol("aborted");

/**
 * Takes `bytes` more from the caller's allowance (see http-load.ts); false when it has no room for them. A body is
 * charged as soon as its size is known: its Content-Length before reading, else each chunk as it arrives.
 */
export type Take = (bytes: number) => boolean;

/**
 * Reads a body of at most `limit` bytes: "too-large" as soon as it is known to be larger (a Content-Length past it,
 * or the bytes so far), so no more than `limit` bytes are ever held; "busy" as soon as `take` refuses its bytes;
 * ABORTED when the client went away.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large" | typeof ABORTED>;
export function readBody(
  req: IncomingMessage,
  limit: number,
  take: Take,
): Promise<Buffer | "too-large" | "busy" | typeof ABORTED>;
export function readBody(
  req: IncomingMessage,
  limit: number,
  take: Take = () => true,
): Promise<Buffer | "too-large" | "busy" | typeof ABORTED> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) return Promise.resolve("too-large");
  const charged = Number.isSafeInteger(declared) && declared >= 0;
  if (charged && !take(declared)) return Promise.resolve("busy");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (value: Buffer | "too-large" | "busy" | typeof ABORTED) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("close", onAbort);
      req.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        finish("too-large");
      } else if (!charged && !take(chunk.length)) {
        chunks.length = 0;
        finish("busy");
      } else chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onAbort = () => finish(ABORTED);
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("close", onAbort);
  });
}

/**
 * How many JSON values a text holds, counted without parsing it: the `{`, `[`, `,` and `:` outside strings (each
 * opens a value or a key), counting stops past `stopAbove`. What parsing costs grows with this count far more than
 * with the bytes: `{},` is 3 bytes and ~64 bytes of heap once parsed.
 */
export function jsonValues(bytes: Buffer, stopAbove = Number.POSITIVE_INFINITY): number {
  let count = 0;
  let i = 0;
  while (i < bytes.length && count <= stopAbove) {
    const byte = bytes[i];
    if (byte === 0x22) {
      // Skip the string: to the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const quote = bytes.indexOf(0x22, i + 1);
        if (quote < 0) return count;
        let backslashes = 0;
        while (bytes[quote - 1 - backslashes] === 0x5c) backslashes++;
        i = quote;
        if (backslashes % 2 === 0) break;
      }
    } else if (byte === 0x7b || byte === 0x5b || byte === 0x2c || byte === 0x3a) count++;
    i++;
  }
  return count;
}

export interface JsonLimits {
  /** The most bytes a body may have. */
  bytes: number;
  /** The most JSON values it may hold (jsonValues). */
  values: number;
  /** Charges the body's bytes as they are known, then its values, to the caller before it is parsed. */
  take?: (bytes: number, values: number) => boolean;
}

/**
 * A JSON body within `limits` (see readBody), parsed and as sent: "too-many-values" and "busy" are found before
 * parsing, so a refused body never grows into objects; "invalid" when it is not JSON.
 */
export async function readJson(
  req: IncomingMessage,
  limits: JsonLimits,
): Promise<
  { json: unknown; bytes: Buffer } | "too-large" | "too-many-values" | "busy" | "invalid" | typeof ABORTED
> {
  const take = limits.take ?? (() => true);
  const bytes = await readBody(req, limits.bytes, (count) => take(count, 0));
  if (!Buffer.isBuffer(bytes)) return bytes;
  const values = jsonValues(bytes, limits.values);
  if (values > limits.values) return "too-many-values";
  if (!take(0, values)) return "busy";
  try {
    return { json: JSON.parse(bytes.toString("utf8")), bytes };
  } catch {
    return "invalid";
  }
}
