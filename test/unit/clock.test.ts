// The runner's waits (retry backoff, Retry-After, pacing): never shorter than asked by the clock.
import { afterEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../src/jobs/clock.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("sleep", () => {
  it("does not end before `ms` by Date.now() when its timer fires early; it waits the rest", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const start = Date.now();
    let done = false;
    const waiting = sleep(1000).then(() => {
      done = true;
    });
    // The clock a millisecond behind the timers: the timer fires when Date.now() says 999 ms passed.
    vi.setSystemTime(start - 1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(Date.now() - start).toBe(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    expect(done).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1000);
  });

  it("ends after `ms` on real timers, and an abort ends it at once with the signal's reason", async () => {
    const started = Date.now();
    await sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
    const halt = new AbortController();
    const waiting = sleep(60_000, { signal: halt.signal });
    halt.abort(new Error("halted"));
    await expect(waiting).rejects.toThrow("halted");
  });
});
