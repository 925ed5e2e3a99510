/**
 * Call flows through the B2BUA with sipp on both sides (UAC -> SBC -> UAS),
 * asserting what each side saw and that nothing of one side's topology
 * reached the other.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled } from './helpers/sipp.js';
import { expectClean, expectNoLeak, received, runFlow } from './helpers/b2bua-harness.js';

beforeAll(() => {
  assertSippInstalled();
});

describe('B2BUA call flows with sipp on both legs', () => {
  it('basic call, caller hangs up; end-to-end headers pass, topology does not', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-basic.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    const inv = received(r.uasTrace[0]!, 'INVITE')[0]!.msg;
    expect(inv.getHeader('x-custom')).toBe('hello-from-a');
    expect(inv.getHeader('p-asserted-identity')).toBe('<sip:alice@pbx.example>');
    expect(inv.getHeader('max-forwards')).toBe('69');
    expect(inv.getHeader('from')).toMatch(/^"?Alice A"? <sip:alice@127.0.0.1>;tag=/);
    expect(inv.body.toString()).toContain('m=audio');
    const ok = received(r.uacTrace, 200)[0]!.msg;
    expect(ok.getHeader('x-callee')).toBe('hello-from-b');
    expect(ok.getHeader('server')).toBeUndefined();
    expect(ok.body.toString()).toContain('m=audio');
    expect(received(r.uasTrace[0]!, 'BYE')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    const cdr = r.sbc.cdr.records[0]!;
    expect(cdr.sipStatus).toBe(200);
    expect(cdr.terminationSide).toBe('A');
    expect(cdr.connectTime).not.toBeNull();
    expect(cdr.legBCallId).not.toBe(cdr.legACallId);
    expect(cdr.timeline.length).toBeGreaterThan(5);
  }, 30_000);

  it('callee hangs up', async () => {
    const r = await runFlow('b2bua-uac-callee-bye.xml', ['b2bua-uas-callee-bye.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.terminationSide).toBe('B');
  }, 30_000);

  it('486 from the callee is mapped back', async () => {
    const r = await runFlow('b2bua-uac-fail.xml', ['b2bua-uas-486.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(received(r.uacTrace, 486)).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.sipStatus).toBe(486);
  }, 30_000);

  it('503 from the first trunk server fails over to the second', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-503.xml', 'b2bua-uas-basic.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful).toBe(1);
    expect(r.uas[1]!.successful, r.uas[1]!.output + r.uas[1]!.errors).toBe(1);
    expect(received(r.uacTrace, 503)).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.altRouteAttempts).toBe(1);
  }, 30_000);

  it('CANCEL during ringing: 487 to the caller, CANCEL to the callee', async () => {
    const r = await runFlow('b2bua-uac-cancel.xml', ['b2bua-uas-ringing-cancel.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(received(r.uasTrace[0]!, 'CANCEL')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.sipStatus).toBe(487);
  }, 30_000);

  it('re-INVITE to hold is relayed with its SDP', async () => {
    const r = await runFlow('b2bua-uac-reinvite-hold.xml', ['b2bua-uas-basic.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    const invites = received(r.uasTrace[0]!, 'INVITE');
    expect(invites).toHaveLength(2);
    expect(invites[1]!.msg.body.toString()).toContain('a=sendonly');
    expect(received(r.uasTrace[0]!, 'ACK')).toHaveLength(2);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('digest challenge from the trunk is answered with the account credentials', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-auth.xml'], { harness: { credentials: { username: 'trunkuser', password: 'secret' } } });
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(received(r.uacTrace, 401)).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('basic call over TCP', async () => {
    const r = await runFlow('b2bua-uac-basic.xml', ['b2bua-uas-basic.xml'], { transport: 't1' });
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expectClean(r);
  }, 30_000);
});
