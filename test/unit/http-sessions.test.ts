// HTTP sessions: a session answers only the token that opened it, idle ones are reaped, and the limit makes room
// by reaping before it refuses.
import type { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import type { Server } from "@modelcontextprotocol/server";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type Session, Sessions } from "../../src/transports/http-sessions.js";

const IDLE_MS = 60_000;
let tables: Sessions[] = [];
afterEach(async () => {
  for (const table of tables) await table.closeAll();
  tables = [];
});

function table(max = 2): { sessions: Sessions; closed: string[] } {
  const sessions = new Sessions(pino({ level: "silent" }), { idleMs: IDLE_MS, max });
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

  it("makes room at the limit by reaping, and refuses when every session is in use", async () => {
    const { sessions, closed } = table(2);
    sessions.add("a", session(closed, "a", null));
    expect(await sessions.hasRoom()).toBe(true);
    sessions.add("b", session(closed, "b", null));
    expect(await sessions.hasRoom()).toBe(false);
    sessions.add("c", session(closed, "c", null, Date.now() - IDLE_MS - 1));
    expect(await sessions.hasRoom()).toBe(false);
    expect(closed).toEqual(["c"]);
    sessions.forget("b");
    expect(await sessions.hasRoom()).toBe(true);
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
