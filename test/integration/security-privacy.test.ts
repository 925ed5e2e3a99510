/**
 * PrivacyPseudonymizationKey against the real SBC process: the CDR (file
 * sink and log line) carries keyed pseudonyms of the calling and called
 * numbers, stable per number, never the numbers themselves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pseudonymiser } from '../../src/security/pseudonym.js';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX = '127.0.0.121';
const ITSP = '127.0.0.122';
const KEY = 'privacy-test-key-0123456789';

describe('pseudonymised CDRs (real SBC process)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  let dir: string;

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'sbc-privacy-'));
    lanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP);
    uas = startSipp({ scenario: 'uas', calls: 10, localAddress: ITSP, localPort: uasPort, timeoutMs: 60_000 });
    sbc = await startSbc(testIni({
      lanPort, wanPort: await findFreePort(), media: false, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }],
      scalars: [`PrivacyPseudonymizationKey = ${KEY}`, `CdrFilePath = ${join(dir, 'cdr.jsonl')}`],
    }));
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('CDR caller/callee are keyed pseudonyms, stable per number; the numbers appear nowhere in the CDR', async () => {
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 2, rate: 5, service: '4930123456', timeoutMs: 30_000 });
    expect(r.successful, r.output).toBe(2);
    const p = new Pseudonymiser(KEY);
    await sbc.waitForLog((l) => l.msg === 'call detail record' && sbc.logs.filter((x) => x.msg === 'call detail record').length >= 2, 10_000);
    const cdrs = sbc.logs.filter((l) => l.msg === 'call detail record').map((l) => l['cdr'] as { caller: string; callee: string });
    expect(cdrs.length).toBe(2);
    for (const c of cdrs) {
      expect(c.caller).toBe(p.id('sipp'));
      expect(c.callee).toBe(p.id('4930123456'));
    }
    const deadline = Date.now() + 10_000;
    let file = '';
    while (Date.now() < deadline && file.split('\n').filter(Boolean).length < 2) {
      file = await readFile(join(dir, 'cdr.jsonl'), 'utf8').catch(() => '');
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(file.split('\n').filter(Boolean).length).toBe(2);
    expect(file).toContain(p.id('4930123456'));
    expect(file).not.toContain('4930123456');
    expect(JSON.stringify(cdrs)).not.toContain('4930123456');
  }, 60_000);
});
