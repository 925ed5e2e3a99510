/**
 * The README's "trunk that wants the SBC registered" example is real
 * configuration: its [SIP Params] lines and its Account table, put into
 * the shipped config/pbx-to-itsp.ini (which has the PBX and ITSP IP
 * Groups it names), load without a diagnostic and give a registering
 * Account. The Account's behaviour itself is shown by
 * test/integration/reg-trunk.test.ts.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './index.js';
import { loadConfigText } from './load.js';

describe('README trunk registration example', () => {
  it('loads into the shipped pbx-to-itsp.ini as a registering Account', async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## A trunk that wants the SBC registered'));
    const block = /```ini\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block, 'README has the ini example').toBeDefined();
    const params = block!.slice(block!.indexOf('[SIP Params]') + '[SIP Params]'.length, block!.indexOf('[ Account ]')).trim();
    const account = block!.slice(block!.indexOf('[ Account ]'));
    const base = await readFile('config/pbx-to-itsp.ini', 'utf8');
    const ini = base
      .replace(/\[ Account \][\s\S]*?\[ \\Account \]\r?\n/, account)
      .replace(/\[SIP Params\]\r?\n/, `[SIP Params]\n${params}\n`);
    expect(ini).toContain('"carrier"');
    const r = loadConfigText(ini, 'readme-example.ini');
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const acc = r.config!.accounts[0]!;
    expect(acc).toMatchObject({
      servedIpGroupName: 'PBX', servingIpGroupName: 'ITSP', username: '4930123456', hostName: 'sip.carrier.example',
      contactUser: '4930123456', register: 'regular', accountName: 'carrier',
    });
    expect(r.config!.scalars.get('maxregistrationbackofftime')).toBe('600');
  });
});
