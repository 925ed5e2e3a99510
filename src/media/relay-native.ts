/**
 * The native relay engine: a thin wrapper over the N-API addon in native/
 * (one relay thread owning all media sockets). Config is validated here so
 * the addon only ever sees well-formed settings.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LegConfig, LegId, LegPorts, RelayEngine, RelaySession, RelaySessionStats } from './relay-types.js';
import { emptyCounters, mergeLegConfig, RelayError, validateLegConfig, validateLegUpdate, type LegUpdate } from './relay-config.js';
import { srtpTagLength } from './srtp-js.js';

/** Flat, validated leg settings as the addon reads them. */
export interface NativeLegSettings {
  localAddress: string;
  localRtpPort: number;
  rtcpMux: boolean;
  remoteAddress: string | null;
  remoteRtpPort: number;
  remoteRtcpPort: number;
  signalledOnly: boolean;
  srtpInKey: Buffer | null;
  srtpInTag: number;
  srtpOutKey: Buffer | null;
  srtpOutTag: number;
  telephoneEventPt: number;
  clockRate: number;
}

interface NativeCreated {
  id: number;
  aRtp: number;
  aRtcp: number;
  bRtp: number;
  bRtcp: number;
}

export interface NativeEngineHandle {
  createSession(a: NativeLegSettings, b: NativeLegSettings): NativeCreated;
  updateLeg(id: number, leg: 0 | 1, s: NativeLegSettings): void;
  setPaused(id: number, paused: boolean): boolean;
  /** No engine lock: reads counters the relay thread publishes atomically. */
  stats(id: number): RelaySessionStats | null;
  closeSession(id: number): boolean;
  /** No engine lock. */
  sessionCount(): number;
  /** No engine lock; absent in an addon built before it existed. */
  packetsRelayed?(): number;
  shutdown(): void;
  /** Test hook: the relay thread's next round keeps the engine mutex until testReleaseRound() or timeoutMs. */
  testHoldRound(timeoutMs: number): void;
  /** Test hook: 0 idle, 1 armed, 2 holding the engine mutex, 3 released, 4 timed out. */
  testHoldState(): number;
  /** Test hook: ends the hold; true when it had timed out (the caller was blocked behind it). */
  testReleaseRound(): boolean;
}

export type NativeSrtpOp = 'protectRtp' | 'unprotectRtp' | 'protectRtcp' | 'unprotectRtcp';

export interface NativeEngineOptions {
  /** First session id (default 1); tests start near old wrap points. Ids are integers up to 2^53-1, never reused. */
  firstSessionId?: number;
}

export interface NativeAddon {
  /** Throws an Error with `code` EMFILE/ENFILE/ENOMEM/EAGAIN when the relay thread or its descriptors cannot be created. */
  Engine: new (opts?: NativeEngineOptions) => NativeEngineHandle;
  /** Test hook: RFC 3711 4.3.1 key derivation (rate 0). */
  srtpKdf(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer;
  /** Test hook: AES-CM keystream from a 16-byte counter block. */
  aesCmKeystream(key: Buffer, iv: Buffer, length: number): Buffer;
  /** Test hook: packets through one fresh native SRTP context; failures come back as 'auth' | 'replay' | 'malformed' | 'crypto'. */
  srtpTransform(keySalt: Buffer, tagLen: number, op: NativeSrtpOp, packets: Buffer[]): Array<Buffer | string>;
}

const ADDON_FILE = join('native', 'build', 'Release', 'media_relay.node');

/** Finds native/build/Release/media_relay.node above this file (src/media or dist/src/media). */
export function nativeAddonPath(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, ADDON_FILE);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

let cached: NativeAddon | null = null;

/** Loads the addon; throws an Error saying why when it is missing or does not load. */
export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const p = nativeAddonPath();
  if (!p) throw new Error(`native media addon not found (${ADDON_FILE}); run npm run build:native`);
  const require = createRequire(import.meta.url);
  cached = require(p) as NativeAddon;
  return cached;
}

export function toNative(cfg: LegConfig): NativeLegSettings {
  return {
    localAddress: cfg.localAddress,
    localRtpPort: cfg.localRtpPort,
    rtcpMux: cfg.rtcpMux,
    remoteAddress: cfg.remote ? cfg.remote.address : null,
    remoteRtpPort: cfg.remote ? cfg.remote.rtpPort : 0,
    remoteRtcpPort: cfg.remote ? cfg.remote.rtcpPort : 0,
    signalledOnly: cfg.latch === 'signalled-only',
    srtpInKey: cfg.srtp ? cfg.srtp.inbound.keySalt : null,
    srtpInTag: cfg.srtp ? srtpTagLength(cfg.srtp.inbound.suite) : 10,
    srtpOutKey: cfg.srtp ? cfg.srtp.outbound.keySalt : null,
    srtpOutTag: cfg.srtp ? srtpTagLength(cfg.srtp.outbound.suite) : 10,
    telephoneEventPt: cfg.telephoneEventPt ?? -1,
    clockRate: cfg.clockRate ?? 8000,
  };
}

function asRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  const e = err as { code?: unknown; message?: unknown };
  return new RelayError(typeof e.code === 'string' ? e.code : 'EIO', typeof e.message === 'string' ? e.message : String(err));
}

class NativeSession implements RelaySession {
  readonly id: number;
  readonly localPorts: { A: LegPorts; B: LegPorts };
  private readonly handle: NativeEngineHandle;
  private readonly cfg: [LegConfig, LegConfig];
  private finalStats: RelaySessionStats | null = null;
  private readonly onClose: (s: NativeSession) => void;

  constructor(handle: NativeEngineHandle, created: NativeCreated, a: LegConfig, b: LegConfig, onClose: (s: NativeSession) => void) {
    this.handle = handle;
    this.id = created.id;
    this.localPorts = { A: { rtp: created.aRtp, rtcp: created.aRtcp }, B: { rtp: created.bRtp, rtcp: created.bRtcp } };
    this.cfg = [a, b];
    this.onClose = onClose;
  }

  updateLeg(leg: LegId, config: LegUpdate): void {
    if (this.finalStats) throw new RelayError('EINVAL', 'relay: session closed');
    validateLegUpdate(config, leg);
    const i = leg === 'A' ? 0 : 1;
    const next = mergeLegConfig(this.cfg[i], config);
    try {
      this.handle.updateLeg(this.id, i, toNative(next));
    } catch (err) {
      throw asRelayError(err);
    }
    this.cfg[i] = next;
  }

  setPaused(paused: boolean): void {
    this.handle.setPaused(this.id, paused);
  }

  stats(): RelaySessionStats {
    if (this.finalStats) return this.finalStats;
    const s = this.handle.stats(this.id);
    if (!s) throw new RelayError('EINVAL', `relay: session ${this.id} unknown to the addon`);
    return s;
  }

  close(): void {
    if (this.finalStats) return;
    this.finalStats = this.handle.stats(this.id) ?? { A: emptyCounters(), B: emptyCounters() };
    this.handle.closeSession(this.id);
    this.onClose(this);
  }
}

export class NativeRelayEngine implements RelayEngine {
  readonly kind = 'native' as const;
  private readonly handle: NativeEngineHandle;
  private readonly live = new Set<NativeSession>();
  private down = false;

  /**
   * Throws when the addon is missing (relay.ts turns that into the JS
   * fallback), or a RelayError when the engine cannot start (EMFILE: out of
   * file descriptors, ...; `resourceExhausted` is true then).
   */
  constructor(addon: NativeAddon = loadNativeAddon(), opts: NativeEngineOptions = {}) {
    try {
      this.handle = new addon.Engine(opts);
    } catch (err) {
      throw asRelayError(err);
    }
  }

  async createSession(a: LegConfig, b: LegConfig): Promise<RelaySession> {
    if (this.down) throw new RelayError('ESHUTDOWN', 'relay engine shut down');
    validateLegConfig(a, 'A');
    validateLegConfig(b, 'B');
    let created: NativeCreated;
    try {
      created = this.handle.createSession(toNative(a), toNative(b));
    } catch (err) {
      throw asRelayError(err);
    }
    const s = new NativeSession(this.handle, created, { ...a }, { ...b }, (x) => this.live.delete(x));
    this.live.add(s);
    return s;
  }

  sessionCount(): number {
    return this.down ? 0 : this.handle.sessionCount();
  }

  packetsRelayed(): number {
    return this.down ? 0 : (this.handle.packetsRelayed?.() ?? 0);
  }

  async shutdown(): Promise<void> {
    if (this.down) return;
    for (const s of [...this.live]) s.close();
    this.down = true;
    this.handle.shutdown();
  }
}
