/**
 * Call flows through the B2BUA with sipp on both sides (UAC -> SBC -> UAS),
 * asserting what each side saw and that nothing of one side's topology
 * reached the other.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippResult } from './helpers/sipp.js';
import { readSippTrace, startB2bua, topologyOf, type Harness, type HarnessOptions } from './helpers/b2bua-harness.js';
import type { Endpoint } from '../../src/b2bua/ports.js';

const SCEN = join(import.meta.dirname, '..', 'scenarios');
let dir: string;

beforeAll(async () => {
  assertSippInstalled();
  dir = await mkdtemp(join(tmpdir(), 'b2bua-it-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface FlowResult {
  uac: SippResult;
  uas: SippResult[];
  uacTrace: Awaited<ReturnType<typeof readSippTrace>>;
  uasTrace: Array<Awaited<ReturnType<typeof readSippTrace>>>;
  sbc: Harness;
}

let flowSeq = 0;

/** Runs one call: UAS sipps listening first, then the UAC through the SBC. */
async function flow(uac: string, uas: string[], opts: Partial<HarnessOptions> = {}, transport: 'u1' | 't1' = 'u1'): Promise<FlowResult> {
  const n = ++flowSeq;
  const ports = await Promise.all(uas.map(() => findFreePort()));
  const tp = transport === 't1' ? 'tcp' : 'udp';
  const dests: Endpoint[] = ports.map((port) => ({ address: '127.0.0.1', port, transport: tp }));
  const sbc = await startB2bua({ uas: dests, tcp: transport === 't1', ...opts });
  try {
    const uasProcs = uas.map((s, i) => startSipp({
      scenario: join(SCEN, s), calls: 1, localPort: ports[i]!, transport, timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', join(dir, `uas-${n}-${i}.log`)],
    }));
    // Let the UAS bind before the call arrives.
    await new Promise((r) => setTimeout(r, 300));
    const uacRes = await startSipp({
      scenario: join(SCEN, uac), target: `127.0.0.1:${transport === 't1' ? sbc.tcpPort : sbc.udpPort}`, calls: 1, transport,
      service: '4321', timeoutMs: 20_000, extraArgs: ['-trace_msg', '-message_file', join(dir, `uac-${n}.log`)],
    }).done;
    // A UAS whose call never came stops here; a finished one has already exited.
    const uasRes = await Promise.all(uasProcs.map(async (p) => {
      const t = setTimeout(() => void p.stop(), 3000);
      const r = await p.done;
      clearTimeout(t);
      return r;
    }));
    const uacTrace = await readSippTrace(join(dir, `uac-${n}.log`));
    const uasTrace = await Promise.all(uas.map((_, i) => readSippTrace(join(dir, `uas-${n}-${i}.log`))));
    // BYE/ACK handling is asynchronous on our side: wait for the call to be released.
    for (let i = 0; i < 50 && sbc.manager.stats().calls > 0; i++) await new Promise((r) => setTimeout(r, 50));
    return { uac: uacRes, uas: uasRes, uacTrace, uasTrace, sbc };
  } finally {
    await sbc.close();
  }
}

function expectNoLeak(r: FlowResult): void {
  const own = [`127.0.0.1:${r.sbc.udpPort}`, `127.0.0.1:${r.sbc.tcpPort}`];
  const aSide = topologyOf(r.uacTrace, own);
  const bSide = r.uasTrace.flatMap((t) => topologyOf(t, own));
  const bText = r.uasTrace.flatMap((t) => t.filter((m) => m.dir === 'received').map((m) => m.raw)).join('\n');
  const aText = r.uacTrace.filter((m) => m.dir === 'received').map((m) => m.raw).join('\n');
  for (const v of aSide) expect(bText, `leg A value ${v} leaked to leg B`).not.toContain(v);
  for (const v of bSide) expect(aText, `leg B value ${v} leaked to leg A`).not.toContain(v);
}

function expectClean(r: FlowResult): void {
  const s = r.sbc.manager.stats();
  expect(s.calls).toBe(0);
  expect(s.dialogs).toBe(0);
  expect(s.pendingTimers).toBe(0);
  expect(r.sbc.manager.registeredDialogs).toBe(0);
}

function received(trace: FlowResult['uacTrace'], what: string | number): FlowResult['uacTrace'] {
  return trace.filter((m) => m.dir === 'received' && (typeof what === 'number' ? !m.msg.isRequest && m.msg.status === what : m.msg.isRequest && m.msg.method === what));
}

describe('B2BUA call flows with sipp on both legs', () => {
  it('basic call, caller hangs up; end-to-end headers pass, topology does not', async () => {
    const r = await flow('b2bua-uac-basic.xml', ['b2bua-uas-basic.xml']);
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
    const r = await flow('b2bua-uac-callee-bye.xml', ['b2bua-uas-callee-bye.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.terminationSide).toBe('B');
  }, 30_000);

  it('486 from the callee is mapped back', async () => {
    const r = await flow('b2bua-uac-fail.xml', ['b2bua-uas-486.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(received(r.uacTrace, 486)).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.sipStatus).toBe(486);
  }, 30_000);

  it('503 from the first trunk server fails over to the second', async () => {
    const r = await flow('b2bua-uac-basic.xml', ['b2bua-uas-503.xml', 'b2bua-uas-basic.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful).toBe(1);
    expect(r.uas[1]!.successful, r.uas[1]!.output + r.uas[1]!.errors).toBe(1);
    expect(received(r.uacTrace, 503)).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.altRouteAttempts).toBe(1);
  }, 30_000);

  it('CANCEL during ringing: 487 to the caller, CANCEL to the callee', async () => {
    const r = await flow('b2bua-uac-cancel.xml', ['b2bua-uas-ringing-cancel.xml']);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(received(r.uasTrace[0]!, 'CANCEL')).toHaveLength(1);
    expectNoLeak(r);
    expectClean(r);
    expect(r.sbc.cdr.records[0]!.sipStatus).toBe(487);
  }, 30_000);

  it('re-INVITE to hold is relayed with its SDP', async () => {
    const r = await flow('b2bua-uac-reinvite-hold.xml', ['b2bua-uas-basic.xml']);
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
    const r = await flow('b2bua-uac-basic.xml', ['b2bua-uas-auth.xml'], { credentials: { username: 'trunkuser', password: 'secret' } });
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expect(received(r.uacTrace, 401)).toHaveLength(0);
    expectNoLeak(r);
    expectClean(r);
  }, 30_000);

  it('basic call over TCP', async () => {
    const r = await flow('b2bua-uac-basic.xml', ['b2bua-uas-basic.xml'], {}, 't1');
    expect(r.uac.successful, r.uac.output + r.uac.errors).toBe(1);
    expect(r.uas[0]!.successful, r.uas[0]!.output + r.uas[0]!.errors).toBe(1);
    expectClean(r);
  }, 30_000);
});
