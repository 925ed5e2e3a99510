/**
 * Cross-table validation. Reports every problem it finds (not just the first),
 * each with the file:line of the row that holds the bad value.
 */
import type { Diagnostic } from './diagnostics.js';
import { cellColumn } from './convert.js';
import { TABLES, isAnyName, type RowBase, type SbcTables, type TableDef } from './schema.js';
import { AddressSyntaxError, PrefixSyntaxError, compileAddress, compilePrefix } from '../syntax/pattern.js';
import { parseRejectAction, splitHostPort } from '../syntax/values.js';

export { parseRejectAction, splitHostPort };

const SUPPORTED_DEST_TYPES = new Set(['ip-group', 'dest-address', 'request-uri', 'internal', 'all-users']);

export function validateTables(t: SbcTables, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const err = (row: RowBase, key: string | null, table: string, message: string): void => {
    const column = key ? cellColumn(row, key) : undefined;
    const d: Diagnostic = column !== undefined
      ? { severity: 'error', file: row.file || file, line: row.line, column, message: `${table} ${row.index}: ${message}` }
      : { severity: 'error', file: row.file || file, line: row.line, message: `${table} ${row.index}: ${message}` };
    out.push(d);
  };
  const warn = (row: RowBase, table: string, message: string, key?: string): void => {
    const column = key ? cellColumn(row, key) : undefined;
    out.push(column !== undefined
      ? { severity: 'warning', file: row.file || file, line: row.line, column, message: `${table} ${row.index}: ${message}` }
      : { severity: 'warning', file: row.file || file, line: row.line, message: `${table} ${row.index}: ${message}` });
  };

  // Unique names.
  const names = new Map<string, Map<string, RowBase>>();
  for (const def of TABLES as readonly TableDef[]) {
    if (!def.nameKey) continue;
    const m = new Map<string, RowBase>();
    names.set(def.configKey, m);
    for (const row of t[def.configKey] as readonly RowBase[]) {
      const name = String((row as unknown as Record<string, unknown>)[def.nameKey]);
      if (name.trim() === '') {
        err(row, def.nameKey, def.name, `name is empty`);
        continue;
      }
      const k = name.toLowerCase();
      const first = m.get(k);
      if (first) err(row, def.nameKey, def.name, `duplicate name '${name}' (first on line ${first.line})`);
      else m.set(k, row);
    }
  }
  const has = (key: keyof SbcTables, name: string): boolean => names.get(key)!.has(name.toLowerCase());
  const ref = (row: RowBase, table: string, key: string, target: keyof SbcTables, targetTable: string, name: string, required = false): void => {
    if (name.trim() === '') {
      if (required) err(row, key, table, `${key} is required`);
      return;
    }
    if (!has(target, name)) err(row, key, table, `refers to ${targetTable} '${name}' which does not exist`);
  };
  const groupRef = (row: RowBase, table: string, key: string, name: string): void => {
    if (!isAnyName(name)) ref(row, table, key, 'ipGroups', 'IPGroup', name);
  };
  const prefix = (row: RowBase, table: string, key: string, value: string): void => {
    try {
      compilePrefix(value);
    } catch (e) {
      if (e instanceof PrefixSyntaxError) err(row, key, table, e.message);
      else throw e;
    }
  };
  const conditionRef = (row: RowBase, table: string, name: string): void => {
    ref(row, table, 'messageConditionName', 'messageConditions', 'MessageConditions', name);
  };

  const proxySetIndexes = new Set(t.proxySets.map((p) => p.index));
  const manSets = new Set(t.messageManipulations.map((m) => m.manSetId));
  const coderGroupIndexes = new Set(t.audioCodersGroups.map((g) => g.index));

  // SIP interfaces: references and listening sockets that would clash.
  const sockets = new Map<string, RowBase>();
  for (const r of t.sipInterfaces) {
    ref(r, 'SIPInterface', 'networkInterface', 'interfaces', 'InterfaceTable', r.networkInterface, true);
    ref(r, 'SIPInterface', 'mediaRealm', 'mediaRealms', 'CpMediaRealm', r.mediaRealm);
    // A Mediant always has TLS context 0 named "default" (exports name it without a TLSContexts row):
    // without a row of that name it stands for the TLSCertFile/TLSKeyFile scalars.
    if (r.tlsContext.trim().toLowerCase() !== 'default' || t.tlsContexts.some((c) => c.name.toLowerCase() === 'default')) {
      ref(r, 'SIPInterface', 'tlsContext', 'tlsContexts', 'TLSContexts', r.tlsContext);
    }
    const c = r.classificationFailureResponseType;
    if (c !== 0 && (c < 400 || c > 699)) err(r, 'classificationFailureResponseType', 'SIPInterface', `ClassificationFailureResponseType must be 0 (drop) or a SIP code 400-699, not ${c}`);
    if (r.udpPort === 0 && r.tcpPort === 0 && r.tlsPort === 0) warn(r, 'SIPInterface', 'no port configured; the interface does not listen');
    const addr = t.interfaces.find((i) => i.interfaceName.toLowerCase() === r.networkInterface.toLowerCase())?.ipAddress ?? r.networkInterface;
    const check = (proto: string, port: number, key: string): void => {
      if (port === 0) return;
      const k = `${proto}/${addr}:${port}`;
      const first = sockets.get(k);
      if (first) err(r, key, 'SIPInterface', `${proto.toUpperCase()} ${addr}:${port} is already used by SIPInterface ${first.index} (line ${first.line})`);
      else sockets.set(k, r);
    };
    check('udp', r.udpPort, 'udpPort');
    check('tcp', r.tcpPort, 'tcpPort');
    // TCP and TLS share the kernel's TCP port space.
    check('tcp', r.tlsPort, 'tlsPort');
  }

  for (const r of t.proxySets) {
    ref(r, 'ProxySet', 'sbcIpv4SipInterfaceName', 'sipInterfaces', 'SIPInterface', r.sbcIpv4SipInterfaceName);
  }
  for (const r of t.proxyIps) {
    const id = r.proxySetId.trim();
    if (id === '') err(r, 'proxySetId', 'ProxyIp', 'ProxySetId is required');
    else if (/^\d+$/.test(id)) {
      if (!proxySetIndexes.has(Number(id))) err(r, 'proxySetId', 'ProxyIp', `refers to ProxySet index ${id} which does not exist`);
    } else ref(r, 'ProxyIp', 'proxySetId', 'proxySets', 'ProxySet', id);
    if (!splitHostPort(r.ipAddress)) err(r, 'ipAddress', 'ProxyIp', `'${r.ipAddress}' is not a host or host:port`);
  }

  for (const r of t.ipGroups) {
    ref(r, 'IPGroup', 'proxySetName', 'proxySets', 'ProxySet', r.proxySetName);
    ref(r, 'IPGroup', 'mediaRealm', 'mediaRealms', 'CpMediaRealm', r.mediaRealm);
    ref(r, 'IPGroup', 'profileName', 'ipProfiles', 'IpProfile', r.profileName);
    ref(r, 'IPGroup', 'servingIpGroupName', 'ipGroups', 'IPGroup', r.servingIpGroupName);
    if (r.type !== 'user' && r.registrationMode !== 'user-initiates') warn(r, 'IPGroup', `RegistrationMode ${r.registrationMode} applies to User-type IP Groups only; '${r.name}' is not one`, 'registrationMode');
    // A set number without rows is a no-op on the device (exports carry such leftovers): a warning.
    if (r.inboundManSet >= 0 && !manSets.has(r.inboundManSet)) warn(r, 'IPGroup', `InboundManSet ${r.inboundManSet} has no MessageManipulations rows; nothing is applied`, 'inboundManSet');
    if (r.outboundManSet >= 0 && !manSets.has(r.outboundManSet)) warn(r, 'IPGroup', `OutboundManSet ${r.outboundManSet} has no MessageManipulations rows; nothing is applied`, 'outboundManSet');
    if (r.type === 'server' && r.proxySetName.trim() === '') warn(r, 'IPGroup', `server IP Group '${r.name}' has no ProxySetName; it cannot be a routing destination`);
  }

  for (const r of t.classifications) {
    conditionRef(r, 'Classification', r.messageConditionName);
    ref(r, 'Classification', 'srcSipInterfaceName', 'sipInterfaces', 'SIPInterface', r.srcSipInterfaceName);
    ref(r, 'Classification', 'ipProfileName', 'ipProfiles', 'IpProfile', r.ipProfileName);
    if (r.actionType === 'allow') ref(r, 'Classification', 'srcIpGroupName', 'ipGroups', 'IPGroup', r.srcIpGroupName, true);
    else groupRef(r, 'Classification', 'srcIpGroupName', r.srcIpGroupName);
    try {
      compileAddress(r.srcAddress);
    } catch (e) {
      if (e instanceof AddressSyntaxError) err(r, 'srcAddress', 'Classification', e.message);
      else throw e;
    }
    prefix(r, 'Classification', 'srcUsernamePrefix', r.srcUsernamePrefix);
    prefix(r, 'Classification', 'destUsernamePrefix', r.destUsernamePrefix);
  }

  t.ip2ipRouting.forEach((r, i) => {
    const T = 'IP2IPRouting';
    groupRef(r, T, 'srcIpGroupName', r.srcIpGroupName);
    groupRef(r, T, 'reRouteIpGroupName', r.reRouteIpGroupName);
    conditionRef(r, T, r.messageConditionName);
    prefix(r, T, 'srcUsernamePrefix', r.srcUsernamePrefix);
    prefix(r, T, 'destUsernamePrefix', r.destUsernamePrefix);
    ref(r, T, 'destSipInterfaceName', 'sipInterfaces', 'SIPInterface', r.destSipInterfaceName);
    if (!SUPPORTED_DEST_TYPES.has(r.destType)) err(r, 'destType', T, `DestType ${r.destType} is not supported (use ip-group, dest-address, request-uri, internal or all-users)`);
    if (r.destType === 'ip-group' || r.destType === 'all-users') ref(r, T, 'destIpGroupName', 'ipGroups', 'IPGroup', r.destIpGroupName, true);
    else ref(r, T, 'destIpGroupName', 'ipGroups', 'IPGroup', r.destIpGroupName);
    if (r.destType === 'dest-address') {
      const hp = splitHostPort(r.destAddress);
      if (!hp) err(r, 'destAddress', T, `DestAddress '${r.destAddress}' is not a host or host:port`);
    }
    if (r.destType === 'internal' && parseRejectAction(r.destAddress) === null) {
      err(r, 'destAddress', T, `DestAddress '${r.destAddress}' for an internal destination must be reject or reject(CODE) with CODE 400-699`);
    }
    if (r.altRouteOptions !== 'route-row' && i === 0) err(r, 'altRouteOptions', T, `an alternative route cannot be the first row`);
    if (r.groupPolicy === 'forking') warn(r, T, 'GroupPolicy forking is not supported; rows are tried sequentially');
  });

  for (const [T, rows] of [['IPInboundManipulation', t.inboundManipulations], ['IPOutboundManipulation', t.outboundManipulations]] as const) {
    for (const r of rows) {
      groupRef(r, T, 'srcIpGroupName', r.srcIpGroupName);
      groupRef(r, T, 'destIpGroupName', r.destIpGroupName);
      prefix(r, T, 'srcUsernamePrefix', r.srcUsernamePrefix);
      prefix(r, T, 'destUsernamePrefix', r.destUsernamePrefix);
    }
  }

  for (const r of t.ipProfiles) {
    ref(r, 'IpProfile', 'sbcAllowedAudioCodersGroupName', 'allowedAudioCodersGroups', 'AllowedAudioCodersGroups', r.sbcAllowedAudioCodersGroupName);
    ref(r, 'IpProfile', 'sbcExtensionCodersGroupName', 'audioCodersGroups', 'AudioCodersGroups', r.sbcExtensionCodersGroupName);
  }

  // Media realms: port ranges on one interface must not overlap, or two calls would get the same port.
  const ranges: Array<{ row: RowBase; ifName: string; start: number; end: number; name: string }> = [];
  for (const r of t.mediaRealms) {
    ref(r, 'CpMediaRealm', 'ipv4If', 'interfaces', 'InterfaceTable', r.ipv4If, true);
    const end = r.portRangeEnd > 0 ? r.portRangeEnd : r.portRangeStart + r.mediaSessionLeg * 2 - 1;
    if (end > 65535) err(r, 'mediaSessionLeg', 'CpMediaRealm', `port range ${r.portRangeStart}-${end} goes beyond 65535`);
    if (end < r.portRangeStart) {
      err(r, 'portRangeEnd', 'CpMediaRealm', `PortRangeEnd ${end} is below PortRangeStart ${r.portRangeStart}`);
      continue;
    }
    // Two interface names may share one address; the ports clash on the address.
    const ifName = (t.interfaces.find((i) => i.interfaceName.toLowerCase() === r.ipv4If.toLowerCase())?.ipAddress ?? r.ipv4If).toLowerCase();
    for (const o of ranges) {
      if (o.ifName === ifName && r.portRangeStart <= o.end && o.start <= end) {
        err(r, 'portRangeStart', 'CpMediaRealm', `port range ${r.portRangeStart}-${end} overlaps media realm '${o.name}' ${o.start}-${o.end} (line ${o.row.line}) on address ${ifName}`);
      }
    }
    ranges.push({ row: r, ifName, start: r.portRangeStart, end, name: r.mediaRealmName });
  }

  for (const r of t.audioCoders) {
    const id = r.audioCodersGroupId.trim();
    if (/^\d+$/.test(id)) {
      if (!coderGroupIndexes.has(Number(id))) err(r, 'audioCodersGroupId', 'AudioCoders', `refers to AudioCodersGroups index ${id} which does not exist`);
    } else ref(r, 'AudioCoders', 'audioCodersGroupId', 'audioCodersGroups', 'AudioCodersGroups', id, true);
    if (r.name.trim() === '') err(r, 'name', 'AudioCoders', 'coder Name is required');
  }
  for (const r of t.allowedAudioCoders) {
    ref(r, 'AllowedAudioCoders', 'allowedAudioCodersGroupName', 'allowedAudioCodersGroups', 'AllowedAudioCodersGroups', r.allowedAudioCodersGroupName, true);
    if (r.coderId.trim() === '' && r.userDefineCoder.trim() === '') err(r, 'coderId', 'AllowedAudioCoders', 'CoderID or UserDefineCoder is required');
  }
  for (const r of t.accounts) {
    ref(r, 'Account', 'servedIpGroupName', 'ipGroups', 'IPGroup', r.servedIpGroupName, true);
    ref(r, 'Account', 'servingIpGroupName', 'ipGroups', 'IPGroup', r.servingIpGroupName, true);
  }

  for (const r of t.admissionControl) {
    const T = 'SBCAdmissionControl';
    const anyGroup = isAnyName(r.ipGroupName);
    if (r.limitType === 'ip-group') {
      // An empty name would silently limit every IP Group; Mediant wants "Any" spelled out.
      if (r.ipGroupName.trim() === '') err(r, 'ipGroupName', T, 'IPGroupName is required with LimitType ip-group (Any = every IP Group)');
      else groupRef(r, T, 'ipGroupName', r.ipGroupName);
      if (r.sipInterfaceName.trim() !== '') warn(r, T, `SIPInterfaceName '${r.sipInterfaceName}' is ignored with LimitType ip-group`);
    } else if (r.limitType === 'sip-interface') {
      const name = r.sipInterfaceName;
      if (name.trim() === '') err(r, 'sipInterfaceName', T, 'SIPInterfaceName is required with LimitType sip-interface (Any = every SIP Interface)');
      else if (!isAnyName(name)) ref(r, T, 'sipInterfaceName', 'sipInterfaces', 'SIPInterface', name);
      if (r.ipGroupName.trim() !== '') warn(r, T, `IPGroupName '${r.ipGroupName}' is ignored with LimitType sip-interface`);
    } else {
      warn(r, T, 'LimitType srd is not supported (there are no SRDs); the rule is ignored');
    }
    if (r.rate > 0 && r.maxBurst === 0) err(r, 'maxBurst', T, `Rate ${r.rate} needs a MaxBurst above 0 (the size of the token bucket)`);
    if (r.reservation > 0) {
      if (r.limitType !== 'ip-group') warn(r, T, 'Reservation applies only to IP Groups; ignored');
      else if (anyGroup) err(r, 'reservation', T, 'Reservation needs a named IP Group, not Any');
      if (r.limit >= 0 && r.reservation >= r.limit) err(r, 'reservation', T, `Reservation ${r.reservation} must be below Limit ${r.limit}`);
      if (r.requestType === 'other') warn(r, T, 'Reservation applies only to INVITE and SUBSCRIBE dialogs; ignored for RequestType other');
    }
  }
  for (const r of t.ipGroups) ref(r, 'IPGroup', 'sbcDialPlanName', 'dialPlans', 'DialPlan', r.sbcDialPlanName);
  for (const r of t.dialPlanRules) {
    ref(r, 'DialPlanRule', 'dialPlanName', 'dialPlans', 'DialPlan', r.dialPlanName, true);
    if (r.prefix.trim() === '') err(r, 'prefix', 'DialPlanRule', 'Prefix is required');
    else prefix(r, 'DialPlanRule', 'prefix', r.prefix);
    if (r.tag.trim() === '') warn(r, 'DialPlanRule', 'Tag is empty; a number matching this rule gets no tag', 'tag');
  }
  for (const r of t.tlsContexts) {
    if ((r.tlsVersion & 3) !== 0) warn(r, 'TLSContexts', `TLSVersion ${r.tlsVersion} allows TLS 1.0/1.1, which are broken (RFC 8996)`);
    if ((r.certificateFile === '') !== (r.privateKeyFile === '')) err(r, 'certificateFile', 'TLSContexts', 'CertificateFile and PrivateKeyFile go together');
    if (!r.verifyServerCertificate) warn(r, 'TLSContexts', 'VerifyServerCertificate = 0: outgoing TLS accepts any certificate (man in the middle)');
  }
  for (const r of t.webUsers) {
    // Only hashes are stored: a clear-text password in a file is a leak waiting to happen.
    if (!/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(r.password)) {
      err(r, 'password', 'WebUsers', 'Password must be an scrypt hash made by `sbc hash-password` (clear text is refused)');
    }
  }
  for (const r of [...t.idsRules, ...t.idsMatches]) {
    const T = 'policy' in r && 'ruleId' in r ? 'IDSRule' : 'IDSMatch';
    const p = r.policy.trim();
    if (!t.idsPolicies.some((x) => x.name.toLowerCase() === p.toLowerCase() || (/^\d+$/.test(p) && x.index === Number(p)))) {
      err(r, 'policy', T, `policy '${r.policy}' is not in IDSPolicy`);
    }
  }
  return out;
}
