export * from './types.js';
export * from './transport-layer.js';
