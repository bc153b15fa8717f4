import { parseLabelLastCsv } from '@flotilla/algorithms';
import type { DatasetShape } from '@flotilla/contracts';
import { fileMismatch } from './file-check';

const DIGITS: DatasetShape = {
  name: 'uci-digits',
  numFeatures: 3,
  inputShape: [3],
  numClasses: 10,
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  featureRange: [0, 16],
  description: null,
};

describe('fileMismatch: an agent file against its dataset shape', () => {
  it('finds nothing wrong with a file that fits (labels 0..9, values in [0, 16], the ends included)', () => {
    expect(fileMismatch(parseLabelLastCsv('0,16,3,9\n1,2,0,0\n'), DIGITS)).toEqual([]);
  });

  it('says how many features the rows have and how many the dataset has', () => {
    expect(fileMismatch(parseLabelLastCsv('0,1,2,3,4\n1,2,3,4,0\n'), DIGITS)).toEqual([
      'rows have 4 features, dataset uci-digits has 3 (plus the label, last)',
    ]);
  });

  it('counts labels beyond the classes, with the largest one', () => {
    expect(fileMismatch(parseLabelLastCsv('0,1,2,12\n1,2,3,25\n1,2,3,9\n'), DIGITS)).toEqual([
      '2 rows have labels beyond 9 (up to 25); dataset uci-digits has 10 classes, labels 0..9',
    ]);
  });

  it('counts feature values outside the range, with the span the file has', () => {
    expect(fileMismatch(parseLabelLastCsv('0,1,255,1\n-1,2,3,0\n'), DIGITS)).toEqual([
      "2 feature values lie outside [0, 16] (the file's values span [-1, 255]); dataset uci-digits scales features from [0, 16]",
    ]);
  });

  const MNIST: DatasetShape = { ...DIGITS, name: 'mnist', numFeatures: 4, inputShape: [2, 2, 1], featureRange: [0, 255] };
  const images = (values: number[], labels: number[], numFeatures = 4) => ({
    features: Float32Array.from(values),
    labels: Int32Array.from(labels),
    numFeatures,
    numClasses: 10,
    size: labels.length,
  });

  it('accepts IDX images stated as [2, 2], [2, 2, 1] or flat [4] for inputShape [2, 2, 1]', () => {
    for (const exampleShape of [[2, 2], [2, 2, 1], [4]]) {
      expect(fileMismatch(images([0, 255, 3, 4], [9]), MNIST, { format: 'idx', exampleShape })).toEqual([]);
    }
  });

  it('says what shape the images have and what the dataset needs, in examples rather than rows', () => {
    expect(fileMismatch(images([0, 1, 2, 3, 4, 5], [1], 6), MNIST, { format: 'idx', exampleShape: [2, 3] })).toEqual([
      "each example is [2, 3] (6 values), dataset mnist's are [2, 2, 1] (4 values)",
    ]);
    // Same number of values, other dimensions: [4, 1] is not [2, 2].
    expect(fileMismatch(images([0, 1, 2, 3], [1]), MNIST, { format: 'idx', exampleShape: [4, 1] })).toEqual([
      "each example is [4, 1] (4 values), dataset mnist's are [2, 2, 1] (4 values)",
    ]);
    expect(fileMismatch(images([0, 1, 2, 3, 0, 0, 0, 300], [12, 3]), MNIST, { format: 'image-folder', exampleShape: [2, 2, 1] })).toEqual([
      '1 example has a label beyond 9 (up to 12); dataset mnist has 10 classes, labels 0..9',
      "1 feature value lies outside [0, 255] (the file's values span [0, 300]); dataset mnist scales features from [0, 255]",
    ]);
  });

  it('reports every problem at once', () => {
    expect(fileMismatch(parseLabelLastCsv('0,99,11\n'), DIGITS)).toHaveLength(3);
  });
});
