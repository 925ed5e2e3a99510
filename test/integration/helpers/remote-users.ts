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
