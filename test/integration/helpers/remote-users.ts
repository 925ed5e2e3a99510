/**
 * The shipped `config/remote-users.ini` made runnable next to other tests:
 * free ports, Kamailio (or sipp) as the PBX at 127.0.0.20:PORT, short SIP
 * timers, the REST API, extra scalar lines, and optional edits of its
 * IPGroup rows / extra tables.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const REMOTE_USERS_INI = fileURLToPath(new URL('../../../config/remote-users.ini', import.meta.url));
const PBX_IP = '127.0.0.20';

export interface RemoteUsersOptions {
  lanPort: number;
  wanPort: number;
  pbxPort: number;
  apiPort: number;
  scalars?: string[];
  /** More IPGroup columns: names, then the values of the PBX row and of the RemoteUsers row. */
  extraIpGroupColumns?: { names: string[]; pbx: string[]; users: string[] };
  extra?: string;
}

export async function remoteUsersIni(o: RemoteUsersOptions): Promise<string> {
  let ini = await readFile(REMOTE_USERS_INI, 'utf8');
  const swap = (from: RegExp, to: string): void => {
    if (!from.test(ini)) throw new Error(`remote-users.ini changed: ${from} not found`);
    ini = ini.replace(from, to);
  };
  swap(/"127\.0\.0\.20:5060"/, `"${PBX_IP}:${o.pbxPort}"`);
  swap(/("LAN", "LAN_IF", 2, )5060, 5060/, `$1${o.lanPort}, ${o.lanPort}`);
  swap(/("Phones", "WAN_IF", 2, )5070, 5070/, `$1${o.wanPort}, ${o.wanPort}`);
  // The shipped media ranges (8000-8999) are the same for every SBC started from this file: two test
  // files calling at once bound the same (randomly picked) ports now and then, and the relay answers a
  // call 500 when its port is taken — the reg-users flake, a 500 after the callee's 180 (reproduced by
  // holding 8000-8999). Each SBC gets its own 400 ports in 29000-32599, between testIni's ranges
  // (10000-28999) and the ephemeral ports: three slots per vitest worker (maxWorkers 2), so the files of
  // one run never share, and a random one of the three against other runs on the machine.
  const pool = Number(process.env['VITEST_POOL_ID'] ?? '1');
  const base = 29000 + ((((pool - 1) % 3) * 3 + Math.floor(Math.random() * 3)) * 400);
  swap(/"LAN", "LAN_IF", 8000, 250, 8499/, `"LAN", "LAN_IF", ${base}, 100, ${base + 199}`);
  swap(/"WAN", "WAN_IF", 8500, 250, 8999/, `"WAN", "WAN_IF", ${base + 200}, 100, ${base + 399}`);
  swap(/\[SIP Params\]\r?\n/, `[SIP Params]\nSipT1Rtx = 100\nSipT2Rtx = 400\nSbcApiPort = ${o.apiPort}\n${(o.scalars ?? []).join('\n')}\n`);
  swap(/SipT1Rtx = 500\r?\nSipT2Rtx = 4000\r?\n/, '');
  const cols = o.extraIpGroupColumns;
  if (cols) {
    swap(/(FORMAT Index = Type, Name, ProxySetName, SIPGroupName, MediaRealm, ClassifyByProxySet, ProfileName, MaxNumOfRegUsers)/, `$1, ${cols.names.join(', ')}`);
    swap(/(IPGroup 0 = [^;]*);/, `$1, ${cols.pbx.join(', ')};`);
    swap(/(IPGroup 1 = [^;]*);/, `$1, ${cols.users.join(', ')};`);
  }
  if (o.extra) ini += `\n${o.extra}\n`;
  return ini;
}
