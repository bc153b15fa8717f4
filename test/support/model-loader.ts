import { scaleToUnit, splitHeldOut } from '@flotilla/algorithms';
import { DatasetManifestSchema } from '@flotilla/contracts';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../scripts/lib/stack';

/**
 * Loads model.json over HTTP with tf.loadLayersModel in another Node process (plain @tensorflow/tfjs, as a user
 * would) and prints its accuracy on the examples of `dataFile`.
 */
const LOADER = `
const tf = require('@tensorflow/tfjs');
const fs = require('node:fs');
(async () => {
  const [url, token, dataFile] = process.argv.slice(1);
  const model = await tf.loadLayersModel(url, { requestInit: { headers: { authorization: 'Bearer ' + token } } });
  const d = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
  const predicted = tf.tidy(() => model.predict(tf.tensor(d.features, [d.size, ...d.inputShape])).argMax(1).dataSync());
  let hits = 0;
  for (let i = 0; i < d.size; i++) if (predicted[i] === d.labels[i]) hits++;
  process.stdout.write(JSON.stringify({ accuracy: hits / d.size }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/**
 * Writes the coordinator's held-out split of the shipped uci-digits (as its catalogue makes it: scaled, shaped 8×8×1)
 * to `file` as JSON, for {@link loadedAccuracy}.
 */
export function writeDigitsHeldOut(file: string): void {
  const dir = path.join(ROOT, 'data', 'uci-digits');
  const manifest = DatasetManifestSchema.parse(JSON.parse(readFileSync(path.join(dir, 'dataset.json'), 'utf8')));
  const test = scaleToUnit(splitHeldOut(readFileSync(path.join(dir, 'digits.csv'), 'utf8'), manifest).test, manifest.featureRange);
  writeFileSync(file, JSON.stringify({ features: [...test.features], labels: [...test.labels], size: test.size, inputShape: [8, 8, 1] }));
}

/** Accuracy of the model.json at `url` (loaded with `token`) on the examples in `heldOutFile`, computed by TF.js in a separate process. */
export async function loadedAccuracy(url: string, token: string, heldOutFile: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', LOADER, url, token, heldOutFile], {
    cwd: ROOT,
    maxBuffer: 1 << 20,
  });
  return (JSON.parse(stdout) as { accuracy: number }).accuracy;
}
