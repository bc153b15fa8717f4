import { parseLabelLastCsv } from '@flotilla/algorithms';
import type { DatasetShape } from '@flotilla/contracts';
import { fileMismatch } from './file-check';

const DIGITS: DatasetShape = {
  name: 'uci-digits',
  numFeatures: 3,
  inputShape: [3],
  numClasses: 10,
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

  it('reports every problem at once', () => {
    expect(fileMismatch(parseLabelLastCsv('0,99,11\n'), DIGITS)).toHaveLength(3);
  });
});
