// A lane per backend: every request to it (sends and polls, of every job) passes through one, which bounds how many
// are in flight (`concurrency`) and how often one starts (`requestsPerSecond`), and adapts that pace to the
// backend's real limit: a 429 lowers it at once to a little under what the backend took in the last second,
// successes raise it again slowly, never above what is configured.

import type { HttpClient } from "../backends/http.js";
import { connectBackend } from "../backends/index.js";
import type { BackendClient, BackendConfig } from "../backends/types.js";
import { sleep } from "./clock.js";

/**
 * On a 429 (once per DECREASE_GAP_MS: the requests in flight then were all too many) the pace becomes this share of
 * the requests the backend answered with success in the last second: its limit, seen from here. At least a
 * PACE_MIN_CUT decrease, at most a halving.
 */
export const PACE_OF_TAKEN = 0.95;
export const PACE_MIN_CUT = 0.97;
export const PACE_MAX_CUT = 0.5;
/** After a 429, the pace grows back by this share of the configured rate per second of successes. */
const PACE_RECOVERY_PER_S = 0.04;
/** The pace never falls below this share of the configured rate (nor below one request per 10 s). */
const PACE_FLOOR = 0.05;
const DECREASE_GAP_MS = 1_000;

/** Thrown to every waiter when the lane closes. */
export class LaneClosedError extends Error {
  constructor(backend: string) {
    super(`lane of backend ${backend} closed`);
    this.name = "LaneClosedError";
  }
}

export class Lane {
  readonly client: BackendClient;
  readonly http: HttpClient;
  /** Requests per second now: the configured rate, or less after the backend answered 429. */
  private pace: number;
  /** The next planned start (ms since the epoch): planned starts are spaced 1000 / pace apart. */
  private nextStart = 0;
  /** Actual start times, newest last (only as many as the rolling window needs). */
  private readonly starts: number[] = [];
  /** Start times are handed out one request at a time, in order. */
  private turn: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  private readonly waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private lastDecrease = 0;
  private lastSuccess = 0;
  /** When the successes of about the last second were answered, oldest first. */
  private readonly successes: number[] = [];
  private closed = false;

  constructor(
    readonly config: BackendConfig,
    connected: { client: BackendClient; http: HttpClient } = connectBackend(config),
  ) {
    this.client = connected.client;
    this.http = connected.http;
    this.pace = config.requestsPerSecond;
  }

  /** The pace requests start at now (requests per second). */
  get rate(): number {
    return this.pace;
  }

  /**
   * Runs `request` when a concurrency slot is free and its start time has come; `signal` gives up the wait (the
   * request then never starts). Rejects with LaneClosedError when the lane closes meanwhile.
   */
  async run<T>(request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.slot(signal);
    try {
      const started = this.turn.then(() => this.startTime(signal));
      this.turn = started.catch(() => undefined);
      await started;
      if (this.closed) throw new LaneClosedError(this.config.name);
      return await request();
    } finally {
      this.release();
    }
  }

  /** What the backend answered: a 429 slows the lane down, a success lets it speed up again. */
  observe(httpStatus: number | null | undefined, now = Date.now()): void {
    const configured = this.config.requestsPerSecond;
    if (httpStatus === 429) {
      if (now - this.lastDecrease < DECREASE_GAP_MS) return;
      this.lastDecrease = now;
      const taken = this.successesSince(now - 1000);
      const cut = Math.min(
        this.pace * PACE_MIN_CUT,
        Math.max(taken * PACE_OF_TAKEN, this.pace * PACE_MAX_CUT),
      );
      this.pace = Math.max(configured * PACE_FLOOR, 0.1, cut);
      this.lastSuccess = now;
      return;
    }
    if (httpStatus === undefined || httpStatus === null || httpStatus >= 300) {
      this.lastSuccess = now;
      return;
    }
    this.successes.push(now);
    // Only the last second counts; kept to about one second's worth at the configured rate.
    if (this.successes.length > 2 * Math.max(16, configured)) this.successesSince(now - 1000);
    if (this.pace >= configured) {
      this.lastSuccess = now;
      return;
    }
    // Additive increase, in proportion to the time since the last success: a pace, not a count of answers.
    const seconds = Math.min(1, (now - this.lastSuccess) / 1000);
    this.lastSuccess = now;
    this.pace = Math.min(configured, this.pace + configured * PACE_RECOVERY_PER_S * seconds);
  }

  /** How many successes were answered since `since`; older ones are forgotten. */
  private successesSince(since: number): number {
    let old = 0;
    while (old < this.successes.length && (this.successes[old] as number) < since) old++;
    this.successes.splice(0, old);
    return this.successes.length;
  }

  /** Refuses every waiting request and closes the connections, after the requests in flight finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new LaneClosedError(this.config.name));
    await this.http.close().catch(() => undefined);
  }

  /**
   * Waits for this request's start. Starts follow a plan spaced 1000 / pace apart, so a timer that fires late does
   * not delay every later start; and no start may make the last `n` starts fall within n / pace seconds (at most
   * `pace` per rolling second, as a backend's sliding-window limit counts them), whatever the timers did.
   */
  private async startTime(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      const n = Math.max(1, Math.floor(this.pace));
      const windowMs = (n * 1000) / this.pace;
      const planned = Math.max(now, this.nextStart);
      const oldest = this.starts.length >= n ? (this.starts[this.starts.length - n] as number) + windowMs : 0;
      const at = Math.max(planned, oldest);
      // Timers wait whole milliseconds: a start planned less than one ahead goes now (the plan keeps the average
      // pace, and the rolling window above still bounds every second).
      if (at - now < 1) {
        this.nextStart = planned + 1000 / this.pace;
        this.starts.push(now);
        if (this.starts.length > 2 * n) this.starts.splice(0, this.starts.length - n);
        return;
      }
      await sleep(at - now, { signal });
    }
  }

  private slot(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new LaneClosedError(this.config.name));
    signal?.throwIfAborted();
    if (this.inFlight < this.config.concurrency) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Hands the slot to the next waiter (it stays taken), or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.inFlight--;
  }
}

/** The lanes of every configured backend, built once from the config the process started with. */
export class Lanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    backends: Iterable<BackendConfig>,
    build: (config: BackendConfig) => Lane = (config) => new Lane(config),
  ) {
    for (const config of backends) this.lanes.set(config.name, build(config));
  }

  get(backend: string): Lane {
    const lane = this.lanes.get(backend);
    if (!lane) throw new Error(`backend ${backend} is not configured`);
    return lane;
  }

  async close(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((lane) => lane.close()));
  }
}
