// The MCP 2025-11-25 sessions of HTTP mode (2026-07-28 has none): each owned by the token that opened it, closed when idle, and at most so many open
// at once, so abandoned sessions cannot pile up; each token at most its share of them, so one token that keeps its
// sessions busy cannot hold every slot and lock the other tokens out.
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
  /** Sessions one token may hold at once (sessionShare). */
  perOwner: number;
}

/**
 * A token's share of `max` sessions when `tokens` are configured: an equal part, so every token can always open
 * some; all of them without tokens (one local caller).
 */
export function sessionShare(max: number, tokens: number): number {
  return Math.max(1, Math.floor(max / Math.max(1, tokens)));
}

/** A new session's place, held from the check until it opened (or failed), so concurrent opens cannot overshoot. */
export interface Reservation {
  release(): void;
}

export class Sessions {
  private readonly open = new Map<string, Session>();
  /** Sessions open or reserved, per owner (null: no tokens). */
  private readonly held = new Map<string | null, number>();
  private reserved = 0;
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

  /** Sessions one token may hold at once. */
  get share(): number {
    return this.limits.perOwner;
  }

  /** The session `id` of `owner`, marked as used; another token's session is treated exactly like an unknown one. */
  use(id: string, owner: string | null): Session | undefined {
    const session = this.open.get(id);
    if (!session || session.owner !== owner) return undefined;
    session.lastSeen = Date.now();
    return session;
  }

  add(id: string, session: Session): void {
    if (!this.open.has(id)) this.count(session.owner, 1);
    this.open.set(id, session);
  }

  /** Forgets a session its transport closed. */
  forget(id: string): void {
    const session = this.open.get(id);
    if (!session) return;
    this.open.delete(id);
    this.count(session.owner, -1);
  }

  /**
   * Room for one more session of `owner`, held until released (once the session opened or failed): "full" when
   * maxSessions are open, "share" when this token holds its share; idle sessions are reaped first.
   */
  async reserve(owner: string | null): Promise<Reservation | "full" | "share"> {
    if (!this.fits(owner)) await this.reap();
    if (this.open.size + this.reserved >= this.limits.max) return "full";
    if ((this.held.get(owner) ?? 0) >= this.limits.perOwner) return "share";
    this.reserved++;
    this.count(owner, 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.reserved--;
        this.count(owner, -1);
      },
    };
  }

  private fits(owner: string | null): boolean {
    return (
      this.open.size + this.reserved < this.limits.max && (this.held.get(owner) ?? 0) < this.limits.perOwner
    );
  }

  private count(owner: string | null, delta: number): void {
    const next = (this.held.get(owner) ?? 0) + delta;
    if (next > 0) this.held.set(owner, next);
    else this.held.delete(owner);
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
    this.forget(id);
    await session.server.close().catch(() => undefined);
  }
}
