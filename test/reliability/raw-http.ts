// Raw HTTP for the attack suites: requests with exactly the headers given (no client fixing them up), a tally of
// how each category of attack was answered, and a runner of many attacks at once.
import { Agent, type IncomingHttpHeaders, request } from "node:http";

export interface Answer {
  /** The status, or the error code when the connection was cut before an answer. */
  outcome: number | string;
  body: string;
  headers: IncomingHttpHeaders;
  ms: number;
}

export interface Send {
  method?: string;
  /** Default /mcp. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setHost?: boolean;
}

/** A keep-alive client of 127.0.0.1 at `port()` (read at each request: the server starts after this is made). */
export function rawClient(port: () => number, maxSockets: number) {
  const pool = new Agent({ keepAlive: true, maxSockets });
  /** One raw request with exactly these headers. */
  const send = (options: Send = {}): Promise<Answer> =>
    new Promise((resolve) => {
      const started = performance.now();
      const done = (outcome: number | string, body: string, headers: IncomingHttpHeaders) =>
        resolve({ outcome, body, headers, ms: performance.now() - started });
      const req = request(
        {
          host: "127.0.0.1",
          port: port(),
          path: options.path ?? "/mcp",
          method: options.method ?? "POST",
          headers: options.headers,
          agent: pool,
          setHost: options.setHost ?? true,
        },
        (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on("end", () => done(res.statusCode ?? 0, body, res.headers));
          res.on("error", (error: NodeJS.ErrnoException) =>
            done(res.statusCode ?? error.code ?? "error", body, res.headers),
          );
        },
      );
      req.on("error", (error: NodeJS.ErrnoException) => done(error.code ?? "error", "", {}));
      req.end(options.body);
    });
  return { send, destroy: () => pool.destroy() };
}

/** category → answer (a status, or how the connection ended) → count. */
export function tally() {
  const counts = new Map<string, Map<string, number>>();
  const entries = (category: string) => [...(counts.get(category) ?? [])];
  return {
    /** Every category with its answers. */
    all: (): ReadonlyMap<string, ReadonlyMap<string, number>> => counts,
    count(category: string, outcome: string | number): void {
      const answers = counts.get(category) ?? new Map<string, number>();
      counts.set(category, answers);
      answers.set(String(outcome), (answers.get(String(outcome)) ?? 0) + 1);
    },
    answers: (category: string): Record<string, number> => Object.fromEntries(entries(category)),
    total: (category: string): number => entries(category).reduce((sum, [, n]) => sum + n, 0),
    /** Answers of a category with this class of status (2 → 2xx: the attack got through; 5 → 5xx). */
    ofClass: (category: string, digit: 2 | 5): number =>
      entries(category)
        .filter(([outcome]) => new RegExp(`^${digit}\\d\\d$`).test(outcome))
        .reduce((sum, [, n]) => sum + n, 0),
    figures: (category: string): string =>
      entries(category)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([outcome, n]) => `${/^\d+$/.test(outcome) ? "HTTP " : ""}${outcome} ×${n}`)
        .join(", "),
  };
}

/** Runs `task` `times` times, `parallel` at once. */
export async function repeat(
  times: number,
  parallel: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < times) await task(next++);
    }),
  );
}
