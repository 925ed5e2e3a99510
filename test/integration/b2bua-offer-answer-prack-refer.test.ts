/**
 * In-dialog and early-dialog flows through the B2BUA with sipp on both
 * legs: UPDATE, re-INVITE without SDP, glare, INFO, early media, PRACK
 * (end to end and terminated by the SBC), REFER relayed and handled by the
 * SBC. Each test checks what both sides saw, that no topology crossed, and
 * that the SBC ends with no call, dialog or timer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled } from './helpers/sipp.js';
import { expectClean, expectNoLeak, expectSuccess, received, runFlow, sent } from './helpers/b2bua-harness.js';

beforeAll(() => {
  assertSippInstalled();
});

function sdpOf(m: { msg: { body: Buffer; contentType: string | undefined } }): string {
  return m.msg.contentType === 'application/sdp' ? m.msg.body.toString('latin1') : '';
}

describe('B2BUA in-dialog flows with sipp on both legs', () => {
  it('UPDATE with SDP in both directions', async () => {
    const r = await runFlow('b2bua-uac-update.xml', ['b2bua-uas-update.xml']);
    expectSuccess(r);
    const [bUpdate] = received(r.uasTrace[0]!, 'UPDATE');
    expect(sdpOf(bUpdate!)).toContain('a=sendonly');
    const [aUpdate] = received(r.uacTrace, 'UPDATE');
    expect(sdpOf(aUpdate!)).toContain('a=inactive');
    // Each side's 200 to the UPDATE reaches the other with its SDP.
    const aOks = received(r.uacTrace, 200).filter((m) => m.msg.cseq?.method === 'UPDATE');
    expect(sdpOf(aOks[0]!)).toContain('a=recvonly');
    const bOks = received(r.uasTrace[0]!, 200).filter((m) => m.msg.cseq?.method === 'UPDATE');
    expect(sdpOf(bOks[0]!)).toContain('a=recvonly');
    expect(aUpdate!.msg.getHeader('contact')).toContain(`:${r.sbc.udpPort}`);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('re-INVITE without SDP: offer in the 200, answer in the ACK; hold re-INVITE from the callee', async () => {
    const r = await runFlow('b2bua-uac-reinvite-nosdp.xml', ['b2bua-uas-reinvite-nosdp.xml']);
    expectSuccess(r);
    const bInvites = received(r.uasTrace[0]!, 'INVITE');
    expect(bInvites).toHaveLength(2);
    expect(bInvites[1]!.msg.body.length).toBe(0);
    const aOk = received(r.uacTrace, 200).filter((m) => m.msg.cseq?.method === 'INVITE' && m.msg.cseq.seq === 2);
    expect(sdpOf(aOk[0]!)).toContain('a=sendrecv');
    // The ACK on leg B waited for A's ACK and carries A's answer.
    const bAcks = received(r.uasTrace[0]!, 'ACK');
    expect(bAcks).toHaveLength(2);
    expect(sdpOf(bAcks[1]!)).toContain('m=audio');
    const aInvites = received(r.uacTrace, 'INVITE');
    expect(aInvites).toHaveLength(1);
    expect(sdpOf(aInvites[0]!)).toContain('a=inactive');
    expect(received(r.uacTrace, 'ACK')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('glare: a re-INVITE meeting a pending one gets 491; a 491 from the peer is relayed', async () => {
    const r = await runFlow('b2bua-uac-glare.xml', ['b2bua-uas-glare.xml']);
    expectSuccess(r);
    expect(received(r.uasTrace[0]!, 491)).toHaveLength(1);
    expect(received(r.uacTrace, 491)).toHaveLength(1);
    // The callee's re-INVITE never reached the caller.
    expect(received(r.uacTrace, 'INVITE')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('INFO with a DTMF relay body is relayed unchanged', async () => {
    const r = await runFlow('b2bua-uac-info.xml', ['b2bua-uas-basic.xml']);
    expectSuccess(r);
    const [info] = received(r.uasTrace[0]!, 'INFO');
    expect(info!.msg.contentType).toBe('application/dtmf-relay');
    expect(info!.msg.body.toString('latin1').replace(/\r/g, '')).toContain('Signal=5\nDuration=160');
    expect(received(r.uacTrace, 200).some((m) => m.msg.cseq?.method === 'INFO')).toBe(true);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('early media: 180, then 183 with SDP twice, each relayed in order', async () => {
    const r = await runFlow('b2bua-uac-early-media.xml', ['b2bua-uas-early-media.xml']);
    expectSuccess(r);
    const early = received(r.uacTrace, 183);
    expect(early).toHaveLength(2);
    for (const m of early) expect(sdpOf(m)).toContain('o=user2');
    expect(early.map((m) => m.msg.getHeader('x-progress'))).toEqual(['1', '2']);
    expect(received(r.uacTrace, 180)).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);
});

describe('B2BUA reliable provisional responses (RFC 3262) with sipp', () => {
  it('end to end when both sides support 100rel: reliable 183 relayed, PRACK mapped', async () => {
    const r = await runFlow('b2bua-uac-prack.xml', ['b2bua-uas-prack.xml']);
    expectSuccess(r);
    const [inv] = received(r.uasTrace[0]!, 'INVITE');
    expect(inv!.msg.getHeader('supported')).toContain('100rel');
    const [p183] = received(r.uacTrace, 183);
    expect(p183!.msg.getHeader('require')).toBe('100rel');
    expect(p183!.msg.getHeader('rseq')).toMatch(/^\d+$/);
    const [prack] = received(r.uasTrace[0]!, 'PRACK');
    // B's own RSeq (42) and INVITE CSeq, whatever A's were.
    expect(prack!.msg.getHeader('rack')).toBe(`42 ${inv!.msg.cseq!.seq} INVITE`);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('terminated by the SBC when the caller lacks 100rel (prackMode local)', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-prack.xml'], { harness: { dstProfile: { prackMode: 'local' } } });
    expectSuccess(r);
    const [inv] = received(r.uasTrace[0]!, 'INVITE');
    expect(inv!.msg.getHeader('supported')).toContain('100rel');
    expect(received(r.uasTrace[0]!, 'PRACK')).toHaveLength(1);
    const [p183] = received(r.uacTrace, 183);
    expect(p183!.msg.getHeader('require')).toBeUndefined();
    expect(p183!.msg.getHeader('rseq')).toBeUndefined();
    expect(sdpOf(p183!)).toContain('o=user2');
    expect(sent(r.uacTrace, 'PRACK')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('prackMode local, INVITE without SDP: the offer in the reliable 183 goes to A reliably, A answers in PRACK', async () => {
    const r = await runFlow('b2bua-uac-prack-nosdp.xml', ['b2bua-uas-prack-nosdp.xml'], { harness: { dstProfile: { prackMode: 'local' } } });
    expectSuccess(r);
    const [p183] = received(r.uacTrace, 183);
    expect(p183!.msg.getHeader('require')).toBe('100rel');
    expect(sdpOf(p183!)).toContain('o=user2');
    const [prack] = received(r.uasTrace[0]!, 'PRACK');
    expect(sdpOf(prack!)).toContain('o=user1');
    // O/A is complete: the 2xx carries no SDP, the ACKs neither.
    expect(received(r.uasTrace[0]!, 'ACK')[0]!.msg.body.length).toBe(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);
});

describe('B2BUA REFER with sipp', () => {
  it('referMode relay: REFER, 202 and the NOTIFY sipfrag cross the SBC', async () => {
    const r = await runFlow('b2bua-uac-refer-relay.xml', ['b2bua-uas-refer-relay.xml']);
    expectSuccess(r);
    const [refer] = received(r.uasTrace[0]!, 'REFER');
    expect(refer!.msg.getHeader('refer-to')).toBe('<sip:5555@pbx.example>');
    expect(refer!.msg.getHeader('referred-by')).toBe('<sip:alice@pbx.example>');
    const [notify] = received(r.uacTrace, 'NOTIFY');
    expect(notify!.msg.getHeader('event')).toBe('refer');
    expect(notify!.msg.getHeader('content-type')).toBe('message/sipfrag;version=2.0');
    expect(notify!.msg.body.toString('latin1')).toContain('SIP/2.0 200 OK');
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('referMode local, the callee refers: the SBC calls the target and replaces leg B', async () => {
    const r = await runFlow('b2bua-uac-transferee.xml', ['b2bua-uas-referrer.xml', 'b2bua-uas-basic.xml'], {
      harness: { dstProfile: { referMode: 'local' }, routeByUser: { '5555': 1 } },
    });
    expectSuccess(r);
    const referrer = r.uasTrace[0]!;
    const target = r.uasTrace[1]!;
    const notifies = received(referrer, 'NOTIFY');
    expect(notifies.map((n) => n.msg.body.toString('latin1').trim())).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
    expect(notifies[1]!.msg.getHeader('subscription-state')).toMatch(/^terminated/);
    expect(received(referrer, 'BYE')).toHaveLength(1);
    // The target got a call without SDP, offered in its 200, and the caller's answer in the ACK.
    const [tInv] = received(target, 'INVITE');
    expect(tInv!.msg.requestUri).toContain('5555@');
    expect(tInv!.msg.body.length).toBe(0);
    expect(tInv!.msg.getHeader('referred-by')).toBe('<sip:bob@trunk.example>');
    expect(sdpOf(received(target, 'ACK')[0]!)).toContain('o=user1');
    // The caller was re-INVITEd with the target's media and hung up toward the target.
    const [reinvite] = received(r.uacTrace, 'INVITE');
    expect(sdpOf(reinvite!)).toContain('o=user2');
    expect(received(target, 'BYE')).toHaveLength(1);
    expect(received(referrer, 'REFER')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
    const cdr = r.sbc.cdr.records[0]!;
    expect(cdr.timeline.some((e) => e.note === 'transfer complete')).toBe(true);
  }, 30_000);

  it('referMode local, the target is busy: NOTIFY 486 to the referrer, the call stays up', async () => {
    const r = await runFlow('b2bua-uac-1s.xml', ['b2bua-uas-referrer-fail.xml', 'b2bua-uas-486.xml'], {
      harness: { dstProfile: { referMode: 'local' }, routeByUser: { '6666': 1 } },
    });
    expectSuccess(r);
    const notifies = received(r.uasTrace[0]!, 'NOTIFY');
    expect(notifies.map((n) => n.msg.body.toString('latin1').trim())).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 486 Busy Here']);
    expect(notifies[1]!.msg.getHeader('subscription-state')).toMatch(/^terminated/);
    expect(received(r.uasTrace[1]!, 'INVITE')).toHaveLength(1);
    // The caller saw nothing of it and its BYE reached the referrer.
    expect(received(r.uacTrace, 'INVITE')).toHaveLength(0);
    expect(received(r.uasTrace[0]!, 'BYE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('referMode local, the caller refers: the target takes leg A, the callee hangs up toward it', async () => {
    const r = await runFlow('b2bua-uac-referrer.xml', ['b2bua-uas-transferee.xml', 'b2bua-uas-basic.xml'], {
      harness: { srcProfile: { referMode: 'local' }, routeByUser: { '5555': 1 } },
    });
    expectSuccess(r);
    const notifies = received(r.uacTrace, 'NOTIFY');
    expect(notifies.map((n) => n.msg.body.toString('latin1').trim())).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
    expect(received(r.uacTrace, 'BYE')).toHaveLength(1);
    const target = r.uasTrace[1]!;
    expect(received(target, 'INVITE')).toHaveLength(1);
    expect(received(target, 'BYE')).toHaveLength(1);
    expect(received(r.uasTrace[0]!, 'REFER')).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);
});
