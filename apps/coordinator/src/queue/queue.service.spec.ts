import { controlBackoff } from './queue.service';

describe('controlBackoff', () => {
  it('doubles from 250 ms and stops growing at the cap, however long the outage lasts', () => {
    expect([1, 2, 3, 4, 5, 6, 1000].map((n) => controlBackoff(n, 5000))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });
});
