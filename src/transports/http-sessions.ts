// The MCP 2025-11-25 sessions of HTTP mode (2026-07-28 has none): each owned by the token that opened it, closed when idle, and at most so many open
// at once, so abandoned sessions cannot pile up.
import type { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import type { Server } from "@modelcontextprotocol/server";
import type { Logger } from "../logger.js";

export interface Session {
  transport: NodeStreamableHTTPServerTransport;
  server: Server;
  /** The token name that opened the session; no other token may use it. */
  owner: string | null;
  lastSeen: number;
}

export interface SessionLimits {
  /** A session unused this long is closed. */
  idleMs: number;
  /** Sessions open at once; a new one beyond it is refused until idle ones are reaped. */
  max: number;
}

export class Sessions {
  private readonly open = new Map<string, Session>();
  private readonly reaper: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    private readonly limits: SessionLimits,
  ) {
    this.reaper = setInterval(() => void this.reap(), Math.min(60_000, Math.max(1_000, limits.idleMs / 2)));
    this.reaper.unref();
  }

  get size(): number {
    return this.open.size;
  }

  /** The session `id` of `owner`, marked as used; another token's session is treated exactly like an unknown one. */
  use(id: string, owner: string | null): Session | undefined {
    const session = this.open.get(id);
    if (!session || session.owner !== owner) return undefined;
    session.lastSeen = Date.now();
    return session;
  }

  add(id: string, session: Session): void {
    this.open.set(id, session);
  }

  /** Forgets a session its transport closed. */
  forget(id: string): void {
    this.open.delete(id);
  }

  /** Whether one more session may open: when at the limit, idle ones are reaped first. */
  async hasRoom(): Promise<boolean> {
    if (this.open.size >= this.limits.max) await this.reap();
    return this.open.size < this.limits.max;
  }

  /** Closes sessions idle longer than the limit; how many. */
  async reap(now = Date.now()): Promise<number> {
    let closed = 0;
    for (const [id, session] of this.open) {
      if (now - session.lastSeen > this.limits.idleMs) {
        await this.close(id);
        closed++;
      }
    }
    if (closed > 0) this.logger.info({ closed, open: this.open.size }, "idle sessions closed");
    return closed;
  }

  /** Stops reaping and closes every session. */
  async closeAll(): Promise<void> {
    clearInterval(this.reaper);
    for (const id of [...this.open.keys()]) await this.close(id);
  }

  private async close(id: string): Promise<void> {
    const session = this.open.get(id);
    if (!session) return;
    this.open.delete(id);
    await session.server.close().catch(() => undefined);
  }
}
