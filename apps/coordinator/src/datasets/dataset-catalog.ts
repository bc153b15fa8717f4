import { Inject, Injectable, Logger } from '@nestjs/common';
import { scaleToUnit, splitHeldOut, type Dataset } from '@flotilla/algorithms';
import { DatasetManifestSchema, type DatasetManifest, type DatasetShape } from '@flotilla/contracts';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { NotFoundError, ValidationError } from '../common/errors';

export interface CatalogDataset {
  manifest: DatasetManifest;
  numFeatures: number;
  /** One example's shape (the manifest's `inputShape`, or `[numFeatures]`). */
  inputShape: number[];
  /** The held-out split, already scaled: global models are evaluated on it every round. */
  test: Dataset;
}

/** Datasets the coordinator can evaluate on, loaded lazily from DATA_DIR/<name>/dataset.json. */
@Injectable()
export class DatasetCatalog {
  private readonly logger = new Logger(DatasetCatalog.name);
  private readonly cache = new Map<string, CatalogDataset>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get(name: string): CatalogDataset {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const manifestPath = path.join(this.config.DATA_DIR, name, 'dataset.json');
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(name) || !existsSync(manifestPath)) {
      throw new ValidationError(`Unknown dataset '${name}': no ${manifestPath} in the coordinator's catalogue`, {
        fields: [{ field: 'dataset', message: 'unknown dataset' }],
      });
    }
    const loaded = loadCatalogDataset(path.join(this.config.DATA_DIR, name));
    this.logger.log(`dataset ${name}: ${loaded.test.size} held-out examples, ${loaded.numFeatures} features`);
    this.cache.set(name, loaded);
    return loaded;
  }

  /** The names of the catalogue's datasets (folders of DATA_DIR with a dataset.json), sorted. */
  names(): string[] {
    if (!existsSync(this.config.DATA_DIR)) return [];
    return readdirSync(this.config.DATA_DIR, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^[a-z0-9][a-z0-9-]{0,63}$/.test(d.name))
      .filter((d) => existsSync(path.join(this.config.DATA_DIR, d.name, 'dataset.json')))
      .map((d) => d.name)
      .sort();
  }

  /**
   * What an agent's file for `name` must look like (for agents, which check their file before they join); 404 naming
   * the known datasets when there is no such dataset. Reveals the name and shape only, never a path or a row.
   */
  shape(name: string): DatasetShape {
    const known = this.names();
    if (!known.includes(name)) throw new NotFoundError(unknownDataset(name, known));
    const { manifest, numFeatures } = this.get(name);
    return {
      name,
      numFeatures,
      inputShape: this.get(name).inputShape,
      numClasses: manifest.numClasses,
      featureRange: manifest.featureRange,
      description: manifest.description ?? null,
    };
  }
}

/** "Unknown dataset 'x'; this coordinator knows: a, b": for an agent that names a dataset the catalogue lacks. */
export function unknownDataset(name: string, known: string[]): string {
  return `Unknown dataset '${name}'; this coordinator knows: ${known.length ? known.join(', ') : 'no datasets (DATA_DIR is empty)'}`;
}

function loadCatalogDataset(dir: string): CatalogDataset {
  const manifest = DatasetManifestSchema.parse(JSON.parse(readFileSync(path.join(dir, 'dataset.json'), 'utf8')));
  const { test } = splitHeldOut(readFileSync(path.join(dir, manifest.file), 'utf8'), manifest);
  const inputShape = manifest.inputShape ?? [test.numFeatures];
  const perExample = inputShape.reduce((a, b) => a * b, 1);
  if (perExample !== test.numFeatures) {
    throw new Error(
      `dataset ${manifest.name}: inputShape [${inputShape.join(', ')}] holds ${perExample} values per example, the file has ${test.numFeatures}`,
    );
  }
  // The held-out split carries its examples' shape: the models that evaluate on it (cnn, layers) need it.
  return { manifest, numFeatures: test.numFeatures, inputShape, test: { ...scaleToUnit(test, manifest.featureRange), inputShape } };
}
