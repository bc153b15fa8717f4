/**
 * Runs many small calls as one: every `run(input)` made while a batch is being gathered (until the current turn of
 * the event loop ends, or `maxBatch` inputs are waiting) is answered by one call of `runMany`, which returns one
 * output per input, in order. Ten thousand agents answering a round or polling after a coordinator start then cost a
 * few dozen statements instead of ten thousand single-row ones competing for a pool of ten connections.
 * When `runMany` throws, every input of that batch rejects with its error.
 */
export class Batcher<I, O> {
  private gathering: { inputs: I[]; waiters: { resolve: (o: O) => void; reject: (e: unknown) => void }[] } | null = null;

  constructor(
    private readonly runMany: (inputs: I[]) => Promise<O[]>,
    private readonly maxBatch = 500,
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`Batcher: maxBatch must be a positive integer, got ${maxBatch}`);
  }

  run(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (!this.gathering) {
        const batch = (this.gathering = { inputs: [], waiters: [] });
        setImmediate(() => this.gathering === batch && this.flush());
      }
      this.gathering.inputs.push(input);
      this.gathering.waiters.push({ resolve, reject });
      if (this.gathering.inputs.length >= this.maxBatch) this.flush();
    });
  }

  private flush(): void {
    const batch = this.gathering;
    this.gathering = null;
    if (!batch) return;
    this.runMany(batch.inputs).then(
      (outputs) => {
        if (outputs.length !== batch.inputs.length) {
          const e = new Error(`Batcher: ${batch.inputs.length} inputs gave ${outputs.length} outputs`);
          for (const w of batch.waiters) w.reject(e);
          return;
        }
        batch.waiters.forEach((w, i) => w.resolve(outputs[i]));
      },
      (e: unknown) => {
        for (const w of batch.waiters) w.reject(e);
      },
    );
  }
}

/**
 * Loads values by key in batches (a `Batcher` of lookups): concurrent loads of the same key share one answer, and a
 * key that `fetchMany` does not return loads as `null`.
 */
export class BatchLoader<K, V> {
  private readonly batcher: Batcher<K, V | null>;
  private readonly inFlight = new Map<K, Promise<V | null>>();

  constructor(fetchMany: (keys: K[]) => Promise<Map<K, V>>, maxBatch = 500) {
    this.batcher = new Batcher<K, V | null>(async (keys) => {
      const found = await fetchMany(keys);
      return keys.map((k) => found.get(k) ?? null);
    }, maxBatch);
  }

  load(key: K): Promise<V | null> {
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const p = this.batcher.run(key);
    this.inFlight.set(key, p);
    const forget = (): void => void (this.inFlight.get(key) === p && this.inFlight.delete(key));
    p.then(forget, forget);
    return p;
  }
}
