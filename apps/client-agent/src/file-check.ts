import type { Dataset } from '@flotilla/algorithms';
import type { DatasetShape } from '@flotilla/contracts';

/**
 * What does not fit between an agent's file (parsed, unscaled) and the coordinator's shape of its dataset: the feature
 * count, labels beyond the number of classes, feature values outside the dataset's range. Empty when it fits. Each
 * problem says what the file has and what the dataset needs, so that a user can fix the file or pick the dataset.
 */
export function fileMismatch(data: Dataset, shape: DatasetShape): string[] {
  const problems: string[] = [];
  if (data.numFeatures !== shape.numFeatures) {
    problems.push(`rows have ${data.numFeatures} features, dataset ${shape.name} has ${shape.numFeatures} (plus the label, last)`);
  }
  let badLabels = 0;
  let maxLabel = 0;
  for (const label of data.labels) {
    if (label >= shape.numClasses) badLabels++;
    if (label > maxLabel) maxLabel = label;
  }
  if (badLabels) {
    problems.push(
      `${badLabels} row${badLabels === 1 ? ' has a label' : 's have labels'} beyond ${shape.numClasses - 1} (up to ${maxLabel}); dataset ${shape.name} has ${shape.numClasses} classes, labels 0..${shape.numClasses - 1}`,
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
