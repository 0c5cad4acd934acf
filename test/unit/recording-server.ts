// A tiny HTTP server on 127.0.0.1 for unit tests: records every request and answers what the test says.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body text ("" when none). */
  body: string;
}

export interface CannedResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. Omit for an empty body. */
  body?: unknown;
}

/** "hang" never answers, to provoke a client timeout. */
export type Responder = (request: RecordedRequest) => CannedResponse | "hang";

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  /** Replace the answer for the next requests. */
  respond(responder: Responder): void;
  close(): Promise<void>;
}

export async function startRecordingServer(initial: Responder): Promise<RecordingServer> {
  let responder = initial;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      const answer = responder(recorded);
      if (answer === "hang") return;
      const text =
        answer.body === undefined
          ? ""
          : typeof answer.body === "string"
            ? answer.body
            : JSON.stringify(answer.body);
      const contentType = typeof answer.body === "string" ? "text/plain" : "application/json";
      res.writeHead(answer.status, { "content-type": contentType, ...answer.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respond(next) {
      responder = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 127.0.0.1 URL where nothing listens (a port that was just free). */
export async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
