export * from './random';
export * from './aggregation/fedau';
export * from './aggregation/streaming-aggregator';
export * from './participation/availability';
export * from './data/dataset';
export * from './data/held-out';
export * from './models/model';
export * from './models/backend';
