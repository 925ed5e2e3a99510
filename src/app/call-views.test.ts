import { describe, expect, it } from 'vitest';
import type { Call } from '../b2bua/call.js';
import type { CallDetailRecord } from '../cdr/record.js';
import { createCallViews } from './call-views.js';

interface FakeCall {
  id: string;
  state: string;
  ended: boolean;
  src: { name: string };
  dst: { name: string } | null;
  inviteA: { callId: string; getHeader(n: string): string | undefined };
  timeline: { list: Array<{ t: number; leg: 'A' | 'B' | '-'; dir: 'in' | 'out' | 'event'; method?: string }> };
  outcome: { connectTime: number | null };
  queued: string[];
  terminated: string[];
  enqueue(what: string, fn: () => void): void;
  terminate(side: string, reason: string): void;
}

function fakeCall(i: number): FakeCall {
  const c: FakeCall = {
    id: `c${i}`, state: 'confirmed', ended: false, src: { name: i % 2 === 0 ? 'PBX' : 'TEAMS' }, dst: { name: 'ITSP' },
    inviteA: { callId: `call-${i}@pbx`, getHeader: (n) => (n === 'from' ? `<sip:${1000 + i}@pbx>;tag=x` : n === 'to' ? `<sip:${2000 + i}@itsp>` : undefined) },
    timeline: { list: [{ t: 1000 + i, leg: 'A', dir: 'in', method: 'INVITE' }] }, outcome: { connectTime: 2000 + i },
    queued: [], terminated: [],
    enqueue(what, fn) { this.queued.push(what); fn(); },
    terminate(side, reason) { this.terminated.push(`${side} ${reason}`); this.ended = true; },
  };
  return c;
}

describe('call views for the API and the console', () => {
  const calls = Array.from({ length: 250 }, (_, i) => fakeCall(i));
  let qoeReads = 0;
  const ended: CallDetailRecord[] = [{
    callId: 'gone-1', legACallId: 'x', legBCallId: 'y', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', caller: '1000', callee: '2000',
    setupTime: '', connectTime: null, endTime: '', durationSec: 0, terminationSide: 'A', terminationReason: 'BYE', sipStatus: 200,
    altRouteAttempts: 0, redirects3xx: 0, timeline: [{ t: 1, leg: 'A', dir: 'in', method: 'BYE' }],
  }];
  const views = createCallViews({
    calls: () => calls as unknown as Call[], privacy: () => null,
    qoe: () => { qoeReads++; return null; },
    ended: () => ended, endRecords: () => [],
  });

  it('filters and pages before computing QoE: a page costs what it shows', () => {
    qoeReads = 0;
    const page = views.list({ limit: 100, offset: 100 });
    expect(page.total).toBe(250);
    expect(page.calls.map((c) => (c as { id: string }).id)).toEqual(calls.slice(100, 200).map((c) => c.id));
    expect(qoeReads).toBe(100);
    qoeReads = 0;
    const teams = views.list({ q: 'teams', limit: 10 });
    expect(teams.total).toBe(125);
    expect(teams.calls).toHaveLength(10);
    expect(qoeReads).toBe(10);
    expect(views.list({ q: '2007@' }).calls.map((c) => (c as { id: string }).id)).toEqual(['c7']);
    expect(views.list({ q: 'nothing-like-this' })).toEqual({ total: 0, calls: [] });
  });

  it('a live call\'s view, an ended call\'s view from its kept timeline, none for an unknown id', () => {
    expect(views.view('c3')).toMatchObject({ id: 'c3', ended: false, state: 'confirmed', srcIpGroup: 'TEAMS', media: [] });
    expect(views.view('gone-1')).toMatchObject({ id: 'gone-1', ended: true, state: 'ended', sipStatus: 200, terminationReason: 'BYE', events: [{ method: 'BYE' }] });
    expect(views.view('nope')).toBeNull();
  });

  it('ends a live call on its own queue through terminate; an unknown or ended call is not found', () => {
    expect(views.end('c5', 'op1')).toBe(true);
    expect(calls[5]!.queued).toEqual(['operator-end']);
    expect(calls[5]!.terminated).toEqual(['sbc ended by operator op1']);
    expect(views.end('c5', 'op1')).toBe(false);
    expect(views.end('nope', 'op1')).toBe(false);
  });
});
