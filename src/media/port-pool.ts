import { randomInt } from 'node:crypto';

/**
 * UDP port pool of one Media Realm (CpMediaRealm: address + PortRangeStart..PortRangeEnd).
 *
 * RTP streams get an even port with the next odd port reserved for RTCP
 * (RFC 3550 §11). Streams that will only ever use rtcp-mux (RFC 5761) may take
 * a single port instead; singles are carved out of pairs and merged back when
 * both halves are free again.
 *
 * Allocation is O(1): free pairs and free singles sit in FIFO rings, so a
 * port that was just released goes to the back and is reused last (a late
 * packet of the previous call will not land in the next one). The ring
 * starts at a random offset so a restarted SBC does not hand out the ports of
 * the calls that were running just before the restart.
 */

const enum PortState {
  /** Free; the even port of the pair is queued in the pair ring. */
  FreePair = 0,
  /** Allocated as the RTP port of a pair. */
  PairRtp = 1,
  /** Reserved as the RTCP port of a pair. */
  PairRtcp = 2,
  /** Allocated as a single port. */
  Single = 3,
  /** Free half of a split pair; queued in the single ring. */
  FreeSingle = 4,
}

/** Fixed-capacity FIFO of port numbers (no allocation after construction). */
class PortRing {
  private readonly buf: Uint16Array;
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    this.buf = new Uint16Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.count;
  }

  push(port: number): void {
    // Capacity equals the number of distinct ports that may be queued and
    // callers keep a port queued at most once, so this cannot overflow.
    if (this.count === this.buf.length) return;
    this.buf[(this.head + this.count) % this.buf.length] = port;
    this.count++;
  }

  shift(): number | undefined {
    if (this.count === 0) return undefined;
    const port = this.buf[this.head]!;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return port;
  }
}

export interface PortPoolOptions {
  /** Media Realm name, for logs and errors. */
  name?: string;
  /** Local IP address of the realm (what goes into c= lines and what the relay binds). */
  address: string;
  portRangeStart: number;
  portRangeEnd: number;
  /**
   * Where the first allocation starts, as an index into the pair list
   * (tests pass 0 for a predictable order); random by default.
   */
  startOffset?: number;
}

export class PortPoolError extends Error {
  override readonly name = 'PortPoolError';
}

export class PortPool {
  readonly name: string;
  readonly address: string;
  /** First even port of the range. */
  readonly firstPort: number;
  /** Last usable port (inclusive). */
  readonly lastPort: number;
  /** Number of RTP/RTCP pairs the range holds. */
  readonly capacityPairs: number;

  private readonly state: Uint8Array;
  /** 1 while the port sits in the pair ring / the single ring (single entries may be stale; checked on shift). */
  private readonly queuedPair: Uint8Array;
  private readonly queuedSingle: Uint8Array;
  private readonly pairRing: PortRing;
  private readonly singleRing: PortRing;
  private freePairCount: number;
  private freeSingleCount = 0;
  /** Allocations refused because the range was exhausted (for the metrics: a realm running dry). */
  private exhausted = 0;

  constructor(opts: PortPoolOptions) {
    const { address, portRangeStart, portRangeEnd } = opts;
    this.name = opts.name ?? address;
    if (typeof address !== 'string' || address.length === 0) {
      throw new PortPoolError(`media realm ${this.name}: address is empty`);
    }
    if (!Number.isInteger(portRangeStart) || !Number.isInteger(portRangeEnd)
      || portRangeStart < 1 || portRangeEnd > 65535 || portRangeStart >= portRangeEnd) {
      throw new PortPoolError(
        `media realm ${this.name}: invalid port range ${String(portRangeStart)}-${String(portRangeEnd)} (need 1 <= start < end <= 65535)`);
    }
    this.address = address;
    this.firstPort = portRangeStart % 2 === 0 ? portRangeStart : portRangeStart + 1;
    this.lastPort = portRangeEnd;
    const pairs = Math.floor((this.lastPort - this.firstPort + 1) / 2);
    if (pairs < 1) {
      throw new PortPoolError(`media realm ${this.name}: port range ${portRangeStart}-${portRangeEnd} holds no even/odd pair`);
    }
    this.capacityPairs = pairs;
    const span = pairs * 2;
    this.state = new Uint8Array(span);
    this.queuedPair = new Uint8Array(span);
    this.queuedSingle = new Uint8Array(span);
    this.pairRing = new PortRing(pairs);
    this.singleRing = new PortRing(span);
    this.freePairCount = pairs;

    const start = opts.startOffset !== undefined
      ? ((Math.trunc(opts.startOffset) % pairs) + pairs) % pairs
      : (pairs > 1 ? randomInt(pairs) : 0);
    for (let i = 0; i < pairs; i++) {
      const idx = ((start + i) % pairs) * 2;
      this.queuedPair[idx] = 1;
      this.pairRing.push(this.firstPort + idx);
    }
  }

  /** Free RTP/RTCP pairs (not counting free singles). */
  freePairs(): number {
    return this.freePairCount;
  }

  /** Allocations refused since start because no port was free. */
  allocationFailures(): number {
    return this.exhausted;
  }

  /** Ports currently handed out (pairs count as two). */
  inUse(): number {
    return this.state.length - this.freePairCount * 2 - this.freeSingleCount;
  }

  /** Allocates an even RTP port whose odd neighbour is reserved for RTCP; null when exhausted. */
  allocatePair(): number | null {
    const port = this.takeFreePair();
    if (port === null) {
      this.exhausted++;
      return null;
    }
    const idx = port - this.firstPort;
    this.state[idx] = PortState.PairRtp;
    this.state[idx + 1] = PortState.PairRtcp;
    return port;
  }

  /** Allocates one port (rtcp-mux only streams, T.38 without RTCP); null when exhausted. */
  allocateSingle(): number | null {
    for (;;) {
      const port = this.singleRing.shift();
      if (port === undefined) break;
      const idx = port - this.firstPort;
      this.queuedSingle[idx] = 0;
      if (this.state[idx] === PortState.FreeSingle) {
        this.state[idx] = PortState.Single;
        this.freeSingleCount--;
        return port;
      }
      // Stale entry: the port was merged back into a pair meanwhile.
    }
    const base = this.takeFreePair();
    if (base === null) {
      this.exhausted++;
      return null;
    }
    const idx = base - this.firstPort;
    this.state[idx] = PortState.Single;
    this.state[idx + 1] = PortState.FreeSingle;
    this.freeSingleCount++;
    this.enqueueSingle(idx + 1);
    return base;
  }

  /**
   * Releases a port obtained from allocatePair (pass the RTP port) or
   * allocateSingle. Returns false, and changes nothing, when the port was not
   * allocated (double release, foreign port).
   */
  release(port: number): boolean {
    if (!Number.isInteger(port) || port < this.firstPort || port >= this.firstPort + this.state.length) return false;
    const idx = port - this.firstPort;
    const st = this.state[idx];
    if (st === PortState.PairRtp) {
      this.state[idx] = PortState.FreePair;
      this.state[idx + 1] = PortState.FreePair;
      this.enqueuePair(idx);
      return true;
    }
    if (st === PortState.Single) {
      const sibling = idx % 2 === 0 ? idx + 1 : idx - 1;
      if (this.state[sibling] === PortState.FreeSingle) {
        // Both halves free again: merge into a pair; the sibling's single-ring entry goes stale.
        this.state[sibling] = PortState.FreePair;
        this.state[idx] = PortState.FreePair;
        this.freeSingleCount--;
        this.enqueuePair(Math.min(idx, sibling));
      } else {
        this.state[idx] = PortState.FreeSingle;
        this.freeSingleCount++;
        this.enqueueSingle(idx);
      }
      return true;
    }
    return false;
  }

  /** True when the port (RTP or reserved RTCP) is currently handed out. */
  isAllocated(port: number): boolean {
    if (!Number.isInteger(port) || port < this.firstPort || port >= this.firstPort + this.state.length) return false;
    const st = this.state[port - this.firstPort];
    return st === PortState.PairRtp || st === PortState.PairRtcp || st === PortState.Single;
  }

  private takeFreePair(): number | null {
    for (;;) {
      const port = this.pairRing.shift();
      if (port === undefined) return null;
      const idx = port - this.firstPort;
      this.queuedPair[idx] = 0;
      if (this.state[idx] === PortState.FreePair && this.state[idx + 1] === PortState.FreePair) {
        this.freePairCount--;
        return port;
      }
    }
  }

  private enqueuePair(idx: number): void {
    this.freePairCount++;
    if (this.queuedPair[idx] === 1) return; // still waiting in the ring
    this.queuedPair[idx] = 1;
    this.pairRing.push(this.firstPort + idx);
  }

  private enqueueSingle(idx: number): void {
    if (this.queuedSingle[idx] === 1) return; // a stale entry is still in the ring: it becomes valid again
    this.queuedSingle[idx] = 1;
    this.singleRing.push(this.firstPort + idx);
  }
}
