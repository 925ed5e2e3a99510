/**
 * Session timers (RFC 4028), negotiated per leg: on leg A we are the UAS,
 * on leg B (and on a transfer target's leg) the UAC. Where we refresh, a
 * re-INVITE with the last SDP we sent (or an UPDATE without SDP when the
 * peer allows it, §7.1) goes out at half the interval; where the peer
 * refreshes and does not, the call ends a little before expiry (§10).
 */
import type { SipMessage } from '../sip/message.js';
import { isSuccess, SipStatus } from '../sip/status.js';
import type { CallCore } from './call-core.js';
import { hasOptionTag, hasSdp, parseSessionExpires, setSessionExpires } from './headers.js';
import type { LegSide } from './ports.js';

interface SessionTimerState {
  deltaSec: number;
  weRefresh: boolean;
  timer: NodeJS.Timeout | null;
}

export class SessionTimers {
  private readonly state: { A: SessionTimerState | null; B: SessionTimerState | null } = { A: null, B: null };

  constructor(private readonly call: CallCore) {}

  /** Session-Expires (and Require/Supported: timer) on a message we send on `side`. */
  addHeaders(side: LegSide, msg: SipMessage, isResponse = false): void {
    const st = this.state[side];
    if (st === null) return;
    const refresher = st.weRefresh ? (isResponse ? 'uas' : 'uac') : (isResponse ? 'uac' : 'uas');
    setSessionExpires(msg, st.deltaSec, refresher);
    if (isResponse && !st.weRefresh) msg.setHeader('require', 'timer');
    else if (!isResponse) msg.setHeader('supported', 'timer');
  }

  /** Leg A, on our 2xx: the caller refreshes when it supports timers, else we do (§9). */
  negotiateAsUas(res: SipMessage): void {
    const invite = this.call.inviteA;
    const asked = parseSessionExpires(invite);
    const ours = this.call.src.profile.sessionExpiresSec;
    if (asked === null && ours <= 0) return;
    const delta = asked?.delta ?? ours;
    const callerCan = hasOptionTag(invite, 'timer');
    const weRefresh = asked?.refresher === 'uas' || !callerCan;
    this.state.A = { deltaSec: delta, weRefresh, timer: null };
    setSessionExpires(res, delta, weRefresh ? 'uas' : 'uac');
    if (!weRefresh) res.setHeader('require', 'timer');
    this.arm('A');
  }

  /**
   * A leg where we are the UAC (leg B, or a transfer target): the 2xx says
   * who refreshes; without Session-Expires in it we refresh what we asked for (§7.2).
   */
  negotiateAsUac(side: LegSide, res: SipMessage, askedSec: number): void {
    const got = parseSessionExpires(res);
    if (got === null && askedSec <= 0) return;
    const delta = got?.delta ?? askedSec;
    const weRefresh = got === null || got.refresher !== 'uas';
    this.state[side] = { deltaSec: delta, weRefresh, timer: null };
    this.arm(side);
  }

  /** A re-INVITE/UPDATE or its 2xx refreshed the session on `side`. */
  noteRefresh(side: LegSide, msg: SipMessage): void {
    const st = this.state[side];
    if (st === null) return;
    const se = parseSessionExpires(msg);
    if (se !== null) st.deltaSec = se.delta;
    this.arm(side);
  }

  /** The leg's peer changed (a transfer): its timer is negotiated anew. */
  reset(side: LegSide): void {
    const st = this.state[side];
    if (st !== null) this.call.clearTimer(st.timer);
    this.state[side] = null;
  }

  stopAll(): void {
    this.reset('A');
    this.reset('B');
  }

  private arm(side: LegSide): void {
    const st = this.state[side];
    if (st === null || this.call.ended) return;
    this.call.clearTimer(st.timer);
    if (st.weRefresh) {
      st.timer = this.call.setTimer((st.deltaSec * 1000) / 2, () => {
        st.timer = null;
        this.call.enqueue('session-refresh', () => this.sendRefresh(side));
      });
    } else {
      // §10: without a refresh, the session ends a little before it expires.
      const margin = Math.min(32, st.deltaSec / 3);
      st.timer = this.call.setTimer((st.deltaSec - margin) * 1000, () => {
        st.timer = null;
        this.call.enqueue('session-expired', () => this.call.terminate('sbc', `session timer expired on leg ${side}`));
      });
    }
  }

  private sendRefresh(side: LegSide): void {
    const leg = this.call.legs[side];
    const d = leg.dialog;
    if (d === null || this.call.state !== 'confirmed') return;
    if (!this.call.oa.canOffer) {
      // Another offer/answer is in flight; it refreshes the session, try again later.
      this.arm(side);
      return;
    }
    const method = leg.peerAllows('UPDATE') ? 'UPDATE' : 'INVITE';
    const req = d.createRequest(method);
    req.setHeader('contact', leg.contact);
    this.addHeaders(side, req);
    const sdp = leg.lastSdpSent;
    if (method === 'INVITE') {
      if (sdp !== null) req.setBody(sdp, 'application/sdp');
      this.call.oa.apply({ type: 'offer', offerer: 'sbc', toward: side, via: 'session-refresh' });
    }
    this.call.record(side, 'event', null, `session refresh by ${method}`);
    const done = (ok: boolean): void => {
      if (method === 'INVITE') this.call.oa.apply(ok ? { type: 'answer' } : { type: 'rollback' });
    };
    this.call.sendInDialog(side, d, req, {
      onFinal: (res) => this.call.enqueue('refresh-final', () => {
        this.call.record(side, 'in', res);
        done(isSuccess(res.status));
        if (isSuccess(res.status)) {
          if (method === 'INVITE') this.call.ackInDialog(side, d, req.cseq?.seq ?? d.localSeq, !hasSdp(req) ? sdp : null);
          this.noteRefresh(side, res);
        } else if (res.status === SipStatus.REQUEST_PENDING) this.arm(side);
        else this.call.terminate('sbc', `session refresh failed on leg ${side} (${res.status})`);
      }),
      onTimeout: () => this.call.enqueue('refresh-timeout', () => {
        done(false);
        this.call.terminate('sbc', `session refresh timeout on leg ${side}`);
      }),
      onTransportError: () => this.call.enqueue('refresh-error', () => {
        done(false);
        this.call.terminate('sbc', `session refresh failed on leg ${side}`);
      }),
    });
  }
}
