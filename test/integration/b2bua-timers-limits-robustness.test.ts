/**
 * Timers, limits and robustness of the B2BUA with sipp on both legs:
 * session timers (refresh by UPDATE and re-INVITE, failed refresh, 422
 * retry), max call duration, no answer (timer B and the no-answer timer),
 * a large INVITE over TCP and a malformed INVITE. Timer values in the test
 * profiles are short (seconds) so each test stays quick.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled } from './helpers/sipp.js';
import { expectClean, expectNoLeak, expectSuccess, received, runFlow, sent } from './helpers/b2bua-harness.js';

beforeAll(() => {
  assertSippInstalled();
});

const SHORT_TIMER = { sessionExpiresSec: 2, minSeSec: 1 };

describe('B2BUA session timers (RFC 4028) with sipp', () => {
  it('the SBC refreshes leg B by UPDATE when the callee makes it the refresher', async () => {
    const r = await runFlow('b2bua-uac-long.xml', ['b2bua-uas-session-timer.xml'], { harness: { dstProfile: SHORT_TIMER } });
    expectSuccess(r);
    const [inv] = received(r.uasTrace[0]!, 'INVITE');
    expect(inv!.msg.getHeader('session-expires')).toBe('2');
    expect(inv!.msg.getHeader('min-se')).toBe('1');
    expect(inv!.msg.getHeader('supported')).toContain('timer');
    const updates = received(r.uasTrace[0]!, 'UPDATE');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates[0]!.msg.getHeader('session-expires')).toBe('2;refresher=uac');
    expect(updates[0]!.msg.body.length).toBe(0);
    // Refreshes are per leg: the caller sees none of them.
    expect(received(r.uacTrace, 'UPDATE')).toHaveLength(0);
    expect(received(r.uacTrace, 'INVITE')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.terminationSide).toBe('A');
  }, 30_000);

  it('without UPDATE in the callee\'s Allow the refresh is a re-INVITE with the last SDP', async () => {
    const r = await runFlow('b2bua-uac-long.xml', ['b2bua-uas-basic.xml'], { harness: { dstProfile: SHORT_TIMER } });
    expectSuccess(r);
    const invites = received(r.uasTrace[0]!, 'INVITE');
    expect(invites.length).toBeGreaterThanOrEqual(2);
    expect(invites[1]!.msg.getHeader('session-expires')).toBe('2;refresher=uac');
    expect(invites[1]!.msg.body.toString('latin1')).toContain('m=audio');
    expect(received(r.uasTrace[0]!, 'ACK').length).toBe(invites.length);
    expect(received(r.uacTrace, 'INVITE')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('a refused refresh tears down both legs with BYE', async () => {
    const r = await runFlow('b2bua-uac-wait-bye.xml', ['b2bua-uas-session-timer-fail.xml'], { harness: { dstProfile: SHORT_TIMER } });
    expectSuccess(r);
    expect(received(r.uacTrace, 'BYE')).toHaveLength(1);
    expect(received(r.uasTrace[0]!, 'BYE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    const cdr = r.sbc.cdr.records[0]!;
    expect(cdr.terminationSide).toBe('sbc');
    expect(cdr.terminationReason).toContain('session refresh failed on leg B');
  }, 30_000);

  it('leg A: a caller supporting timers is made the refresher; without its refresh both legs are BYEd', async () => {
    const r = await runFlow('b2bua-uac-wait-bye.xml', ['b2bua-uas-basic.xml'], { harness: { srcProfile: SHORT_TIMER } });
    expectSuccess(r);
    const ok = received(r.uacTrace, 200).find((m) => m.msg.cseq?.method === 'INVITE')!;
    expect(ok.msg.getHeader('session-expires')).toBe('2;refresher=uac');
    expect(ok.msg.getHeader('require')).toBe('timer');
    expect(received(r.uacTrace, 'BYE')).toHaveLength(1);
    expect(received(r.uasTrace[0]!, 'BYE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.terminationReason).toBe('session timer expired on leg A');
  }, 30_000);

  it('leg A: a caller without timer support is refreshed by the SBC (re-INVITE with the last SDP)', async () => {
    const r = await runFlow('b2bua-uac-refreshed.xml', ['b2bua-uas-basic.xml'], { harness: { srcProfile: SHORT_TIMER } });
    expectSuccess(r);
    const ok = received(r.uacTrace, 200).find((m) => m.msg.cseq?.method === 'INVITE')!;
    expect(ok.msg.getHeader('session-expires')).toBe('2;refresher=uas');
    const [refresh] = received(r.uacTrace, 'INVITE');
    expect(refresh!.msg.getHeader('session-expires')).toBe('2;refresher=uac');
    expect(refresh!.msg.body.toString('latin1')).toContain('o=user2');
    // The refresh stays on leg A.
    expect(received(r.uasTrace[0]!, 'INVITE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('422 from the callee: the INVITE is retried with its Min-SE', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-422.xml'], { harness: { dstProfile: SHORT_TIMER } });
    expectSuccess(r);
    const invites = received(r.uasTrace[0]!, 'INVITE');
    expect(invites).toHaveLength(2);
    expect(invites[1]!.msg.getHeader('session-expires')).toBe('3');
    expect(invites[1]!.msg.getHeader('min-se')).toBe('3');
    expect(invites[1]!.msg.cseq!.seq).toBeGreaterThan(invites[0]!.msg.cseq!.seq);
    expect(invites[1]!.msg.callId).toBe(invites[0]!.msg.callId);
    expect(received(r.uacTrace, 422)).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);
});

describe('B2BUA limits and timeouts with sipp', () => {
  it('max call duration: BYE on both legs', async () => {
    const r = await runFlow('b2bua-uac-wait-bye.xml', ['b2bua-uas-basic.xml'], { harness: { dstProfile: { maxCallDurationSec: 1 } } });
    expectSuccess(r);
    expect(received(r.uacTrace, 'BYE')).toHaveLength(1);
    expect(received(r.uasTrace[0]!, 'BYE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.terminationReason).toBe('max call duration');
  }, 30_000);

  it('callee never answers: timer B ends leg B and the caller gets 408', async () => {
    const r = await runFlow('b2bua-uac-fail.xml', ['b2bua-uas-silent.xml'], { harness: { t1Ms: 30 } });
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(received(r.uacTrace, 408)).toHaveLength(1);
    // Retransmitted by the SBC's client transaction until timer B.
    expect(received(r.uasTrace[0]!, 'INVITE').length).toBeGreaterThan(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.sipStatus).toBe(408);
  }, 30_000);

  it('callee rings without answering: CANCEL after the no-answer time, 408 to the caller', async () => {
    const r = await runFlow('b2bua-uac-fail.xml', ['b2bua-uas-ringing-cancel.xml'], { harness: { dstProfile: { noAnswerTimeoutSec: 1 } } });
    expectSuccess(r);
    expect(received(r.uacTrace, 180)).toHaveLength(1);
    expect(received(r.uacTrace, 408)).toHaveLength(1);
    expect(received(r.uasTrace[0]!, 'CANCEL')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    const cdr = r.sbc.cdr.records[0]!;
    expect(cdr.sipStatus).toBe(408);
    expect(cdr.terminationReason).toBe('no answer');
  }, 30_000);
});

describe('B2BUA robustness with sipp', () => {
  it('a large INVITE (3 KB SDP, 40 extra headers) over TCP arrives whole on leg B', async () => {
    const r = await runFlow('b2bua-uac-large.xml', ['b2bua-uas-basic.xml'], { transport: 't1' });
    expectSuccess(r);
    const [aInv] = sent(r.uacTrace, 'INVITE');
    const [bInv] = received(r.uasTrace[0]!, 'INVITE');
    expect(aInv!.msg.body.length).toBeGreaterThan(3000);
    expect(bInv!.msg.body.equals(aInv!.msg.body)).toBe(true);
    for (let i = 0; i < 40; i++) {
      const name = `x-big-${String(i).padStart(2, '0')}`;
      expect(bInv!.msg.getHeader(name), name).toBe(aInv!.msg.getHeader(name));
    }
    expect(bInv!.raw.length).toBeGreaterThan(5000);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('a malformed INVITE gets 400 and the SBC keeps serving calls', async () => {
    const r = await runFlow('b2bua-uac-malformed.xml', ['b2bua-uas-basic.xml'], { uacSendsMalformed: true });
    expectSuccess(r);
    expect(received(r.uacTrace, 400)).toHaveLength(1);
    // Only the good INVITE reached leg B.
    expect(received(r.uasTrace[0]!, 'INVITE')).toHaveLength(1);
    expect(r.sbc.cdr.records).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);
});
