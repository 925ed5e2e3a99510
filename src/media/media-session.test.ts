import { beforeEach, describe, expect, it } from 'vitest';
import { MediaSession, mediaSecurityModeFromIni, srtpSuitesFromIni, type MediaResult } from './media-session.js';
import { PortPool } from './port-pool.js';
import { RelayError } from './relay-js.js';
import type { LegConfig, LegCounters, LegId, RelayEngine, RelaySession, RelaySessionStats } from './relay-types.js';
import { parseSdpMedia } from './sdp.js';

// ---- a fake relay engine that records what the media session asks for ----

type LegUpdate = Parameters<RelaySession['updateLeg']>[1];

class FakeRelaySession implements RelaySession {
  readonly updates: Array<{ leg: LegId; config: LegUpdate }> = [];
  paused = false;
  closed = false;
  constructor(readonly id: number, public a: LegConfig, public b: LegConfig) {}
  get localPorts(): RelaySession['localPorts'] {
    const ports = (c: LegConfig) => ({ rtp: c.localRtpPort, rtcp: c.rtcpMux ? c.localRtpPort : c.localRtpPort + 1 });
    return { A: ports(this.a), B: ports(this.b) };
  }
  updateLeg(leg: LegId, config: LegUpdate): void {
    this.updates.push({ leg, config });
    const target = leg === 'A' ? this.a : this.b;
    Object.assign(target, config);
  }
  setPaused(paused: boolean): void { this.paused = paused; }
  stats(): RelaySessionStats {
    const c = (n: number): LegCounters => ({
      rtpPacketsIn: n, rtpBytesIn: n * 172, rtcpPacketsIn: 1, rtpPacketsOut: n, rtcpPacketsOut: 1, packetsLost: 0,
      outOfOrder: 0, jitterMs: 1, lastArrivalMs: 1, srtpAuthFailures: 0, srtpReplayDrops: 0, rejectedSource: 0,
      latchedAddress: null, latchedPort: null, rttMs: 20, remoteFractionLost: 0, remoteJitterMs: 1,
    });
    return { A: c(100), B: c(200) };
  }
  close(): void { this.closed = true; }
}

class FakeEngine implements RelayEngine {
  readonly kind = 'js' as const;
  readonly sessions: FakeRelaySession[] = [];
  failNext: Error | null = null;
  /** Ports another process holds: a session binding one fails with EADDRINUSE, as the native relay does. */
  readonly busyPorts = new Set<number>();
  async createSession(a: LegConfig, b: LegConfig): Promise<RelaySession> {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    if (this.busyPorts.has(a.localRtpPort) || this.busyPorts.has(b.localRtpPort)) throw new RelayError('EADDRINUSE', 'relay: cannot create session: EADDRINUSE');
    const copy = (c: LegConfig): LegConfig => ({ ...c, remote: c.remote ? { ...c.remote } : null });
    const s = new FakeRelaySession(this.sessions.length + 1, copy(a), copy(b));
    this.sessions.push(s);
    return s;
  }
  sessionCount(): number { return this.sessions.filter((s) => !s.closed).length; }
  packetsRelayed(): number { return 0; }
  async shutdown(): Promise<void> {}
}

// ---- fixtures ----

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';
const lines = (sdp: string): string[] => sdp.split('\r\n').filter((l) => l.length > 0);
const KEY_A1 = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';
const KEY_A2 = 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj';
const KEY_B = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk';

function pbxOffer(opts: { port?: number; dir?: string; version?: number; mux?: boolean; savp?: boolean; extraMedia?: string[] } = {}): string {
  return crlf([
    'v=0',
    `o=PBX 100 ${opts.version ?? 1} IN IP4 192.168.10.20`,
    's=-',
    'c=IN IP4 192.168.10.20',
    't=0 0',
    `m=audio ${opts.port ?? 16384} ${opts.savp ? 'RTP/SAVP' : 'RTP/AVP'} 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    ...(opts.savp ? [
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A1}|2^20`,
      `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A2}|2^20`,
    ] : []),
    ...(opts.mux ? ['a=rtcp-mux'] : []),
    `a=${opts.dir ?? 'sendrecv'}`,
    ...(opts.extraMedia ?? []),
  ]);
}

function trunkAnswer(opts: { port?: number; dir?: string; pts?: string; te?: number; crypto?: string; proto?: string; mux?: boolean; extraMedia?: string[] } = {}): string {
  const te = opts.te ?? 101;
  return crlf([
    'v=0',
    'o=- 3977 3978 IN IP4 198.51.100.7',
    's=-',
    'c=IN IP4 198.51.100.9',
    't=0 0',
    `m=audio ${opts.port ?? 30000} ${opts.proto ?? 'RTP/AVP'} ${opts.pts ?? `8 ${te}`}`,
    'a=rtpmap:8 PCMA/8000',
    `a=rtpmap:${te} telephone-event/8000`,
    'a=rtcp:30011',
    ...(opts.crypto ? [opts.crypto] : []),
    ...(opts.mux ? ['a=rtcp-mux'] : []),
    `a=${opts.dir ?? 'sendrecv'}`,
    ...(opts.extraMedia ?? []),
  ]);
}

function sdpOf(r: MediaResult): string {
  if ('error' in r) throw new Error(`unexpected error: ${r.error} (${r.sipStatus})`);
  return r.sdp;
}

function versionOf(sdp: string): number {
  return Number(lines(sdp).find((l) => l.startsWith('o='))!.split(' ')[2]);
}

let engine: FakeEngine;
let realmA: PortPool;
let realmB: PortPool;

beforeEach(() => {
  engine = new FakeEngine();
  realmA = new PortPool({ name: 'LAN', address: '10.0.0.1', portRangeStart: 6000, portRangeEnd: 6099, startOffset: 0 });
  realmB = new PortPool({ name: 'WAN', address: '203.0.113.5', portRangeStart: 7000, portRangeEnd: 7099, startOffset: 0 });
});

/** An offer/answer pair of one audio stream with the given m= formats and a=rtpmap lines. */
function coderSdp(host: string, port: number, pts: string, rtpmaps: string[]): string {
  return crlf(['v=0', `o=- 1 1 IN IP4 ${host}`, 's=-', `c=IN IP4 ${host}`, 't=0 0', `m=audio ${port} RTP/AVP ${pts}`, ...rtpmaps, 'a=sendrecv']);
}

describe('MediaSession: RTP clock rate of the relayed coder', () => {
  // Jitter (ours and the peer's RTCP figure) is counted in RTP timestamp units:
  // with the wrong rate an Opus call would show 6x its jitter.
  const cases: Array<[string, string, string[], number]> = [
    ['Opus (a=rtpmap opus/48000/2)', '111 101', ['a=rtpmap:111 opus/48000/2', 'a=rtpmap:101 telephone-event/48000'], 48000],
    ['G.722 written as G722/16000: RTP clock 8000 (RFC 3551 4.5.2)', '9', ['a=rtpmap:9 G722/16000'], 8000],
    ['G.722 by static PT 9', '9', [], 8000],
    ['AMR-WB', '96', ['a=rtpmap:96 AMR-WB/16000'], 16000],
    ['PCMU by static PT', '0', [], 8000],
  ];
  it.each(cases)('%s', async (_name, pts, rtpmaps, rate) => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', coderSdp('192.168.10.20', 16384, pts, rtpmaps)));
    sdpOf(await ms.processAnswer('B', coderSdp('198.51.100.9', 30000, pts, rtpmaps)));
    const s = engine.sessions[0]!;
    expect(s.a.clockRate).toBe(rate);
    expect(s.b.clockRate).toBe(rate);
    ms.close();
  });

  it('a re-INVITE that changes the coder updates both legs\' clock rate', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', coderSdp('192.168.10.20', 16384, '8', [])));
    sdpOf(await ms.processAnswer('B', coderSdp('198.51.100.9', 30000, '8', [])));
    const opus = ['a=rtpmap:111 opus/48000/2'];
    sdpOf(await ms.processOffer('A', coderSdp('192.168.10.20', 16384, '111', opus)));
    sdpOf(await ms.processAnswer('B', coderSdp('198.51.100.9', 30000, '111', opus)));
    const s = engine.sessions[0]!;
    expect(engine.sessions).toHaveLength(1);
    expect(s.updates.map((u) => [u.leg, u.config.clockRate])).toEqual([['A', 48000], ['B', 48000]]);
    ms.close();
  });
});

describe('MediaSession offer/answer', () => {
  it('anchors a PBX-to-trunk call and configures the relay from both SDPs', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyB: { latch: 'signalled-only', allowedCoders: { audio: ['PCMA', 'PCMU', 'telephone-event'] } } });
    const toB = sdpOf(await ms.processOffer('A', pbxOffer()));
    const lb = lines(toB);
    expect(lb).toContain('c=IN IP4 203.0.113.5');
    expect(lb).toContain('m=audio 7000 RTP/AVP 8 0 101');
    expect(lb).toContain('a=rtcp-mux'); // offered toward B by policy
    expect(toB).not.toContain('192.168.10.20');
    expect(ms.offerPending).toBe('A');

    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    const la = lines(toA);
    expect(la).toContain('c=IN IP4 10.0.0.1');
    expect(la).toContain('m=audio 6000 RTP/AVP 8 101');
    expect(la).not.toContain('a=rtcp:30011');
    expect(la).not.toContain('a=rtcp-mux');
    expect(toA).not.toContain('198.51.100');

    expect(engine.sessions).toHaveLength(1);
    const s = engine.sessions[0]!;
    expect(s.a).toEqual({
      localAddress: '10.0.0.1', localRtpPort: 6000, rtcpMux: false,
      remote: { address: '192.168.10.20', rtpPort: 16384, rtcpPort: 16385 },
      latch: 'first-packet', srtp: null, telephoneEventPt: 101, clockRate: 8000,
    });
    expect(s.b).toEqual({
      localAddress: '203.0.113.5', localRtpPort: 7000, rtcpMux: false,
      remote: { address: '198.51.100.9', rtpPort: 30000, rtcpPort: 30011 },
      latch: 'signalled-only', srtp: null, telephoneEventPt: 101, clockRate: 8000,
    });
    expect(ms.stats()[0]).toMatchObject({ index: 0, media: 'audio', codec: 'PCMA' });
    expect(ms.audioStats()!.codec).toBe('PCMA');
    ms.close();
    expect(s.closed).toBe(true);
    expect(realmA.inUse()).toBe(0);
    expect(realmB.inUse()).toBe(0);
  });

  it('keeps ports and o= version on an unchanged re-INVITE, and bumps it for hold/resume', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    const offer1 = sdpOf(await ms.processOffer('A', pbxOffer()));
    const answer1 = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    // session refresh: same SDP again
    const offer2 = sdpOf(await ms.processOffer('A', pbxOffer()));
    const answer2 = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(offer2).toBe(offer1);
    expect(answer2).toBe(answer1);
    expect(engine.sessions).toHaveLength(1);
    expect(engine.sessions[0]!.updates.length).toBe(2);

    // hold
    const holdOffer = sdpOf(await ms.processOffer('A', pbxOffer({ dir: 'sendonly', version: 2 })));
    expect(lines(holdOffer)).toContain('a=sendonly');
    expect(lines(holdOffer)).toContain('m=audio 7000 RTP/AVP 0 8 101');
    expect(versionOf(holdOffer)).toBe(versionOf(offer1) + 1);
    const holdAnswer = sdpOf(await ms.processAnswer('B', trunkAnswer({ dir: 'recvonly' })));
    expect(lines(holdAnswer)).toContain('a=recvonly');
    expect(versionOf(holdAnswer)).toBe(versionOf(answer1) + 1);
    expect(engine.sessions[0]!.paused).toBe(false);

    // inactive pauses the relay
    sdpOf(await ms.processOffer('A', pbxOffer({ dir: 'inactive', version: 3 })));
    sdpOf(await ms.processAnswer('B', trunkAnswer({ dir: 'inactive' })));
    expect(engine.sessions[0]!.paused).toBe(true);

    // resume from a new port
    const resume = sdpOf(await ms.processOffer('A', pbxOffer({ port: 16500, version: 4 })));
    expect(lines(resume)).toContain('a=sendrecv');
    expect(lines(resume)).toContain('m=audio 7000 RTP/AVP 0 8 101');
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    const s = engine.sessions[0]!;
    expect(s.paused).toBe(false);
    expect(s.a.remote).toEqual({ address: '192.168.10.20', rtpPort: 16500, rtcpPort: 16501 });
    expect(engine.sessions).toHaveLength(1);
    expect(realmA.inUse()).toBe(2);
    ms.close();
  });

  it('handles an offer from leg B (re-INVITE from the callee)', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    const toA = sdpOf(await ms.processOffer('B', trunkAnswer({ pts: '8 0 101', dir: 'sendonly' }).replace('o=- 3977 3978', 'o=- 3977 3979')));
    expect(lines(toA)).toContain('m=audio 6000 RTP/AVP 8 0 101');
    expect(lines(toA)).toContain('a=sendonly');
    const toB = sdpOf(await ms.processAnswer('A', pbxOffer({ dir: 'recvonly', version: 2 }).replace('0 8 101', '8 101')));
    expect(lines(toB)).toContain('m=audio 7000 RTP/AVP 8 101');
    expect(lines(toB)).toContain('a=recvonly');
    expect(engine.sessions).toHaveLength(1);
    ms.close();
  });

  it('rtcp-mux is accepted per leg policy', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyB: { rtcpMux: false } });
    const toB = sdpOf(await ms.processOffer('A', pbxOffer({ mux: true })));
    expect(toB).not.toContain('a=rtcp-mux');
    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(lines(toA)).toContain('a=rtcp-mux');
    const s = engine.sessions[0]!;
    expect(s.a.rtcpMux).toBe(true);
    expect(s.a.remote).toEqual({ address: '192.168.10.20', rtpPort: 16384, rtcpPort: 16384 });
    expect(s.b.rtcpMux).toBe(false);
    ms.close();
  });

  it('rebuilds the relay on the same ports when rtcp-mux changes', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    sdpOf(await ms.processOffer('A', pbxOffer({ mux: true, version: 2 })));
    sdpOf(await ms.processAnswer('B', trunkAnswer({ mux: true })));
    expect(engine.sessions).toHaveLength(2);
    expect(engine.sessions[0]!.closed).toBe(true);
    const s = engine.sessions[1]!;
    expect([s.a.localRtpPort, s.b.localRtpPort]).toEqual([6000, 7000]);
    expect([s.a.rtcpMux, s.b.rtcpMux]).toEqual([true, true]);
    ms.close();
  });

  it('renumbered telephone-event: each leg gets its own PT', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer({ te: 96 })));
    expect(engine.sessions[0]!.a.telephoneEventPt).toBe(101);
    expect(engine.sessions[0]!.b.telephoneEventPt).toBe(96);
    ms.close();
  });

  it('no telephone-event in the answer: none on either leg', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer({ pts: '8' })));
    expect(engine.sessions[0]!.a.telephoneEventPt).toBeNull();
    expect(engine.sessions[0]!.b.telephoneEventPt).toBeNull();
    ms.close();
  });
});

describe('MediaSession SRTP interworking', () => {
  it('SRTP caller, RTP callee: decrypts with the caller key, encrypts with ours', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyA: { security: 'srtp' }, policyB: { security: 'rtp' } });
    const toB = sdpOf(await ms.processOffer('A', pbxOffer({ savp: true })));
    expect(lines(toB)).toContain('m=audio 7000 RTP/AVP 0 8 101');
    expect(toB).not.toContain('a=crypto');
    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(lines(toA)).toContain('m=audio 6000 RTP/SAVP 8 101');
    const cryptoLines = lines(toA).filter((l) => l.startsWith('a=crypto:'));
    expect(cryptoLines).toHaveLength(1);
    const m = /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/]{40})$/.exec(cryptoLines[0]!);
    expect(m).not.toBeNull();
    const s = engine.sessions[0]!;
    expect(s.a.srtp!.inbound.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    expect(s.a.srtp!.inbound.keySalt.toString('base64')).toBe(KEY_A1);
    expect(s.a.srtp!.outbound.keySalt.toString('base64')).toBe(m![1]);
    expect(s.a.srtp!.outbound.keySalt.equals(s.a.srtp!.inbound.keySalt)).toBe(false);
    expect(s.b.srtp).toBeNull();

    // unchanged re-INVITE: same key, same SDP, same version
    sdpOf(await ms.processOffer('A', pbxOffer({ savp: true })));
    const again = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(again).toBe(toA);
    ms.close();
  });

  it('RTP caller, SRTP callee: offers both suites and uses the one answered', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyA: { security: 'rtp' }, policyB: { security: 'srtp' } });
    const toB = sdpOf(await ms.processOffer('A', pbxOffer()));
    expect(lines(toB)).toContain('m=audio 7000 RTP/SAVP 0 8 101');
    const offered = lines(toB).filter((l) => l.startsWith('a=crypto:'));
    expect(offered.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['a=crypto:1 AES_CM_128_HMAC_SHA1_80', 'a=crypto:2 AES_CM_128_HMAC_SHA1_32']);
    const ourKey32 = offered[1]!.split('inline:')[1]!;

    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer({ proto: 'RTP/SAVP', crypto: `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}` })));
    expect(lines(toA)).toContain('m=audio 6000 RTP/AVP 8 101');
    expect(toA).not.toContain('a=crypto');
    const s = engine.sessions[0]!;
    expect(s.a.srtp).toBeNull();
    expect(s.b.srtp!.inbound).toEqual({ suite: 'AES_CM_128_HMAC_SHA1_32', keySalt: Buffer.from(KEY_B, 'base64') });
    expect(s.b.srtp!.outbound.keySalt.toString('base64')).toBe(ourKey32);
    ms.close();
  });

  it("'both' offers RTP/AVP with SDES and falls back to RTP when the answer has no key", async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyB: { security: 'both' } });
    const toB = sdpOf(await ms.processOffer('A', pbxOffer()));
    expect(lines(toB)).toContain('m=audio 7000 RTP/AVP 0 8 101');
    expect(lines(toB).filter((l) => l.startsWith('a=crypto:'))).toHaveLength(2);
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(engine.sessions[0]!.b.srtp).toBeNull();
    ms.close();
  });

  it("'as-is' mirrors the offerer toward the answerer", async () => {
    const ms1 = new MediaSession({ engine, realmA, realmB, policyA: { security: 'both' }, policyB: { security: 'as-is' } });
    const secured = sdpOf(await ms1.processOffer('A', pbxOffer({ savp: true })));
    expect(lines(secured)).toContain('m=audio 7000 RTP/SAVP 0 8 101');
    expect(lines(secured).filter((l) => l.startsWith('a=crypto:'))).toHaveLength(2);
    ms1.close();
    const ms2 = new MediaSession({ engine, realmA, realmB, policyA: { security: 'both' }, policyB: { security: 'as-is' } });
    const plain = sdpOf(await ms2.processOffer('A', pbxOffer()));
    expect(lines(plain)).toContain('m=audio 7002 RTP/AVP 0 8 101'); // 7000 was just released: reused last
    expect(plain).not.toContain('a=crypto');
    ms2.close();
  });

  it('maps the ini security and suite settings', () => {
    expect(['secured', 'not-secured', 'both', 'as-is', '1', '2', '3', '0'].map(mediaSecurityModeFromIni))
      .toEqual(['srtp', 'rtp', 'both', 'as-is', 'srtp', 'rtp', 'both', 'as-is']);
    expect(srtpSuitesFromIni('all')).toEqual(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']);
    expect(srtpSuitesFromIni('aes-cm-128-hmac-sha1-32')).toEqual(['AES_CM_128_HMAC_SHA1_32']);
  });

  it("'both' accepts an SRTP caller", async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyA: { security: 'both' } });
    sdpOf(await ms.processOffer('A', pbxOffer({ savp: true })));
    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(lines(toA)).toContain('m=audio 6000 RTP/SAVP 8 101');
    expect(engine.sessions[0]!.a.srtp).not.toBeNull();
    ms.close();
  });
});

describe('MediaSession failures', () => {
  it('488 for SRTP on an RTP-only leg, RTP on an SRTP-only leg, or no allowed coder', async () => {
    const r1 = await new MediaSession({ engine, realmA, realmB }).processOffer('A', pbxOffer({ savp: true }));
    expect(r1).toMatchObject({ sipStatus: 488 });
    expect((r1 as { error: string }).error).toMatch(/RTP-only/);
    const r2 = await new MediaSession({ engine, realmA, realmB, policyA: { security: 'srtp' } }).processOffer('A', pbxOffer());
    expect(r2).toMatchObject({ sipStatus: 488 });
    const r3 = await new MediaSession({ engine, realmA, realmB, policyB: { allowedCoders: { audio: ['G729'] } } }).processOffer('A', pbxOffer());
    expect(r3).toMatchObject({ sipStatus: 488 });
    expect((r3 as { error: string }).error).toMatch(/coder/);
    const r4 = await new MediaSession({ engine, realmA, realmB }).processOffer('A', 'garbage');
    expect(r4).toMatchObject({ sipStatus: 488 });
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('refuses an answer with payloads that were not offered, and frees the ports', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyB: { allowedCoders: { audio: ['PCMU'] } } });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    const r = await ms.processAnswer('B', trunkAnswer({ pts: '8' }));
    expect(r).toMatchObject({ sipStatus: 488 });
    expect(engine.sessions).toHaveLength(0);
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('refuses an SRTP-only answer without a matching key', async () => {
    const ms = new MediaSession({ engine, realmA, realmB, policyB: { security: 'srtp' } });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    const r = await ms.processAnswer('B', trunkAnswer({ proto: 'RTP/SAVP', crypto: `a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${KEY_B}` }));
    expect(r).toMatchObject({ sipStatus: 488 });
  });

  it('491 on glare, error on an answer nobody asked for', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    expect(await ms.processAnswer('B', trunkAnswer())).toMatchObject({ sipStatus: 488 });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    expect(await ms.processOffer('B', trunkAnswer())).toMatchObject({ sipStatus: 491 });
    expect(await ms.processAnswer('A', pbxOffer())).toMatchObject({ sipStatus: 488 });
    ms.rejectPendingOffer();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('503 when the realm is out of ports; a rejected offer gives its ports back', async () => {
    const tiny = new PortPool({ address: '203.0.113.5', portRangeStart: 7000, portRangeEnd: 7001 });
    const ms1 = new MediaSession({ engine, realmA, realmB: tiny });
    sdpOf(await ms1.processOffer('A', pbxOffer()));
    const ms2 = new MediaSession({ engine, realmA, realmB: tiny });
    expect(await ms2.processOffer('A', pbxOffer())).toMatchObject({ sipStatus: 503 });
    expect(realmA.inUse()).toBe(2); // only ms1's
    ms1.rejectPendingOffer(); // e.g. 486 Busy from the callee
    expect(tiny.inUse()).toBe(0);
    sdpOf(await ms2.processOffer('A', pbxOffer()));
    ms2.close();
    ms1.close();
  });

  it('moves the offerer\'s port when another socket holds it, and answers with the new one', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    engine.busyPorts.add(6000); // what realm A gave the offerer's side; no SDP carried it yet
    const toA = sdpOf(await ms.processAnswer('B', trunkAnswer()));
    expect(lines(toA)).toContain('m=audio 6002 RTP/AVP 8 101');
    expect(engine.sessions.map((x) => x.a.localRtpPort)).toEqual([6002]);
    expect(realmA.inUse()).toBe(2); // one pair: the busy one went back to the realm
    ms.close();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('reports a relay that cannot bind the port our offer carried as an error (500)', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    engine.busyPorts.add(7000); // in our offer to B: it cannot move
    const r = await ms.processAnswer('B', trunkAnswer());
    expect(r).toMatchObject({ sipStatus: 500 });
    expect((r as { error: string }).error).toMatch(/EADDRINUSE/);
    expect(engine.sessionCount()).toBe(0);
    ms.close();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('does not retry other bind errors', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    engine.failNext = Object.assign(new Error('bind EACCES'), { code: 'EACCES' });
    const r = await ms.processAnswer('B', trunkAnswer());
    expect(r).toMatchObject({ sipStatus: 500 });
    expect((r as { error: string }).error).toMatch(/EACCES/);
    ms.close();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('answers 503 when the relay is out of file descriptors (EMFILE)', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    engine.failNext = new RelayError('EMFILE', 'relay: cannot create session: EMFILE');
    const r = await ms.processAnswer('B', trunkAnswer());
    expect(r).toMatchObject({ sipStatus: 503 });
    expect((r as { error: string }).error).toMatch(/EMFILE/);
    ms.close();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });
});

describe('MediaSession streams', () => {
  it('T.38 re-INVITE: audio disabled, image relayed on new ports', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    const t38 = [
      'm=image 6000 udptl t38', 'a=T38FaxVersion:0', 'a=T38FaxRateManagement:transferredTCF', 'a=T38FaxUdpEC:t38UDPRedundancy',
    ];
    const offer = pbxOffer({ version: 2, extraMedia: t38 }).replace('m=audio 16384', 'm=audio 0');
    const toB = sdpOf(await ms.processOffer('A', offer));
    expect(lines(toB)).toContain('m=audio 0 RTP/AVP 0 8 101');
    expect(lines(toB)).toContain('m=image 7002 udptl t38');
    expect(lines(toB)).toContain('a=T38FaxUdpEC:t38UDPRedundancy');
    const answer = trunkAnswer({ extraMedia: ['m=image 31000 udptl t38', 'a=T38FaxVersion:0'] }).replace('m=audio 30000', 'm=audio 0');
    const toA = sdpOf(await ms.processAnswer('B', answer));
    expect(lines(toA)).toContain('m=audio 0 RTP/AVP 8 101');
    expect(lines(toA)).toContain('m=image 6002 udptl t38');
    expect(engine.sessions[0]!.closed).toBe(true);
    const fax = engine.sessions[1]!;
    expect(fax.a).toMatchObject({ localRtpPort: 6002, rtcpMux: true, srtp: null, telephoneEventPt: null, remote: { address: '192.168.10.20', rtpPort: 6000 } });
    expect(fax.b).toMatchObject({ localRtpPort: 7002, remote: { address: '198.51.100.9', rtpPort: 31000 } });
    expect(realmA.inUse()).toBe(2);
    expect(ms.stats().map((s) => [s.media, s.stats !== null])).toEqual([['audio', false], ['image', true]]);
    ms.close();
    expect(realmA.inUse() + realmB.inUse()).toBe(0);
  });

  it('audio + video get a relay each; a port 0 stream stays disabled', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    const offer = crlf([
      'v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0',
      'm=audio 5004 RTP/AVP 0', 'm=video 5006 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 0 RTP/AVP 8',
    ]);
    const toB = sdpOf(await ms.processOffer('A', offer));
    expect(parseSdpMedia(toB).map((s) => s.port)).toEqual([7000, 7002, 0]);
    const answer = crlf([
      'v=0', 'o=- 2 2 IN IP4 10.9.9.9', 's=-', 'c=IN IP4 10.9.9.9', 't=0 0',
      'm=audio 9000 RTP/AVP 0', 'm=video 9002 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 0 RTP/AVP 8',
    ]);
    const toA = sdpOf(await ms.processAnswer('B', answer));
    expect(parseSdpMedia(toA).map((s) => s.port)).toEqual([6000, 6002, 0]);
    expect(engine.sessions).toHaveLength(2);
    expect(engine.sessionCount()).toBe(2);
    ms.close();
    expect(engine.sessionCount()).toBe(0);
  });

  it('c=0.0.0.0 hold keeps the last known remote address', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    sdpOf(await ms.processOffer('A', pbxOffer()));
    sdpOf(await ms.processAnswer('B', trunkAnswer()));
    const toB = sdpOf(await ms.processOffer('A', pbxOffer({ version: 2 }).replace('c=IN IP4 192.168.10.20', 'c=IN IP4 0.0.0.0')));
    expect(lines(toB)).toContain('a=sendonly');
    sdpOf(await ms.processAnswer('B', trunkAnswer({ dir: 'recvonly' })));
    expect(engine.sessions[0]!.a.remote).toEqual({ address: '192.168.10.20', rtpPort: 16384, rtcpPort: 16385 });
    ms.close();
  });

  it('a closed session refuses further work', async () => {
    const ms = new MediaSession({ engine, realmA, realmB });
    ms.close();
    ms.close();
    expect(await ms.processOffer('A', pbxOffer())).toMatchObject({ sipStatus: 500 });
  });
});
