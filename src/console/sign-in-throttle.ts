// Console sign-in throttling: how fast the passwords of one approver name may be checked, and how many sign-ins
// may wait at once.
//
// Threat model: whoever reaches the console may send sign-ins as fast and as many at once as they like, from many
// addresses, with made-up names, and may stop waiting for any answer (an attacker reads "no 200 within a second"
// as "wrong"). So the slowdown is served on the server, between checks, not only on the answer: the passwords of one
// name are checked one at a time, and a failure holds the name's turn for 250 ms × 2^(n−1), at most 5 s (n: the
// name's failures, or the address's if more, in the last 15 min), so a burst of guesses is decided no faster than
// the schedule, however it is sent. An unknown name has a turn and a count like an approver's: they cost and look
// the same. A name's count is never wiped by a flood of other names: eviction takes expired names first, else the
// longest-quiet one, whose count names first seen afterwards inherit (`floor`), the victim's included.
// Not guaranteed: that an approver can sign in while others flood their name. Sign-ins past the bounds (per name
// and address, per name, in all) are refused unchecked; the right password alone is never refused (only delayed).
import { createHash } from "node:crypto";

const FAILURE_BASE_MS = 250;
const FAILURE_MAX_MS = 5_000;
const FAILURE_MEMORY_MS = 15 * 60_000;
/** Sign-ins of one name waiting or being checked, from one address: a double click, not a burst. */
const PER_NAME_AND_ADDRESS = 2;
/** Sign-ins of one name waiting or being checked, in all: the last waits at most about this × 5 s. */
const PER_NAME = 16;
/** Sign-ins waiting or being checked, in all (each check is an scrypt: 32 MB and ~50 ms of a thread). */
const IN_FLIGHT = 256;
/** Names, and addresses, remembered at most. */
const REMEMBERED = 10_000;

/** What became of one sign-in: checked and right, checked and wrong (after `delayMs`), or refused unchecked. */
export type SignInVerdict =
  | { verdict: "right" }
  | { verdict: "wrong"; delayMs: number }
  | { verdict: "busy" };

interface Failures {
  count: number;
  /** When the last failure was counted (ms since the epoch); the count is forgotten FAILURE_MEMORY_MS later. */
  last: number;
}

interface NameTurn extends Failures {
  /** Settles when the sign-in before this one (its check, and its failure's delay) is over. */
  turn: Promise<void>;
  /** Sign-ins of this name waiting or being checked, in all and by address. */
  waiting: number;
  byAddress: Map<string, number>;
}

/** How long a failure holds its name's turn (and its answer), for the n-th failure. */
export function failureDelay(count: number): number {
  return Math.min(FAILURE_MAX_MS, FAILURE_BASE_MS * 2 ** (count - 1));
}

function remembered(failures: Failures, now: number): number {
  return now - failures.last < FAILURE_MEMORY_MS ? failures.count : 0;
}

export class SignInThrottle {
  /** By a hash of the name (a name can be 64 KB of anything); in order of last failure, oldest first. */
  private readonly names = new Map<string, NameTurn>();
  /** By remote address, oldest first: an address's count only lengthens delays, so evicting it weakens no bound. */
  private readonly addresses = new Map<string, Failures>();
  private inFlight = 0;
  /** The highest count of a name evicted while remembered: names first seen afterwards start from it. */
  private floor: Failures = { count: 0, last: 0 };

  /**
   * Runs `check` (the password check) in the name's turn; a wrong answer is returned after its delay, which the
   * name's next check waits out too. "busy" (unchecked) when the name, or the console, has too many sign-ins waiting.
   */
  async attempt(name: string, address: string, check: () => Promise<boolean>): Promise<SignInVerdict> {
    const key = createHash("sha256").update(name).digest("base64url");
    const known = this.names.get(key);
    if (
      this.inFlight >= IN_FLIGHT ||
      (known && (known.waiting >= PER_NAME || (known.byAddress.get(address) ?? 0) >= PER_NAME_AND_ADDRESS))
    )
      return { verdict: "busy" };
    const state = known ?? this.track(key);
    this.inFlight++;
    state.waiting++;
    state.byAddress.set(address, (state.byAddress.get(address) ?? 0) + 1);
    const before = state.turn;
    let done = () => {};
    state.turn = new Promise((resolve) => {
      done = resolve;
    });
    try {
      await before;
      if (await check()) {
        state.count = 0;
        this.addresses.delete(address);
        return { verdict: "right" };
      }
      const now = Date.now();
      state.count = remembered(state, now) + 1;
      state.last = now;
      // Newest last, so eviction finds the longest-quiet names first.
      this.names.delete(key);
      this.names.set(key, state);
      const delayMs = failureDelay(Math.max(state.count, this.addressFailed(address, now)));
      // Held on the server, in the name's turn: abandoning this request does not let the next guess in sooner.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { verdict: "wrong", delayMs };
    } finally {
      done();
      this.inFlight--;
      state.waiting--;
      const fromAddress = (state.byAddress.get(address) ?? 1) - 1;
      if (fromAddress > 0) state.byAddress.set(address, fromAddress);
      else state.byAddress.delete(address);
      if (state.waiting === 0 && remembered(state, Date.now()) === 0) this.names.delete(key);
    }
  }

  /** A name seen for the first time (or again after it was forgotten), making room if needed. */
  private track(key: string): NameTurn {
    const now = Date.now();
    if (this.names.size >= REMEMBERED) this.evict(now);
    const inherited = remembered(this.floor, now);
    const state: NameTurn = {
      count: inherited,
      last: inherited > 0 ? this.floor.last : 0,
      turn: Promise.resolve(),
      waiting: 0,
      byAddress: new Map(),
    };
    this.names.set(key, state);
    return state;
  }

  /**
   * Forgets names whose count expired; when that is not enough, the longest-quiet name with no sign-in waiting,
   * its count kept in the floor so forgetting it gains nobody a faster schedule. Never clears everyone.
   */
  private evict(now: number): void {
    for (const [key, state] of this.names) {
      if (state.waiting > 0) continue;
      if (remembered(state, now) === 0) {
        this.names.delete(key);
        continue;
      }
      if (this.names.size < REMEMBERED) return;
      this.names.delete(key);
      this.floor = {
        count: Math.max(state.count, remembered(this.floor, now)),
        last: Math.max(state.last, this.floor.last),
      };
      return;
    }
  }

  /** Counts a failure of the address; its count now. */
  private addressFailed(address: string, now: number): number {
    const previous = this.addresses.get(address);
    const count = (previous ? remembered(previous, now) : 0) + 1;
    this.addresses.delete(address);
    if (this.addresses.size >= REMEMBERED) {
      const oldest = this.addresses.keys().next();
      if (!oldest.done) this.addresses.delete(oldest.value);
    }
    this.addresses.set(address, { count, last: now });
    return count;
  }
}
