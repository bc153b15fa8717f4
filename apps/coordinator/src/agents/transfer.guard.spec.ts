import { TooManyTransfersError } from '../common/errors';
import { MetricsRegistry } from '../common/metrics.registry';
import { TransferSlots } from './transfer.guard';

describe('TransferSlots', () => {
  it('gives each agent AGENT_MAX_TRANSFERS slots, refuses the next with a 429 that says when to retry, frees a slot once', () => {
    const metrics = new MetricsRegistry();
    const slots = new TransferSlots({ AGENT_MAX_TRANSFERS: 2 }, metrics);
    const a1 = slots.take('a');
    slots.take('a');
    let refusal: unknown;
    try {
      slots.take('a');
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(TooManyTransfersError);
    expect([(refusal as TooManyTransfersError).status, (refusal as TooManyTransfersError).retryAfterSeconds]).toEqual([429, 1]);
    slots.take('b'); // per agent
    expect(slots.inFlightTotal).toBe(3);
    a1();
    a1(); // released once, however often the response says it closed
    expect(slots.inFlightTotal).toBe(2);
    slots.take('a');
    expect(() => slots.take('a')).toThrow(TooManyTransfersError);
    expect(metrics.render({})).toMatch(/flotilla_transfers_refused_total 2/);
  });
});
