export * from './queues';
export * from './jobs.schema';
export * from './agents.schema';
export * from './errors';
export * from './datasets';
export * from './tasks';
export * from './admin.schema';
