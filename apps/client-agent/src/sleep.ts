/**
 * Resolves after `ms`, or at once when `signal` aborts. The listener goes when the pause ends: a long-lived signal (the
 * agent's stop) would otherwise collect one per pause.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}
