export * from './types.js';
export * from './transaction-layer.js';
export * from './keepalive.js';
export { InviteClientTransaction, NonInviteClientTransaction } from './client.js';
export { InviteServerTransaction, NonInviteServerTransaction } from './server.js';
