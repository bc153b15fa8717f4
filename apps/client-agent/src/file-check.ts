import type { Dataset } from '@flotilla/algorithms';
import type { DatasetFormat, DatasetShape } from '@flotilla/contracts';

/** How an agent's examples were stored: the format, and one example's shape where the files state it (IDX, images). */
export interface FileLayout {
  format: DatasetFormat;
  exampleShape?: readonly number[];
}

/**
 * What does not fit between an agent's data (parsed, unscaled) and the coordinator's shape of its dataset: the size
 * of an example (a CSV's feature count, an IDX file's or an image's dimensions against the inputShape), labels beyond
 * the number of classes, feature values outside the dataset's range. Empty when it fits. Each problem says what the
 * file has and what the dataset needs, so that a user can fix the file or pick the dataset.
 */
export function fileMismatch(data: Dataset, shape: DatasetShape, layout: FileLayout = { format: 'csv' }): string[] {
  const problems: string[] = [];
  const csv = layout.format === 'csv';
  const given = layout.exampleShape;
  const want = shape.inputShape;
  // An IDX file may leave out a trailing channel of 1 ([n, 28, 28] for [28, 28, 1]) or be flat ([n, 784]).
  const sameDims = !given || given.length === 1 || given.every((d, i) => d === want[i]);
  if (data.numFeatures !== shape.numFeatures || !sameDims) {
    problems.push(
      csv
        ? `rows have ${data.numFeatures} features, dataset ${shape.name} has ${shape.numFeatures} (plus the label, last)`
        : `each example is [${(given ?? [data.numFeatures]).join(', ')}] (${data.numFeatures} values), dataset ${shape.name}'s are [${want.join(', ')}] (${shape.numFeatures} values)`,
    );
  }
  const noun = csv ? 'row' : 'example';
  let badLabels = 0;
  let maxLabel = 0;
  for (const label of data.labels) {
    if (label >= shape.numClasses) badLabels++;
    if (label > maxLabel) maxLabel = label;
  }
  if (badLabels) {
    problems.push(
      `${badLabels} ${noun}${badLabels === 1 ? ' has a label' : 's have labels'} beyond ${shape.numClasses - 1} (up to ${maxLabel}); dataset ${shape.name} has ${shape.numClasses} classes, labels 0..${shape.numClasses - 1}`,
    );
  }
  const [lo, hi] = shape.featureRange;
  let outside = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data.features) {
    if (v < lo || v > hi) outside++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (outside) {
    problems.push(
      `${outside} feature value${outside === 1 ? ' lies' : 's lie'} outside [${lo}, ${hi}] (the file's values span [${min}, ${max}]); dataset ${shape.name} scales features from [${lo}, ${hi}]`,
    );
  }
  return problems;
}
