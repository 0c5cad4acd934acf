// Console sign-in throttling (SPEC §10), driven through ConsoleServer.handle with fake time: the slowdown must bound
// how many passwords of one name are checked, whatever the attacker's concurrency, and no flood of made-up names
// may reset a victim's count.
import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { App } from "../../src/app.js";
import { ConsoleServer } from "../../src/console/api.js";

// scrypt stands in as a 50 ms timer, so fake time decides everything; each check is recorded with its time.
const checks = vi.hoisted(() => [] as { password: string; at: number }[]);
vi.mock("../../src/approval/password.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../src/approval/password.js")>()),
  verifyPassword: async (password: string, stored: string) => {
    checks.push({ password, at: Date.now() });
    await new Promise((done) => setTimeout(done, SCRYPT_MS));
    return stored === `plain$${password}`;
  },
}));

const SCRYPT_MS = 50;
const RIGHT = "correct horse battery staple";
/** The slowdown's cap: failures of a name beyond the sixth are answered after 5 s. */
const CAP_MS = 5_000;

interface Answer {
  status: number;
  body: string;
  /** Fake milliseconds from the request to its answer, once answered. */
  ms?: number;
}

let server: ConsoleServer;
const logged: string[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  checks.length = 0;
  logged.length = 0;
  const log = (fields: unknown, message: string) => logged.push(`${message} ${JSON.stringify(fields)}`);
  const app = {
    live: { current: { approval: { approvers: [{ name: "alice", passwordHash: `plain$${RIGHT}` }] } } },
    logger: { info: log, warn: log, error: log, debug: log },
  } as unknown as App;
  server = new ConsoleServer(app, () => false);
});

afterEach(() => {
  vi.useRealTimers();
});

/** Sends one sign-in; the answer fills in when the server answers (the attacker may stop waiting at any time). */
function signIn(name: string, password: string, address = "198.51.100.7"): Answer {
  const body = Buffer.from(JSON.stringify({ name, password }));
  const req = Object.assign(new PassThrough(), {
    method: "POST",
    url: "/console/api/login",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    socket: { remoteAddress: address },
  });
  req.end(body);
  const answer: Answer = { status: 0, body: "" };
  const sent = Date.now();
  const res = {
    headersSent: false,
    writeHead(status: number) {
      answer.status = status;
      this.headersSent = true;
      return this;
    },
    end(text?: string) {
      answer.body = String(text ?? "");
      answer.ms = Date.now() - sent;
    },
  };
  void server.handle(
    req as unknown as IncomingMessage,
    res as unknown as ServerResponse,
    new URL("http://127.0.0.1/console/api/login"),
  );
  return answer;
}

/** Lets fake time run until every answer is in (or a minute passed). */
async function answered(...answers: Answer[]): Promise<void> {
  for (let waited = 0; waited < 60_000 && answers.some((answer) => answer.ms === undefined); waited += 10)
    await vi.advanceTimersByTimeAsync(10);
}

/** Six wrong passwords one after another: the name's next failure is answered after the cap. */
async function failToCap(name: string, address?: string): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const answer = signIn(name, `warm-up-${name}-${i}`, address);
    await answered(answer);
    expect(answer.status).toBe(401);
  }
}

const checksOf = (prefix: string, since: number) =>
  checks.filter((check) => check.password.startsWith(prefix) && check.at >= since);

describe("console sign-in throttling", () => {
  it("a wrong password is answered after 250 ms, and the right one then signs in at once", async () => {
    const wrong = signIn("alice", "typo");
    await answered(wrong);
    expect(wrong.status).toBe(401);
    expect(wrong.ms).toBeGreaterThanOrEqual(250);
    expect(wrong.ms).toBeLessThan(400);
    const right = signIn("alice", RIGHT);
    await answered(right);
    expect(right.status).toBe(200);
    expect(right.ms).toBeLessThan(SCRYPT_MS + 20);
  });

  it("checks a burst of 40 concurrent guesses no faster than the schedule (the early-abandonment bypass)", async () => {
    await failToCap("alice");
    const started = Date.now();
    // Forty guesses at once from forty addresses, the right password fifth; the attacker reads any answer not a
    // 200 within a second as "wrong". On the schedule, the fifth guess is checked no sooner than 4 × 5 s from now.
    const burst = Array.from({ length: 40 }, (_, i) =>
      signIn("alice", i === 4 ? RIGHT : `guess-${i}`, `203.0.113.${i + 1}`),
    );
    await vi.advanceTimersByTimeAsync(1_500);
    const decidedEarly = burst.filter((answer) => answer.status === 200).length;
    const checkedEarly = checks.filter((check) => check.at >= started).length;
    expect(
      checkedEarly,
      `${checkedEarly} of 40 concurrent guesses were checked within 1.5 s of a name at the 5 s cap`,
    ).toBeLessThanOrEqual(1);
    expect(decidedEarly, "the right password among 40 concurrent guesses was answered 200 within 1.5 s").toBe(
      0,
    );

    await answered(...burst);
    // Until the right password clears the count, every check of alice waits out the 5 s of the one before.
    const burstChecks = checks.filter((check) => check.at >= started);
    const rightAt = burstChecks.findIndex((check) => check.password === RIGHT);
    expect(rightAt).toBe(4);
    for (let i = 1; i <= rightAt; i++) {
      const gap = (burstChecks[i] as { at: number }).at - (burstChecks[i - 1] as { at: number }).at;
      expect(gap, `between checks ${i} and ${i + 1} of the burst`).toBeGreaterThanOrEqual(CAP_MS);
    }
    const right = burst[4] as Answer;
    expect(right.status).toBe(200);
    expect(right.ms).toBeGreaterThanOrEqual(4 * CAP_MS);
    // Refused or wrong, every other guess is a 401 whose message holds no password.
    for (const answer of burst.filter((_, i) => i !== 4)) {
      expect(answer.status).toBe(401);
      expect(answer.body).not.toContain("guess-");
    }
    expect(logged.join("\n")).not.toMatch(/guess-|correct horse/);
  });

  it("refuses, unchecked and at once, sign-ins of a name past two waiting from one address", async () => {
    await failToCap("alice");
    const started = Date.now();
    const burst = Array.from({ length: 10 }, (_, i) => signIn("alice", `one-address-${i}`));
    await vi.advanceTimersByTimeAsync(SCRYPT_MS + 10);
    const refused = burst.filter((answer) => answer.ms !== undefined);
    expect(refused).toHaveLength(8);
    for (const answer of refused) {
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body).message).toMatch(/^Too many sign-ins for this name are waiting/);
    }
    await answered(...burst);
    // Two checked, the second after the first one's scrypt and 5 s (the first at once: the warm-up's delay was over).
    expect(checksOf("one-address-", started).map((check) => check.at - started)).toEqual([
      0,
      SCRYPT_MS + CAP_MS,
    ]);
    const checked = burst.filter((answer) => !refused.includes(answer));
    expect(checked.map((answer) => JSON.parse(answer.body).message)).toEqual(
      Array(2).fill("Wrong approver name or password."),
    );
  });

  it("an unknown name is throttled exactly like an approver's, so a burst cannot tell them apart", async () => {
    // Each from addresses of its own, so only the name differs.
    const pattern = async (name: string, network: string) => {
      await failToCap(name, `${network}.1`);
      const started = Date.now();
      const burst = Array.from({ length: 20 }, (_, i) =>
        signIn(name, `${name}-guess-${i}`, `${network}.${i + 10}`),
      );
      await answered(...burst);
      return {
        answers: burst.map((answer) => `${answer.status} ${answer.ms} ${answer.body}`),
        checks: checksOf(`${name}-guess-`, started).map((check) => check.at - started),
      };
    };
    const known = await pattern("alice", "192.0.2");
    const unknown = await pattern("mallory", "198.18.0");
    expect(unknown).toEqual(known);
  });

  it("the right password after failures, sent alone, is delayed at most the cap and never refused", async () => {
    await failToCap("alice");
    const right = signIn("alice", RIGHT);
    await answered(right);
    expect(right.status).toBe(200);
    expect(right.ms).toBeLessThanOrEqual(CAP_MS + SCRYPT_MS + 20);
  });

  it("a flood of 10,001 made-up names does not reset a victim's count (no clear-all eviction)", async () => {
    await failToCap("alice", "198.51.100.9");
    // Ten thousand and one names that do not exist, each failed once, from as many addresses, 200 at a time.
    for (let batch = 0; batch * 200 < 10_001; batch++) {
      const answers = Array.from({ length: Math.min(200, 10_001 - batch * 200) }, (_, i) => {
        const n = batch * 200 + i;
        return signIn(`made-up-${n}`, "x", `2001:db8::${n.toString(16)}`);
      });
      await answered(...answers);
    }
    // Alice's next wrong password, from a fresh address, is still answered on the capped schedule.
    const next = signIn("alice", "still-guessing", "198.51.100.200");
    await answered(next);
    expect(next.status).toBe(401);
    expect(next.ms, "alice's failure count was wiped by failures of made-up names").toBeGreaterThanOrEqual(
      CAP_MS,
    );
  });
});
