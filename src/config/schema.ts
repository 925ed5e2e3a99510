/**
 * Typed schemas of the supported Mediant tables. Each table is described once
 * (column name in the ini, property name in TypeScript, type, default, enum
 * codes); the converter, the writer and the documentation all follow these
 * descriptors, so they cannot drift apart.
 *
 * Enum values are stored as their canonical lower-case names (e.g. IPGroup
 * Type `0` -> `'server'`); both the Mediant code and the names/aliases are
 * accepted on input, and the writer emits the code.
 */

export interface EnumDef<T extends string = string> {
  /** code -> canonical name (first) and further accepted aliases. */
  readonly values: ReadonlyArray<readonly [code: number, name: T, ...aliases: string[]]>;
}

export type ColumnType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'bool' }
  | { readonly kind: 'enum'; readonly def: EnumDef }
  | { readonly kind: 'codes' };

export interface ColumnDef {
  /** Column name as Mediant writes it (without the `Table_` prefix). */
  readonly ini: string;
  /** Other accepted spellings of the column. */
  readonly aliases?: readonly string[];
  readonly key: string;
  readonly type: ColumnType;
  readonly def: string | number | boolean | readonly number[];
  /** Masked in logs and change summaries. */
  readonly secret?: boolean;
  readonly doc: string;
}

export interface TableDef {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** Property of SbcConfig holding the rows. */
  readonly configKey: TableKey;
  /** Property holding the row's unique name, if the table is referenced by name. */
  readonly nameKey?: string;
  readonly columns: readonly ColumnDef[];
  readonly doc: string;
}

// ---------------------------------------------------------------- enums

function e<T extends string>(...values: Array<readonly [number, T, ...string[]]>): EnumDef<T> {
  return { values };
}

export const TRANSPORT_ENUM = e<'any' | 'udp' | 'tcp' | 'tls' | 'ws' | 'wss'>(
  [-1, 'any', 'not-configured', 'not configured'],
  [0, 'udp'],
  [1, 'tcp'],
  [2, 'tls'],
  [3, 'ws'],
  [4, 'wss'],
);
export const IPGROUP_TYPE_ENUM = e<'server' | 'user' | 'gateway'>([0, 'server'], [1, 'user'], [2, 'gateway']);
export const REQUEST_TYPE_ENUM = e<
  'all' | 'invite' | 'register' | 'subscribe' | 'invite-and-register' | 'invite-and-subscribe' | 'options'
>(
  [0, 'all', 'any'],
  [1, 'invite'],
  [2, 'register'],
  [3, 'subscribe'],
  [4, 'invite-and-register', 'invite and register'],
  [5, 'invite-and-subscribe', 'invite and subscribe'],
  [6, 'options'],
);
export const DEST_TYPE_ENUM = e<
  | 'ip-group' | 'dest-address' | 'request-uri' | 'enum' | 'hunt-group' | 'dial-plan' | 'ldap'
  | 'internal' | 'routing-server' | 'all-users' | 'ip-group-set'
>(
  [0, 'ip-group', 'ip group', 'ipgroup'],
  [1, 'dest-address', 'dest address', 'address'],
  [2, 'request-uri', 'request uri'],
  [3, 'enum'],
  [4, 'hunt-group', 'hunt group'],
  [5, 'dial-plan', 'dial plan'],
  [6, 'ldap'],
  [7, 'internal', 'reject'],
  [8, 'routing-server', 'routing server'],
  [9, 'all-users', 'all users'],
  [10, 'ip-group-set', 'ip group set'],
);
export const ALT_ROUTE_ENUM = e<
  'route-row' | 'alt-route-ignore-inputs' | 'alt-route-consider-inputs' | 'group-member-ignore-inputs' | 'group-member-consider-inputs'
>(
  [0, 'route-row', 'route row'],
  [1, 'alt-route-ignore-inputs', 'alternative route ignore inputs'],
  [2, 'alt-route-consider-inputs', 'alternative route consider inputs'],
  [3, 'group-member-ignore-inputs', 'group member ignore inputs'],
  [4, 'group-member-consider-inputs', 'group member consider inputs'],
);
export const TRIGGER_ENUM = e<'any' | '3xx' | 'refer' | '3xx-or-refer' | 'initial-only' | 'broken-connection'>(
  [0, 'any'],
  [1, '3xx'],
  [2, 'refer'],
  [3, '3xx-or-refer', '3xx or refer'],
  [4, 'initial-only', 'initial only'],
  [5, 'broken-connection', 'broken connection'],
);

/** SBCAdmissionControl RequestType: dialog-initiating request kinds (Mediant 7.x codes). */
export const ADMISSION_REQUEST_TYPE_ENUM = e<'all' | 'invite' | 'subscribe' | 'other'>(
  [0, 'all', 'any'],
  [1, 'invite'],
  [2, 'subscribe'],
  [3, 'other'],
);
export const REQUEST_DIRECTION_ENUM = e<'both' | 'inbound' | 'outbound'>(
  [0, 'both'],
  [1, 'inbound', 'in'],
  [2, 'outbound', 'out'],
);
/** SBCAdmissionControl LimitType; 1 (SRD) is Mediant's and is accepted but not enforced. */
export const ADMISSION_LIMIT_TYPE_ENUM = e<'ip-group' | 'srd' | 'sip-interface'>(
  [0, 'ip-group', 'ip group', 'ipgroup'],
  [1, 'srd'],
  [2, 'sip-interface', 'sip interface', 'sipinterface'],
);

export const CDR_FORMAT_TYPE_ENUM = e<CdrFormatType>(
  [1, 'syslog-sbc', 'syslog sbc'],
  [3, 'syslog-media', 'syslog media'],
  [5, 'local-storage-sbc', 'local storage sbc'],
  [101, 'local-storage-media', 'local storage media'],
  [11, 'json-sbc', 'json sbc'],
  [111, 'json-media', 'json media'],
);
export const QOE_SENSITIVITY_ENUM = e<'user-defined' | 'low' | 'medium' | 'high'>(
  [0, 'user-defined', 'user defined'], [1, 'low'], [2, 'medium', 'med'], [3, 'high'],
);
export const QOE_PARAM_ENUM = e<QoeMonitoredParam>(
  [0, 'mos'], [1, 'delay'], [2, 'packet-loss', 'packet loss', 'pl'], [3, 'jitter'], [4, 'rerl', 'echo'],
);

// ---------------------------------------------------------------- column helpers

const str = (ini: string, key: string, doc: string, def = '', extra: Partial<ColumnDef> = {}): ColumnDef => ({
  ini, key, type: { kind: 'string' }, def, doc, ...extra,
});
const int = (ini: string, key: string, def: number, doc: string, min?: number, max?: number, extra: Partial<ColumnDef> = {}): ColumnDef => ({
  ini, key, type: { kind: 'int', ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) }, def, doc, ...extra,
});
const bool = (ini: string, key: string, def: boolean, doc: string): ColumnDef => ({ ini, key, type: { kind: 'bool' }, def, doc });
const en = (ini: string, key: string, def: EnumDef, dflt: string, doc: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({
  ini, key, type: { kind: 'enum', def }, def: dflt, doc, ...extra,
});

const PORT = [0, 65535] as const;

// ---------------------------------------------------------------- row types

/** Present on every row: its index, and (non-enumerable, so equality ignores them) where it was read. */
export interface RowBase {
  readonly index: number;
  /** Line of the data line; 0 for rows not read from a file. Non-enumerable. */
  readonly line: number;
  /** File the row was read from. Non-enumerable. */
  readonly file: string;
}

export type Transport = 'any' | 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';
export type RequestType = 'all' | 'invite' | 'register' | 'subscribe' | 'invite-and-register' | 'invite-and-subscribe' | 'options';

export interface InterfaceRow extends RowBase {
  readonly applicationTypes: number;
  readonly interfaceMode: number;
  readonly ipAddress: string;
  readonly prefixLength: number;
  readonly gateway: string;
  readonly interfaceName: string;
  readonly primaryDnsServer: string;
  readonly secondaryDnsServer: string;
  readonly underlyingDevice: string;
}

export interface SipInterfaceRow extends RowBase {
  readonly interfaceName: string;
  readonly networkInterface: string;
  readonly applicationType: 'gw' | 'sas' | 'sbc';
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly tlsPort: number;
  readonly mediaRealm: string;
  readonly tlsContext: string;
  readonly tlsMutualAuthentication: number;
  /** 0 = drop silently; otherwise the SIP response code sent to unclassified requests. */
  readonly classificationFailureResponseType: number;
}

export interface ProxySetRow extends RowBase {
  readonly proxyName: string;
  readonly enableProxyKeepAlive: 'disable' | 'options' | 'register';
  readonly proxyKeepAliveTime: number;
  readonly proxyLoadBalancingMethod: 'disable' | 'round-robin' | 'random-weights';
  readonly isProxyHotSwap: boolean;
  readonly proxyRedundancyMode: 'not-configured' | 'parking' | 'homing';
  readonly sbcIpv4SipInterfaceName: string;
  readonly keepAliveFailureResp: readonly number[];
  readonly successDetectionRetries: number;
  readonly successDetectionInterval: number;
  readonly failureDetectionRetransmissions: number;
  readonly dnsResolveMethod: 'a-record' | 'srv' | 'naptr';
}

export interface ProxyIpRow extends RowBase {
  /** Index (or name) of the owning ProxySet row. */
  readonly proxySetId: string;
  readonly proxyIpIndex: number;
  /** `host`, `host:port` or `[v6]:port`. */
  readonly ipAddress: string;
  readonly transportType: Transport;
  readonly priority: number;
  readonly weight: number;
}

export interface IpGroupRow extends RowBase {
  readonly type: 'server' | 'user' | 'gateway';
  readonly name: string;
  readonly proxySetName: string;
  readonly sipGroupName: string;
  readonly contactUser: string;
  readonly mediaRealm: string;
  readonly classifyByProxySet: boolean;
  readonly profileName: string;
  readonly inboundManSet: number;
  readonly outboundManSet: number;
  readonly username: string;
  readonly password: string;
  readonly authenticationMode: 'user-authenticates' | 'sbc-as-client' | 'sbc-as-server';
  readonly methodList: string;
  readonly sbcKeepOriginalCallId: boolean;
  readonly topologyLocation: 'down' | 'up';
  readonly maxNumOfRegUsers: number;
  /** DialPlan name whose rules tag the numbers of calls from this group (empty = none). */
  readonly sbcDialPlanName: string;
  /** QOEProfile name judging this group's calls ('' = none). */
  readonly qoeProfile: string;
  readonly registrationMode: 'user-initiates' | 'sbc-initiates' | 'not-needed';
  /** Mediant "Serving IP Group": where the SBC registers this group's users (RegistrationMode sbc-initiates). */
  readonly servingIpGroupName: string;
}

export interface ClassificationRow extends RowBase {
  readonly classificationName: string;
  readonly messageConditionName: string;
  readonly srcSipInterfaceName: string;
  readonly srcAddress: string;
  readonly srcPort: number;
  readonly srcTransportType: Transport;
  readonly srcUsernamePrefix: string;
  readonly srcHost: string;
  readonly destUsernamePrefix: string;
  readonly destHost: string;
  readonly actionType: 'deny' | 'allow';
  readonly srcIpGroupName: string;
  readonly ipProfileName: string;
}

export interface Ip2IpRoutingRow extends RowBase {
  readonly routeName: string;
  readonly srcIpGroupName: string;
  readonly srcUsernamePrefix: string;
  readonly srcHost: string;
  readonly destUsernamePrefix: string;
  readonly destHost: string;
  readonly requestType: RequestType;
  readonly messageConditionName: string;
  readonly reRouteIpGroupName: string;
  readonly trigger: 'any' | '3xx' | 'refer' | '3xx-or-refer' | 'initial-only' | 'broken-connection';
  readonly destType:
    | 'ip-group' | 'dest-address' | 'request-uri' | 'enum' | 'hunt-group' | 'dial-plan' | 'ldap'
    | 'internal' | 'routing-server' | 'all-users' | 'ip-group-set';
  readonly destIpGroupName: string;
  readonly destSipInterfaceName: string;
  readonly destAddress: string;
  readonly destPort: number;
  readonly destTransportType: Transport;
  readonly altRouteOptions:
    | 'route-row' | 'alt-route-ignore-inputs' | 'alt-route-consider-inputs' | 'group-member-ignore-inputs' | 'group-member-consider-inputs';
  readonly groupPolicy: 'none' | 'forking';
  readonly costGroup: string;
  /** Dial plan tags the source number must carry (`;`-separated; empty = any). */
  readonly srcTags: string;
  /** Dial plan tags the destination number must carry. */
  readonly destTags: string;
}

export interface NumberManipulationRow extends RowBase {
  readonly manipulationName: string;
  readonly isAdditionalManipulation: boolean;
  readonly manipulationPurpose: 'normal' | 'routing-input-only' | 'shared-line';
  readonly srcIpGroupName: string;
  readonly destIpGroupName: string;
  readonly srcUsernamePrefix: string;
  readonly srcHost: string;
  readonly destUsernamePrefix: string;
  readonly destHost: string;
  readonly requestType: RequestType;
  readonly manipulatedUri: 'source' | 'destination';
  readonly removeFromLeft: number;
  readonly removeFromRight: number;
  readonly leaveFromRight: number;
  readonly prefix2Add: string;
  readonly suffix2Add: string;
  readonly privacyRestrictionMode: 'transparent' | 'dont-change' | 'restrict' | 'remove';
}

export interface MessageConditionRow extends RowBase {
  readonly name: string;
  readonly condition: string;
}

export interface MessageManipulationRow extends RowBase {
  readonly manipulationName: string;
  readonly manSetId: number;
  readonly messageType: string;
  readonly condition: string;
  readonly actionSubject: string;
  readonly actionType: 'add' | 'remove' | 'modify' | 'add-prefix' | 'add-suffix' | 'remove-suffix' | 'remove-prefix' | 'normalize';
  readonly actionValue: string;
  readonly rowRole: 'use-current-condition' | 'use-previous-condition';
  readonly activate: boolean;
}

export interface IpProfileRow extends RowBase {
  readonly profileName: string;
  readonly sbcMediaSecurityBehaviour: 'as-is' | 'secured' | 'not-secured' | 'both';
  readonly srtpOfferedSuites: 'all' | 'aes-cm-128-hmac-sha1-80' | 'aes-cm-128-hmac-sha1-32';
  readonly sbcRfc2833Behavior: 'as-is' | 'extend' | 'disable';
  readonly sbcAlternativeDtmfMethod: 'dont-care' | 'in-band' | 'info';
  readonly sbcSessionExpiresMode: 'transparent' | 'observer' | 'not-supported' | 'supported';
  readonly sbcPrackMode: 'optional' | 'mandatory' | 'transparent';
  readonly sbcRemoteReferBehavior: 'regular' | 'database-url' | 'ip-group-name' | 'handle-locally';
  readonly sbcRemote3xxBehavior: 'transparent' | 'database-url' | 'handle-locally';
  /** Seconds without media before the call is considered broken; 0 = global BrokenConnectionEventTimeout. */
  readonly sbcMediaTimeout: number;
  readonly disconnectOnBrokenConnection: boolean;
  /** Minutes; 0 = global SBCMaxCallDuration. */
  readonly sbcMaxCallDuration: number;
  /** Seconds granted to registering users behind NAT over UDP / TCP; -1 = not configured (SBCUserRegistrationTime), 0 = as asked. */
  readonly sbcUserBehindUdpNatRegistrationTime: number;
  readonly sbcUserBehindTcpNatRegistrationTime: number;
  /** P-Asserted-Identity on initial INVITEs toward the entity: as is, add (from the source URL), remove; add-preferred = P-Preferred-Identity (ours). */
  readonly sbcAssertIdentity: 'as-is' | 'add' | 'remove' | 'add-preferred';
  readonly sbcAllowedAudioCodersGroupName: string;
  readonly sbcExtensionCodersGroupName: string;
}

export interface MediaRealmRow extends RowBase {
  readonly mediaRealmName: string;
  readonly ipv4If: string;
  readonly ipv6If: string;
  readonly portRangeStart: number;
  readonly mediaSessionLeg: number;
  /** 0 = computed as PortRangeStart + MediaSessionLeg * 2 - 1. */
  readonly portRangeEnd: number;
  readonly isDefault: boolean;
}

export interface AudioCodersGroupRow extends RowBase {
  readonly name: string;
}

export interface AudioCoderRow extends RowBase {
  /** Index or name of the AudioCodersGroups row. */
  readonly audioCodersGroupId: string;
  readonly audioCodersIndex: number;
  readonly name: string;
  readonly pTime: number;
  readonly rate: number;
  readonly payloadType: number;
}

export interface AllowedAudioCodersGroupRow extends RowBase {
  readonly name: string;
}

export interface AllowedAudioCoderRow extends RowBase {
  readonly allowedAudioCodersGroupName: string;
  readonly allowedAudioCodersIndex: number;
  readonly coderId: string;
  readonly userDefineCoder: string;
}

export interface AccountRow extends RowBase {
  readonly servedIpGroupName: string;
  readonly servingIpGroupName: string;
  readonly username: string;
  readonly password: string;
  readonly hostName: string;
  readonly contactUser: string;
  readonly register: 'no' | 'regular' | 'gin';
  /** Mediant 7.2+ `Name`: free name shown in status (ours: default "Account <index>"). */
  readonly accountName: string;
  /** Ours: the serving IP Group is unavailable for routing while this account is not registered. */
  readonly routeOnlyWhenRegistered: boolean;
}

/** Mediant SBC User Information: users the SBC authenticates (IP Group AuthenticationMode = SBC as server). */
export interface SbcUserInfoRow extends RowBase {
  readonly localUser: string;
  readonly username: string;
  readonly password: string;
  readonly ipGroupName: string;
}

export interface AltRoutingReasonRow extends RowBase {
  readonly releaseCause: number;
}

// ---------------------------------------------------------------- intrusion detection (Mediant IDS)

/** IDSRule Reason (Mediant codes); what each covers here is in docs/security.md. */
export type IdsReason = 'any' | 'connection-abuse' | 'malformed' | 'auth-failure' | 'dialog-failure' | 'abnormal-flow';
export const IDS_REASON_ENUM = e<IdsReason>(
  [0, 'any'],
  [1, 'connection-abuse', 'connection abuse'],
  [2, 'malformed', 'malformed message'],
  [3, 'auth-failure', 'authentication failure'],
  [4, 'dialog-failure', 'dialog establish failure', 'dialog establishment failure'],
  [5, 'abnormal-flow', 'abnormal flow'],
);
export const IDS_SCOPE_ENUM = e<'global' | 'ip' | 'ip-port'>([0, 'global'], [2, 'ip'], [3, 'ip-port', 'ip+port']);

export interface IdsPolicyRow extends RowBase {
  readonly name: string;
  readonly description: string;
}

export interface IdsRuleRow extends RowBase {
  /** IDSPolicy name (or index). */
  readonly policy: string;
  readonly ruleId: number;
  readonly reason: IdsReason;
  readonly thresholdScope: 'global' | 'ip' | 'ip-port';
  /** Seconds; the counters restart at the end of each window. */
  readonly thresholdWindow: number;
  readonly minorAlarmThreshold: number;
  readonly majorAlarmThreshold: number;
  readonly criticalAlarmThreshold: number;
  /** More events than this in one window deny the source; -1 = never. */
  readonly denyThreshold: number;
  /** Seconds a denied source stays denied; -1 = not configured. */
  readonly denyPeriod: number;
}

export interface IdsMatchRow extends RowBase {
  /** SIP Interface ids (indexes) or names: `1,3-4`, `!2`; empty = all. */
  readonly sipInterface: string;
  /** Proxy Set ids or names, same syntax; empty = all sources. */
  readonly proxySet: string;
  /** `10.1.0.0/16 | 10.2.2.2`, `!10.1.0.0/16 & !10.2.2.2`; empty = all. */
  readonly subnet: string;
  readonly policy: string;
}

/** TLSContexts: certificate sets and TLS policy, referenced by SIP Interfaces (TLSContext). */
export interface TlsContextRow extends RowBase {
  readonly name: string;
  /** Mediant bitmask: 1 TLS 1.0, 2 TLS 1.1, 4 TLS 1.2, 8 TLS 1.3; 0 = default (ours: 1.2 and 1.3). */
  readonly tlsVersion: number;
  readonly serverCipherString: string;
  readonly clientCipherString: string;
  readonly requireStrictCert: boolean;
  readonly ocspEnable: boolean;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly trustedRootFile: string;
  readonly verifyServerCertificate: boolean;
}

/** WebUsers: REST API users (Mediant's Web/REST users table). */
export interface WebUserRow extends RowBase {
  readonly username: string;
  /** scrypt hash (`sbc hash-password`); never a clear-text password. */
  readonly password: string;
  readonly userLevel: 'monitor' | 'operator' | 'admin';
  /** Bearer token lifetime in minutes. */
  readonly sessionTimeout: number;
}

export type AdmissionRequestType = 'all' | 'invite' | 'subscribe' | 'other';
export type RequestDirection = 'both' | 'inbound' | 'outbound';

export interface AdmissionControlRow extends RowBase {
  readonly admissionControlName: string;
  readonly limitType: 'ip-group' | 'srd' | 'sip-interface';
  /** IP Group name, or Any for every IP Group (each counted on its own); used when limitType is ip-group. */
  readonly ipGroupName: string;
  /** Stored only: we have no SRDs. */
  readonly srdName: string;
  /** SIP Interface name, or Any; used when limitType is sip-interface. */
  readonly sipInterfaceName: string;
  readonly requestType: AdmissionRequestType;
  readonly requestDirection: RequestDirection;
  /** Concurrent dialogs; -1 = unlimited, 0 = block. */
  readonly limit: number;
  /** Concurrent dialogs per user; -1 = unlimited, 0 = block. */
  readonly limitPerUser: number;
  /** Token-bucket refill, dialogs per second; 0 = no rate limit. */
  readonly rate: number;
  /** Token-bucket size; 0 = unlimited. */
  readonly maxBurst: number;
  /** Guaranteed concurrent dialogs (IP Groups only); 0 = none. */
  readonly reservation: number;
}

export interface DialPlanRow extends RowBase {
  readonly name: string;
}

export interface DialPlanRuleRow extends RowBase {
  /** Name of the owning DialPlan row. */
  readonly dialPlanName: string;
  readonly ruleIndex: number;
  readonly name: string;
  /** Number prefix (Mediant prefix syntax). */
  readonly prefix: string;
  /** Tags given to a matching number: `TAG` or `Key=Value`, several separated by `;`. */
  readonly tag: string;
}

/** SBCCDRFormat CDRType: which sink's columns a row sets (1, 3, 5, 11 are Mediant's codes; 101 and 111 are ours). */
export type CdrFormatType = 'syslog-sbc' | 'syslog-media' | 'local-storage-sbc' | 'local-storage-media' | 'json-sbc' | 'json-media';

export interface SbcCdrFormatRow extends RowBase {
  readonly cdrType: CdrFormatType;
  /** Field: our key, its title, or a Mediant Field Type code (see docs/cdr.md). */
  readonly fieldType: string;
  /** Column title; empty = the field's default title. */
  readonly title: string;
}

export interface QoeProfileRow extends RowBase {
  readonly name: string;
  readonly sensitivityLevel: 'user-defined' | 'low' | 'medium' | 'high';
}

export type QoeMonitoredParam = 'mos' | 'delay' | 'packet-loss' | 'jitter' | 'rerl';

export interface QoeColorRuleRow extends RowBase {
  /** Index or name of the QOEProfile row. */
  readonly qoeProfile: string;
  readonly colorRuleIndex: number;
  readonly monitoredParam: QoeMonitoredParam;
  readonly direction: 'device-side' | 'remote-side';
  readonly sensitivityLevel: 'user-defined' | 'low' | 'medium' | 'high';
  /** Green/yellow boundary: MOS x10, delay ms, loss %, jitter ms. */
  readonly minorThreshold: number;
  readonly minorHysteresis: number;
  /** Yellow/red boundary, same units. */
  readonly majorThreshold: number;
  readonly majorHysteresis: number;
}

export interface QualityOfServiceRuleRow extends RowBase {
  readonly ipGroupName: string;
  readonly ruleMetric: 'voice-quality' | 'bandwidth' | 'acd' | 'asr' | 'ner' | 'poor-invoice-quality';
  readonly severity: 'major' | 'minor';
  readonly ruleAction: 'reject-calls' | 'alternative-ip-profile';
  readonly callsRejectDuration: number;
  readonly altIpProfileName: string;
  /** Ours: ASR/NER in %, ACD in s, voice quality as MOS x10; the alarm is raised below it. */
  readonly threshold: number;
  /** Ours: the last N calls of the IP Group the metric is computed over. */
  readonly windowCalls: number;
}

/** Rows of every supported table, as held in SbcConfig. */
export interface SbcTables {
  readonly interfaces: readonly InterfaceRow[];
  readonly sipInterfaces: readonly SipInterfaceRow[];
  readonly proxySets: readonly ProxySetRow[];
  readonly proxyIps: readonly ProxyIpRow[];
  readonly ipGroups: readonly IpGroupRow[];
  readonly classifications: readonly ClassificationRow[];
  readonly ip2ipRouting: readonly Ip2IpRoutingRow[];
  readonly inboundManipulations: readonly NumberManipulationRow[];
  readonly outboundManipulations: readonly NumberManipulationRow[];
  readonly messageConditions: readonly MessageConditionRow[];
  readonly messageManipulations: readonly MessageManipulationRow[];
  readonly ipProfiles: readonly IpProfileRow[];
  readonly mediaRealms: readonly MediaRealmRow[];
  readonly audioCodersGroups: readonly AudioCodersGroupRow[];
  readonly audioCoders: readonly AudioCoderRow[];
  readonly allowedAudioCodersGroups: readonly AllowedAudioCodersGroupRow[];
  readonly allowedAudioCoders: readonly AllowedAudioCoderRow[];
  readonly accounts: readonly AccountRow[];
  readonly sbcUserInfo: readonly SbcUserInfoRow[];
  readonly alternativeRoutingReasons: readonly AltRoutingReasonRow[];
  readonly admissionControl: readonly AdmissionControlRow[];
  readonly dialPlans: readonly DialPlanRow[];
  readonly dialPlanRules: readonly DialPlanRuleRow[];
  readonly cdrFormats: readonly SbcCdrFormatRow[];
  readonly qoeProfiles: readonly QoeProfileRow[];
  readonly qoeColorRules: readonly QoeColorRuleRow[];
  readonly qualityOfServiceRules: readonly QualityOfServiceRuleRow[];
  readonly idsPolicies: readonly IdsPolicyRow[];
  readonly idsRules: readonly IdsRuleRow[];
  readonly idsMatches: readonly IdsMatchRow[];
  readonly webUsers: readonly WebUserRow[];
  readonly tlsContexts: readonly TlsContextRow[];
}

export type TableKey = keyof SbcTables;

// ---------------------------------------------------------------- table descriptors

const numberManipulationColumns = (inbound: boolean): ColumnDef[] => [
  str('ManipulationName', 'manipulationName', 'Free name of the rule.'),
  bool('IsAdditionalManipulation', 'isAdditionalManipulation', false, 'Also applied after the row above it matched (chained rule).'),
  en('ManipulationPurpose', 'manipulationPurpose', e([0, 'normal'], [1, 'routing-input-only', 'routing input only'], [2, 'shared-line', 'shared line']), 'normal',
    inbound ? 'normal: the result is sent on; routing-input-only: only routing sees it.' : 'Stored; only normal is used.'),
  str('SrcIPGroupName', 'srcIpGroupName', 'Source IP Group; empty or Any = any.'),
  str('DestIPGroupName', 'destIpGroupName', inbound ? 'Ignored in the inbound table (the destination is not known yet).' : 'Destination IP Group; empty or Any = any.'),
  str('SrcUsernamePrefix', 'srcUsernamePrefix', 'Source user prefix (Mediant prefix syntax).', '*'),
  str('SrcHost', 'srcHost', 'Source host; * = any.', '*'),
  str('DestUsernamePrefix', 'destUsernamePrefix', 'Destination user prefix.', '*'),
  str('DestHost', 'destHost', 'Destination host; * = any.', '*'),
  en('RequestType', 'requestType', REQUEST_TYPE_ENUM, 'all', 'SIP request type the rule applies to.'),
  en('ManipulatedURI', 'manipulatedUri', e([0, 'source', 'src'], [1, 'destination', 'dest', 'dst']), 'source', 'Which user is changed: source (From) or destination (Request-URI/To).'),
  int('RemoveFromLeft', 'removeFromLeft', 0, 'Digits removed from the left.', 0, 255),
  int('RemoveFromRight', 'removeFromRight', 0, 'Digits removed from the right.', 0, 255),
  int('LeaveFromRight', 'leaveFromRight', 255, 'Keep only this many digits from the right (255 = all).', 0, 255),
  str('Prefix2Add', 'prefix2Add', 'Prefix added.'),
  str('Suffix2Add', 'suffix2Add', 'Suffix added.'),
  en('PrivacyRestrictionMode', 'privacyRestrictionMode',
    e([0, 'transparent'], [1, 'dont-change', "don't change privacy"], [2, 'restrict'], [3, 'remove']), 'transparent', 'Stored, not applied yet.'),
];

export const TABLES: readonly TableDef[] = [
  {
    name: 'InterfaceTable', configKey: 'interfaces', nameKey: 'interfaceName',
    doc: 'Named IP interfaces; SIP Interfaces and Media Realms refer to them by name.',
    columns: [
      int('ApplicationTypes', 'applicationTypes', 6, 'Mediant code (6 = OAMP + Media + Control); stored only.'),
      int('InterfaceMode', 'interfaceMode', 10, 'Mediant code (10 = IPv4 manual); stored only.'),
      str('IPAddress', 'ipAddress', 'Local address the SBC binds for this interface.'),
      int('PrefixLength', 'prefixLength', 24, 'Subnet prefix length.', 0, 128),
      str('Gateway', 'gateway', 'Default gateway; stored only.'),
      str('InterfaceName', 'interfaceName', 'Unique name.'),
      str('PrimaryDNSServerIPAddress', 'primaryDnsServer', 'Stored only: host names are resolved by the system resolver.'),
      str('SecondaryDNSServerIPAddress', 'secondaryDnsServer', 'Stored only.'),
      str('UnderlyingDevice', 'underlyingDevice', 'Stored only.'),
    ],
  },
  {
    name: 'SIPInterface', configKey: 'sipInterfaces', nameKey: 'interfaceName',
    doc: 'Listening SIP address and ports.',
    columns: [
      str('InterfaceName', 'interfaceName', 'Unique name.'),
      str('NetworkInterface', 'networkInterface', 'InterfaceTable name whose address is used.'),
      en('ApplicationType', 'applicationType', e([0, 'gw', 'gateway'], [1, 'sas'], [2, 'sbc']), 'sbc', 'Stored only: every SIP Interface is started as an SBC interface.'),
      int('UDPPort', 'udpPort', 5060, 'UDP port; 0 = no UDP.', ...PORT),
      int('TCPPort', 'tcpPort', 5060, 'TCP port; 0 = no TCP.', ...PORT),
      int('TLSPort', 'tlsPort', 5061, 'TLS port; 0 = no TLS.', ...PORT),
      str('MediaRealm', 'mediaRealm', 'Default media realm (CpMediaRealm name).'),
      str('TLSContext', 'tlsContext', 'TLS context name (certificate set).'),
      int('TLSMutualAuthentication', 'tlsMutualAuthentication', -1, '-1 = global, 0 = off, 1 = require client certificates.', -1, 1),
      int('ClassificationFailureResponseType', 'classificationFailureResponseType', 0,
        'Response to unclassified requests: 0 = drop silently (default, safe toward the internet), or a SIP code 400-699.', 0, 699),
    ],
  },
  {
    name: 'ProxySet', configKey: 'proxySets', nameKey: 'proxyName',
    doc: 'A group of servers with keep-alive, redundancy and load balancing.',
    columns: [
      str('ProxyName', 'proxyName', 'Unique name; IPGroup ProxySetName refers to it.'),
      en('EnableProxyKeepAlive', 'enableProxyKeepAlive', e([0, 'disable', 'disabled', 'no'], [1, 'options', 'using options'], [2, 'register', 'using register']), 'disable',
        'Keep-alive method; register is treated like options.'),
      int('ProxyKeepAliveTime', 'proxyKeepAliveTime', 60, 'Seconds between keep-alive probes.', 1, 86400),
      en('ProxyLoadBalancingMethod', 'proxyLoadBalancingMethod', e([0, 'disable', 'disabled', 'none'], [1, 'round-robin', 'round robin'], [2, 'random-weights', 'random weights', 'weighted-random']), 'disable',
        'Load balancing among live servers.'),
      bool('IsProxyHotSwap', 'isProxyHotSwap', false, 'On failure of one server, try the next one of the set for the same request.'),
      en('ProxyRedundancyMode', 'proxyRedundancyMode', e([-1, 'not-configured', 'not configured'], [0, 'parking'], [1, 'homing']), 'not-configured',
        'parking: stay on the server in use while it lives; homing: return to the highest priority live server.'),
      str('SBCIPv4SIPInterfaceName', 'sbcIpv4SipInterfaceName', 'SIP Interface used to reach the servers.'),
      { ini: 'KeepAliveFailureResp', key: 'keepAliveFailureResp', type: { kind: 'codes' }, def: [], doc: 'Responses to keep-alive that count as failure, e.g. "503,404".' },
      int('SuccessDetectionRetries', 'successDetectionRetries', 1, 'Successful probes needed to mark a down server up.', 1, 100),
      int('SuccessDetectionInterval', 'successDetectionInterval', 10, 'Seconds between probes of a down server.', 1, 86400),
      int('FailureDetectionRetransmissions', 'failureDetectionRetransmissions', -1, 'Missed probes before a server is marked down; -1 = SIPMaxRtx (default 1 probe).', -1, 255),
      en('DNSResolveMethod', 'dnsResolveMethod', e([0, 'a-record', 'a'], [1, 'srv'], [2, 'naptr']), 'a-record', 'How host names are resolved; naptr is treated as srv.'),
    ],
  },
  {
    name: 'ProxyIp', configKey: 'proxyIps',
    doc: 'One server of a proxy set.',
    columns: [
      str('ProxySetId', 'proxySetId', 'Index (or name) of the ProxySet row.'),
      int('ProxyIpIndex', 'proxyIpIndex', 0, 'Order inside the proxy set.', 0),
      str('IpAddress', 'ipAddress', 'IP or host name, optionally :port.', '', { aliases: ['ProxyAddress'] }),
      en('TransportType', 'transportType', TRANSPORT_ENUM, 'any', 'Transport; not-configured = UDP.'),
      int('Priority', 'priority', 0, 'Lower is preferred (homing/parking order).', 0, 65535),
      int('Weight', 'weight', 0, 'Weight for random-weights balancing (0 counts as 1).', 0, 65535),
    ],
  },
  {
    name: 'IPGroup', configKey: 'ipGroups', nameKey: 'name',
    doc: 'A SIP entity we talk to.',
    columns: [
      en('Type', 'type', IPGROUP_TYPE_ENUM, 'server', 'server: fixed servers in a proxy set; user: registering users; gateway.'),
      str('Name', 'name', 'Unique name.'),
      str('ProxySetName', 'proxySetName', 'Proxy Set of its servers.'),
      str('SIPGroupName', 'sipGroupName', 'Host name used toward it in Request-URI/To.'),
      str('ContactUser', 'contactUser', 'User part of our Contact toward it.'),
      str('MediaRealm', 'mediaRealm', 'Media Realm of its media (default: the SIP Interface\'s).', '', { aliases: ['MediaRealmName'] }),
      bool('ClassifyByProxySet', 'classifyByProxySet', true, 'Classify requests from its proxy set addresses to it.'),
      str('ProfileName', 'profileName', 'IpProfile name.', '', { aliases: ['IPProfileName'] }),
      int('InboundManSet', 'inboundManSet', -1, 'MessageManipulations set applied to what it sends us (-1 = none).', -1),
      int('OutboundManSet', 'outboundManSet', -1, 'MessageManipulations set applied to what we send it (-1 = none).', -1),
      str('Username', 'username', 'Credentials it must present (sbc-as-server) or we present.'),
      str('Password', 'password', 'Plain text; masked in logs.', '', { secret: true }),
      en('AuthenticationMode', 'authenticationMode', e([0, 'user-authenticates', 'user authenticates'], [1, 'sbc-as-client', 'sbc as client'], [2, 'sbc-as-server', 'sbc as server']), 'user-authenticates', 'Who answers digest challenges.'),
      str('MethodList', 'methodList', 'Methods challenged when sbc-as-server (e.g. "INVITE\\REGISTER").'),
      bool('SBCKeepOriginalCallID', 'sbcKeepOriginalCallId', false, 'Reuse the incoming Call-ID on the outgoing leg.'),
      en('TopologyLocation', 'topologyLocation', e([0, 'down'], [1, 'up']), 'down', 'Stored (for display).'),
      int('MaxNumOfRegUsers', 'maxNumOfRegUsers', -1, 'Registration limit for user groups (-1 = unlimited).', -1),
      str('SBCDialPlanName', 'sbcDialPlanName', 'DialPlan whose rules tag the source and destination numbers of calls from this group (for IP2IPRouting SrcTags/DestTags).'),
      str('QOEProfile', 'qoeProfile', 'QOEProfile name whose color rules judge this group\'s calls (empty = none).', '', { aliases: ['QOEProfileName'] }),
      en('RegistrationMode', 'registrationMode', e([0, 'user-initiates', 'user initiates registration'], [1, 'sbc-initiates', 'sbc initiates registration'], [2, 'not-needed', 'registrations not needed']), 'user-initiates',
        'User groups: users register through the SBC (user-initiates), the SBC registers the SBCUserInfoTable users (sbc-initiates), or those users are always registered (not-needed). See docs/registration.md.'),
      str('ServingIPGroupName', 'servingIpGroupName', 'sbc-initiates: IP Group (registrar) the SBC registers this group\'s users with (empty: the IP2IPRouting REGISTER rule of the group).'),
    ],
  },
  {
    name: 'Classification', configKey: 'classifications',
    doc: 'Assigns an incoming request to a source IP Group; first match wins.',
    columns: [
      str('ClassificationName', 'classificationName', 'Free name.'),
      str('MessageConditionName', 'messageConditionName', 'MessageConditions name that must match (empty = none).'),
      str('SrcSIPInterfaceName', 'srcSipInterfaceName', 'SIP Interface the request arrived on (empty = any).'),
      str('SrcAddress', 'srcAddress', 'Source IP: exact, a.b.c.d/n, * or per-octet * / [n-m].', '*'),
      int('SrcPort', 'srcPort', 0, 'Source port (0 = any).', ...PORT),
      en('SrcTransportType', 'srcTransportType', TRANSPORT_ENUM, 'any', 'Source transport.'),
      str('SrcUsernamePrefix', 'srcUsernamePrefix', 'From user prefix.', '*'),
      str('SrcHost', 'srcHost', 'From host.', '*'),
      str('DestUsernamePrefix', 'destUsernamePrefix', 'Request-URI user prefix.', '*'),
      str('DestHost', 'destHost', 'Request-URI host.', '*'),
      en('ActionType', 'actionType', e([0, 'deny'], [1, 'allow']), 'allow', 'allow: classify to SrcIPGroupName; deny: reject.'),
      str('SrcIPGroupName', 'srcIpGroupName', 'IP Group assigned.'),
      str('IpProfileName', 'ipProfileName', 'IpProfile overriding the group\'s.', '', { aliases: ['IPProfileName'] }),
    ],
  },
  {
    name: 'IP2IPRouting', configKey: 'ip2ipRouting',
    doc: 'Routing rules; first match wins.',
    columns: [
      str('RouteName', 'routeName', 'Free name.'),
      str('SrcIPGroupName', 'srcIpGroupName', 'Source IP Group; empty or Any = any.', 'Any'),
      str('SrcUsernamePrefix', 'srcUsernamePrefix', 'From user prefix.', '*'),
      str('SrcHost', 'srcHost', 'From host.', '*'),
      str('DestUsernamePrefix', 'destUsernamePrefix', 'Request-URI user prefix.', '*'),
      str('DestHost', 'destHost', 'Request-URI host.', '*'),
      en('RequestType', 'requestType', REQUEST_TYPE_ENUM, 'all', 'SIP request type.'),
      str('MessageConditionName', 'messageConditionName', 'MessageConditions name (empty = none).'),
      str('ReRouteIPGroupName', 'reRouteIpGroupName', 'Only for requests re-routed by this IP Group (3xx/REFER); Any = any.', 'Any'),
      en('Trigger', 'trigger', TRIGGER_ENUM, 'any', 'What started the routing.'),
      en('DestType', 'destType', DEST_TYPE_ENUM, 'ip-group', 'Destination kind.'),
      str('DestIPGroupName', 'destIpGroupName', 'Destination IP Group.'),
      str('DestSIPInterfaceName', 'destSipInterfaceName', 'SIP Interface used to send.'),
      str('DestAddress', 'destAddress', 'Address for dest-address; reject(CODE) for internal.'),
      int('DestPort', 'destPort', 0, 'Port for dest-address (0 = 5060/5061).', ...PORT),
      en('DestTransportType', 'destTransportType', TRANSPORT_ENUM, 'any', 'Transport for dest-address.'),
      en('AltRouteOptions', 'altRouteOptions', ALT_ROUTE_ENUM, 'route-row', 'Main route or alternative of the row above.'),
      en('GroupPolicy', 'groupPolicy', e([0, 'none', 'sequential'], [1, 'forking']), 'none', 'Stored; forking is not done.'),
      str('CostGroup', 'costGroup', 'Stored only.'),
      str('SrcTags', 'srcTags', 'Dial plan tags the source number must carry (`;`-separated, all must be present; empty = any).'),
      str('DestTags', 'destTags', 'Dial plan tags the destination number must carry (`;`-separated; empty = any).', '', { aliases: ['DstTags'] }),
    ],
  },
  {
    name: 'IPInboundManipulation', configKey: 'inboundManipulations',
    doc: 'Number manipulation before routing.', columns: numberManipulationColumns(true),
  },
  {
    name: 'IPOutboundManipulation', configKey: 'outboundManipulations',
    doc: 'Number manipulation after routing.', columns: numberManipulationColumns(false),
  },
  {
    name: 'MessageConditions', configKey: 'messageConditions', nameKey: 'name',
    doc: 'Named conditions for classification and routing.',
    columns: [str('Name', 'name', 'Unique name.'), str('Condition', 'condition', 'Condition in the manipulation language.')],
  },
  {
    name: 'MessageManipulations', configKey: 'messageManipulations',
    doc: 'SIP message manipulation rules (see docs on the manipulation language).',
    columns: [
      str('ManipulationName', 'manipulationName', 'Free name.'),
      int('ManSetID', 'manSetId', 0, 'Set id referenced by IPGroup In/OutboundManSet.', 0),
      str('MessageType', 'messageType', 'e.g. invite.request; empty = any.'),
      str('Condition', 'condition', 'Condition; empty = always.'),
      str('ActionSubject', 'actionSubject', 'What is changed.'),
      en('ActionType', 'actionType', e(
        [0, 'add'], [1, 'remove'], [2, 'modify'], [3, 'add-prefix', 'add prefix'], [4, 'add-suffix', 'add suffix'],
        [5, 'remove-suffix', 'remove suffix'], [6, 'remove-prefix', 'remove prefix'], [7, 'normalize'],
      ), 'add', 'Mediant order: 0 Add, 1 Remove, 2 Modify, 3 Add Prefix, 4 Add Suffix, 5 Remove Suffix, 6 Remove Prefix, 7 Normalize.'),
      str('ActionValue', 'actionValue', 'Value expression.'),
      en('RowRole', 'rowRole', e([0, 'use-current-condition', 'use current condition'], [1, 'use-previous-condition', 'use previous condition']), 'use-current-condition', 'Use this row\'s or the previous row\'s condition.'),
      bool('Activate', 'activate', true, 'Switches the rule on (1) or off (0) without deleting it.'),
    ],
  },
  {
    name: 'IpProfile', configKey: 'ipProfiles', nameKey: 'profileName',
    doc: 'Per-entity SIP and media behaviour.',
    columns: [
      str('ProfileName', 'profileName', 'Unique name.'),
      en('SBCMediaSecurityBehaviour', 'sbcMediaSecurityBehaviour', e([0, 'as-is', 'as is'], [1, 'secured', 'srtp'], [2, 'not-secured', 'rtp', 'not secured'], [3, 'both']), 'as-is',
        'Media security toward this entity.'),
      en('SRTPOfferedSuites', 'srtpOfferedSuites', e([0, 'all'], [1, 'aes-cm-128-hmac-sha1-80', 'aes_cm_128_hmac_sha1_80'], [2, 'aes-cm-128-hmac-sha1-32', 'aes_cm_128_hmac_sha1_32']), 'all',
        'SRTP crypto suites offered.'),
      en('SBCRFC2833Behavior', 'sbcRfc2833Behavior', e([0, 'as-is', 'as is'], [1, 'extend'], [2, 'disable']), 'as-is', 'RFC 2833 telephone-event handling.'),
      en('SBCAlternativeDTMFMethod', 'sbcAlternativeDtmfMethod', e([0, 'dont-care', "don't care"], [1, 'in-band', 'inband'], [2, 'info']), 'dont-care', 'DTMF method when RFC 2833 is not negotiated.'),
      en('SBCSessionExpiresMode', 'sbcSessionExpiresMode', e([0, 'transparent'], [1, 'observer'], [2, 'not-supported', 'not supported'], [3, 'supported']), 'transparent', 'Session timer (RFC 4028) handling.'),
      en('SBCPrackMode', 'sbcPrackMode', e([1, 'optional'], [2, 'mandatory'], [3, 'transparent']), 'transparent', 'PRACK (100rel) handling.'),
      en('SBCRemoteReferBehavior', 'sbcRemoteReferBehavior', e([0, 'regular'], [1, 'database-url', 'database url'], [2, 'ip-group-name', 'ip group name'], [3, 'handle-locally', 'handle locally']), 'regular', 'REFER handling.'),
      en('SBCRemote3xxBehavior', 'sbcRemote3xxBehavior', e([0, 'transparent'], [1, 'database-url', 'database url'], [2, 'handle-locally', 'handle locally']), 'transparent', '3xx handling.'),
      int('SBCMediaTimeout', 'sbcMediaTimeout', 0, 'Seconds without RTP before the call is broken (0 = global).', 0),
      bool('DisconnectOnBrokenConnection', 'disconnectOnBrokenConnection', true, 'Release the call when media stops.'),
      int('SBCMaxCallDuration', 'sbcMaxCallDuration', 0, 'Minutes (0 = global SBCMaxCallDuration).', 0),
      int('SBCUserBehindUdpNATRegistrationTime', 'sbcUserBehindUdpNatRegistrationTime', -1,
        'Expires (s) granted to users behind NAT registering over UDP (their refreshes keep the NAT open); -1 = SBCUserRegistrationTime, 0 = as asked.', -1, 2000000),
      int('SBCUserBehindTcpNATRegistrationTime', 'sbcUserBehindTcpNatRegistrationTime', -1,
        'The same for TCP/TLS.', -1, 2000000),
      en('SBCAssertIdentity', 'sbcAssertIdentity', e([0, 'as-is', 'as is'], [1, 'add'], [2, 'remove'], [3, 'add-preferred', 'add p-preferred-identity']), 'as-is',
        'P-Asserted-Identity on initial INVITEs toward this entity: 0 as is, 1 add (from the source URL), 2 remove; 3 = add P-Preferred-Identity instead (ours).'),
      str('SBCAllowedAudioCodersGroupName', 'sbcAllowedAudioCodersGroupName', 'AllowedAudioCodersGroups name (empty = all).'),
      str('SBCExtensionCodersGroupName', 'sbcExtensionCodersGroupName', 'AudioCodersGroups name of coders added by transcoding (stored).'),
    ],
  },
  {
    name: 'CpMediaRealm', configKey: 'mediaRealms', nameKey: 'mediaRealmName',
    doc: 'Media address and port range.',
    columns: [
      str('MediaRealmName', 'mediaRealmName', 'Unique name.'),
      str('IPv4IF', 'ipv4If', 'InterfaceTable name of the media address.'),
      str('IPv6IF', 'ipv6If', 'Stored only.'),
      int('PortRangeStart', 'portRangeStart', 6000, 'First RTP port.', 1, 65535),
      int('MediaSessionLeg', 'mediaSessionLeg', 100, 'Number of media legs (2 ports each: RTP and RTCP).', 1, 32767),
      int('PortRangeEnd', 'portRangeEnd', 0, 'Last port (0 = start + legs * 2 - 1).', 0, 65535),
      bool('IsDefault', 'isDefault', false, 'Used where no realm is configured.'),
    ],
  },
  {
    name: 'AudioCodersGroups', configKey: 'audioCodersGroups', nameKey: 'name', aliases: ['CodersGroups'],
    doc: 'Named coder lists.', columns: [str('Name', 'name', 'Unique name.')],
  },
  {
    name: 'AudioCoders', configKey: 'audioCoders',
    doc: 'Coders of a group, in order of preference.',
    columns: [
      str('AudioCodersGroupId', 'audioCodersGroupId', 'Index or name of the AudioCodersGroups row.'),
      int('AudioCodersIndex', 'audioCodersIndex', 0, 'Order in the group.', 0),
      str('Name', 'name', 'Coder name, e.g. g711Alaw64k, g711Ulaw64k, g729, g722, opus.'),
      int('pTime', 'pTime', 20, 'Packet time in ms.', 0, 200),
      int('rate', 'rate', 0, 'Bit rate code; stored.'),
      int('PayloadType', 'payloadType', -1, 'RTP payload type (-1 = standard).', -1, 127),
    ],
  },
  {
    name: 'AllowedAudioCodersGroups', configKey: 'allowedAudioCodersGroups', nameKey: 'name',
    doc: 'Named lists of coders allowed toward an entity.', columns: [str('Name', 'name', 'Unique name.')],
  },
  {
    name: 'AllowedAudioCoders', configKey: 'allowedAudioCoders',
    doc: 'One allowed coder.',
    columns: [
      str('AllowedAudioCodersGroupName', 'allowedAudioCodersGroupName', 'AllowedAudioCodersGroups name.'),
      int('AllowedAudioCodersIndex', 'allowedAudioCodersIndex', 0, 'Order.', 0),
      str('CoderID', 'coderId', 'Coder name (e.g. g711Alaw64k).'),
      str('UserDefineCoder', 'userDefineCoder', 'Free coder name (SDP encoding name) when CoderID is empty.'),
    ],
  },
  {
    name: 'Account', configKey: 'accounts',
    doc: 'Credentials used toward a serving IP Group.',
    columns: [
      str('ServedIPGroupName', 'servedIpGroupName', 'IP Group on whose behalf we register/authenticate.'),
      str('ServingIPGroupName', 'servingIpGroupName', 'IP Group (trunk) we register with.'),
      str('Username', 'username', 'Digest user name.'),
      str('Password', 'password', 'Plain text; masked in logs.', '', { secret: true }),
      str('HostName', 'hostName', 'Host for the AOR (default: the serving group\'s SIPGroupName).'),
      str('ContactUser', 'contactUser', 'User part of the registered Contact.'),
      en('Register', 'register', e([0, 'no'], [1, 'regular', 'yes'], [2, 'gin']), 'no', 'Whether we register (gin is sent as regular).'),
      str('AccountName', 'accountName', 'Free name shown in GET /api/v1/registrations and metrics.', '', { aliases: ['Name'] }),
      bool('RouteOnlyWhenRegistered', 'routeOnlyWhenRegistered', false,
        'Ours: while the account is not registered its serving IP Group is unavailable for routing (alternative routes apply).'),
    ],
  },
  {
    name: 'SBCUserInfoTable', configKey: 'sbcUserInfo',
    doc: 'Users the SBC authenticates as a server (IP Group AuthenticationMode sbc-as-server).',
    columns: [
      str('LocalUser', 'localUser', 'User part of the AOR (the Request-URI / To user).'),
      str('Username', 'username', 'Digest user name.'),
      str('Password', 'password', 'Plain text; masked in logs.', '', { secret: true }),
      str('IPGroupName', 'ipGroupName', 'The (User-type) IP Group of the user.'),
    ],
  },
  {
    name: 'SBCAlternativeRoutingReasons', configKey: 'alternativeRoutingReasons',
    doc: 'Responses that trigger alternative routing (408 and no response always do).',
    columns: [int('ReleaseCause', 'releaseCause', 503, 'SIP response code.', 300, 699)],
  },
  {
    name: 'SBCAdmissionControl', configKey: 'admissionControl',
    doc: 'Call admission control: limits on concurrent dialogs and dialog rate per IP Group or SIP Interface.',
    columns: [
      str('AdmissionControlName', 'admissionControlName', 'Free name.'),
      en('LimitType', 'limitType', ADMISSION_LIMIT_TYPE_ENUM, 'ip-group', 'What is limited: an IP Group or a SIP Interface (srd is accepted but not enforced).'),
      str('IPGroupName', 'ipGroupName', 'IP Group limited (LimitType ip-group); Any = every IP Group, each on its own.'),
      str('SRDName', 'srdName', 'Stored only (no SRDs here).'),
      str('SIPInterfaceName', 'sipInterfaceName', 'SIP Interface limited (LimitType sip-interface); Any = every SIP Interface, each on its own.'),
      en('RequestType', 'requestType', ADMISSION_REQUEST_TYPE_ENUM, 'all', 'Dialog-initiating requests counted: all, INVITE, SUBSCRIBE, or other (everything but INVITE and SUBSCRIBE).'),
      en('RequestDirection', 'requestDirection', REQUEST_DIRECTION_ENUM, 'both', 'Dialogs counted: both directions, inbound (from the entity) or outbound (toward it).'),
      int('Limit', 'limit', -1, 'Maximum concurrent dialogs; -1 = unlimited, 0 = block.', -1),
      int('LimitPerUser', 'limitPerUser', -1, 'Maximum concurrent dialogs per user; -1 = unlimited, 0 = block.', -1),
      int('Rate', 'rate', 0, 'Dialogs per second added to the token bucket; 0 = no rate limit.', 0),
      int('MaxBurst', 'maxBurst', 0, 'Token bucket size (dialogs accepted at once); 0 = unlimited.', 0),
      int('Reservation', 'reservation', 0, 'Concurrent dialogs guaranteed to this IP Group; 0 = none.', 0),
    ],
  },
  {
    name: 'DialPlan', configKey: 'dialPlans', nameKey: 'name',
    doc: 'Named dial plans: lists of number prefixes that give calls tags (IPGroup SBCDialPlanName selects one).',
    columns: [str('Name', 'name', 'Unique name.')],
  },
  {
    name: 'DialPlanRule', configKey: 'dialPlanRules',
    doc: 'One prefix of a dial plan and the tags it gives.',
    columns: [
      str('DialPlanName', 'dialPlanName', 'Name of the DialPlan row it belongs to.'),
      int('RuleIndex', 'ruleIndex', 0, 'Order inside the dial plan (ties between equally long prefixes go to the lower index).', 0),
      str('Name', 'name', 'Free name, shown by `sbc route`.'),
      str('Prefix', 'prefix', 'Number prefix in the prefix syntax of the routing tables; the longest matching prefix wins.'),
      str('Tag', 'tag', 'Tags given to a matching number: `TAG` or `Key=Value`, several separated by `;`.'),
    ],
  },
  {
    name: 'SBCCDRFormat', configKey: 'cdrFormats',
    doc: 'Columns (and their order and titles) of each CDR sink; a sink with no rows gets the default columns.',
    columns: [
      en('CDRType', 'cdrType', CDR_FORMAT_TYPE_ENUM, 'syslog-sbc', 'Sink the row applies to: syslog-sbc, syslog-media, local-storage-sbc, local-storage-media (ours), json-sbc (HTTP collector), json-media (ours).'),
      str('FieldType', 'fieldType', 'CDR field: our key (e.g. srcUriBeforeMap), its title (SrcURIBeforeMap) or a Mediant Field Type code we map (e.g. 402); see docs/cdr.md.', '', { aliases: ['ColumnType', 'ColType'] }),
      str('Title', 'title', 'Column title (empty = the field\'s default title).'),
    ],
  },
  {
    name: 'QOEProfile', configKey: 'qoeProfiles', nameKey: 'name',
    doc: 'Quality of Experience profile: a named set of color rules (QOEColorRules) applied to an IP Group\'s calls.',
    columns: [
      str('Name', 'name', 'Unique name; IPGroup QOEProfile refers to it.'),
      en('SensitivityLevel', 'sensitivityLevel', QOE_SENSITIVITY_ENUM, 'medium', 'Default sensitivity of its rules (stored; each rule has its own).'),
    ],
  },
  {
    name: 'QOEColorRules', configKey: 'qoeColorRules',
    doc: 'Green/yellow/red thresholds of one monitored value of a QOEProfile, with hysteresis.',
    columns: [
      str('QOEProfile', 'qoeProfile', 'Index or name of the QOEProfile row.', '', { aliases: ['QOEProfileName'] }),
      int('ColorRuleIndex', 'colorRuleIndex', 0, 'Order inside the profile.', 0),
      en('MonitoredParam', 'monitoredParam', QOE_PARAM_ENUM, 'mos', 'mos, delay (round trip, ms), packet-loss (%), jitter (ms); rerl is accepted but not measured.'),
      en('Direction', 'direction', e([0, 'device-side', 'device'], [1, 'remote-side', 'remote']), 'device-side', 'device-side: what the SBC measured; remote-side: what the far end reported in RTCP.'),
      en('Profile', 'sensitivityLevel', QOE_SENSITIVITY_ENUM, 'user-defined', 'Preset thresholds (low, medium, high) or user-defined (the threshold columns).', { aliases: ['SensitivityLevel'] }),
      int('MinorThreshold', 'minorThreshold', -1, 'Green/yellow boundary: MOS x10, ms or %; -1 = preset.', -1, 100000, { aliases: ['GreenYellowThreshold'] }),
      int('MinorHysteresis', 'minorHysteresis', -1, 'Back to green only this far beyond the boundary (same units); -1 = preset.', -1, 100000, { aliases: ['GreenYellowHysteresis'] }),
      int('MajorThreshold', 'majorThreshold', -1, 'Yellow/red boundary: MOS x10, ms or %; -1 = preset.', -1, 100000, { aliases: ['YellowRedThreshold'] }),
      int('MajorHysteresis', 'majorHysteresis', -1, 'Back to yellow only this far beyond the boundary; -1 = preset.', -1, 100000, { aliases: ['YellowRedHysteresis'] }),
    ],
  },
  {
    name: 'QualityOfServiceRules', configKey: 'qualityOfServiceRules',
    doc: 'Per IP Group alarm when ASR, NER, ACD or average MOS of its last calls falls below a threshold.',
    columns: [
      str('IPGroupName', 'ipGroupName', 'IP Group the rule watches.'),
      en('RuleMetric', 'ruleMetric', e([0, 'voice-quality', 'voice quality', 'mos'], [1, 'bandwidth'], [2, 'acd'], [3, 'asr'], [4, 'ner'], [5, 'poor-invoice-quality', 'poor invoice quality']), 'voice-quality',
        'voice-quality (average MOS), acd, asr, ner; bandwidth and poor-invoice-quality are accepted but not evaluated.'),
      en('Severity', 'severity', e([0, 'major'], [1, 'minor']), 'major', 'Alarm severity.'),
      en('RuleAction', 'ruleAction', e([0, 'reject-calls', 'reject calls'], [1, 'alternative-ip-profile', 'alternative ip profile']), 'reject-calls', 'Stored; the alarm is raised whatever the action.'),
      int('CallsRejectDuration', 'callsRejectDuration', 5, 'Minutes (stored).', 0, 100000),
      str('AltIPProfileName', 'altIpProfileName', 'Stored.'),
      int('Threshold', 'threshold', 0, 'Ours: ASR/NER %, ACD s, voice quality MOS x10; alarm below it.', 0, 100000),
      int('WindowCalls', 'windowCalls', 20, 'Ours: computed over the IP Group\'s last N ended calls.', 1, 100000),
    ],
  },
  {
    name: 'TLSContexts', aliases: ['TLSContext'], configKey: 'tlsContexts', nameKey: 'name',
    doc: 'TLS contexts: certificate, key and trusted roots (file paths, ours), versions and cipher strings; referenced by SIPInterface TLSContext.',
    columns: [
      str('Name', 'name', 'Context name.'),
      int('TLSVersion', 'tlsVersion', 0, 'Bitmask 1 = TLS 1.0, 2 = 1.1, 4 = 1.2, 8 = 1.3; 0 = 1.2 and 1.3.', 0, 15),
      str('ServerCipherString', 'serverCipherString', 'OpenSSL cipher list for TLS 1.2 as a server; empty = ECDHE with AEAD only.'),
      str('ClientCipherString', 'clientCipherString', 'The same as a client.'),
      bool('RequireStrictCert', 'requireStrictCert', false, 'Strict certificate extension validation: peer certificates must be end-entity certificates with keyUsage and extendedKeyUsage (serverAuth/clientAuth) for TLS.'),
      bool('OcspEnable', 'ocspEnable', false, 'Not supported: OCSP is not queried (warned at start when 1).'),
      str('CertificateFile', 'certificateFile', 'Ours: PEM certificate (chain) presented by the SBC.'),
      str('PrivateKeyFile', 'privateKeyFile', 'Ours: PEM private key of the certificate.', '', { secret: true }),
      str('TrustedRootFile', 'trustedRootFile', 'Ours: PEM CA certificates trusted for peers; empty = the system roots.'),
      bool('VerifyServerCertificate', 'verifyServerCertificate', true, 'Ours per context (Mediant has a global one): outgoing TLS checks the certificate and host name; 0 is logged loudly.'),
    ],
  },
  {
    name: 'WebUsers', configKey: 'webUsers', nameKey: 'username',
    doc: 'REST API users and their level (Mediant user levels: 50 Monitor, 100 Administrator = our operator, 200 Security Administrator / 220 Master = our admin).',
    columns: [
      str('Username', 'username', 'Login name.'),
      str('Password', 'password', 'scrypt hash made by `sbc hash-password` (a clear-text password is a config error).', '', { secret: true }),
      en('UserLevel', 'userLevel', e<'monitor' | 'operator' | 'admin'>(
        [50, 'monitor'], [100, 'operator', 'administrator'], [200, 'admin', 'security-administrator', 'security administrator', 'master'],
      ), 'monitor', 'monitor: read only; operator: + reload, block/unblock; admin: everything.'),
      int('SessionTimeout', 'sessionTimeout', 15, 'Bearer token lifetime in minutes.', 1, 1440),
    ],
  },
  {
    name: 'IDSPolicy', configKey: 'idsPolicies', nameKey: 'name',
    doc: 'Intrusion detection policies: named sets of IDSRule rows.',
    columns: [str('Name', 'name', 'Policy name (referenced by IDSRule and IDSMatch).'), str('Description', 'description', 'Free text.')],
  },
  {
    name: 'IDSRule', configKey: 'idsRules',
    doc: 'Intrusion detection rules: count malicious events per reason and scope in a window; alarm and deny thresholds.',
    columns: [
      str('Policy', 'policy', 'IDSPolicy name or index.'),
      int('RuleID', 'ruleId', 0, 'Rule number within the policy.', 0),
      en('Reason', 'reason', IDS_REASON_ENUM, 'connection-abuse', 'Event counted: any, connection abuse, malformed message, authentication failure, dialog establishment failure, abnormal flow.'),
      en('ThresholdScope', 'thresholdScope', IDS_SCOPE_ENUM, 'ip', 'Counted globally, per source IP, or per source IP and port.'),
      int('ThresholdWindow', 'thresholdWindow', 1, 'Window in seconds; counters restart at its end.', 1, 1_000_000),
      int('MinorAlarmThreshold', 'minorAlarmThreshold', -1, 'Events in a window that raise a minor alarm (logged); -1/0 = none.', -1, 1_000_000),
      int('MajorAlarmThreshold', 'majorAlarmThreshold', -1, 'Major alarm threshold; -1/0 = none.', -1, 1_000_000),
      int('CriticalAlarmThreshold', 'criticalAlarmThreshold', -1, 'Critical alarm threshold; -1/0 = none.', -1, 1_000_000),
      int('DenyThreshold', 'denyThreshold', -1, 'More events than this in a window deny the source (scope ip or ip-port); -1 = never.', -1, 1_000_000),
      int('DenyPeriod', 'denyPeriod', -1, 'Seconds a denied source stays denied; -1 = not configured.', -1, 1_000_000),
    ],
  },
  {
    name: 'IDSMatch', configKey: 'idsMatches',
    doc: 'Which traffic an IDS policy watches: SIP Interfaces attacked, Proxy Sets and subnets the attacks come from.',
    columns: [
      str('SIPInterface', 'sipInterface', 'SIP Interface ids or names: 1,3-4; ! negates the set; empty = all.'),
      str('ProxySet', 'proxySet', 'Proxy Set ids or names, same syntax; empty = any source.'),
      str('Subnet', 'subnet', 'Source subnets: 10.1.0.0/16 | 10.2.2.2, or !10.1.0.0/16 & !10.2.2.2; empty = any.'),
      str('Policy', 'policy', 'IDSPolicy name or index.'),
    ],
  },
];

const byName = new Map<string, TableDef>();
for (const t of TABLES) {
  byName.set(t.name.toLowerCase(), t);
  for (const a of t.aliases ?? []) byName.set(a.toLowerCase(), t);
}

export function tableDef(name: string): TableDef | undefined {
  return byName.get(name.toLowerCase());
}

export function tableDefByKey(key: TableKey): TableDef {
  const t = TABLES.find((d) => d.configKey === key);
  if (!t) throw new Error(`no table for ${key}`);
  return t;
}

export function findColumn(table: TableDef, name: string): ColumnDef | undefined {
  const n = name.toLowerCase();
  for (const c of table.columns) {
    if (c.ini.toLowerCase() === n) return c;
    if (c.aliases) for (const a of c.aliases) if (a.toLowerCase() === n) return c;
  }
  return undefined;
}

export function enumFromText(def: EnumDef, text: string): string | undefined {
  const t = text.trim().toLowerCase();
  if (/^-?\d+$/.test(t)) {
    const code = Number(t);
    for (const v of def.values) if (v[0] === code) return v[1];
    return undefined;
  }
  for (const v of def.values) {
    for (let i = 1; i < v.length; i++) if ((v[i] as string).toLowerCase() === t) return v[1];
  }
  return undefined;
}

export function enumCode(def: EnumDef, name: string): number {
  for (const v of def.values) if (v[1] === name) return v[0];
  return def.values[0]![0];
}

export function enumDescription(def: EnumDef): string {
  return def.values.map((v) => `${v[0]} = ${v[1]}`).join(', ');
}

/** Names that mean "no restriction" in IP Group columns of matching tables. */
export function isAnyName(name: string): boolean {
  return name === '' || name === '*' || name.toLowerCase() === 'any';
}
