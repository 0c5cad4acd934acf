// Waiting, through the global timers (not node:timers/promises): every wait of the runner is then one a test's fake
// timers control, so retries, backoff, pacing and leases can be tested in fake time.

/**
 * Resolves after `ms` by `Date.now()`, never sooner; rejects with the signal's reason when it aborts first.
 * `ref: false`: does not hold the process. A timer counts from the event loop's cached time and can fire up to a
 * millisecond before `ms` have passed on the clock: a backoff that honours a Retry-After must not end early, so a
 * timer that fires early is set again for what is left (a reliability run once saw a Retry-After of 1 s kept as
 * 999 ms, by the backend's clock).
 */
export function sleep(ms: number, options: { signal?: AbortSignal; ref?: boolean } = {}): Promise<void> {
  const { signal } = options;
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const wait = (left: number) => {
      timer = setTimeout(() => {
        const rest = until - Date.now();
        if (rest > 0) {
          wait(rest);
          return;
        }
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, left);
      if (options.ref === false) timer.unref?.();
    };
    wait(ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
