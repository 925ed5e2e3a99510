/**
 * Receive-side statistics of one RTP stream, per RFC 3550 Appendix A:
 * extended highest sequence number with wrap-around and a restart on a
 * confirmed large jump (A.1), expected and lost packets (A.3), interarrival
 * jitter (A.8), plus loss bursts in the spirit of RFC 3611 §4.7.2 for the
 * E-model's burst ratio.
 *
 * Bursts are judged on a sliding window of the last 64 sequence numbers, so
 * a packet that arrives late (reordered) inside the window is not counted
 * as lost; older packets are final.
 */

const SEQ_MOD = 65536;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const WINDOW = 64;

export interface RtpReceiveStats {
  received: number;
  expected: number;
  /** expected - received, never negative (duplicates can make it so). */
  lost: number;
  /** 0..100. */
  lossPct: number;
  /** Packets that arrived with a sequence number below the highest seen. */
  reordered: number;
  duplicates: number;
  /** RFC 3550 interarrival jitter, in timestamp units and in ms. */
  jitterTs: number;
  jitterMs: number;
  /** Loss runs (consecutive lost packets) and their mean length. */
  lossBursts: number;
  meanBurstLength: number;
  /**
   * G.113 burst ratio: observed mean burst length over the mean for random
   * loss at the same rate (1 / (1 - p)); 1 when no loss.
   */
  burstRatio: number;
}

export class RtpReceiveEstimator {
  private started = false;
  private baseSeq = 0;
  private maxSeq = 0;
  private badSeq = SEQ_MOD + 1;
  private cycles = 0;
  private received = 0;
  private reordered = 0;
  private duplicates = 0;
  private transit: number | null = null;
  private jitter = 0;
  /** Received flags of extended seqs (finalizedUpTo, extMax], indexed mod WINDOW. */
  private readonly seen = new Uint8Array(WINDOW);
  private finalizedUpTo = 0;
  private runLength = 0;
  private runs = 0;
  private lostInRuns = 0;

  /** clockRate: RTP timestamp units per second (8000 for G.711). */
  constructor(private readonly clockRate = 8000) {}

  /**
   * One packet: its sequence number, RTP timestamp, and arrival time in ms
   * (any monotonic clock).
   */
  onPacket(seq: number, rtpTimestamp: number, arrivalMs: number): void {
    seq &= 0xffff;
    if (!this.started) {
      this.restart(seq);
      this.started = true;
    } else {
      const udelta = (seq - this.maxSeq) & 0xffff;
      if (udelta === 0) {
        this.duplicates++;
        return;
      }
      if (udelta < MAX_DROPOUT) {
        if (seq < this.maxSeq) this.cycles += SEQ_MOD;
        this.maxSeq = seq;
        this.mark(this.extMax());
      } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
        // A big jump: accept it only if the next packet follows it (the source restarted).
        if (seq === this.badSeq) {
          this.finalizeAll();
          this.restart(seq);
        } else {
          this.badSeq = (seq + 1) & 0xffff;
          return;
        }
      } else {
        // Older than the highest seen: reordered, or a duplicate of one still in the window.
        const ext = this.extMax() - ((this.maxSeq - seq) & 0xffff);
        if (ext > this.finalizedUpTo && ext >= this.extBase()) {
          if (this.seen[ext % WINDOW] === 1) {
            this.duplicates++;
            return;
          }
          this.seen[ext % WINDOW] = 1;
        }
        this.reordered++;
      }
    }
    this.received++;
    // A.8: jitter from the difference of relative transit times, in timestamp units.
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    const transit = arrivalTs - rtpTimestamp;
    if (this.transit !== null) {
      let d = Math.abs(transit - this.transit);
      // RTP timestamps wrap at 2^32: a huge difference is a wrap, not jitter.
      if (d > 2 ** 31) d = Math.abs(d - 2 ** 32);
      this.jitter += (d - this.jitter) / 16;
    }
    this.transit = transit;
  }

  stats(): RtpReceiveStats {
    const expected = this.started ? this.extMax() - this.extBase() + 1 : 0;
    const lost = Math.max(0, expected - this.received);
    // Include the runs still inside the window, without finalizing them.
    let runs = this.runs;
    let lostInRuns = this.lostInRuns;
    let run = this.runLength;
    for (let s = this.finalizedUpTo + 1; s <= this.extMax() && this.started; s++) {
      if (s < this.extBase()) continue;
      if (this.seen[s % WINDOW] === 1) {
        if (run > 0) {
          runs++;
          lostInRuns += run;
        }
        run = 0;
      } else run++;
    }
    if (run > 0) {
      runs++;
      lostInRuns += run;
    }
    const p = expected > 0 ? lost / expected : 0;
    const meanBurst = runs > 0 ? lostInRuns / runs : 0;
    const randomMean = p < 1 ? 1 / (1 - p) : 1;
    return {
      received: this.received,
      expected,
      lost,
      lossPct: expected > 0 ? (100 * lost) / expected : 0,
      reordered: this.reordered,
      duplicates: this.duplicates,
      jitterTs: this.jitter,
      jitterMs: (this.jitter * 1000) / this.clockRate,
      lossBursts: runs,
      meanBurstLength: meanBurst,
      burstRatio: runs > 0 ? Math.max(1, meanBurst / randomMean) : 1,
    };
  }

  private extMax(): number {
    return this.cycles + this.maxSeq;
  }

  private extBase(): number {
    return this.baseSeq;
  }

  private restart(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.seen.fill(0);
    this.finalizedUpTo = seq - 1;
    this.runLength = 0;
    this.seen[seq % WINDOW] = 1;
  }

  /** Marks an extended seq received and finalizes what fell out of the window. */
  private mark(ext: number): void {
    while (this.finalizedUpTo < ext - WINDOW) this.finalizeOne();
    this.seen[ext % WINDOW] = 1;
  }

  private finalizeOne(): void {
    const s = ++this.finalizedUpTo;
    const got = this.seen[s % WINDOW] === 1;
    this.seen[s % WINDOW] = 0;
    if (got) this.closeRun();
    else this.runLength++;
  }

  private closeRun(): void {
    if (this.runLength > 0) {
      this.runs++;
      this.lostInRuns += this.runLength;
      this.runLength = 0;
    }
  }

  private finalizeAll(): void {
    while (this.finalizedUpTo < this.extMax()) this.finalizeOne();
    this.closeRun();
  }
}
