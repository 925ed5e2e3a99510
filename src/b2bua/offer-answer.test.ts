import { describe, expect, it } from 'vitest';
import { Dialog } from '../dialog/dialog.js';
import {
  OfferAnswer, nextOfferAnswerState, type OfferAnswerEvent, type OfferAnswerState, type OfferVia, type PendingAck,
} from './offer-answer.js';

const DIALOG = new Dialog({
  role: 'uac', callId: 'c', localTag: 'l', remoteTag: 'r', localUri: '<sip:a@x>', remoteUri: '<sip:b@y>', remoteTarget: 'sip:b@192.0.2.1',
  routeSet: [], localSeq: 1, remoteSeq: -1, secure: false, state: 'confirmed',
});
const ACK: PendingAck = { answerer: 'A', dialog: DIALOG, ackSeq: 1 };

const STABLE: OfferAnswerState = { kind: 'stable' };
const pending = (via: OfferVia, offerer: 'A' | 'B' | 'sbc' = 'A', toward: 'A' | 'B' = 'B'): OfferAnswerState => ({ kind: 'offer-pending', offerer, toward, via });
const ANSWER_IN_ACK: OfferAnswerState = { kind: 'answer-in-ack', ack: ACK };

const offer = (via: OfferVia, offerer: 'A' | 'B' | 'sbc' = 'A', toward: 'A' | 'B' = 'B'): OfferAnswerEvent => ({ type: 'offer', offerer, toward, via });
const ANSWER: OfferAnswerEvent = { type: 'answer' };
const OFFER_IN_2XX: OfferAnswerEvent = { type: 'offer-in-2xx', ack: ACK };
const ACK_EVENT: OfferAnswerEvent = { type: 'ack' };
const ROLLBACK: OfferAnswerEvent = { type: 'rollback' };

const ALL_VIAS: OfferVia[] = ['initial-INVITE', 'initial-solicit', 'reliable-1xx', 're-INVITE', 're-INVITE-solicit', 'UPDATE', 'session-refresh', 'transfer'];
const SOLICIT: OfferVia[] = ['initial-solicit', 're-INVITE-solicit'];
const INITIAL: OfferVia[] = ['initial-INVITE', 'initial-solicit', 'reliable-1xx'];

describe('offer/answer transition function (RFC 3264 / 6337)', () => {
  it('stable: any offer starts, an answer or an ACK without an offer is refused, rollback stays stable', () => {
    for (const via of ALL_VIAS) expect(nextOfferAnswerState(STABLE, offer(via))).toEqual(pending(via));
    expect(nextOfferAnswerState(STABLE, ANSWER)).toBeNull();
    expect(nextOfferAnswerState(STABLE, ACK_EVENT)).toBeNull();
    expect(nextOfferAnswerState(STABLE, ROLLBACK)).toEqual(STABLE);
  });

  it('stable + offer in a 2xx: another fork of the initial INVITE offers after an early offer/answer', () => {
    expect(nextOfferAnswerState(STABLE, OFFER_IN_2XX)).toEqual(ANSWER_IN_ACK);
  });

  it('an offer carried by a request is answered in its response: back to stable', () => {
    for (const via of ALL_VIAS.filter((v) => !SOLICIT.includes(v))) expect(nextOfferAnswerState(pending(via), ANSWER)).toEqual(STABLE);
  });

  it('a solicitation (INVITE without SDP) is not answered: its 2xx carries the offer, the ACK the answer', () => {
    for (const via of SOLICIT) {
      expect(nextOfferAnswerState(pending(via), ANSWER)).toBeNull();
      expect(nextOfferAnswerState(pending(via), OFFER_IN_2XX)).toEqual(ANSWER_IN_ACK);
    }
    expect(nextOfferAnswerState(ANSWER_IN_ACK, ACK_EVENT)).toEqual(STABLE);
  });

  it('an offer in a 2xx is refused where the INVITE itself carried the offer', () => {
    for (const via of ALL_VIAS.filter((v) => !SOLICIT.includes(v))) expect(nextOfferAnswerState(pending(via), OFFER_IN_2XX)).toBeNull();
  });

  it('a second offer while one is pending is refused (the 491 path) for every in-dialog offer', () => {
    for (const current of ALL_VIAS.filter((v) => !INITIAL.includes(v))) {
      for (const via of ALL_VIAS) expect(nextOfferAnswerState(pending(current), offer(via))).toBeNull();
    }
    for (const via of ALL_VIAS) expect(nextOfferAnswerState(ANSWER_IN_ACK, offer(via))).toBeNull();
  });

  it('during the initial INVITE only B\'s reliable-1xx offer or a retried INVITE may follow', () => {
    for (const current of INITIAL) {
      for (const via of ALL_VIAS) {
        const legal = via === 'reliable-1xx' || via === 'initial-INVITE' || via === 'initial-solicit';
        expect(nextOfferAnswerState(pending(current), offer(via, 'B', 'A')) !== null).toBe(legal);
      }
    }
  });

  it('answer-in-ack: nothing but the ACK (or a rollback when the call fails) moves it', () => {
    expect(nextOfferAnswerState(ANSWER_IN_ACK, ANSWER)).toBeNull();
    expect(nextOfferAnswerState(ANSWER_IN_ACK, OFFER_IN_2XX)).toBeNull();
    expect(nextOfferAnswerState(ANSWER_IN_ACK, ROLLBACK)).toEqual(STABLE);
  });

  it('a failed offer (non-2xx, timeout, media refused) rolls back from any pending state', () => {
    for (const via of ALL_VIAS) expect(nextOfferAnswerState(pending(via), ROLLBACK)).toEqual(STABLE);
  });
});

describe('OfferAnswer', () => {
  it('refuses an illegal event, keeps its state and reports it', () => {
    const refused: string[] = [];
    const oa = new OfferAnswer((s, e) => refused.push(`${s.kind}:${e.type}`));
    expect(oa.apply(offer('re-INVITE', 'A', 'B'))).toBe(true);
    expect(oa.canOffer).toBe(false);
    expect(oa.apply(offer('UPDATE', 'B', 'A'))).toBe(false);
    expect(oa.state).toEqual(pending('re-INVITE', 'A', 'B'));
    expect(refused).toEqual(['offer-pending:offer']);
  });

  it('names each side\'s RFC 3264 state', () => {
    const oa = new OfferAnswer(() => {});
    expect(oa.stateOf('A')).toBe('stable');
    oa.apply(offer('re-INVITE', 'A', 'B'));
    expect(oa.stateOf('A')).toBe('have-remote-offer');
    expect(oa.stateOf('B')).toBe('have-local-offer');
    oa.apply(ANSWER);
    oa.apply(offer('session-refresh', 'sbc', 'B'));
    expect(oa.stateOf('A')).toBe('stable');
    expect(oa.stateOf('B')).toBe('have-local-offer');
    oa.apply(ROLLBACK);
    oa.apply(offer('re-INVITE-solicit', 'B', 'A'));
    oa.apply({ type: 'offer-in-2xx', ack: { answerer: 'B', dialog: DIALOG, ackSeq: 3 } });
    expect(oa.stateOf('B')).toBe('have-remote-offer');
    expect(oa.stateOf('A')).toBe('have-local-offer');
    expect(oa.ackAnswerFrom('A')).toBeNull();
    expect(oa.ackAnswerFrom('B')?.ackSeq).toBe(3);
  });

  it('remembers forks that offered in a reliable 1xx, and the early answer it relayed', () => {
    const oa = new OfferAnswer(() => {});
    oa.apply(offer('initial-solicit'));
    oa.apply({ type: 'offer', offerer: 'B', toward: 'A', via: 'reliable-1xx', fork: 'fork-1' });
    expect(oa.offeredEarly('fork-1')).toBe(true);
    expect(oa.offeredEarly('fork-2')).toBe(false);
    expect(oa.pending('reliable-1xx')).toBe(true);
    oa.apply(ANSWER);
    expect(oa.canOffer).toBe(true);
    const out = Buffer.from('v=0\r\n');
    oa.rememberEarlyAnswer('raw', out);
    expect(oa.relayedEarlyAnswer('raw')).toBe(out);
    expect(oa.relayedEarlyAnswer('other')).toBeNull();
  });
});
