/**
 * Picks the media relay engine: the native addon by default, the
 * JavaScript relay when the addon is absent (logged loudly: media then costs
 * event-loop time and scales far worse). An engine that cannot start for
 * lack of resources (EMFILE...) is an error, not a reason to fall back.
 */
import type { RelayEngine } from './relay-types.js';
import { RelayError } from './relay-config.js';
import { JsRelayEngine } from './relay-js.js';
import { NativeRelayEngine } from './relay-native.js';

export interface RelayEngineOptions {
  prefer?: 'native' | 'js';
  logger?: { warn(obj: object, msg: string): void };
  /** How the native engine is built; tests replace it to simulate a missing addon. */
  nativeFactory?: () => RelayEngine;
}

export function createRelayEngine(opts: RelayEngineOptions = {}): RelayEngine {
  if (opts.prefer === 'js') return new JsRelayEngine();
  try {
    return opts.nativeFactory ? opts.nativeFactory() : new NativeRelayEngine();
  } catch (err) {
    // Out of descriptors or memory is not a missing addon: the JS relay would
    // fail the same way, one call at a time. Fail loudly instead.
    if (err instanceof RelayError && err.resourceExhausted) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    const msg = 'NATIVE MEDIA RELAY UNAVAILABLE: falling back to the JavaScript relay (lower capacity); build it with npm run build:native';
    if (opts.logger) opts.logger.warn({ err: reason }, msg);
    else process.emitWarning(`${msg}: ${reason}`);
    return new JsRelayEngine();
  }
}

export { JsRelayEngine } from './relay-js.js';
export { NativeRelayEngine } from './relay-native.js';
export type { RelayEngine } from './relay-types.js';
