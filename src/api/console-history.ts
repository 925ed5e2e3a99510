/**
 * The dashboard's last hour: every 10 s one point (active calls, calls per
 * second and relayed packets per second since the previous point), kept for
 * an hour, so a dashboard opened now draws the hour before it. One status
 * read per 10 s whether or not anybody looks: the price of having the hour
 * when somebody does (nothing runs per call).
 */

export interface DashboardFigures {
  activeCalls: number;
  /** Calls since start (a counter). */
  totalCalls: number;
  /** Packets relayed since start (a counter). */
  packetsRelayed: number;
}

export interface HistoryPoint {
  t: number;
  calls: number;
  cps: number;
  pps: number;
}

export class DashboardHistory {
  private readonly pointsKept: HistoryPoint[] = [];
  private last: { t: number; totalCalls: number; packetsRelayed: number } | null = null;

  constructor(private readonly keepMs = 3_600_000) {}

  /** Adds a reading taken at `t` (ms); rates come from the previous reading. */
  add(t: number, f: DashboardFigures): void {
    const prev = this.last;
    this.last = { t, totalCalls: f.totalCalls, packetsRelayed: f.packetsRelayed };
    if (prev === null || t <= prev.t) return;
    const per = 1000 / (t - prev.t);
    this.pointsKept.push({
      t, calls: f.activeCalls,
      // A counter that went back (a restart behind a proxy) gives 0, not a negative rate.
      cps: Math.max(0, (f.totalCalls - prev.totalCalls) * per),
      pps: Math.max(0, (f.packetsRelayed - prev.packetsRelayed) * per),
    });
    while (this.pointsKept.length > 0 && this.pointsKept[0]!.t < t - this.keepMs) this.pointsKept.shift();
  }

  points(): readonly HistoryPoint[] {
    return this.pointsKept;
  }
}
