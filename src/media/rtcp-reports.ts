/**
 * RTCP report reading of the JavaScript relay (the native engine has the
 * same rules in relay-io.cc): the SR/RR report blocks of a compound packet
 * (RFC 3550 6.4) give the peer's view of our stream (fraction lost,
 * interarrival jitter) and, through LSR/DLSR against the SRs we forwarded,
 * the round-trip time (RFC 3550 6.4.1).
 */
import type { LegCounters } from './relay-types.js';
import { MAX_TRANSIT_DELTA_SEC } from './rtp-receive-stats.js';

const SR_RING = 4;

/** The last SRs forwarded toward a peer: NTP middle 32 bits and when we sent them (compact clock). */
export class SrRing {
  private readonly ntp = new Uint32Array(SR_RING);
  private readonly sentAt = new Uint32Array(SR_RING);
  private used = 0;
  private next = 0;

  record(ntpMid: number, now: number): void {
    this.ntp[this.next] = ntpMid;
    this.sentAt[this.next] = now;
    this.next = (this.next + 1) % SR_RING;
    this.used = Math.min(SR_RING, this.used + 1);
  }

  /** Round-trip ms for a report block's LSR/DLSR, null when the SR is not ours (or no longer remembered). */
  rttMs(lsr: number, dlsr: number, now: number): number | null {
    for (let i = 0; i < this.used; i++) {
      if (this.ntp[i] === lsr) {
        const rtt = (now - this.sentAt[i]! - dlsr) | 0;
        return rtt > 0 ? (rtt * 1000) / 65536 : 0;
      }
    }
    return null;
  }
}

/**
 * Reads the first report block of each SR/RR of a compound packet into the
 * counters of the leg it came from; `ring` holds the SRs we forwarded toward
 * that leg's peer, `rate` is the leg's RTP clock rate. A reported jitter
 * beyond MAX_TRANSIT_DELTA_SEC is no jitter (a broken or hostile reporter):
 * ignored and counted in remoteJitterClamps, as our own estimator does.
 * Returns the NTP middle 32 bits of an SR in the packet, or -1.
 */
export function readRtcpReports(pkt: Buffer, rate: number, ring: SrRing, now: number, c: LegCounters): number {
  let off = 0;
  let srNtp = -1;
  for (let guard = 0; guard < 64 && off + 8 <= pkt.length; guard++) {
    const rc = pkt[off]! & 0x1f;
    const pt = pkt[off + 1]!;
    const plen = (pkt.readUInt16BE(off + 2) + 1) * 4;
    if (pkt[off]! >> 6 !== 2 || off + plen > pkt.length) break;
    let blocks = 0;
    if (pt === 200 && plen >= 28) {
      srNtp = pkt.readUInt32BE(off + 10);
      blocks = off + 28;
    } else if (pt === 201) {
      blocks = off + 8;
    }
    if (blocks && rc > 0 && blocks + 24 <= off + plen) {
      c.remoteFractionLost = pkt[blocks + 4]! / 256;
      const jitter = pkt.readUInt32BE(blocks + 12);
      if (jitter <= MAX_TRANSIT_DELTA_SEC * rate) c.remoteJitterMs = (jitter / rate) * 1000;
      else c.remoteJitterClamps = (c.remoteJitterClamps ?? 0) + 1;
      const lsr = pkt.readUInt32BE(blocks + 16);
      if (lsr !== 0) {
        const rtt = ring.rttMs(lsr, pkt.readUInt32BE(blocks + 20), now);
        if (rtt !== null) c.rttMs = rtt;
      }
    }
    off += plen;
  }
  return srNtp;
}
