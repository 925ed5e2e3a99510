export * from './ports.js';
export * from './call-manager.js';
export { Call, type CallState } from './call.js';
export { endpointOfUri } from './addressing.js';
export { OfferAnswer, nextOfferAnswerState, type OfferAnswerState, type OfferAnswerEvent } from './offer-answer.js';
export * from './headers.js';
