import { describe, expect, it } from 'vitest';
import { SipMessage } from '../sip/message.js';
import type { Endpoint } from '../transport/types.js';
import { EdgeGuard } from './edge-guard.js';
import { parseIdList, parseSubnetExpression } from './address-match.js';
import { DEFAULT_IDS_RULES } from './ids-policy.js';
import type { IdsMatch, IdsRule } from './ids.js';

const ALL = { interfaces: () => true, sources: () => true, explicitPeers: () => false };

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function options(): SipMessage {
  const m = SipMessage.request('OPTIONS', 'sip:x@192.0.2.1');
  m.addHeader('to', '<sip:x@192.0.2.1>');
  return m;
}

const SCANNER: Endpoint = { address: '203.0.113.9', port: 5060, transport: 'udp' };
const PBX: Endpoint = { address: '10.0.0.5', port: 5060, transport: 'udp' };

describe('EdgeGuard', () => {
  it('denies a source after more than DenyThreshold events in a window, for DenyPeriod, then lets it in again', () => {
    const c = clock();
    const rule: IdsRule = { label: 'p/1', reason: 'malformed', scope: 'ip', windowMs: 10_000, alarms: [], denyThreshold: 3, denyMs: 5_000 };
    const g = new EdgeGuard({ matches: [{ ...ALL, rules: [rule] }], knownPeer: () => false, rate: { perSec: 0, burst: 1, response: 0 }, now: c.now });
    for (let i = 0; i < 3; i++) g.malformed(SCANNER, 'WAN');
    expect(g.admitSource(SCANNER.address, SCANNER.port)).toBe(true);
    g.malformed(SCANNER, 'WAN');
    expect(g.admitSource(SCANNER.address, 1234)).toBe(false);
    expect(g.denied().map((e) => [e.address, e.reason, e.rule])).toEqual([[SCANNER.address, 'malformed', 'p/1']]);
    expect(g.stats().ids.deniedDropped).toBe(1);
    c.advance(5_001);
    expect(g.admitSource(SCANNER.address, SCANNER.port)).toBe(true);
    expect(g.denied()).toEqual([]);
    g.close();
  });

  it('counts windows separately: events spread over windows never deny', () => {
    const c = clock();
    const rule: IdsRule = { label: 'p/1', reason: 'any', scope: 'ip', windowMs: 1_000, alarms: [], denyThreshold: 3, denyMs: 5_000 };
    const g = new EdgeGuard({ matches: [{ ...ALL, rules: [rule] }], knownPeer: () => false, rate: { perSec: 0, burst: 1, response: 0 }, now: c.now });
    for (let i = 0; i < 20; i++) {
      g.report('dialog-failure', SCANNER, 'WAN');
      c.advance(400);
    }
    expect(g.denied()).toEqual([]);
    g.close();
  });

  it('never denies a known peer, and an operator can remove a denied source', () => {
    const g = new EdgeGuard({ matches: [{ ...ALL, rules: DEFAULT_IDS_RULES }], knownPeer: (a) => a === PBX.address, rate: { perSec: 0, burst: 1, response: 0 } });
    for (let i = 0; i < 100; i++) {
      g.malformed(PBX, 'LAN');
      g.malformed(SCANNER, 'WAN');
    }
    expect(g.admitSource(PBX.address, PBX.port)).toBe(true);
    expect(g.admitSource(SCANNER.address, SCANNER.port)).toBe(false);
    expect(g.ids.remove(SCANNER.address)).toBe(true);
    expect(g.admitSource(SCANNER.address, SCANNER.port)).toBe(true);
    g.close();
  });

  it('rate-limits out-of-dialog requests per source (burst, then rate); in-dialog and known peers pass', () => {
    const c = clock();
    const g = new EdgeGuard({ matches: [], knownPeer: (a) => a === PBX.address, rate: { perSec: 10, burst: 5, response: 503 }, now: c.now });
    const verdicts = Array.from({ length: 8 }, () => g.admitRequest(options(), SCANNER, 'WAN'));
    expect(verdicts).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 503, 503, 503]);
    c.advance(100); // one token back
    expect(g.admitRequest(options(), SCANNER, 'WAN')).toBe('pass');
    expect(g.admitRequest(options(), SCANNER, 'WAN')).toBe(503);
    const inDialog = options();
    inDialog.setHeader('to', '<sip:x@192.0.2.1>;tag=abc');
    expect(g.admitRequest(inDialog, SCANNER, 'WAN')).toBe('pass');
    for (let i = 0; i < 50; i++) expect(g.admitRequest(options(), PBX, 'LAN')).toBe('pass');
    expect(g.stats().rateLimited).toBe(4);
    g.close();
  });

  it('alarms are logged once per level per window', () => {
    const lines: string[] = [];
    const logger = { warn: (o: { ids: { level?: string } }, m: string) => lines.push(`${m}:${o.ids.level ?? ''}`), info: () => undefined } as unknown as import('pino').Logger;
    const rule: IdsRule = {
      label: 'p/1', reason: 'malformed', scope: 'global', windowMs: 60_000, denyThreshold: -1, denyMs: 0,
      alarms: [{ level: 'minor', threshold: 2 }, { level: 'major', threshold: 4 }],
    };
    const g = new EdgeGuard({ matches: [{ ...ALL, rules: [rule] }], knownPeer: () => false, rate: { perSec: 0, burst: 1, response: 0 }, logger });
    for (let i = 0; i < 10; i++) g.malformed(SCANNER, 'WAN');
    expect(lines).toEqual(['IDS alarm:minor', 'IDS alarm:major']);
    g.close();
  });
});

describe('IDSMatch syntax', () => {
  it('subnet expressions with !, & and |', () => {
    const p = parseSubnetExpression('!10.1.0.0/16 & !10.2.2.2');
    if (typeof p === 'string') throw new Error(p);
    expect([p('10.1.3.4'), p('10.2.2.2'), p('10.2.2.3'), p('192.0.2.1')]).toEqual([false, false, true, true]);
    const q = parseSubnetExpression('10.1.0.0/16 | 10.2.2.2');
    if (typeof q === 'string') throw new Error(q);
    expect([q('10.1.3.4'), q('10.2.2.2'), q('10.2.2.3')]).toEqual([true, true, false]);
    expect(typeof parseSubnetExpression('10.1.0.0/40')).toBe('string');
    expect(typeof parseSubnetExpression('nonsense')).toBe('string');
  });
  it('id lists with ranges, names and negation', () => {
    const rows = [{ index: 0, name: 'LAN' }, { index: 1, name: 'WAN' }, { index: 2, name: 'DMZ' }, { index: 3, name: 'X' }];
    const a = parseIdList('1,2-3', rows);
    if (typeof a === 'string') throw new Error(a);
    expect(rows.map((r) => a(r.name))).toEqual([false, true, true, true]);
    const b = parseIdList('!LAN', rows);
    if (typeof b === 'string') throw new Error(b);
    expect(rows.map((r) => b(r.name))).toEqual([false, true, true, true]);
    expect(typeof parseIdList('7', rows)).toBe('string');
  });
});
