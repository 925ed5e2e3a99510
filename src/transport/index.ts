export * from './types.js';
export * from './transport-layer.js';
export { udpBatchedIo } from './udp-socket.js';
