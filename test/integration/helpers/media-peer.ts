/**
 * Pieces for the media acceptance tests (issue 6): a UDP socket that plays
 * a call's media peer (send RTP/SRTP, record what arrives and from where),
 * an RTP packet builder, a libpcap reader to know what sipp plays, media
 * ports that don't collide with the SBC's realms, and typed access to the
 * QoE report of the SBC's CDR log line.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { LogLine, SbcProcess } from './sbc-process.js';

import { findFreePort, startSipp, type SippProcess } from './sipp.js';

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` every 20 ms until it holds; rejects after `timeoutMs`. */
export async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

// ---------------------------------------------------------------------------
// libpcap

export interface PcapUdp {
  /** UDP payloads (here: RTP packets) in file order. */
  payloads: Buffer[];
  /** Capture time of the last packet minus the first, in ms. */
  durationMs: number;
}

/**
 * The UDP payloads of a classic libpcap file (not pcapng): link types
 * Ethernet (1), raw IP (101) and Linux cooked (113), IPv4 and IPv6.
 * Throws on anything else, so a changed fixture fails loudly.
 */
export function readPcapUdp(path: string): PcapUdp {
  const b = readFileSync(path);
  if (b.length < 24) throw new Error(`${path}: too short for a pcap header`);
  const magic = b.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${path}: not a libpcap file (magic ${magic.toString(16)})`);
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 101 ? 0 : linkType === 113 ? 16 : -1;
  if (linkHeader < 0) throw new Error(`${path}: unsupported link type ${linkType}`);
  const payloads: Buffer[] = [];
  let first = -1;
  let last = 0;
  let off = 24;
  // Every record advances `off` by at least 16 bytes: the loop ends.
  while (off + 16 <= b.length) {
    const ms = u32(off) * 1000 + u32(off + 4) / (nanos ? 1e6 : 1e3);
    const incl = u32(off + 8);
    const rec = b.subarray(off + 16, Math.min(b.length, off + 16 + incl));
    off += 16 + incl;
    if (rec.length < linkHeader + 1) continue;
    const ip = rec.subarray(linkHeader);
    let udp: Buffer;
    if (ip[0]! >> 4 === 4) {
      if (ip[9] !== 17) continue;
      udp = ip.subarray((ip[0]! & 0x0f) * 4);
    } else if (ip[0]! >> 4 === 6) {
      if (ip[6] !== 17) continue; // extension headers: not in our fixtures
      udp = ip.subarray(40);
    } else {
      continue;
    }
    if (udp.length < 8) continue;
    const udpLen = udp.readUInt16BE(4);
    payloads.push(Buffer.from(udp.subarray(8, Math.min(udp.length, udpLen))));
    if (first < 0) first = ms;
    last = ms;
  }
  return { payloads, durationMs: first < 0 ? 0 : last - first };
}

/** The RTP payload (after header, CSRCs and extension), or null when it is not RTP. */
export function rtpPayload(pkt: Buffer): Buffer | null {
  if (pkt.length < 12 || pkt[0]! >> 6 !== 2) return null;
  let h = 12 + 4 * (pkt[0]! & 0x0f);
  if (pkt[0]! & 0x10) {
    if (pkt.length < h + 4) return null;
    h += 4 + 4 * pkt.readUInt16BE(h + 2);
  }
  if (h > pkt.length) return null;
  let end = pkt.length;
  if (pkt[0]! & 0x20) end -= pkt[pkt.length - 1]!;
  return end >= h ? pkt.subarray(h, end) : null;
}

// ---------------------------------------------------------------------------
// RTP

export interface RtpFields {
  pt: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
  marker?: boolean;
}

export function rtpPacket(f: RtpFields): Buffer {
  const p = Buffer.alloc(12 + f.payload.length);
  p[0] = 0x80;
  p[1] = (f.marker ? 0x80 : 0) | (f.pt & 0x7f);
  p.writeUInt16BE(f.seq & 0xffff, 2);
  p.writeUInt32BE(f.timestamp >>> 0, 4);
  p.writeUInt32BE(f.ssrc >>> 0, 8);
  f.payload.copy(p, 12);
  return p;
}

export interface ReceivedPacket {
  data: Buffer;
  address: string;
  port: number;
  /** Date.now() at arrival. */
  at: number;
}

/** One UDP socket playing a media peer. */
export class MediaPeer {
  readonly received: ReceivedPacket[] = [];
  sent = 0;
  private constructor(private readonly sock: dgram.Socket, readonly address: string, readonly port: number) {
    sock.on('message', (data, rinfo) => {
      // Bounded: a call of a few seconds brings a few hundred packets.
      if (this.received.length < 10_000) this.received.push({ data, address: rinfo.address, port: rinfo.port, at: Date.now() });
    });
    // A send to a closed port (ICMP) surfaces here on Linux; the tests count what they expect instead.
    sock.on('error', () => undefined);
  }

  /** Binds `address:port` (0: any free port). */
  static async open(address: string, port = 0): Promise<MediaPeer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res, rej) => {
      sock.once('error', rej);
      sock.bind(port, address, () => {
        sock.off('error', rej);
        res();
      });
    });
    return new MediaPeer(sock, address, sock.address().port);
  }

  /** Resolves with the first packet (already received or future). */
  async firstPacket(timeoutMs = 10_000): Promise<ReceivedPacket> {
    await waitUntil(() => this.received.length > 0, timeoutMs, `a packet on ${this.address}:${this.port}`);
    return this.received[0]!;
  }

  send(data: Buffer, port: number, address: string): Promise<void> {
    return new Promise((res, rej) => {
      this.sock.send(data, port, address, (err) => {
        if (err) rej(err);
        else {
          this.sent++;
          res();
        }
      });
    });
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }
}

/**
 * An even port P with P..P+span-1 free for UDP on `address`, below the
 * 20000.. range test SBCs take their Media Realms from (test sbc-process).
 */
export async function freeMediaPort(address: string, span = 4): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = 10000 + 2 * Math.floor(Math.random() * 4900);
    const socks: dgram.Socket[] = [];
    let ok = true;
    for (let i = 0; i < span && ok; i++) {
      const s = dgram.createSocket('udp4');
      ok = await new Promise<boolean>((res) => {
        s.once('error', () => res(false));
        s.bind(p + i, address, () => res(true));
      });
      socks.push(s);
    }
    await Promise.all(socks.map((s) => new Promise<void>((res) => {
      try {
        s.close(() => res());
      } catch {
        res();
      }
    })));
    if (ok) return p;
  }
  throw new Error(`no free media port span on ${address}`);
}

// ---------------------------------------------------------------------------
// CDR / QoE (the shape of src/qoe/report.ts, as logged by the SBC)

export interface QoeDirectionView {
  packets: number;
  lost: number | null;
  lossPct: number | null;
  jitterMs: number | null;
  mos: number | null;
}

export interface QoeLegView {
  received: QoeDirectionView;
  sent: QoeDirectionView;
  codec: string;
  rttMs: number | null;
  srtpAuthFailures: number;
  srtpReplayDrops: number;
  rejectedSource: number;
  latchedAddress: string | null;
  latchedPort: number | null;
}

export interface CdrView {
  callId: string;
  connectTime: string | null;
  endTime: string;
  terminationSide: string;
  terminationReason: string;
  sipStatus: number;
  qoe: { legs: { A: QoeLegView; B: QoeLegView }; mos: number | null } | null;
}

/** The CDR of the next call that ended (the first `call detail record` line not yet returned for this SBC). */
export async function nextCdr(sbc: SbcProcess, seen: Set<LogLine>, timeoutMs = 10_000): Promise<CdrView> {
  const line = await sbc.waitForLog((l) => l.msg === 'call detail record' && !seen.has(l), timeoutMs);
  seen.add(line);
  return line['cdr'] as CdrView;
}

/**
 * A sipp UAS on 127.0.0.3 doing the callee's signalling while its SDP names
 * `rtpPort` (a MediaPeer of the test) as the callee's media address.
 */
export async function startCalleeUas(scenario: string, rtpPort: number): Promise<{ uas: SippProcess; uasPort: number }> {
  const uasPort = await findFreePort('127.0.0.3');
  const uasMediaPort = await freeMediaPort('127.0.0.3');
  const uas = startSipp({
    scenario, calls: 1, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 40_000,
    extraArgs: ['-mi', '127.0.0.3', '-mp', String(uasMediaPort), '-key', 'rtp_ip', '127.0.0.3', '-key', 'rtp_port', String(rtpPort)],
  });
  await uas.bound();
  return { uas, uasPort };
}
