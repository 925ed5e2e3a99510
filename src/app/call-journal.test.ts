import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientTransactionHandler, Endpoint, JournalledCall, TransactionPort } from '../b2bua/ports.js';
import type { JournalDialog } from '../cdr/journal.js';
import { fromLegacyCdr } from '../cdr/legacy.js';
import type { CdrRecord } from '../cdr/model.js';
import type { CallDetailRecord } from '../cdr/record.js';
import { formatDiagnostic, loadConfigText } from '../config/index.js';
import type { SipMessage } from '../sip/message.js';
import { silentLogger } from '../util/logger.js';
import { CallJournal, JOURNAL_FILE, byeFromJournal } from './call-journal.js';

const BASE = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "IF", 5060, 0, 0;
[ \\SIPInterface ]
`;

function configWith(dir: string, flushMs = 20): Parameters<typeof CallJournal.fromConfig>[0] {
  const r = loadConfigText(`CallJournalDir = ${dir}\nCallJournalFlushInterval = ${flushMs}\n${BASE}`, 'j.ini');
  if (!r.config) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.config;
}

const dialog = (callId: string, side: 'A' | 'B', cseq: number): JournalDialog => ({
  callId, localTag: `our-${side}`, remoteTag: `their-${side}`, localUri: `<sip:sbc@10.0.0.1>`, remoteUri: `<sip:peer-${side}@10.0.0.9>`,
  remoteTarget: `sip:peer-${side}@192.0.2.${side === 'A' ? 1 : 2}:5070`, routeSet: side === 'B' ? ['<sip:proxy.test;lr>'] : [],
  localCseq: cseq, dest: { address: `192.0.2.${side === 'A' ? 1 : 2}`, port: 5070, transport: 'udp' }, sipInterface: 'LAN',
});

const legacy = (id: string): CallDetailRecord => ({
  callId: id, legACallId: `${id}-a`, legBCallId: `${id}-b`, srcIpGroup: 'PBX', dstIpGroup: 'ITSP', caller: '100', callee: '200',
  setupTime: new Date(1_000).toISOString(), connectTime: new Date(2_000).toISOString(), endTime: new Date(3_000).toISOString(), durationSec: 1,
  terminationSide: 'A', terminationReason: '', sipStatus: 200, altRouteAttempts: 0, redirects3xx: 0, timeline: [],
});

const call = (id: string): JournalledCall => ({
  sessionId: id, legA: dialog(`${id}-a`, 'A', 0), legB: dialog(`${id}-b`, 'B', 1), record: () => legacy(id),
});

class FakeTx implements TransactionPort {
  readonly sent: Array<{ req: SipMessage; dest: Endpoint; iface: string }> = [];
  answer: (req: SipMessage, h: ClientTransactionHandler) => void = (_r, h) => h.onFinal({ status: 200 } as SipMessage);
  sendRequest(req: SipMessage, dest: Endpoint, iface: string, h: ClientTransactionHandler): { request: SipMessage } {
    this.sent.push({ req, dest, iface });
    queueMicrotask(() => this.answer(req, h));
    return { request: req };
  }
  async sendStateless(): Promise<void> {}
  cancel(): void {}
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'call-journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (): Promise<Array<{ op: string }>> =>
  (await readFile(join(dir, JOURNAL_FILE), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { op: string });

describe('CallJournal', () => {
  it('is off without CallJournalDir', async () => {
    const r = loadConfigText(BASE, 'j.ini');
    expect(await CallJournal.fromConfig(r.config!, silentLogger(), fromLegacyCdr)).toBeNull();
  });

  it('writes a call only once a flush interval has passed; a call that ended before never reaches the file', async () => {
    const j = (await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!;
    j.connected(call('short'));
    j.ended('short');
    j.connected(call('long'));
    expect(j.size).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    const written = await lines();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ op: 'up', call: { sessionId: 'long', legA: { callId: 'long-a' }, cdr: { sessionId: 'long' } } });
    j.ended('long');
    await j.close();
    expect(await readFile(join(dir, JOURNAL_FILE), 'utf8')).toBe('');
  });

  it('after a crash: BYE on both legs from the journal, a restart CDR, then an empty journal', async () => {
    const first = (await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!;
    first.connected(call('c1'));
    first.connected(call('c2'));
    await new Promise((r) => setTimeout(r, 100));
    // kill -9: no close(). The next start finds both calls.
    const second = (await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!;
    expect(second.foundAtStart).toBe(2);
    const tx = new FakeTx();
    const cdrs: CdrRecord[] = [];
    await second.releaseOrphans(tx, (r) => cdrs.push(r));
    expect(tx.sent).toHaveLength(4);
    const byeA = tx.sent.find((s) => s.req.callId === 'c1-a')!;
    expect(byeA.req.method).toBe('BYE');
    expect(byeA.req.requestUri).toBe('sip:peer-A@192.0.2.1:5070');
    expect(byeA.req.getHeader('from')).toBe('<sip:sbc@10.0.0.1>;tag=our-A');
    expect(byeA.req.getHeader('to')).toBe('<sip:peer-A@10.0.0.9>;tag=their-A');
    expect(byeA.dest).toEqual({ address: '192.0.2.1', port: 5070, transport: 'udp' });
    expect(byeA.iface).toBe('LAN');
    const byeB = tx.sent.find((s) => s.req.callId === 'c1-b')!;
    expect(byeB.req.getHeaderValues('route')).toEqual(['<sip:proxy.test;lr>']);
    expect(byeB.req.cseq).toEqual({ seq: 1 + 100_000 + 1, method: 'BYE' });
    expect(cdrs.map((c) => c.sessionId).sort()).toEqual(['c1', 'c2']);
    expect(cdrs[0]).toMatchObject({ reportType: 'CALL_END', terminationCategory: 'restart', releaseSide: 'sbc' });
    expect(second.size).toBe(0);
    const third = (await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!;
    expect(third.foundAtStart).toBe(0);
  });

  it('a start that fails before the release leaves the calls for the next one', async () => {
    const first = (await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!;
    first.connected(call('c1'));
    await new Promise((r) => setTimeout(r, 100));
    expect((await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!.foundAtStart).toBe(1);
    // That start died without releasing: the next start still has the call.
    expect((await CallJournal.fromConfig(configWith(dir), silentLogger(), fromLegacyCdr))!.foundAtStart).toBe(1);
  });

  it('a corrupt journal is logged and the SBC starts with no call to release', async () => {
    await writeFile(join(dir, JOURNAL_FILE), 'not json\n{"op":"up","call":{"sessionId":"x"}}\n\u0000\u0001garbage');
    const warnings: unknown[] = [];
    const log = { ...silentLogger(), warn: (o: unknown) => warnings.push(o) } as unknown as Parameters<typeof CallJournal.fromConfig>[1];
    const j = (await CallJournal.fromConfig(configWith(dir), log, fromLegacyCdr))!;
    expect(j.foundAtStart).toBe(0);
    expect(warnings).toEqual([expect.objectContaining({ skippedLines: 3 })]);
  });

  it('the BYE of a UAS-side dialog with no request of ours yet still takes a CSeq above any we could have used', () => {
    const bye = byeFromJournal(dialog('x', 'A', 0));
    expect(bye.cseq!.seq).toBeGreaterThan(0x7fff + 1000);
  });
});
