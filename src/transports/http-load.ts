// What each token's requests to /mcp hold at once, bounded. Threat model: a caller with a valid token (a
// prompt-injected agent) sends well-formed messages as large as the body cap allows, in calls that stay pending (a
// human-mode execute_delete waits up to 10 minutes for its form, keeping its message); unbounded, ~30 of them filled
// the heap and the server stopped answering every token and the approval console. So each request is charged to its
// token, from when it arrives until its answer ends, an estimate of the heap it holds, and a request that would pass
// the token's allowance is refused (429) before its body is read or parsed. Other tokens keep their own allowance.
// What it does not bound: a handler that outlives its answer (the client went away) is no longer charged.

/** Charged for every request: its request, response and socket objects and the handler's state. */
export const REQUEST_COST = 16 * 1024;
/**
 * Charged per body byte: the bytes as read, then the strings parsed from them (at most one byte of heap per byte;
 * a 2026-07-28 request's bytes are also kept to be parsed again by the SDK).
 */
const BYTE_COST = 2;
/** Charged per JSON value (jsonValues): V8 spends 8–60 bytes on one, 32 on an empty object's `{` and its `,`. */
const VALUE_COST = 64;
/** A token may hold this many messages of the largest size the body and value caps allow, at once. */
const LARGEST_MESSAGES_PER_TOKEN = 4;

/** The estimated heap of a message of `bytes` bytes and `values` JSON values, read and parsed. */
export function messageCost(bytes: number, values: number): number {
  return BYTE_COST * bytes + VALUE_COST * values;
}

/** What one token may hold at once: LARGEST_MESSAGES_PER_TOKEN requests with the largest message allowed. */
export function tokenAllowance(maxBytes: number, maxValues: number): number {
  return LARGEST_MESSAGES_PER_TOKEN * (REQUEST_COST + messageCost(maxBytes, maxValues));
}

/** One request's charge to its token, released once (when its answer ends). */
export interface Charge {
  /** Charges `cost` more; false (and nothing charged) when the token's allowance has no room for it. */
  take(cost: number): boolean;
  release(): void;
}

export class CallerLoad {
  /** Each token's charge in flight; null (no tokens configured, loopback only) is the one caller "". */
  private readonly held = new Map<string, number>();

  /** `allowance`: what one token's requests may hold at once. */
  constructor(readonly allowance: number) {}

  /** What `owner`'s requests hold now. */
  heldBy(owner: string | null): number {
    return this.held.get(owner ?? "") ?? 0;
  }

  /** Opens a request's charge with REQUEST_COST; null when its token has no room for even that. */
  open(owner: string | null): Charge | null {
    const key = owner ?? "";
    let charged = 0;
    let released = false;
    const take = (cost: number): boolean => {
      if (released) return false;
      const held = this.held.get(key) ?? 0;
      if (held + cost > this.allowance) return false;
      this.held.set(key, held + cost);
      charged += cost;
      return true;
    };
    if (!take(REQUEST_COST)) return null;
    return {
      take,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.held.get(key) ?? 0) - charged;
        if (left > 0) this.held.set(key, left);
        else this.held.delete(key);
      },
    };
  }
}
