// Streams a large POST body to a local server, 64 KB at a time, and reports how the server ended it: its status,
// or the socket error when it cut the connection, with how much was sent before that.
import { request } from "node:http";

export interface StreamOutcome {
  outcome: number | string;
  sentMb: number;
  ms: number;
}

export function streamBody(
  port: number,
  path: string,
  headers: Record<string, string>,
  size: number,
  chunked: boolean,
): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunk = Buffer.alloc(64 * 1024, "x");
    let sent = 0;
    let settled = false;
    const finish = (outcome: number | string) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve({ outcome, sentMb: sent / 1024 / 1024, ms: Date.now() - started });
    };
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: chunked ? headers : { ...headers, "content-length": String(size) },
      },
      (res) => {
        res.resume();
        finish(res.statusCode ?? 0);
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => finish(error.code ?? "error"));
    const pump = () => {
      while (!settled && sent < size) {
        const piece = size - sent >= chunk.length ? chunk : chunk.subarray(0, size - sent);
        sent += piece.length;
        if (!req.write(piece)) {
          req.once("drain", pump);
          return;
        }
      }
      if (!settled && sent >= size) req.end();
    };
    pump();
  });
}
