/**
 * GM-NAS: few-shot neural architecture search with gradient-matching supernet splitting
 * (Hu et al., ICLR 2022; docs/algorithms/gm-nas.md).
 */
export * from './search-space';
export {
  checkSamples,
  connectedSegments,
  evaluateArchitectures,
  evaluateSupernet,
  randomBatches,
  sampleRows,
  samplesFromDataset,
  supernetGradient,
  type ArchitectureScore,
  type Samples,
} from './supernet';
export * from './gm-score';
export * from './partition';
export * from './tree';
export * from './training';
export * from './search';
export * from './ranking';
export * from './job-space';
export * from './distributed';
export * from './cell-space';
export { cellPass, checkCellSamples, checkCellWeights, evaluateCell, type CellPassOptions, type CellPassResult } from './cell-network';
export * from './cell-search';
export * from './cell-protocol';
