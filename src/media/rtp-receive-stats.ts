/**
 * RFC 3550 A.1/A.3/A.8 receive-side statistics of one source, for the
 * JavaScript relay (the native engine has the same rules in relay.cc).
 */

/**
 * A transit-time difference above this is a timestamp discontinuity (sender
 * restart, a gap without timestamp advance), not jitter: RFC 3550 A.8
 * assumes continuous timestamps. Such samples are skipped and counted.
 */
export const MAX_TRANSIT_DELTA_SEC = 3;

export class RtpReceiveStats {
  private started = false;
  private ssrc = 0;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = 0x10000;
  private received = 0;
  private lostBefore = 0;
  outOfOrder = 0;
  private haveTransit = false;
  private prevArrival = 0;
  private prevTs = 0;
  /** In RTP timestamp units. */
  jitter = 0;
  /** Transit differences skipped as discontinuities (see MAX_TRANSIT_DELTA_SEC). */
  jitterClamps = 0;

  lost(): number {
    if (!this.started) return this.lostBefore;
    return this.lostBefore + (this.cycles + this.maxSeq - this.baseSeq + 1) - this.received;
  }

  /**
   * Restarts the A.8 estimator: its state is in timestamp units of one source
   * at one clock rate, so it must not carry over a change of either.
   */
  resetJitter(): void {
    this.haveTransit = false;
    this.jitter = 0;
  }

  private restart(seq: number): void {
    if (this.started) this.lostBefore = this.lost();
    this.started = true;
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.cycles = 0;
    this.received = 0;
    this.badSeq = 0x10000;
    this.haveTransit = false;
  }

  /** arrivalUnits: arrival time expressed in RTP timestamp units of `clockRate`. */
  update(ssrc: number, seq: number, ts: number, arrivalUnits: number, clockRate: number): void {
    if (!this.started || ssrc !== this.ssrc) {
      this.ssrc = ssrc;
      this.restart(seq);
      this.resetJitter();
    } else {
      const udelta = (seq - this.maxSeq) & 0xffff;
      if (udelta < 3000) {
        if (seq < this.maxSeq) this.cycles += 65536;
        this.maxSeq = seq;
      } else if (udelta <= 65535 - 100) {
        if (seq === this.badSeq) {
          this.restart(seq);
        } else {
          this.badSeq = (seq + 1) & 0xffff;
          return;
        }
      } else {
        this.outOfOrder++;
      }
    }
    this.received++;
    if (this.haveTransit) {
      const d = Math.abs(arrivalUnits - this.prevArrival - ((ts - this.prevTs) | 0));
      if (Number.isFinite(d) && d <= MAX_TRANSIT_DELTA_SEC * clockRate) this.jitter += (d - this.jitter) / 16;
      else this.jitterClamps++;
    }
    this.haveTransit = true;
    this.prevArrival = arrivalUnits;
    this.prevTs = ts;
  }
}
