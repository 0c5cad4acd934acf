// HTTP sessions: a session answers only the token that opened it, idle ones are reaped, the limit makes room
// by reaping before it refuses, and each token holds at most its share.
import type { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import type { Server } from "@modelcontextprotocol/server";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type Session, Sessions, sessionShare } from "../../src/transports/http-sessions.js";

const IDLE_MS = 60_000;
let tables: Sessions[] = [];
afterEach(async () => {
  for (const table of tables) await table.closeAll();
  tables = [];
});

function table(max = 2, perOwner = max): { sessions: Sessions; closed: string[] } {
  const sessions = new Sessions(pino({ level: "silent" }), { idleMs: IDLE_MS, max, perOwner });
  tables.push(sessions);
  return { sessions, closed: [] };
}

function session(closed: string[], name: string, owner: string | null, lastSeen = Date.now()): Session {
  const server = {
    close: async () => {
      closed.push(name);
    },
  } as unknown as Server;
  return { server, transport: {} as NodeStreamableHTTPServerTransport, owner, lastSeen };
}

describe("Sessions", () => {
  it("answers a session's own token only, and marks it used", () => {
    const { sessions, closed } = table();
    const opened = session(closed, "a", "alice", 0);
    sessions.add("a", opened);
    expect(sessions.use("a", "bob")).toBeUndefined();
    expect(sessions.use("a", null)).toBeUndefined();
    expect(sessions.use("b", "alice")).toBeUndefined();
    expect(sessions.use("a", "alice")).toBe(opened);
    expect(opened.lastSeen).toBeGreaterThan(0);
  });

  it("reaps sessions idle longer than the limit, closing their servers", async () => {
    const { sessions, closed } = table();
    const now = Date.now();
    sessions.add("old", session(closed, "old", "alice", now - IDLE_MS - 1));
    sessions.add("fresh", session(closed, "fresh", "alice", now));
    expect(await sessions.reap(now)).toBe(1);
    expect(closed).toEqual(["old"]);
    expect(sessions.size).toBe(1);
    expect(sessions.use("old", "alice")).toBeUndefined();
  });

  /** Whether a session of `owner` may open now (the reservation is given back at once). */
  async function room(sessions: Sessions, owner: string | null = null) {
    const reservation = await sessions.reserve(owner);
    if (typeof reservation === "string") return reservation;
    reservation.release();
    return "room";
  }

  it("makes room at the limit by reaping, and refuses when every session is in use", async () => {
    const { sessions, closed } = table(2);
    sessions.add("a", session(closed, "a", null));
    expect(await room(sessions)).toBe("room");
    sessions.add("b", session(closed, "b", null));
    expect(await room(sessions)).toBe("full");
    sessions.add("c", session(closed, "c", null, Date.now() - IDLE_MS - 1));
    expect(await room(sessions)).toBe("full");
    expect(closed).toEqual(["c"]);
    sessions.forget("b");
    expect(await room(sessions)).toBe("room");
  });

  it("keeps each token to its share, so another token still finds room", async () => {
    const { sessions, closed } = table(4, 2);
    sessions.add("a1", session(closed, "a1", "alice"));
    sessions.add("a2", session(closed, "a2", "alice"));
    expect(await room(sessions, "alice")).toBe("share");
    expect(await room(sessions, "bob")).toBe("room");
    // An idle session of the token is reaped to make room for its new one.
    sessions.add("a3", session(closed, "a3", "alice", Date.now() - IDLE_MS - 1));
    expect(await room(sessions, "alice")).toBe("share");
    expect(closed).toEqual(["a3"]);
    sessions.forget("a1");
    expect(await room(sessions, "alice")).toBe("room");
  });

  it("counts places reserved but not yet opened, so concurrent initializes cannot pass the caps", async () => {
    const { sessions } = table(3, 2);
    const first = await sessions.reserve("alice");
    const second = await sessions.reserve("alice");
    expect(typeof first).toBe("object");
    expect(typeof second).toBe("object");
    expect(await sessions.reserve("alice")).toBe("share");
    const third = await sessions.reserve("bob");
    expect(typeof third).toBe("object");
    expect(await sessions.reserve("carol")).toBe("full");
    if (typeof first === "object") first.release();
    // Released twice counts once.
    if (typeof first === "object") first.release();
    expect(await room(sessions, "carol")).toBe("room");
  });

  it("shares maxSessions equally between the configured tokens, at least one each", () => {
    expect(sessionShare(1000, 0)).toBe(1000);
    expect(sessionShare(1000, 1)).toBe(1000);
    expect(sessionShare(1000, 3)).toBe(333);
    expect(sessionShare(2, 5)).toBe(1);
  });

  it("closes every session on closeAll", async () => {
    const { sessions, closed } = table();
    sessions.add("a", session(closed, "a", null));
    sessions.add("b", session(closed, "b", "bob"));
    await sessions.closeAll();
    expect(closed).toEqual(["a", "b"]);
    expect(sessions.size).toBe(0);
  });
});
