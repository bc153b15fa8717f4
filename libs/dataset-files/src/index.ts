export * from './dataset-files';
