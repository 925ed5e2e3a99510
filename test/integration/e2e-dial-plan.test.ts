/**
 * Issue 14, dial plans through the real SBC process and sipp: a routing row
 * that asks for a destination tag routes calls by the dial plan prefix that
 * gave it; `sbc route` names the DialPlanRule.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { invitesAt, sbcCli, sippCalls, waitUdpBound, withRouting } from './helpers/config-e2e.js';

// Own loopback addresses, so this file's sipp peers never see another file's traffic.
const PBX_IP = '127.0.15.2';
const TRUNK_IP = '127.0.15.3';
const TRUNK2_IP = '127.0.15.4';

describe('issue 14: dial plan routing', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let uas1Port = 0;
  let uas2Port = 0;
  const sipp = sippCalls(() => dir, () => lanPort, PBX_IP);

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'e2e-dialplan-'));
    [lanPort, uas1Port, uas2Port] = await Promise.all([findFreePort(), findFreePort(TRUNK_IP), findFreePort(TRUNK2_IP)]);
    const wanPort = await findFreePort();
    const dialPlan = [
      '[ DialPlan ]', 'FORMAT DialPlan_Index = DialPlan_Name;', 'DialPlan 0 = "PBX-PLAN";', '[ \\DialPlan ]', '',
      '[ DialPlanRule ]', 'FORMAT DialPlanRule_Index = DialPlanRule_DialPlanName, DialPlanRule_Name, DialPlanRule_Prefix, DialPlanRule_Tag;',
      'DialPlanRule 0 = "PBX-PLAN", "local", "42520[3-5]", "LOCL";',
      'DialPlanRule 1 = "PBX-PLAN", "international", "00", "INTL";',
      '[ \\DialPlanRule ]', '',
    ].join('\r\n');
    const ini = withRouting(testIni({
      lanPort, wanPort, media: false, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: uas1Port }], extra: dialPlan,
    }), 'RouteName, SrcIPGroupName, DestTags, DestType, DestIPGroupName, DestAddress, DestPort, DestTransportType', [
      `"international calls", "PBX", "INTL", 1, "", "${TRUNK2_IP}", ${uas2Port}, 0`,
      '"local calls", "PBX", "LOCL", 0, "ITSP", "", 0, -1',
      '"ITSP to PBX", "ITSP", "", 0, "PBX", "", 0, -1',
    ]).replace('ClassifyByProxySet, ProfileName, InboundManSet, OutboundManSet;', 'ClassifyByProxySet, ProfileName, InboundManSet, OutboundManSet, SBCDialPlanName;')
      .replace(/(IPGroup 0 = 0, "PBX",[^;]*);/, '$1, "PBX-PLAN";').replace(/(IPGroup 1 = 0, "ITSP",[^;]*);/, '$1, "";');
    await writeFile(join(dir, 'dialplan.ini'), ini);
    sbc = await startSbc(ini);
  }, 30_000);

  afterAll(async () => {
    await sipp.stopAll();
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('routes calls by the destination tag of the dial plan rule, and sbc route names the rule', async () => {
    const trunk1 = sipp.uas(TRUNK_IP, uas1Port, 1);
    const trunk2 = sipp.uas(TRUNK2_IP, uas2Port, 1);
    await Promise.all([waitUdpBound(TRUNK_IP, uas1Port), waitUdpBound(TRUNK2_IP, uas2Port)]);
    const intl = await sipp.uac('0044207946000', 100).proc.done;
    expect(intl.successful, intl.output).toBe(1);
    const local = await sipp.uac('4252041234', 100).proc.done;
    expect(local.successful, local.output).toBe(1);
    const unknown = sipp.uac('5550000', 100);
    const unknownRes = await unknown.proc.done;
    expect(unknownRes.successful, unknownRes.output).toBe(1); // the scenario accepts a final rejection
    const finals = (await unknown.trace()).filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.status >= 200).map((m) => m.msg.status);
    expect(finals).toContain(404);
    expect((await trunk1.proc.done).successful).toBe(1);
    expect((await trunk2.proc.done).successful).toBe(1);
    expect(await invitesAt(trunk1.trace)).toEqual(['sip:4252041234@itsp.test']);
    expect(await invitesAt(trunk2.trace)).toEqual([`sip:0044207946000@${TRUNK2_IP}:${uas2Port}`]);

    const r = sbcCli(['route', '--config', join(dir, 'dialplan.ini'), '--from', 'sip:100@pbx', '--to', 'sip:0044207946000@x', '--src-ip', PBX_IP]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dial plan PBX-PLAN \(IP Group PBX\):/);
    expect(r.stdout).toMatch(/destination '0044207946000': DialPlanRule 1 \(international, line \d+\) of dial plan PBX-PLAN, prefix '00' -> tags INTL/);
    expect(r.stdout).toMatch(/IP2IPRouting 0 \(international calls, line \d+\): matched -> address udp:127\.0\.15\.4/);
  }, 60_000);
});
