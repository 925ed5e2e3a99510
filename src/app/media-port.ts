/**
 * Adapts the media module to the call engine's MediaPort: picks each leg's
 * Media Realm and IP Profile policy from the configuration, owns the port
 * pools, watches for media inactivity and turns relay counters into the
 * QoE report that goes into the CDR.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { IpGroupRow, IpProfileRow, MediaRealmRow } from '../config/schema.js';
import type { IpGroupRef, MediaHandle, MediaPort, SdpResult } from '../b2bua/ports.js';
import { MediaSession, type LegMediaPolicy } from '../media/media-session.js';
import { PortPool } from '../media/port-pool.js';
import type { LegId, RelayEngine, SrtpSuite } from '../media/relay-types.js';
import type { MediaSecurityMode } from '../media/sdp-types.js';
import type { CoderPolicy } from '../media/coders.js';
import { buildQoeReport } from '../qoe/index.js';
import type { Logger } from '../util/logger.js';

const SECURITY: Readonly<Record<IpProfileRow['sbcMediaSecurityBehaviour'], MediaSecurityMode>> = {
  'as-is': 'as-is',
  secured: 'srtp',
  'not-secured': 'rtp',
  both: 'both',
};

const SUITES: Readonly<Record<IpProfileRow['srtpOfferedSuites'], readonly SrtpSuite[]>> = {
  all: ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'],
  'aes-cm-128-hmac-sha1-80': ['AES_CM_128_HMAC_SHA1_80'],
  'aes-cm-128-hmac-sha1-32': ['AES_CM_128_HMAC_SHA1_32'],
};

/** How often relay counters are read for the inactivity check while no leg has sent RTP yet. */
const INACTIVITY_POLL_MS = 500;
/** Shortest wait between two checks (also the margin past a leg's deadline). */
const MIN_CHECK_MS = 20;
const LEGS = ['A', 'B'] as const;

/** One Media Realm's port pool as the status API shows it. */
export interface PortPoolUsage {
  realm: string;
  address: string;
  firstPort: number;
  lastPort: number;
  capacityPairs: number;
  /** Ports handed out (an RTP/RTCP pair counts as two). */
  portsInUse: number;
  /** Allocations refused since start because the realm had no free port. */
  allocationFailures: number;
}

export class ConfigMediaPort implements MediaPort {
  /** Pools survive reloads while the realm's address and range stay the same, so live calls keep their ports. */
  private readonly pools = new Map<string, PortPool>();

  constructor(
    private readonly currentConfig: () => SbcConfig,
    private readonly engine: RelayEngine,
    private readonly logger: Logger,
    /** With SIP worker threads each thread's relay takes its own share of every realm's ports. */
    private readonly slice: { index: number; count: number } = { index: 0, count: 1 },
  ) {}

  create(callId: string, legA: IpGroupRef, legB: IpGroupRef | null): MediaHandle | null {
    const config = this.currentConfig();
    const gA = config.ipGroupByName(legA.name);
    const gB = legB ? config.ipGroupByName(legB.name) : undefined;
    const realmA = this.poolFor(config, gA);
    const realmB = this.poolFor(config, gB) ?? realmA;
    if (realmA === null || realmB === null) return null; // no Media Realm configured: SDP passes untouched
    const profA = profileOf(config, gA);
    const profB = profileOf(config, gB);
    const session = new MediaSession({
      engine: this.engine,
      realmA,
      realmB,
      policyA: policyOf(config, profA),
      policyB: policyOf(config, profB),
      originUsername: 'sbc',
    });
    const timeoutMs = inactivityTimeoutMs(config, profA, profB);
    return new CallMedia(callId, session, timeoutMs, this.logger);
  }

  /** Usage of every port pool created so far (for the status API and leak checks). */
  poolUsage(): PortPoolUsage[] {
    return [...this.pools.values()].map((p) => ({
      realm: p.name, address: p.address, firstPort: p.firstPort, lastPort: p.lastPort, capacityPairs: p.capacityPairs, portsInUse: p.inUse(), allocationFailures: p.allocationFailures(),
    }));
  }

  private poolFor(config: SbcConfig, g: IpGroupRow | undefined): PortPool | null {
    let realm: MediaRealmRow | undefined;
    if (g?.mediaRealm) realm = config.mediaRealmByName(g.mediaRealm);
    if (!realm && g?.proxySetName) {
      const si = config.proxySetByName(g.proxySetName)?.sbcIpv4SipInterfaceName;
      const siRealm = si ? config.sipInterfaceByName(si)?.mediaRealm : undefined;
      if (siRealm) realm = config.mediaRealmByName(siRealm);
    }
    realm ??= config.mediaRealms.find((r) => r.isDefault) ?? config.mediaRealms[0];
    if (!realm) return null;
    const address = config.interfaceByName(realm.ipv4If)?.ipAddress ?? realm.ipv4If;
    const [start, end] = sliceOf(config.mediaPortRange(realm), this.slice);
    const key = `${realm.mediaRealmName}|${address}|${start}|${end}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new PortPool({ name: realm.mediaRealmName, address, portRangeStart: start, portRangeEnd: end });
      this.pools.set(key, pool);
    }
    return pool;
  }
}

/** Thread `index` of `count` gets the index-th of `count` equal runs of RTP/RTCP pairs. */
function sliceOf([start, end]: readonly [number, number], slice: { index: number; count: number }): readonly [number, number] {
  if (slice.count <= 1) return [start, end];
  const first = start % 2 === 0 ? start : start + 1;
  const pairs = Math.floor((end - first + 1) / 2);
  const per = Math.floor(pairs / slice.count);
  if (per < 1) return [start, end];
  const s = first + slice.index * per * 2;
  return [s, s + per * 2 - 1];
}

function profileOf(config: SbcConfig, g: IpGroupRow | undefined): IpProfileRow | undefined {
  return g?.profileName ? config.ipProfileByName(g.profileName) : undefined;
}

function policyOf(config: SbcConfig, p: IpProfileRow | undefined): Partial<LegMediaPolicy> {
  if (!p) return {};
  const policy: Partial<LegMediaPolicy> = {
    security: SECURITY[p.sbcMediaSecurityBehaviour],
    srtpSuites: SUITES[p.srtpOfferedSuites],
  };
  if (p.sbcAllowedAudioCodersGroupName) {
    const coders = config.allowedAudioCodersOf(p.sbcAllowedAudioCodersGroupName).map((c) => c.coderId || c.userDefineCoder).filter((n) => n !== '');
    if (coders.length > 0) policy.allowedCoders = { audio: coders } satisfies CoderPolicy;
  }
  return policy;
}

function inactivityTimeoutMs(config: SbcConfig, a: IpProfileRow | undefined, b: IpProfileRow | undefined): number {
  for (const p of [a, b]) if (p && !p.disconnectOnBrokenConnection) return 0;
  const fromProfile = Math.min(...[a, b].map((p) => (p && p.sbcMediaTimeout > 0 ? p.sbcMediaTimeout * 1000 : Infinity)));
  return Number.isFinite(fromProfile) ? fromProfile : config.sip.brokenConnectionTimeoutMs;
}

class CallMedia implements MediaHandle {
  private inactivityTimer: NodeJS.Timeout | null = null;
  private onInactive: (() => void) | null = null;
  /** Whether each leg's peer is expected to send, per the last offer/answer (hold: no). */
  private readonly expected: Record<LegId, boolean> = { A: true, B: true };
  /** When each leg's peer last became expected to send again (0: from the start). */
  private readonly expectedSince: Record<LegId, number> = { A: 0, B: 0 };
  private lastReport: unknown = null;
  private closed = false;

  constructor(
    private readonly callId: string,
    private readonly session: MediaSession,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  async processOffer(fromLeg: 'A' | 'B', sdp: string): Promise<SdpResult> {
    return this.logged(await this.session.processOffer(fromLeg, sdp));
  }

  async processAnswer(fromLeg: 'A' | 'B', sdp: string): Promise<SdpResult> {
    const result = this.logged(await this.session.processAnswer(fromLeg, sdp));
    this.noteDirections();
    return result;
  }

  /**
   * A relay the SBC could not set up for lack of resources (out of file
   * descriptors: EMFILE...) comes back as 503 for the call layer to send; the
   * operator needs to see it, so it is logged here once per failure.
   */
  private logged(result: SdpResult): SdpResult {
    if ('error' in result && result.sipStatus === 503) {
      this.log.error({ callId: this.callId, error: result.error }, 'media relay unavailable (resource exhausted): call gets 503');
    }
    return result;
  }

  /**
   * Media that flowed and then stopped for the configured time means a
   * broken connection (a far end that vanished without BYE). A call that
   * never carried RTP is left alone: signalling-only peers are legitimate;
   * so is a peer on hold (sendonly/inactive toward it, or c=0.0.0.0), whose
   * clock starts again when it is expected to send again.
   */
  onInactivity(cb: () => void): void {
    if (this.timeoutMs <= 0 || this.closed || this.onInactive !== null) return;
    this.onInactive = cb;
    this.schedule(INACTIVITY_POLL_MS);
  }

  stats(): unknown {
    if (this.closed) return this.lastReport;
    const audio = this.session.audioStats();
    if (audio === null) return null;
    return buildQoeReport(this.callId, audio.stats, { A: audio.codec, B: audio.codec });
  }

  close(): void {
    if (this.closed) return;
    this.lastReport = this.stats();
    this.closed = true;
    this.stopWatch();
    this.session.close();
  }

  private noteDirections(): void {
    if (this.closed) return;
    const senders = this.session.expectedSenders();
    const now = Date.now();
    for (const leg of LEGS) {
      const e = senders === null ? true : senders[leg];
      if (e && !this.expected[leg]) this.expectedSince[leg] = now;
      this.expected[leg] = e;
    }
  }

  private schedule(delayMs: number): void {
    this.stopWatch();
    this.inactivityTimer = setTimeout(() => this.check(), Math.max(MIN_CHECK_MS, Math.min(delayMs, this.timeoutMs)));
    this.inactivityTimer.unref();
  }

  /**
   * Checks when the earliest leg could go over the limit rather than on a
   * fixed tick: the call ends close to the configured time, and a call whose
   * media flows is looked at about once per timeout period.
   */
  private check(): void {
    this.inactivityTimer = null;
    if (this.closed || this.onInactive === null) return;
    const audio = this.session.audioStats();
    if (audio === null) {
      this.schedule(INACTIVITY_POLL_MS);
      return;
    }
    const now = Date.now();
    const silent: Record<LegId, boolean> = { A: false, B: false };
    let nextDue = Infinity;
    for (const leg of LEGS) {
      const last = audio.stats[leg].lastArrivalMs;
      if (!this.expected[leg] || last <= 0) continue;
      const due = Math.max(last, this.expectedSince[leg]) + this.timeoutMs;
      if (now >= due) silent[leg] = true;
      else nextDue = Math.min(nextDue, due);
    }
    if (silent.A || silent.B) {
      // When each silent leg's clock started (its last packet, or the resume that made it expected to
      // send again), wall clock ms: what the timeout is measured from, for operators and tests alike.
      const since = LEGS.filter((leg) => silent[leg]).map((leg) => Math.max(audio.stats[leg].lastArrivalMs, this.expectedSince[leg]));
      this.log.warn({
        callId: this.callId, silentA: silent.A, silentB: silent.B, timeoutMs: this.timeoutMs,
        silentSinceMs: Math.min(...since), lastArrivalMs: { A: audio.stats.A.lastArrivalMs, B: audio.stats.B.lastArrivalMs },
      }, 'media inactivity: ending call');
      const cb = this.onInactive;
      this.onInactive = null;
      cb();
      return;
    }
    this.schedule(nextDue === Infinity ? INACTIVITY_POLL_MS : nextDue - now + MIN_CHECK_MS);
  }

  private stopWatch(): void {
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = null;
  }
}

