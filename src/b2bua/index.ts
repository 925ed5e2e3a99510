export * from './ports.js';
export * from './call-manager.js';
export { Call, endpointOfUri, type Leg, type CallState } from './call.js';
export * from './headers.js';
