/**
 * The SDP offer/answer state of a call (RFC 3264 §4, RFC 6337 §2-3), one
 * machine for both legs. The B2BUA relays every offer from one leg to the
 * other, so one offer is in flight at a time for the whole call: while it
 * is, leg X (the offerer's) is in have-remote-offer and leg Y in
 * have-local-offer; an SBC-made offer (session refresh, transfer) has only
 * the leg it is sent on in have-local-offer.
 *
 * The cases besides "offer in a request, answer in its response":
 *  - an INVITE without SDP solicits the offer; it comes in the reliable 1xx
 *    (answer in PRACK, RFC 3262 §5) or in the 2xx (answer in ACK, §13.2.1);
 *  - after an offer/answer completed in a reliable 1xx and PRACK, SDP from
 *    that fork in its 2xx is no new offer (RFC 6337 §3.1.1);
 *  - an answer in an unreliable 1xx is a preview: the offer stays pending
 *    until the 2xx (RFC 3261 §13.2.1).
 *
 * Every change goes through `apply`; an event that is illegal in the
 * current state is refused (state unchanged) and logged, and callers ask
 * `canOffer` before relaying a new offer (491 otherwise, RFC 3261 §14).
 */
import type { Dialog } from '../dialog/dialog.js';
import type { LegSide } from './ports.js';

/** Where an offer came from and what carries it. */
export type OfferVia =
  | 'initial-INVITE' // A's INVITE with SDP, relayed to B
  | 'initial-solicit' // A's INVITE without SDP: B is asked for the offer
  | 'reliable-1xx' // B's offer in a reliable 1xx (solicited by an INVITE without SDP)
  | 're-INVITE'
  | 're-INVITE-solicit' // re-INVITE without SDP: the 2xx carries the offer
  | 'UPDATE'
  | 'session-refresh' // the SBC's own re-INVITE (RFC 4028)
  | 'transfer'; // the SBC's re-INVITE carrying a transfer target's offer

/** The ACK that will carry the answer to an offer sent in a 2xx, and where its answer goes on. */
export interface PendingAck {
  /** The side whose ACK carries the answer. */
  readonly answerer: LegSide;
  /** The dialog (on the other side) whose 2xx is waiting for our ACK. */
  readonly dialog: Dialog;
  /** CSeq number of that dialog's INVITE. */
  readonly ackSeq: number;
}

export type OfferAnswerState =
  | { readonly kind: 'stable' }
  | { readonly kind: 'offer-pending'; readonly offerer: LegSide | 'sbc'; readonly toward: LegSide; readonly via: OfferVia }
  | { readonly kind: 'answer-in-ack'; readonly ack: PendingAck };

export type OfferAnswerEvent =
  /** `fork`: for an offer in a reliable 1xx, the early dialog (remote tag) it came from. */
  | { readonly type: 'offer'; readonly offerer: LegSide | 'sbc'; readonly toward: LegSide; readonly via: OfferVia; readonly fork?: string }
  /** The answer arrived in a response (reliable 1xx, 2xx) or in PRACK. */
  | { readonly type: 'answer' }
  /** A 2xx to a soliciting INVITE carries the offer; the answer will come in the ACK. */
  | { readonly type: 'offer-in-2xx'; readonly ack: PendingAck }
  | { readonly type: 'ack' }
  /** The offer failed (non-2xx, timeout, media refused it): back to the last agreed session. */
  | { readonly type: 'rollback' };

export type RfcState = 'stable' | 'have-local-offer' | 'have-remote-offer';

/** The transition function: the next state, or null when the event is illegal in `s`. */
export function nextOfferAnswerState(s: OfferAnswerState, e: OfferAnswerEvent): OfferAnswerState | null {
  switch (e.type) {
    case 'offer': {
      const next: OfferAnswerState = { kind: 'offer-pending', offerer: e.offerer, toward: e.toward, via: e.via };
      if (s.kind === 'stable') return next;
      if (s.kind !== 'offer-pending' || !INITIAL.has(s.via)) return null;
      // B's offer in a reliable 1xx answers the solicitation of A's INVITE (another fork may do the same),
      // and a retried initial INVITE (digest challenge, 422, 3xx) carries the same offer or solicitation again.
      return e.via === 'reliable-1xx' || e.via === 'initial-INVITE' || e.via === 'initial-solicit' ? next : null;
    }
    case 'answer':
      if (s.kind !== 'offer-pending' || s.via === 'initial-solicit' || s.via === 're-INVITE-solicit') return null;
      return STABLE;
    case 'offer-in-2xx':
      // From stable: another fork of the initial INVITE answers with an offer after the first fork's
      // offer/answer completed in its reliable 1xx (each fork is its own dialog, RFC 3261 §13.2.2.4).
      if (s.kind === 'stable') return { kind: 'answer-in-ack', ack: e.ack };
      if (s.kind !== 'offer-pending' || (s.via !== 'initial-solicit' && s.via !== 're-INVITE-solicit')) return null;
      return { kind: 'answer-in-ack', ack: e.ack };
    case 'ack':
      return s.kind === 'answer-in-ack' ? STABLE : null;
    case 'rollback':
      return STABLE;
  }
}

const STABLE: OfferAnswerState = { kind: 'stable' };
const INITIAL: ReadonlySet<OfferVia> = new Set<OfferVia>(['initial-INVITE', 'initial-solicit', 'reliable-1xx']);

export class OfferAnswer {
  private current: OfferAnswerState = STABLE;
  /** Early dialogs (by remote tag) whose offer came in a reliable 1xx (answered in PRACK). */
  /** Made on the first fork that offers in a reliable 1xx (RFC 3262 is rare). */
  private earlyOfferForks: Set<string> | null = null;
  /** B's last early answer as received and as relayed: the same SDP again in the 2xx is not processed twice. */
  private earlyAnswer: { raw: string; out: Buffer } | null = null;

  constructor(private readonly onIllegal: (state: OfferAnswerState, event: OfferAnswerEvent) => void) {}

  get state(): OfferAnswerState {
    return this.current;
  }

  /** Applies `e`; false (state unchanged, logged) when it is illegal now. */
  apply(e: OfferAnswerEvent): boolean {
    const next = nextOfferAnswerState(this.current, e);
    if (next === null) {
      this.onIllegal(this.current, e);
      return false;
    }
    if (e.type === 'offer' && e.fork !== undefined) (this.earlyOfferForks ??= new Set()).add(e.fork);
    this.current = next;
    return true;
  }

  /** A new offer may start (otherwise: 491 to the peer, or retry later for our own). */
  get canOffer(): boolean {
    return this.current.kind === 'stable';
  }

  /** The RFC 3264 state of one side's dialog. */
  stateOf(side: LegSide): RfcState {
    const s = this.current;
    if (s.kind === 'stable') return 'stable';
    if (s.kind === 'answer-in-ack') return s.ack.answerer === side ? 'have-remote-offer' : 'have-local-offer';
    if (s.offerer === side) return 'have-remote-offer';
    return s.toward === side ? 'have-local-offer' : 'stable';
  }

  /** An offer (or solicitation) carried by one of `vias` is waiting for its answer. */
  pending(...vias: OfferVia[]): boolean {
    return this.current.kind === 'offer-pending' && vias.includes(this.current.via);
  }

  /** The ACK waiting to carry an answer from `side`, if any. */
  ackAnswerFrom(side: LegSide): PendingAck | null {
    const s = this.current;
    return s.kind === 'answer-in-ack' && s.ack.answerer === side ? s.ack : null;
  }

  /** The fork made its offer in a reliable 1xx: SDP in its 2xx is no new offer (RFC 3262 §5). */
  offeredEarly(fork: string): boolean {
    return this.earlyOfferForks?.has(fork) === true;
  }

  rememberEarlyAnswer(raw: string, out: Buffer): void {
    this.earlyAnswer = { raw, out };
  }

  /** What we relayed for this exact early answer before, or null. */
  relayedEarlyAnswer(raw: string): Buffer | null {
    return this.earlyAnswer !== null && this.earlyAnswer.raw === raw ? this.earlyAnswer.out : null;
  }
}
