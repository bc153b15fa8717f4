import { parsePoison, parseRobust, parseUpdatePolicy } from './simulate';

describe('simulate CLI options of the update policy and robust aggregation', () => {
  it('reads --update-policy, --robust and --poison, refusing what they do not mean', () => {
    expect(parseUpdatePolicy('none')).toEqual({ bound: { kind: 'none' }, action: 'reject' });
    expect(parseUpdatePolicy('relative:10')).toEqual({ bound: { kind: 'relative', factor: 10 }, action: 'reject' });
    expect(parseUpdatePolicy('absolute:2.5,clip')).toEqual({ bound: { kind: 'absolute', maxNorm: 2.5 }, action: 'clip' });
    for (const bad of ['relative:0.5', 'relative', 'absolute:-1', 'none:3', 'median', 'relative:10,drop', 'relative:10,clip,x'])
      expect(() => parseUpdatePolicy(bad)).toThrow(/--update-policy/);
    expect(parseRobust('median')).toEqual({ kind: 'median' });
    expect(parseRobust('trimmed-mean:0.1')).toEqual({ kind: 'trimmed-mean', trim: 0.1 });
    for (const bad of ['trimmed-mean:0.5', 'trimmed-mean', 'mean']) expect(() => parseRobust(bad)).toThrow(/--robust/);
    expect(parsePoison('2:1e20')).toEqual({ clients: [0, 1], value: 1e20 });
    for (const bad of ['0:1', '1:Infinity', '1.5:3', 'x']) expect(() => parsePoison(bad)).toThrow(/--poison/);
  });
});
