/**
 * In-dialog keep-alive of a connected call: every interval (with jitter)
 * an OPTIONS inside each leg's dialog (RFC 3261 §11 allows OPTIONS in a
 * dialog). A leg that answers 481 or 408, or not at all, is gone
 * (RFC 3261 §12.2.1.2: a timeout or 481 to an in-dialog request ends the
 * dialog), and the call is ended: BYE to the leg that is still there.
 *
 * This is what keeps calls from outliving their parties: a caller and a
 * callee that both vanish without BYE (a BYE lost in an overload, a crashed
 * phone, a PBX restart) would otherwise leave a "confirmed" call holding
 * media ports until a session timer, which neither side may have asked for.
 * Any other final response (200, 405, 501, ...) shows the peer still has
 * the dialog. The interval is the SBC-wide SBCDialogKeepAliveTime (ours).
 */
import { SipStatus } from '../sip/status.js';
import type { CallCore } from './call-core.js';
import { keepAliveTimers, type CoarseTimer } from './coarse-timers.js';
import type { LegSide } from './ports.js';

export class DialogKeepAlive {
  private intervalMs = 0;
  /** The next probe when the interval is long (coarse-timers.ts); shorter ones use the call's timers. */
  private next: CoarseTimer | null = null;

  constructor(private readonly call: CallCore) {}

  /** Starts probing a connected call every `sec` seconds; 0 = off. */
  start(sec: number): void {
    if (!(sec > 0)) return;
    this.intervalMs = sec * 1000;
    this.arm();
  }

  /** The call ended: no further probe. */
  stop(): void {
    keepAliveTimers.cancel(this.next);
    this.next = null;
  }

  private arm(): void {
    if (this.call.ended) return;
    // ±10 % so that calls set up in the same second do not all probe in the same second.
    const ms = this.intervalMs * (0.9 + Math.random() * 0.2);
    // From 10 s up (the default is 300 s) whole seconds are precise enough, and a held call then
    // needs no node timer of its own (a Timeout, closures, a timer list slot: ~0.5 KB per call).
    if (this.intervalMs < 10_000) this.call.setTimer(ms, this.due);
    else this.next = keepAliveTimers.schedule(ms, this.due);
  }

  /** A probe is scheduled (for the call's timer count). */
  get pending(): number {
    return this.next === null ? 0 : 1;
  }

  private readonly due = (): void => {
    this.next = null;
    this.call.enqueue('dialog-keepalive', () => this.probe());
  };

  private probe(): void {
    const call = this.call;
    if (call.state !== 'confirmed') return;
    const sides: LegSide[] = ['A', 'B'];
    let pending = 0;
    const answered = (): void => {
      if (--pending === 0) this.arm();
    };
    for (const side of sides) {
      const leg = call.legs[side];
      const d = leg.dialog;
      if (d === null || d.state !== 'confirmed') continue;
      pending++;
      const req = d.createRequest('OPTIONS');
      req.setHeader('contact', leg.contact);
      req.setHeader('accept', 'application/sdp');
      call.sendInDialog(side, d, req, {
        onFinal: (res) => call.enqueue('keepalive-final', () => {
          call.record(side, 'in', res);
          if (res.status === SipStatus.CALL_DOES_NOT_EXIST || res.status === SipStatus.REQUEST_TIMEOUT) {
            return call.terminate(side, `leg ${side} gone: in-dialog OPTIONS answered ${res.status}`);
          }
          answered();
        }),
        onTimeout: () => call.enqueue('keepalive-timeout', () => call.terminate(side, `leg ${side} gone: no answer to in-dialog OPTIONS`)),
        onTransportError: () => call.enqueue('keepalive-error', () => call.terminate(side, `leg ${side} gone: in-dialog OPTIONS could not be sent`)),
      });
    }
    if (pending === 0) this.arm();
  }
}
