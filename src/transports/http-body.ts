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
 * Reads a body of at most `limit` bytes: "too-large" as soon as it is known to be larger (a Content-Length past it,
 * or the bytes so far), so no more than `limit` bytes are ever held; ABORTED when the client went away.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<Buffer | "too-large" | typeof ABORTED> {
  if (Number(req.headers["content-length"]) > limit) return Promise.resolve("too-large");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (value: Buffer | "too-large" | typeof ABORTED) => {
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

/** A JSON body of at most `limit` bytes (see readBody), parsed and as sent; "invalid" when it is not JSON. */
export async function readJson(
  req: IncomingMessage,
  limit: number,
): Promise<{ json: unknown; bytes: Buffer } | "too-large" | "invalid" | typeof ABORTED> {
  const bytes = await readBody(req, limit);
  if (!Buffer.isBuffer(bytes)) return bytes;
  try {
    return { json: JSON.parse(bytes.toString("utf8")), bytes };
  } catch {
    return "invalid";
  }
}
