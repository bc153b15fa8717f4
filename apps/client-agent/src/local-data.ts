import { toCsv, type Dataset } from '@flotilla/algorithms';
import type { DatasetShape } from '@flotilla/contracts';
import {
  hashDataset,
  listImageFolder,
  localSource,
  readDataset,
  readImageFolder,
  unknownClassFolders,
  type DataSource,
  type ImageFolderListing,
  type LoadedData,
} from '@flotilla/dataset-files';
import * as path from 'node:path';
import { fileMismatch } from './file-check';

/**
 * This agent's examples, from `--data` (and `--labels`): a label-last CSV, an IDX pair or a folder of images per
 * class (see `localSource`). CSV and IDX are read at once, so a malformed file stops the agent before it asks the
 * coordinator anything; an image folder is listed at once and decoded in {@link LocalData.check}, once the
 * coordinator has said its classes and image size.
 */
export class LocalData {
  readonly source: DataSource;
  readonly exampleCount: number;
  private loaded?: LoadedData;
  private readonly listing?: ImageFolderListing;
  private csvText?: string;

  constructor(dataFile: string, labelsFile?: string) {
    this.source = localSource(dataFile, labelsFile);
    if (this.source.format === 'image-folder') {
      this.listing = listImageFolder(this.source.dir);
      this.exampleCount = this.listing.files.length;
    } else {
      this.loaded = readDataset(this.source);
      this.exampleCount = this.loaded.dataset.size;
    }
  }

  /** What the agent was given, for messages: the file, the IDX pair or the folder. */
  get describe(): string {
    const s = this.source;
    return s.format === 'csv' ? s.file : s.format === 'idx' ? `${s.images} (labels ${s.labels})` : path.join(s.dir, '/');
  }

  /**
   * Everything that does not fit the coordinator's shape of the dataset (empty when it all fits): an image folder's
   * unknown class folders or images of another size, then the example size, labels and value range (fileMismatch).
   */
  check(shape: DatasetShape): string[] {
    if (this.listing) {
      const unknown = unknownClassFolders(this.listing, shape.classes);
      if (unknown.length) {
        return [
          `sub-folder${unknown.length === 1 ? '' : 's'} ${unknown.map((c) => `'${c}'`).join(', ')} ${unknown.length === 1 ? 'is not a class' : 'are not classes'} of dataset ${shape.name} (its classes: ${shape.classes.join(', ')})`,
        ];
      }
      if (shape.inputShape.length !== 3 || (shape.inputShape[2] !== 1 && shape.inputShape[2] !== 3)) {
        return [`dataset ${shape.name} is not made of images (inputShape [${shape.inputShape.join(', ')}]): give it a CSV or IDX file`];
      }
      try {
        const dataset = readImageFolder(this.listing, { inputShape: shape.inputShape, classes: shape.classes });
        this.loaded = { dataset, hash: hashDataset(dataset), exampleShape: shape.inputShape };
      } catch (e) {
        return [(e as Error).message];
      }
    }
    return fileMismatch(this.dataset, shape, { format: this.source.format, exampleShape: this.loaded?.exampleShape });
  }

  /** The examples, unscaled (an image folder: after a successful {@link check}). */
  get dataset(): Dataset {
    if (!this.loaded) throw new Error(`${this.describe}: the images are decoded when the agent checks them against the coordinator`);
    return this.loaded.dataset;
  }

  /** sha256 identifying the data (of the file for a CSV, of the examples otherwise; see LoadedData.hash). */
  get hash(): string {
    return this.loaded ? this.loaded.hash : '';
  }

  /** The examples as label-last CSV: the file itself for a CSV, printed from the examples otherwise (once). */
  get csv(): string {
    this.csvText ??= this.loaded?.csv ?? toCsv(this.dataset);
    return this.csvText;
  }

  /**
   * The examples with `numClasses` classes (a task's), unscaled.
   * @throws when a label is not below numClasses.
   */
  withClasses(numClasses: number): Dataset {
    const ds = this.dataset;
    for (let i = 0; i < ds.size; i++) {
      if (ds.labels[i] >= numClasses) {
        throw new Error(`${this.describe}: example ${i + 1} has label ${ds.labels[i]}, out of range for ${numClasses} classes`);
      }
    }
    return { ...ds, numClasses };
  }
}
