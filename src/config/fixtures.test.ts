/**
 * Issue 14: what a Mediant loads must load here. test/fixtures/mediant-quirks.ini
 * carries every quirk class of real exports (empty hidden tables, enum -1,
 * an IP Group pointing at a manipulation set without rows, "Use Previous
 * Condition" as the first row of a set, unknown parameters/tables/columns);
 * mediant-errors.ini carries one real mistake per class, which must still be
 * refused at its file:line:column.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, loadConfigFile } from './index.js';

const QUIRKS = fileURLToPath(new URL('../../test/fixtures/mediant-quirks.ini', import.meta.url));
const ERRORS = fileURLToPath(new URL('../../test/fixtures/mediant-errors.ini', import.meta.url));

describe('Mediant export quirks', () => {
  it('loads with exactly the expected warnings, each at its file:line', async () => {
    const r = await loadConfigFile(QUIRKS);
    expect(r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)).toEqual([]);
    expect(r.config).not.toBeNull();
    const got = r.diagnostics.map((d) => ({ where: `${d.line}${d.column !== undefined ? `:${d.column}` : ''}`, message: d.message }));
    const expected: Array<[string, RegExp]> = [
      ['30', /^table PstnPrefix is empty \(no FORMAT line/],
      ['60:67', /^ProxySet 0: DNSResolveMethod: -1 \(not configured\) means the default 'a-record'$/],
      ['67:89', /^IPGroup 0: InboundManSet 4 has no MessageManipulations rows; nothing is applied$/],
      ['74:34', /^IpProfile 0: SBCRemoteReferBehavior: -1 \(not configured\) means the default 'regular'$/],
      ['81:87', /^IP2IPRouting 0: Trigger: -1 \(not configured\) means the default 'any'$/],
      ['88', /'Use Previous Condition' on the first row of manipulation set 1: there is no previous condition; the row uses its own condition/],
      ['92', /^table CallSetupRules is empty/],
    ];
    expect(got.map((g) => g.where)).toEqual(expected.map((e) => e[0]));
    got.forEach((g, i) => expect(g.message).toMatch(expected[i]![1]));
    for (const d of r.diagnostics) {
      expect(d.severity).toBe('warning');
      expect(d.file).toBe(QUIRKS);
    }
  });

  it('gives each quirk the device behaviour', async () => {
    const c = (await loadConfigFile(QUIRKS)).config!;
    expect(c.proxySets[0]!.dnsResolveMethod).toBe('a-record');
    expect(c.ipProfiles[0]!.sbcRemoteReferBehavior).toBe('regular');
    expect(c.ip2ipRouting[0]!.trigger).toBe('any');
    // The empty set is a no-op; the populated one still runs.
    expect(c.manipulation.sets.has(4)).toBe(false);
    expect(c.manipulation.sets.has(1)).toBe(true);
    // Unknown scalars are still readable (for tools), and are reported as ignored, not as warnings.
    expect(c.scalars.get('proxykeepaliveusingipg')).toBe('1');
  });

  it('lists what it ignores: unknown parameters, tables and columns, and known columns without effect', async () => {
    const r = await loadConfigFile(QUIRKS);
    const names = r.ignored.map((i) => `${i.kind} ${i.name}`);
    expect(names).toEqual(expect.arrayContaining([
      'parameter ProxyKeepAliveUsingIPG', 'parameter SyslogServerIP', 'table SRD', 'column SIPInterface.SRDName',
      'column IpProfile.SBCJitterCompensation', 'column IP2IPRouting.RoutingPolicyName', 'column InterfaceTable.Gateway',
    ]));
    expect(names).not.toContain('parameter SipT1Rtx');
    expect(r.ignored.find((i) => i.name === 'InterfaceTable.Gateway')!.reason).toBe('stored only');
    expect(r.ignored.find((i) => i.name === 'ProxyKeepAliveUsingIPG')).toMatchObject({ line: 24, reason: 'not supported' });
  });
});

describe('real mistakes are still refused', () => {
  it('refuses the error fixture with file:line:column for each error class', async () => {
    const r = await loadConfigFile(ERRORS);
    expect(r.config).toBeNull();
    const errors = r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
    const at = (line: number, column: number, re: RegExp): void => {
      expect(errors.some((e) => e.startsWith(`${ERRORS}:${line}:${column}: error: `) && re.test(e)), `${line}:${column} ${re}\n${errors.join('\n')}`).toBe(true);
    };
    at(13, 38, /UDPPort: 'five-o-six-o' is not an integer/); // bad type
    at(29, 32, /refers to IpProfile 'NoSuchProfile' which does not exist/); // dangling reference into an existing table
    at(35, 36, /DestType: unknown value '42'/); // unknown enum value
    at(37, 31, /unexpected text after quoted string/); // unbalanced quote
  });
});
