/**
 * IP Group `RegistrationMode` for User-type groups, as Mediant defines it,
 * applied to the group's SBCUserInfoTable users:
 * - `sbc-initiates`: the SBC registers each user with the group's serving
 *   registrar (IP Group ServingIPGroupName, else the group's IP2IPRouting
 *   REGISTER rule) with the user's Username/Password. The rows derived here
 *   are registered by the AccountRegistrar like Account rows.
 * - `not-needed`: each user is in the registration database as registered,
 *   reachable at the group's proxy set address (`sip:<user>@<address>`),
 *   never expiring; a reload replaces the set.
 * `user-initiates` (the default) needs nothing here: users REGISTER themselves.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { AccountRow, IpGroupRow, SbcUserInfoRow } from '../config/schema.js';
import { RegistrationDb, type Binding } from '../registrar/bindings.js';
import type { Transport } from '../transport/types.js';

/** An Account-like row for one user of an sbc-initiates group, with its registration key. */
export interface UserAccount {
  readonly key: string;
  readonly row: AccountRow;
}

function userGroupOf(config: SbcConfig, u: SbcUserInfoRow, mode: IpGroupRow['registrationMode']): IpGroupRow | undefined {
  const g = config.ipGroupByName(u.ipGroupName);
  return g !== undefined && g.type === 'user' && g.registrationMode === mode && u.localUser !== '' ? g : undefined;
}

/** The registrar of a group's users: ServingIPGroupName, else the first IP2IPRouting rule routing the group's REGISTERs to an IP Group. */
export function servingGroupOf(config: SbcConfig, group: IpGroupRow): string | null {
  if (group.servingIpGroupName !== '') return group.servingIpGroupName;
  for (const r of config.ip2ipRouting) {
    const src = r.srcIpGroupName;
    const fromGroup = src === '' || src.toLowerCase() === 'any' || src.toLowerCase() === group.name.toLowerCase();
    const forRegister = r.requestType === 'all' || r.requestType === 'register' || r.requestType === 'invite-and-register';
    if (fromGroup && forRegister && r.destType === 'ip-group' && r.destIpGroupName !== '') return r.destIpGroupName;
  }
  return null;
}

/** sbc-initiates: one Account-like row per user (key `user:<row index>`); users without a registrar are reported in `errors`. */
export function userInfoAccounts(config: SbcConfig): { accounts: UserAccount[]; errors: string[] } {
  const accounts: UserAccount[] = [];
  const errors: string[] = [];
  for (const u of config.sbcUserInfo) {
    const g = userGroupOf(config, u, 'sbc-initiates');
    if (g === undefined) continue;
    const serving = servingGroupOf(config, g);
    if (serving === null) {
      errors.push(`SBCUserInfoTable ${u.index} (${u.localUser}): IP Group "${g.name}" has no ServingIPGroupName and no IP2IPRouting rule for its REGISTERs`);
      continue;
    }
    const row: AccountRow = {
      index: u.index, line: u.line, file: u.file,
      servedIpGroupName: g.name, servingIpGroupName: serving,
      username: u.username || u.localUser, password: u.password,
      hostName: '', contactUser: u.localUser, register: 'regular',
      accountName: `User ${u.localUser} (${g.name})`, routeOnlyWhenRegistered: false,
    };
    accounts.push({ key: `user:${u.index}`, row });
  }
  return { accounts, errors };
}

/** `host`, `host:port` or `[v6]:port` of a ProxyIp row. */
function splitHostPort(s: string, transport: Transport): { host: string; port: number } {
  const def = transport === 'tls' ? 5061 : 5060;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : def };
  const i = s.lastIndexOf(':');
  if (i > 0 && s.indexOf(':') === i) return { host: s.slice(0, i), port: Number(s.slice(i + 1)) || def };
  return { host: s, port: def };
}

/** not-needed: the permanent bindings the user info table asks for; users whose group has no proxy address are in `errors`. */
export function permanentBindings(config: SbcConfig, now: number): { bindings: Binding[]; errors: string[] } {
  const bindings: Binding[] = [];
  const errors: string[] = [];
  for (const u of config.sbcUserInfo) {
    const g = userGroupOf(config, u, 'not-needed');
    if (g === undefined) continue;
    const ip = g.proxySetName === '' ? undefined : config.proxyIpsOf(g.proxySetName)[0];
    if (ip === undefined) {
      errors.push(`SBCUserInfoTable ${u.index} (${u.localUser}): IP Group "${g.name}" has no proxy set address to reach its users at`);
      continue;
    }
    const transport: Transport = ip.transportType === 'tcp' || ip.transportType === 'tls' ? ip.transportType : 'udp';
    const { host, port } = splitHostPort(ip.ipAddress, transport);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const contactUri = `sip:${u.localUser}@${hostPart}:${port}${transport === 'udp' ? '' : `;transport=${transport}`}`;
    const ps = config.proxySetByName(g.proxySetName);
    bindings.push({
      aor: RegistrationDb.aorKey(u.localUser, g.sipGroupName || host),
      aorUser: u.localUser,
      contact: `<${contactUri}>`,
      contactUri,
      ipGroup: g.name,
      flow: { transport, address: host, port, interfaceName: ps?.sbcIpv4SipInterfaceName || config.sipInterfaces[0]?.interfaceName || '', connectionId: null },
      expiresAt: Number.MAX_SAFE_INTEGER,
      upstreamExpiresAt: 0,
      userAgent: '',
      path: [],
      callId: '',
      cseq: 0,
      sbcUser: RegistrationDb.newSbcUser(),
      upstream: null,
      registeredAt: now,
      permanent: true,
    });
  }
  return { bindings, errors };
}

/** Replaces the permanent bindings in `db` by those `config` asks for; returns the problems to log. */
export function syncPermanentBindings(db: RegistrationDb, config: SbcConfig, now: number): string[] {
  for (const b of [...db.all()]) if (b.permanent === true) db.remove(b);
  const { bindings, errors } = permanentBindings(config, now);
  for (const b of bindings) db.put(b);
  return errors;
}
