/**
 * Call admission control at runtime (Mediant SBCAdmissionControl), against
 * the real SBC process with sipp: a caller at twice the configured Rate
 * gets 503 for the excess while the calls within the rate complete; a
 * LimitPerUser of 1 lets one call per user through at a time. The
 * counters per rule are read from /api/v1/admission.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess, type TestIniOptions } from './helpers/sbc-process.js';
import { join } from 'node:path';
import { SCENARIOS } from './helpers/b2bua-harness.js';

const PBX = '127.0.0.61';
const ITSP = '127.0.0.62';

interface RuleCounters { rule: string; entity: string; active: number; admitted: number; rejected: { limit: number; perUser: number; rate: number } }

const FORMAT = 'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, SIPInterfaceName, RequestType, RequestDirection, Limit, LimitPerUser, Rate, MaxBurst, Reservation;';
const cacTable = (...rows: string[]): string =>
  `[ SBCAdmissionControl ]\r\n${FORMAT}\r\n${rows.map((r, i) => `SBCAdmissionControl ${i} = ${r};\r\n`).join('')}[ \\SBCAdmissionControl ]\r\n`;

describe('SBCAdmissionControl enforced (real SBC process, sipp)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  let iniOpts: TestIniOptions;
  let uasPort: number;

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    uasPort = await findFreePort(ITSP);
    const apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 1000, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    iniOpts = {
      lanPort, wanPort, apiPort, media: false, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }],
      // Rate 5/s with a burst of 5 for INVITEs from the PBX.
      extra: cacTable('"pbx-rate", 0, "PBX", "", 1, 1, -1, -1, 5, 5, 0'),
    };
    sbc = await startSbc(testIni(iniOpts));
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('sipp at 2x the Rate: the excess gets 503, the rest completes, counted per rule', async () => {
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 40, rate: 10, timeoutMs: 60_000 });
    const counters = await sbc.api<RuleCounters[]>('/api/v1/admission');
    const rule = counters.find((c) => c.rule === 'pbx-rate' && c.entity === 'PBX');
    process.stdout.write(`cac: 40 calls at 10/s against Rate 5 MaxBurst 5: ${r.successful} completed, ${r.failed} refused; rule ${JSON.stringify(rule)}\n`);
    expect(rule).toBeDefined();
    expect(r.successful + r.failed).toBe(40);
    expect(r.failed).toBeGreaterThan(5);
    expect(r.successful).toBeGreaterThan(10);
    expect(rule!.admitted).toBe(r.successful);
    expect(rule!.rejected.rate).toBe(r.failed);
    const refusals = sbc.logs.filter((l) => l.msg === 'call detail record' && (l['cdr'] as { sipStatus: number }).sipStatus === 503);
    expect(refusals.length).toBe(0); // refused before a call exists: no CDR, a 503 only
    const metrics = await (await fetch(`http://127.0.0.1:${iniOpts.apiPort}/metrics`, { headers: sbc.authHeaders() })).text();
    expect(metrics).toMatch(new RegExp(`sbc_cac_rejected\\{rule="pbx-rate",entity="PBX",reason="rate"\\} ${r.failed}`));
  }, 90_000);

  it('LimitPerUser 1: one call per caller at a time', async () => {
    const before = sbc.logs.length;
    await sbc.reload(testIni({ ...iniOpts, extra: cacTable('"per-user", 0, "PBX", "", 1, 1, -1, 1, 0, 0, 0') }));
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= before && l.msg.startsWith('configuration reload'), 10_000);
    // sipp's calls all come From the same user; each lasts 3 s, 4 start within 0.4 s.
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 4, rate: 10, timeoutMs: 60_000, extraArgs: ['-d', '3000'] });
    const rule = (await sbc.api<RuleCounters[]>('/api/v1/admission')).find((c) => c.rule === 'per-user');
    expect(r.successful, r.output).toBe(1);
    expect(r.failed).toBe(3);
    expect(rule?.rejected.perUser).toBe(3);
    expect(rule?.active).toBe(0);
  }, 60_000);

  it('RequestType SUBSCRIBE and Other (REGISTER): sipp at 2x the Rate gets 503 for the excess, INVITE calls are not counted', async () => {
    const before = sbc.logs.length;
    await uas.stop();
    // The ITSP answers the relayed REGISTERs and SUBSCRIBEs with 200.
    uas = startSipp({ scenario: join(SCENARIOS, 'cac-uas-request.xml'), calls: 1000, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    await sbc.reload(testIni({
      ...iniOpts,
      extra: cacTable('"pbx-subscribe", 0, "PBX", "", 2, 1, -1, -1, 5, 5, 0', '"pbx-other", 0, "PBX", "", 3, 1, -1, -1, 5, 5, 0'),
    }));
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= before && l.msg.startsWith('configuration reload'), 10_000);
    const results: Record<string, { ok: number; refused: number }> = {};
    for (const method of ['REGISTER', 'SUBSCRIBE']) {
      const r = await runSipp({
        scenario: join(SCENARIOS, `cac-uac-${method.toLowerCase()}.xml`), target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 40, rate: 10, service: 'cac',
        timeoutMs: 60_000, extraArgs: ['-key', 'method', method],
      });
      expect(r.successful + r.failed, r.output).toBe(40);
      results[method] = { ok: r.successful, refused: r.failed };
    }
    const counters = await sbc.api<RuleCounters[]>('/api/v1/admission');
    const sub = counters.find((c) => c.rule === 'pbx-subscribe' && c.entity === 'PBX');
    const other = counters.find((c) => c.rule === 'pbx-other' && c.entity === 'PBX');
    process.stdout.write(`cac request types: 40 at 10/s against Rate 5 MaxBurst 5: ${JSON.stringify(results)}; rules ${JSON.stringify([sub, other])}\n`);
    for (const [method, rule] of [['REGISTER', other], ['SUBSCRIBE', sub]] as const) {
      expect(rule, method).toBeDefined();
      expect(results[method]!.refused, method).toBeGreaterThan(5);
      expect(results[method]!.ok, method).toBeGreaterThan(10);
      expect(rule!.admitted).toBe(results[method]!.ok);
      expect(rule!.rejected.rate).toBe(results[method]!.refused);
      // Each place is given back with the final response.
      expect(rule!.active).toBe(0);
    }
    // Every failed request was one of the rule's refusals (503 Call Admission Control), counted in Prometheus too.
    const metrics = await (await fetch(`http://127.0.0.1:${iniOpts.apiPort}/metrics`, { headers: sbc.authHeaders() })).text();
    expect(metrics).toMatch(new RegExp(`sbc_cac_rejected\\{rule="pbx-other",entity="PBX",reason="rate"\\} ${results['REGISTER']!.refused}`));
    expect(metrics).toMatch(new RegExp(`sbc_cac_rejected\\{rule="pbx-subscribe",entity="PBX",reason="rate"\\} ${results['SUBSCRIBE']!.refused}`));
    // INVITE is neither SUBSCRIBE nor Other: calls are not limited by these rules.
    await uas.stop();
    uas = startSipp({ scenario: 'uas', calls: 1000, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    const calls = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 20, rate: 10, timeoutMs: 60_000 });
    expect(calls.failed, calls.output).toBe(0);
  }, 120_000);
});
