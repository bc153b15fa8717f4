import { PollWait } from './poll-wait';

describe('PollWait: polls fit the network between agent and coordinator', () => {
  it('waits 80–100 % of the configured time while nothing cuts the polls', () => {
    const w = new PollWait(25_000);
    expect(w.next(() => 0)).toBe(20_000);
    expect(w.next(() => 0.999999)).toBe(25_000);
    w.completed();
    expect(w.ms).toBe(25_000);
  });

  it('a poll cut after 5 s (a NAT dropping idle connections) shortens the wait to 3/4 of that; normal polls grow it back by a quarter', () => {
    const w = new PollWait(25_000);
    expect(w.cut(5_000)).toBe(true);
    expect(w.ms).toBe(3_750);
    w.completed();
    expect(w.ms).toBe(4_688); // ⌈1.25 · 3,750⌉
    expect(w.cut(5_100)).toBe(true);
    expect(w.ms).toBe(3_825);
    for (let i = 0; i < 20; i++) w.completed();
    expect(w.ms).toBe(25_000);
  });

  it('never shortens below the minimum, and a failure before the minimum is an outage, not a cut', () => {
    const w = new PollWait(25_000, 1_000);
    expect(w.cut(999)).toBe(false);
    expect(w.ms).toBe(25_000);
    expect(w.cut(1_100)).toBe(true);
    expect(w.ms).toBe(1_000);
  });

  it('a cut never lengthens the wait', () => {
    const w = new PollWait(2_000);
    expect(w.cut(10_000)).toBe(true);
    expect(w.ms).toBe(2_000);
  });
});
