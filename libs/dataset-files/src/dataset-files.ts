import {
  checkImageShape,
  decodeImages,
  imageKind,
  isGzip,
  looksLikeIdx,
  parseIdxDataset,
  parseLabelLastCsv,
  splitDataset,
  type Dataset,
  type ImageFile,
} from '@flotilla/algorithms';
import { DatasetManifestSchema, describeIssues, type DatasetManifest } from '@flotilla/contracts';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Dataset files on disk → a Dataset: the one reader of the three formats (label-last CSV, IDX pair, folder of PNG/JPEG
 * images per class), shared by the coordinator's catalogue, the agent and the scripts. The parsing is the algorithms
 * library's (bytes in, dataset out); this file finds, sizes and reads the files, within limits.
 */

/** Limits that keep a hostile or broken file from exhausting memory; every one is checked before the bytes are read. */
export interface DataLimits {
  /** Largest CSV or IDX file (IDX: also after decompression), and largest sum of an image folder's files, in bytes. */
  maxBytes: number;
  /** Most images in an image folder. */
  maxImages: number;
  /** Largest single image file, in bytes. */
  maxImageBytes: number;
  /** Most feature values (float32 each) an image folder may decode to. */
  maxValues: number;
}

/** 256 MiB of files, 100,000 images of at most 8 MiB, 2^28 values (1 GiB of float32). */
export const DEFAULT_DATA_LIMITS: DataLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxImages: 100_000,
  maxImageBytes: 8 * 1024 * 1024,
  maxValues: 2 ** 28,
};

/** Where a dataset's examples are, in which format (paths absolute or relative to the working directory). */
export type DataSource =
  { format: 'csv'; file: string } | { format: 'idx'; images: string; labels: string } | { format: 'image-folder'; dir: string };

/** What the data must be to be read: known from a manifest or the coordinator's shape of the dataset. */
export interface DataExpectation {
  /** Labels must be below it (default for CSV and IDX: the largest label + 1; image folders: the classes). */
  numClasses?: number;
  /** One example's shape; image folders need `[height, width, channels]`. */
  inputShape?: readonly number[];
  /** Class names in label order: an image folder's sub-folders must carry them. Default "0", "1", … */
  classes?: readonly string[];
}

/** A dataset read from disk. */
export interface LoadedData {
  dataset: Dataset;
  /**
   * sha256 that identifies the data: of the file itself for CSV (as before there were formats), of the decoded
   * examples (features as float32, then labels as int32, little-endian) for the others, so the same examples give
   * the same hash whatever the file names.
   */
  hash: string;
  /** The CSV's text (CSV sources only). */
  csv?: string;
  /** One example's shape as the files state it (IDX: the images' dimensions; image folders: the inputShape). */
  exampleShape?: number[];
}

/** The examples of a manifest: its format's files, resolved against the manifest's folder `dir`. */
export function manifestSource(dir: string, manifest: DatasetManifest): DataSource {
  switch (manifest.format) {
    case 'csv':
      return { format: 'csv', file: path.join(dir, manifest.file) };
    case 'idx':
      return { format: 'idx', images: path.join(dir, manifest.images), labels: path.join(dir, manifest.labels) };
    case 'image-folder':
      return { format: 'image-folder', dir: path.join(dir, manifest.dir) };
  }
}

/**
 * An agent's data from its command line: a folder is an image folder (one sub-folder per class); a file with a labels
 * file is an IDX pair; a file alone is a label-last CSV. A file that starts like IDX or gzip without a labels file,
 * or a labels file beside a folder or a CSV, is refused with what to do instead.
 * @throws an Error naming the path and the problem.
 */
export function localSource(data: string, labels?: string): DataSource {
  let stat;
  try {
    stat = statSync(data);
  } catch (e) {
    throw new Error(`${data}: ${(e as Error).message}`);
  }
  if (stat.isDirectory()) {
    if (labels !== undefined) throw new Error(`${data} is a folder of images, labelled by sub-folder: --labels is for IDX files only`);
    return { format: 'image-folder', dir: data };
  }
  if (labels !== undefined) return { format: 'idx', images: data, labels };
  const head = readHead(data, 4);
  if (isGzip(head) || looksLikeIdx(head)) {
    throw new Error(`${data} looks like an IDX file${isGzip(head) ? ' (gzipped)' : ''}: give its labels file with --labels FILE`);
  }
  return { format: 'csv', file: data };
}

/**
 * Reads a dataset from disk, whatever its format.
 * @throws an Error naming the file and the problem (too large, malformed, wrong size or class).
 */
export function readDataset(source: DataSource, expect: DataExpectation = {}, limits: DataLimits = DEFAULT_DATA_LIMITS): LoadedData {
  switch (source.format) {
    case 'csv': {
      const csv = readLimited(source.file, limits.maxBytes).toString('utf8');
      let dataset: Dataset;
      try {
        dataset = parseLabelLastCsv(csv, expect.numClasses !== undefined ? { numClasses: expect.numClasses } : {});
      } catch (e) {
        throw new Error(`${source.file}: ${(e as Error).message}`);
      }
      return { dataset, hash: createHash('sha256').update(csv).digest('hex'), csv };
    }
    case 'idx': {
      const images = { bytes: readLimited(source.images, limits.maxBytes), name: source.images };
      const labels = { bytes: readLimited(source.labels, limits.maxBytes), name: source.labels };
      const { dataset, exampleShape } = parseIdxDataset(images, labels, { ...expect, maxBytes: limits.maxBytes });
      return { dataset, hash: hashDataset(dataset), exampleShape };
    }
    case 'image-folder': {
      const dataset = readImageFolder(listImageFolder(source.dir, limits), expect, limits);
      return { dataset, hash: hashDataset(dataset), exampleShape: [...(expect.inputShape ?? [])] };
    }
  }
}

/** The images of an image folder, listed (sizes checked, nothing read yet). */
export interface ImageFolderListing {
  dir: string;
  /** Sub-folder names, sorted. */
  classNames: string[];
  /** Every image, class by class in `classNames` order, files in name order. */
  files: { className: string; path: string; bytes: number }[];
}

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

/**
 * Lists an image folder: one sub-folder per class, holding .png / .jpg / .jpeg files (hidden files are skipped).
 * A file at the top, a folder within a class folder, a link or another file type is refused (it would be silently
 * left out otherwise), as are more images or bytes than the limits allow.
 * @throws an Error naming the path and the problem.
 */
export function listImageFolder(dir: string, limits: DataLimits = DEFAULT_DATA_LIMITS): ImageFolderListing {
  const entries = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
    } catch (e) {
      throw new Error(`${d}: ${(e as Error).message}`);
    }
  };
  const classNames: string[] = [];
  for (const e of entries(dir)) {
    if (!e.isDirectory()) {
      throw new Error(`${path.join(dir, e.name)}: an image folder holds one sub-folder per class and nothing else`);
    }
    classNames.push(e.name);
  }
  classNames.sort();
  if (classNames.length === 0) throw new Error(`${dir}: no class sub-folders (an image folder has one per class, e.g. ${dir}/0/…)`);
  const files: ImageFolderListing['files'] = [];
  let total = 0;
  for (const className of classNames) {
    const names = entries(path.join(dir, className))
      .map((e) => e.name)
      .sort();
    for (const name of names) {
      const file = path.join(dir, className, name);
      const stat = lstatSync(file);
      if (!stat.isFile() || !IMAGE_EXTENSIONS.test(name)) {
        throw new Error(`${file}: not a .png, .jpg or .jpeg file (a class folder holds images only)`);
      }
      if (stat.size > limits.maxImageBytes)
        throw new Error(`${file}: ${stat.size} bytes, more than the ${limits.maxImageBytes} allowed for an image`);
      total += stat.size;
      files.push({ className, path: file, bytes: stat.size });
      if (files.length > limits.maxImages) throw new Error(`${dir}: more than ${limits.maxImages} images, the limit`);
      if (total > limits.maxBytes) throw new Error(`${dir}: more than ${limits.maxBytes} bytes of images, the limit`);
    }
  }
  if (files.length === 0) throw new Error(`${dir}: no images in the class sub-folders (${classNames.join(', ')})`);
  return { dir, classNames, files };
}

/** The class folders of a listing that are not among `classes` (they would have no label). */
export function unknownClassFolders(listing: ImageFolderListing, classes: readonly string[]): string[] {
  return listing.classNames.filter((c) => !classes.includes(c));
}

/**
 * Decodes a listed image folder: labels by class name (`expect.classes`, default "0", "1", …), every image of the
 * shape `expect.inputShape`.
 * @throws an Error naming the folder or file: an unknown class folder, too many values, a bad or wrong-sized image.
 */
export function readImageFolder(listing: ImageFolderListing, expect: DataExpectation, limits: DataLimits = DEFAULT_DATA_LIMITS): Dataset {
  const shape = checkImageShape(expect.inputShape, listing.dir);
  const classes = expect.classes ?? Array.from({ length: expect.numClasses ?? 0 }, (_, i) => String(i));
  const unknown = unknownClassFolders(listing, classes);
  if (unknown.length) {
    throw new Error(
      `${listing.dir}: sub-folder${unknown.length === 1 ? '' : 's'} ${unknown.map((c) => `'${c}'`).join(', ')} ${unknown.length === 1 ? 'is not a class' : 'are not classes'} of the dataset (classes: ${classes.join(', ')})`,
    );
  }
  const values = listing.files.length * shape[0] * shape[1] * shape[2];
  if (values > limits.maxValues) {
    throw new Error(
      `${listing.dir}: ${listing.files.length} images of [${shape.join(', ')}] are ${values} values, more than the ${limits.maxValues} allowed`,
    );
  }
  const files: ImageFile[] = listing.files.map((f) => ({
    className: f.className,
    name: f.path,
    bytes: readLimited(f.path, limits.maxImageBytes),
  }));
  for (const f of files) if (!imageKind(f.bytes)) throw new Error(`${f.name}: neither PNG nor JPEG (by its first bytes)`);
  return decodeImages(files, { inputShape: shape, classes });
}

/** A catalogue dataset: its manifest, the shape of one example, and the held-out split (unscaled). */
export interface ManifestDataset {
  manifest: DatasetManifest;
  /** The manifest's `inputShape`, or `[numFeatures]`. */
  inputShape: number[];
  numFeatures: number;
  train: Dataset;
  test: Dataset;
}

/**
 * Reads DATA_DIR/<name>/dataset.json (`dir` is that folder), its examples in the declared format, checks the
 * inputShape against them and splits off the held-out set as the manifest says.
 * @throws an Error naming the manifest or the data file and what is wrong.
 */
export function loadManifestDataset(dir: string, limits: DataLimits = DEFAULT_DATA_LIMITS): ManifestDataset {
  const manifest = readManifest(dir);
  const { dataset } = readDataset(manifestSource(dir, manifest), manifest, limits);
  const inputShape = manifest.inputShape ?? [dataset.numFeatures];
  const perExample = inputShape.reduce((a, b) => a * b, 1);
  if (perExample !== dataset.numFeatures) {
    throw new Error(
      `dataset ${manifest.name}: inputShape [${inputShape.join(', ')}] holds ${perExample} values per example, the file has ${dataset.numFeatures}`,
    );
  }
  const { train, test } = splitDataset(dataset, manifest);
  return { manifest, inputShape, numFeatures: dataset.numFeatures, train, test };
}

/** Reads and checks `dir`/dataset.json. @throws an Error naming the file and every field that is wrong. */
export function readManifest(dir: string): DatasetManifest {
  const file = path.join(dir, 'dataset.json');
  let json: unknown;
  try {
    json = JSON.parse(readLimited(file, 1024 * 1024).toString('utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const parsed = DatasetManifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** sha256 of a dataset's examples: features as float32, then labels as int32 (little-endian, as stored in memory). */
export function hashDataset(ds: Dataset): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(ds.features.buffer, ds.features.byteOffset, ds.features.byteLength));
  h.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  return h.digest('hex');
}

/** A file's bytes, refused unread when it is larger than `max` (a stat first, so a huge file is never read). */
function readLimited(file: string, max: number): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (size > max) throw new Error(`${file}: ${size} bytes, more than the ${max} allowed`);
  return readFileSync(file);
}

function readHead(file: string, n: number): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const buf = new Uint8Array(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}
