// HTTP for adapters: Retry-After parsing, transient statuses, and HttpClient against a real local server.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  HttpClient,
  type HttpClientOptions,
  type HttpResponse,
  isTransientStatus,
  MAX_ANSWER_BYTES,
  retryAfterMs,
} from "../../src/backends/http.js";
import { type RecordingServer, refusingUrl, startRecordingServer } from "./recording-server.js";

const SECRET = "sk-test-9c2e41d7";

let servers: RecordingServer[] = [];
let clients: HttpClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.close()));
  clients = [];
  servers = [];
});

function client(options: Partial<HttpClientOptions> & { baseUrl: string }): HttpClient {
  const http = new HttpClient({
    timeoutMs: 5000,
    connections: 2,
    headers: {},
    secrets: [SECRET],
    ...options,
  });
  clients.push(http);
  return http;
}

async function server(...args: Parameters<typeof startRecordingServer>): Promise<RecordingServer> {
  const started = await startRecordingServer(...args);
  servers.push(started);
  return started;
}

function response(status: number, body: unknown): HttpResponse {
  return { type: "response", status, headers: {}, body };
}

describe("retryAfterMs", () => {
  it("reads delta-seconds", () => {
    expect(retryAfterMs({ "retry-after": "2" })).toBe(2000);
    expect(retryAfterMs({ "retry-after": "0" })).toBe(0);
    expect(retryAfterMs({ "retry-after": "1.5" })).toBe(1500);
    expect(retryAfterMs({ "retry-after": ["3", "9"] })).toBe(3000);
  });

  it("reads an HTTP date as the time left until it", () => {
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const ms = retryAfterMs({ "retry-after": inTenSeconds });
    // toUTCString drops the milliseconds, so up to a second (plus test time) less than 10 s.
    expect(ms).toBeGreaterThan(8000);
    expect(ms).toBeLessThanOrEqual(10_000);
    expect(retryAfterMs({ "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" })).toBe(0);
  });

  it("gives undefined for a missing or unreadable header", () => {
    expect(retryAfterMs({})).toBeUndefined();
    expect(retryAfterMs({ "retry-after": undefined })).toBeUndefined();
    expect(retryAfterMs({ "retry-after": "" })).toBeUndefined();
    expect(retryAfterMs({ "retry-after": "soon" })).toBeUndefined();
    expect(retryAfterMs({ "retry-after": "2 seconds" })).toBeUndefined();
  });

  it("caps the wait at 300000 ms", () => {
    expect(retryAfterMs({ "retry-after": "300" })).toBe(300_000);
    expect(retryAfterMs({ "retry-after": "301" })).toBe(300_000);
    expect(retryAfterMs({ "retry-after": "86400" })).toBe(300_000);
    expect(retryAfterMs({ "retry-after": new Date(Date.now() + 3_600_000).toUTCString() })).toBe(300_000);
  });
});

describe("isTransientStatus", () => {
  it("is true for 429 and 5xx only", () => {
    for (const status of [429, 500, 502, 503, 504, 599]) expect(isTransientStatus(status)).toBe(true);
    for (const status of [200, 202, 400, 401, 403, 404, 408, 409, 410, 422, 428, 430]) {
      expect(isTransientStatus(status)).toBe(false);
    }
  });
});

describe("HttpClient.send", () => {
  it("sends a JSON body with content-type, the client's and the request's headers, and the query", async () => {
    const sim = await server(() => ({ status: 200, body: { ok: true } }));
    const http = client({
      baseUrl: sim.url,
      headers: { authorization: `Bearer ${SECRET}`, "x-splendor-tenant-id": "acme" },
    });
    const result = await http.send({
      method: "POST",
      path: "/v1/things",
      query: { limit: "5", q: "a b" },
      headers: { "x-extra": "yes" },
      body: { ids: ["a", "b"], reason: "because" },
    });
    expect(result).toMatchObject({ type: "response", status: 200, body: { ok: true } });
    expect(sim.requests).toHaveLength(1);
    const [request] = sim.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/things?limit=5&q=a+b");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers.accept).toBe("application/json");
    expect(request?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(request?.headers["x-splendor-tenant-id"]).toBe("acme");
    expect(request?.headers["x-extra"]).toBe("yes");
    expect(JSON.parse(request?.body ?? "")).toEqual({ ids: ["a", "b"], reason: "because" });
  });

  it("repeats a parameter given a list, once per value and in order, beside single values", async () => {
    const sim = await server(() => ({ status: 200, body: [] }));
    await client({ baseUrl: sim.url }).send({
      method: "GET",
      path: "/api/v1/examples",
      query: { id: ["b", "a&c", "b"], limit: "2", none: [] },
    });
    expect(sim.requests[0]?.path).toBe("/api/v1/examples?id=b&id=a%26c&id=b&limit=2");
  });

  it("sends no body and no content-type without a body", async () => {
    const sim = await server(() => ({ status: 204 }));
    const result = await client({ baseUrl: sim.url }).send({ method: "GET", path: "/v1/jobs/1" });
    expect(result).toMatchObject({ type: "response", status: 204, body: null });
    expect(sim.requests[0]?.method).toBe("GET");
    expect(sim.requests[0]?.headers["content-type"]).toBeUndefined();
    expect(sim.requests[0]?.body).toBe("");
  });

  it("returns response headers and keeps a non-JSON body as text", async () => {
    const sim = await server(() => ({
      status: 502,
      headers: { "retry-after": "7" },
      body: "<html>Bad Gateway</html>",
    }));
    const result = await client({ baseUrl: sim.url }).send({ method: "GET", path: "/" });
    expect(result.type).toBe("response");
    if (result.type !== "response") return;
    expect(result.status).toBe(502);
    expect(result.body).toBe("<html>Bad Gateway</html>");
    expect(result.headers["retry-after"]).toBe("7");
  });

  it("gives a network error mentioning the wait when the server does not answer in time", async () => {
    const sim = await server(() => "hang");
    const started = Date.now();
    const result = await client({ baseUrl: sim.url, timeoutMs: 200 }).send({ method: "GET", path: "/slow" });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toEqual({
      type: "network-error",
      error: `request to ${new URL(sim.url).host} failed: no answer within 200 ms`,
    });
  });

  // A hostile or broken backend cannot make one request hold its whole answer: 900 MB once took 1 GB of RSS.
  it("stops reading an answer past MAX_ANSWER_BYTES, cuts the connection and gives an error, declared or not", async () => {
    const chunk = Buffer.alloc(64 * 1024, "x");
    let cut = 0;
    let servedBytes = 0;
    const backend = createServer((req, res) => {
      req.resume();
      const declared = req.url === "/declared";
      // Just over the cap with a Content-Length; without one, streamed until cut (or 4 × the cap, to stay bounded).
      const total = declared ? MAX_ANSWER_BYTES + 1 : 4 * MAX_ANSWER_BYTES;
      res.writeHead(500, {
        "content-type": "text/plain",
        ...(declared ? { "content-length": String(total) } : {}),
      });
      res.on("close", () => {
        if (!res.writableFinished) cut++;
      });
      let sent = 0;
      const pump = () => {
        while (!res.destroyed && sent < total) {
          const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
          sent += part.length;
          servedBytes += part.length;
          if (!res.write(part)) return void res.once("drain", pump);
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    try {
      const http = client({ baseUrl: url, timeoutMs: 10_000 });
      for (const path of ["/streamed", "/declared"]) {
        const started = Date.now();
        const result = await http.send({ method: "GET", path });
        expect(Date.now() - started).toBeLessThan(5_000);
        // Compared field by field: on failure, a whole answer in the diff would drown the report.
        expect(result.type).toBe("network-error");
        expect(result.type === "network-error" && result.error).toBe(
          `request to ${new URL(url).host} failed: answer larger than ${MAX_ANSWER_BYTES} bytes, outside any contract`,
        );
      }
      await new Promise((done) => setTimeout(done, 200));
      expect(cut).toBe(2);
      // Cut near the cap, not read to the end (socket buffers allow some slack).
      expect(servedBytes).toBeLessThan(3 * MAX_ANSWER_BYTES);
    } finally {
      backend.closeAllConnections();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    }
  }, 30_000);

  it("reads an answer up to MAX_ANSWER_BYTES whole", async () => {
    // ["…"]: exactly MAX_ANSWER_BYTES bytes.
    const body = "y".repeat(MAX_ANSWER_BYTES - 4);
    const sim = await server(() => ({ status: 200, body: [body] }));
    const result = await client({ baseUrl: sim.url }).send({ method: "GET", path: "/big" });
    expect(result.type).toBe("response");
    if (result.type !== "response") return;
    expect((result.body as string[])[0]?.length).toBe(body.length);
  });

  it("gives a network error when the connection is refused", async () => {
    const url = await refusingUrl();
    const result = await client({ baseUrl: url }).send({ method: "POST", path: "/x", body: {} });
    expect(result.type).toBe("network-error");
    if (result.type !== "network-error") return;
    expect(result.error).toMatch(new RegExp(`^request to ${new URL(url).host} failed: ECONNREFUSED`));
  });
});

describe("HttpClient.errorText", () => {
  const http = new HttpClient({
    baseUrl: "http://127.0.0.1:1",
    timeoutMs: 1000,
    connections: 1,
    headers: {},
    secrets: [SECRET],
  });

  it("picks detail, then message, then error", () => {
    expect(http.errorText(response(403, { detail: "Admin role required", message: "m", error: "e" }))).toBe(
      "HTTP 403: Admin role required",
    );
    expect(http.errorText(response(400, { message: "Bad tenant", error: "e" }))).toBe("HTTP 400: Bad tenant");
    expect(http.errorText(response(400, { error: "invalid_request" }))).toBe("HTTP 400: invalid_request");
  });

  it("writes a structured field as JSON", () => {
    expect(http.errorText(response(503, { detail: { code: "overloaded", message: "try later" } }))).toBe(
      'HTTP 503: {"code":"overloaded","message":"try later"}',
    );
  });

  it("uses a text body as is, and just the status without a readable body", () => {
    expect(http.errorText(response(502, "Bad Gateway"))).toBe("HTTP 502: Bad Gateway");
    expect(http.errorText(response(500, null))).toBe("HTTP 500");
    expect(http.errorText(response(500, ""))).toBe("HTTP 500");
    expect(http.errorText(response(500, { other: 1 }))).toBe("HTTP 500");
  });

  it("redacts the secret wherever the backend echoes it", () => {
    const text = http.errorText(response(401, { detail: `token ${SECRET} is not valid; got ${SECRET}` }));
    expect(text).toBe("HTTP 401: token [redacted] is not valid; got [redacted]");
    expect(http.errorText(response(502, `upstream said Bearer ${SECRET}`))).toBe(
      "HTTP 502: upstream said Bearer [redacted]",
    );
  });

  it("redacts before cutting, so a secret straddling the cut leaves no part behind", () => {
    const text = http.errorText(response(401, { detail: `${"x".repeat(480)}${SECRET}${"y".repeat(100)}` }));
    expect(text).not.toContain(SECRET.slice(0, 6));
    expect(text).toContain("[redacted]");
  });

  it("cuts long texts to 500 characters", () => {
    const text = http.errorText(response(400, { detail: "x".repeat(2000) }));
    expect(text).toBe(`${`HTTP 400: ${"x".repeat(2000)}`.slice(0, 500)}…`);
  });
});

describe("HttpClient.redact", () => {
  it("replaces every secret of four or more characters", () => {
    const http = new HttpClient({
      baseUrl: "http://127.0.0.1:1",
      timeoutMs: 1000,
      connections: 1,
      headers: {},
      secrets: [SECRET, "tok-2", "abc"],
    });
    expect(http.redact(`a ${SECRET} b tok-2 c ${SECRET}`)).toBe("a [redacted] b [redacted] c [redacted]");
    // Too short to redact without destroying ordinary words.
    expect(http.redact("abc")).toBe("abc");
    expect(http.redact("nothing secret here")).toBe("nothing secret here");
  });
});
