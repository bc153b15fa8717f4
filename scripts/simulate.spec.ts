import * as path from 'node:path';
import { loadSimulationData, parseInputShape, parseModel, parsePoison, parseRobust, parseUpdatePolicy } from './simulate';

const ROOT = path.resolve(__dirname, '..');

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

describe('simulate CLI: the CNN and image data', () => {
  it('reads --model cnn with the defaults and limits of a job model spec', () => {
    expect(parseModel({ model: 'cnn', hidden: '32' })).toEqual({ arch: 'cnn', filters: [16, 32], kernelSize: 3, dense: 64 });
    expect(parseModel({ model: 'cnn', hidden: '32', filters: '4,8', kernel: '5', dense: '16' })).toEqual({
      arch: 'cnn',
      filters: [4, 8],
      kernelSize: 5,
      dense: 16,
    });
    expect(parseModel({ model: 'mlp', hidden: '7' })).toEqual({ arch: 'mlp', hidden: 7 });
    for (const bad of [{ filters: '4' }, { filters: '4,x' }, { kernel: '0' }, { kernel: '16' }, { dense: '1.5' }])
      expect(() => parseModel({ model: 'cnn', hidden: '32', ...bad })).toThrow(/--model cnn/);
    expect(() => parseModel({ model: 'resnet', hidden: '32' })).toThrow(/softmax, mlp or cnn/);
    expect(parseInputShape('8,8,1')).toEqual([8, 8, 1]);
    for (const bad of ['8,8,0', '8,x', '1,2,3,4', '']) expect(() => parseInputShape(bad)).toThrow(/--input-shape/);
  });

  it('loads the digits CSV as 8×8×1 images, and a dataset folder with its manifest (IDX MNIST) as 28×28×1', () => {
    const csv = loadSimulationData(path.join(ROOT, 'data/uci-digits/digits.csv'), {
      testFraction: 0.2,
      splitSeed: 1,
      inputShape: [8, 8, 1],
    });
    expect(csv.train.inputShape).toEqual([8, 8, 1]);
    expect(csv.test.inputShape).toEqual([8, 8, 1]);
    expect(csv.train.size + csv.test.size).toBe(1797);
    expect(() =>
      loadSimulationData(path.join(ROOT, 'data/uci-digits/digits.csv'), { testFraction: 0.2, splitSeed: 1, inputShape: [8, 7, 1] }),
    ).toThrow(/inputShape \[8, 7, 1\] does not hold the 64 features/);
    const mnist = loadSimulationData(path.join(ROOT, 'data/mnist'), { testFraction: 0.5, splitSeed: 9 });
    expect(mnist.train.inputShape).toEqual([28, 28, 1]);
    expect(mnist.testFraction).toBe(0.2); // the manifest's held-out split, not the CSV options
    expect(mnist.train.size + mnist.test.size).toBe(10_000);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of mnist.train.features) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect([lo, hi]).toEqual([0, 1]); // scaled with the manifest's featureRange [0, 255]
  });
});
