import { useEffect, useRef, useState } from 'preact/hooks';

/** How often the pages ask again (the API answers an unchanged list with 304 Not Modified). */
export const POLL_MS = 3000;

/** The state of data the page polls: the latest value, the latest error, and a way to ask now. */
export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  refresh: () => void;
}

/**
 * Loads `load()` now and every {@link POLL_MS} while the component is mounted, again whenever `deps` change. One call
 * at a time: the next waits for the previous answer, so a slow coordinator is not queued up.
 */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await loadRef.current();
        if (stopped) return;
        setData(value);
        setError(undefined);
      } catch (e) {
        if (!stopped) setError(e instanceof Error ? e : new Error(String(e)));
      }
      if (!stopped) timer = setTimeout(() => void run(), POLL_MS);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, refresh: () => setTick((t) => t + 1) };
}
