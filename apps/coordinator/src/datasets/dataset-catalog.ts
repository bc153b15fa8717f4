import { Inject, Injectable, Logger } from '@nestjs/common';
import { scaleToUnit, type Dataset } from '@flotilla/algorithms';
import { classNames, type DatasetManifest, type DatasetShape, type DatasetSummary, type EvaluationSource } from '@flotilla/contracts';
import { loadManifestDataset } from '@flotilla/dataset-files';
import { existsSync, readdirSync } from 'node:fs';
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

/**
 * Datasets the coordinator can evaluate on, loaded lazily from DATA_DIR/<name>/dataset.json and the files it names
 * (CSV, IDX or an image folder: @flotilla/dataset-files reads them, as the agents and scripts do).
 */
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
    const { manifest, numFeatures, inputShape } = this.get(name);
    return {
      name,
      numFeatures,
      inputShape,
      numClasses: manifest.numClasses,
      classes: classNames(manifest),
      featureRange: manifest.featureRange,
      description: manifest.description ?? null,
    };
  }

  /** GET /datasets: every dataset's shape and the size of its held-out split, by name. */
  summaries(): DatasetSummary[] {
    return this.names().map((name) => {
      const { manifest, test } = this.get(name);
      return { ...this.shape(name), heldOut: { rows: test.size, fraction: manifest.heldOut.fraction } };
    });
  }

  /** Where a job's test metrics on `name` come from; null when the catalogue no longer has the dataset. */
  evaluation(name: string): EvaluationSource | null {
    if (!this.names().includes(name)) return null;
    const { manifest, test } = this.get(name);
    return { dataset: name, heldOutRows: test.size, fraction: manifest.heldOut.fraction };
  }
}

/** "Unknown dataset 'x'; this coordinator knows: a, b": for an agent that names a dataset the catalogue lacks. */
export function unknownDataset(name: string, known: string[]): string {
  return `Unknown dataset '${name}'; this coordinator knows: ${known.length ? known.join(', ') : 'no datasets (DATA_DIR is empty)'}`;
}

function loadCatalogDataset(dir: string): CatalogDataset {
  const { manifest, numFeatures, inputShape, test } = loadManifestDataset(dir);
  // The held-out split carries its examples' shape: the models that evaluate on it (cnn, layers) need it.
  return { manifest, numFeatures, inputShape, test: { ...scaleToUnit(test, manifest.featureRange), inputShape } };
}
