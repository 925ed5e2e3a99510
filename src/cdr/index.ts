export * from './record.js';
export * from './sinks.js';
