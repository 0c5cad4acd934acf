// Waiting, through the global timers (not node:timers/promises): every wait of the runner is then one a test's fake
// timers control, so retries, backoff, pacing and leases can be tested in fake time.

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. `ref: false`: does not hold the process. */
export function sleep(ms: number, options: { signal?: AbortSignal; ref?: boolean } = {}): Promise<void> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (options.ref === false) timer.unref?.();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
