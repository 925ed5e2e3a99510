/**
 * The whole typed configuration. Built once per load and frozen: a reload
 * builds a new one and swaps the reference, so a call holding the old object
 * keeps a consistent view until it ends.
 */
import type { Diagnostic } from './diagnostics.js';
import type { IniScalar } from './ini-reader.js';
import { parseCodes } from './convert.js';
import type { CompiledManipulation } from './manipulation-rows.js';
import { isAnyName } from './schema.js';
import type {
  AccountRow, AdmissionControlRow, AllowedAudioCoderRow, AudioCoderRow, InterfaceRow, IpGroupRow, IpProfileRow, MediaRealmRow,
  MessageConditionRow, MessageManipulationRow, ProxyIpRow, ProxySetRow, SbcTables, SipInterfaceRow,
} from './schema.js';

/** Settings the SIP layer reads; each comes from a scalar (name in the comment) or its default. */
export interface SipSettings {
  /** SipT1Rtx (ms), default 500. */
  readonly t1Ms: number;
  /** SipT2Rtx (ms), default 4000. */
  readonly t2Ms: number;
  /** SipT4Rtx (ms), default 5000. */
  readonly t4Ms: number;
  /** SIPMaxRtx: retransmissions of a request before giving up, default 7. */
  readonly maxRtx: number;
  /** MaxRerouteAttemptsOn3xx, default 5. */
  readonly maxRerouteAttemptsOn3xx: number;
  /** SBCMaxAltRouteAttempts: destinations tried for one request including the first, default 5. */
  readonly maxAltRouteAttempts: number;
  /**
   * Responses that trigger alternative routing: the SBCAlternativeRoutingReasons table if present,
   * else the SBCAlternativeRoutingReasons scalar ("503,486"), else [503]. 408 is always included.
   */
  readonly altRouteReasons: readonly number[];
  /** No response (timeout / transport error) always triggers alternative routing, as on a Mediant. */
  readonly altRouteOnNoResponse: true;
  /** SBCMaxForwardsLimit, default 10. */
  readonly maxForwardsLimit: number;
  /** SBCSessionExpires (s), default 180. */
  readonly sessionExpiresSec: number;
  /** SBCMinSE (s), default 90. */
  readonly minSeSec: number;
  /** SBCMaxCallDuration (minutes; 0 = unlimited), default 0. */
  readonly maxCallDurationMin: number;
  /** BrokenConnectionEventTimeout (Mediant unit: 100 ms; default 100 = 10 s), in ms. */
  readonly brokenConnectionTimeoutMs: number;
  /** UserAgentDisplayInfo, default "sbc". */
  readonly userAgent: string;
}

export interface ApiSettings {
  /** SbcApiPort: REST API and metrics port; 0 (default) = disabled. */
  readonly port: number;
  /** SbcApiAddress: bind address, default 127.0.0.1. */
  readonly address: string;
}

/**
 * Direction of a dialog relative to the limited entity: inbound = it sends us the request,
 * outbound = we send it. 'both' asks for every rule whatever its direction (the strictest view).
 */
export type AdmissionDirection = 'inbound' | 'outbound' | 'both';

/** What SBCAdmissionControl rules are asked about: an IP Group or a SIP Interface, by name. */
export type AdmissionEntity = { readonly ipGroupName: string } | { readonly sipInterfaceName: string };

export interface SbcConfig extends SbcTables {
  /** Scalar parameters by lower-cased name. */
  readonly scalars: ReadonlyMap<string, string>;
  readonly sip: SipSettings;
  readonly api: ApiSettings;
  /** MessageManipulations and MessageConditions compiled at load (non-enumerable: closures are not configuration). */
  readonly manipulation: CompiledManipulation;
  // Lookups by name are case-insensitive.
  ipGroupByName(name: string): IpGroupRow | undefined;
  proxySetByName(name: string): ProxySetRow | undefined;
  sipInterfaceByName(name: string): SipInterfaceRow | undefined;
  interfaceByName(name: string): InterfaceRow | undefined;
  ipProfileByName(name: string): IpProfileRow | undefined;
  mediaRealmByName(name: string): MediaRealmRow | undefined;
  messageConditionByName(name: string): MessageConditionRow | undefined;
  /** ProxyIp rows of a proxy set, ordered by ProxyIpIndex. */
  proxyIpsOf(proxySetName: string): readonly ProxyIpRow[];
  /** Rows of a MessageManipulations set in table order. */
  messageManipulationSet(manSetId: number): readonly MessageManipulationRow[];
  /** Coders of an AudioCodersGroups group in order. */
  audioCodersOf(groupName: string): readonly AudioCoderRow[];
  /** Coders of an AllowedAudioCodersGroups group in order. */
  allowedAudioCodersOf(groupName: string): readonly AllowedAudioCoderRow[];
  /** Accounts whose ServingIPGroupName is this group. */
  accountsServedBy(servingIpGroupName: string): readonly AccountRow[];
  /** Effective [start, end] ports of a media realm. */
  mediaPortRange(realm: MediaRealmRow): readonly [number, number];
  /** Local IP address of a SIP Interface (through its NetworkInterface). */
  sipInterfaceAddress(name: string): string | undefined;
  /**
   * SBCAdmissionControl rows applying to dialogs started by `method` (INVITE, SUBSCRIBE, anything
   * else = "other") of this entity in this direction, by index: rows naming it and Any rows;
   * RequestType all or the method's type; RequestDirection both or the one asked ('both' asked =
   * every direction). SRD rows never apply. Each row keeps its own counters (an Any row counts each
   * entity on its own).
   */
  admissionRulesFor(entity: AdmissionEntity, method: string, direction: AdmissionDirection): readonly AdmissionControlRow[];
  /**
   * Smallest concurrent-dialog Limit of the rules applying to INVITE dialogs of this IP Group in
   * this direction; null when none limits them (no rule, or every Limit is -1). 0 means blocked.
   */
  admissionLimitFor(ipGroupName: string, direction: AdmissionDirection): number | null;
}

export interface ScalarSpec {
  readonly name: string;
  readonly def: number | string;
  readonly kind: 'int' | 'string' | 'codes';
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
}

/** Scalars with a typed meaning; every other scalar is kept as text in `scalars`. */
export const SCALARS: readonly ScalarSpec[] = [
  { name: 'SipT1Rtx', def: 500, kind: 'int', min: 10, max: 60000, doc: 'SIP timer T1 in ms.' },
  { name: 'SipT2Rtx', def: 4000, kind: 'int', min: 10, max: 60000, doc: 'SIP timer T2 in ms.' },
  { name: 'SipT4Rtx', def: 5000, kind: 'int', min: 10, max: 60000, doc: 'SIP timer T4 in ms.' },
  { name: 'SIPMaxRtx', def: 7, kind: 'int', min: 1, max: 20, doc: 'Retransmissions before a transaction times out.' },
  { name: 'MaxRerouteAttemptsOn3xx', def: 5, kind: 'int', min: 0, max: 50, doc: 'Bound on 3xx re-routing of one call.' },
  { name: 'SBCMaxAltRouteAttempts', def: 5, kind: 'int', min: 1, max: 50, doc: 'Destinations tried for one request, first included.' },
  { name: 'SBCAlternativeRoutingReasons', def: '', kind: 'codes', doc: 'Responses that trigger alternative routing, e.g. "503,486" (used if the table of the same name is absent).' },
  { name: 'SBCMaxForwardsLimit', def: 10, kind: 'int', min: 1, max: 70, doc: 'Max-Forwards sent is min(received - 1, this).' },
  { name: 'SBCSessionExpires', def: 180, kind: 'int', min: 90, max: 86400, doc: 'Session-Expires in s.' },
  { name: 'SBCMinSE', def: 90, kind: 'int', min: 90, max: 86400, doc: 'Min-SE in s.' },
  { name: 'SBCMaxCallDuration', def: 0, kind: 'int', min: 0, max: 35791, doc: 'Maximum call duration in minutes; 0 = unlimited.' },
  { name: 'SBCAlertTimeout', def: 0, kind: 'int', min: 0, max: 3600, doc: 'Seconds to wait for an answer after the callee starts ringing; then CANCEL and 408 (0 = transaction timers only).' },
  { name: 'BrokenConnectionEventTimeout', def: 100, kind: 'int', min: 1, max: 65535, doc: 'Media silence before a call is broken, in 100 ms units.' },
  { name: 'RegistrationTime', def: 180, kind: 'int', min: 10, max: 2000000, doc: 'Expires (s) asked for in REGISTER of Account rows.' },
  { name: 'RegistrationTimeDivider', def: 50, kind: 'int', min: 50, max: 100, doc: 'Account re-registration at this % of the granted expiry.' },
  { name: 'RegistrationTimeThreshold', def: 0, kind: 'int', min: 0, max: 2000000, doc: 'When > 0 and smaller: re-register this many s before expiry instead.' },
  { name: 'RegistrationRetryTime', def: 30, kind: 'int', min: 1, max: 3600, doc: 'Seconds before a failed Account registration is retried (Mediant minimum is 10; ours 1).' },
  { name: 'MaxRegistrationBackoffTime', def: 0, kind: 'int', min: 0, max: 3000000, doc: 'When > 0: retries back off exponentially (randomised 50-100%) up to this many s.' },
  { name: 'SBCUserRegistrationTime', def: 0, kind: 'int', min: 0, max: 2000000, doc: 'Expires (s) granted to users registering through the SBC; 0 = as the registrar granted.' },
  { name: 'SBCProxyRegistrationTime', def: 0, kind: 'int', min: 0, max: 2000000, doc: 'Expires (s) asked of the registrar for users; 0 = as the user asked.' },
  { name: 'SBCUserRegistrationGraceTime', def: 0, kind: 'int', min: 0, max: 2000000, doc: 'Extra seconds a user binding is kept after its expiry.' },
  { name: 'SBCUserKeepAliveTime', def: 0, kind: 'int', min: 0, max: 86400, doc: 'Ours: seconds between OPTIONS keep-alives to the flow of each user registered through the SBC (UDP; TCP/TLS too unless UsePingPongKeepAlive); 0 = off.' },
  { name: 'UsePingPongKeepAlive', def: 0, kind: 'int', min: 0, max: 1, doc: '1: registered users on TCP/TLS get RFC 5626 CRLFCRLF keep-alives (every PingPongKeepAliveTime s) instead of OPTIONS.' },
  { name: 'PingPongKeepAliveTime', def: 120, kind: 'int', min: 1, max: 2000000, doc: 'Seconds between CRLF keep-alives (80-100 % of it, randomised); Mediant minimum is 5, ours 1.' },
  { name: 'SBCUserKeepAliveRemoveDead', def: 0, kind: 'int', min: 0, max: 1, doc: 'Ours: 1 = a registered user whose flow is dead (keep-alive OPTIONS unanswered, connection closed) is removed and un-registered upstream.' },
  { name: 'RegistrationDatabaseDir', def: '', kind: 'string', doc: 'Directory of the registration store (created if missing); empty = bindings in memory only (ours).' },
  { name: 'AuthNonceDuration', def: 300, kind: 'int', min: 30, max: 600, doc: 'Seconds a nonce of the SBC as authenticator stays valid.' },
  { name: 'AuthChallengeMethod', def: 0, kind: 'int', min: 0, max: 1, doc: '0 = 401 WWW-Authenticate, 1 = 407 Proxy-Authenticate.' },
  { name: 'SBCOverloadLagMs', def: 200, kind: 'int', min: 0, max: 60000, doc: 'Ours: p99 event-loop delay (ms, per 250 ms window) above which new INVITEs are refused until it is back under half; 0 = off.' },
  { name: 'SBCOverloadMaxPendingSetups', def: 0, kind: 'int', min: 0, max: 1000000, doc: 'Ours: new INVITEs are refused while this many calls are still being set up (INVITE until the ACK of the 2xx); 0 = no limit.' },
  { name: 'SBCOverloadAction', def: 0, kind: 'int', min: 0, max: 1, doc: 'Ours: what overload does to a new INVITE: 0 = 503 with Retry-After, 1 = silent drop.' },
  { name: 'SBCOverloadRetryAfter', def: 5, kind: 'int', min: 0, max: 3600, doc: 'Ours: Retry-After (s) in the overload 503.' },
  { name: 'SBCDialogKeepAliveTime', def: 300, kind: 'int', min: 0, max: 86400, doc: 'Ours: seconds between in-dialog OPTIONS on both legs of a connected call; a leg answering 481/408 or not at all ends the call; 0 = off.' },
  { name: 'ConfigHistoryDirectory', def: '', kind: 'string', doc: 'Directory of the configuration history (versions log and snapshots); empty = `<ini file>.history` beside the ini file. Read at start.' },
  { name: 'ConfigHistoryMaxVersions', def: 100, kind: 'int', min: 1, max: 100000, doc: 'Versions kept in the history; older ones are deleted.' },
  { name: 'ConfigBackupDirectory', def: '', kind: 'string', doc: 'Directory of the ini backups; empty = `<ini file>.backup` beside the ini file. Read at start.' },
  { name: 'ConfigBackupTime', def: '03:00', kind: 'string', doc: 'Local time of the daily backup, `hh:mm` or `hh:mm:ss`; empty = no daily backup (backups on change remain).' },
  { name: 'ConfigBackupKeep', def: 5, kind: 'int', min: 0, max: 10000, doc: 'Backups kept (daily and on-change together); 0 = no backups.' },
  // CDRs and QoE (docs/cdr.md, docs/qoe.md). Mediant names unless marked "ours".
  { name: 'CDRReportLevel', def: 1, kind: 'int', min: 0, max: 4, doc: 'Signalling CDRs: 0 none, 1 end, 2 start & end, 3 connect & end, 4 start & connect & end (Mediant default is 0; ours 1).' },
  { name: 'MediaCDRReportLevel', def: 0, kind: 'int', min: 0, max: 4, doc: 'Media CDRs: 0 none, 1 end, 2 start & end, 3 update & end, 4 start & update & end.' },
  { name: 'EnableNonCallCdr', def: 0, kind: 'int', min: 0, max: 1, doc: '1: CDRs for REGISTER, SUBSCRIBE, MESSAGE... outcomes too.' },
  { name: 'CDRSyslogServerIP', def: '', kind: 'string', doc: 'Syslog server receiving CDRs (empty = no syslog CDRs).' },
  { name: 'CDRSyslogServerPort', def: 514, kind: 'int', min: 1, max: 65535, doc: 'Syslog server port.' },
  { name: 'CDRSyslogTransportType', def: 0, kind: 'int', min: 0, max: 2, doc: 'Ours: 0 UDP (RFC 5426), 1 TCP (RFC 6587 octet counting), 2 TLS (RFC 5425).' },
  { name: 'CDRLocalDir', def: '', kind: 'string', doc: 'Ours: directory of local CDR files (empty = no local files).' },
  { name: 'CDRLocalFormat', def: 0, kind: 'int', min: 0, max: 2, doc: 'Ours: local file format: 0 CSV, 1 JSON Lines, 2 both.' },
  { name: 'CDRLocalMaxFileSize', def: 1024, kind: 'int', min: 1, max: 1048576, doc: 'Rotate the current local CDR file at this size (KB).' },
  { name: 'CDRLocalMaxNumOfFiles', def: 5, kind: 'int', min: 1, max: 10000, doc: 'Rotated (compressed) local CDR files kept.' },
  { name: 'CDRLocalInterval', def: 60, kind: 'int', min: 0, max: 525600, doc: 'Rotate the current local CDR file at least this often (minutes; 0 = by size only).' },
  { name: 'CDRHttpCollectorUrl', def: '', kind: 'string', doc: 'Ours: http(s) URL receiving CDR batches as JSON arrays (empty = none).' },
  { name: 'CDRSpoolDir', def: '', kind: 'string', doc: 'Ours: directory where remote CDR/QoE sinks spool while the receiver is down (empty = memory only).' },
  { name: 'CDRSpoolMaxSize', def: 64, kind: 'int', min: 1, max: 1048576, doc: 'Ours: spool bound per sink (MB); beyond it the oldest records are dropped and counted.' },
  { name: 'CallJournalDir', def: '', kind: 'string', doc: 'Ours: directory of the active-call journal (calls up get BYE on both legs after a crash and restart); empty = no journal.' },
  { name: 'CallJournalFlushInterval', def: 200, kind: 'int', min: 10, max: 10000, doc: 'Ours: ms between journal writes; a crash loses at most this interval of connects/ends.' },
  { name: 'QOEServerIP', def: '', kind: 'string', doc: 'SIP collector receiving RFC 6035 PUBLISH vq-rtcpxr QoE reports (empty = none).' },
  { name: 'QOEPort', def: 5060, kind: 'int', min: 1, max: 65535, doc: 'Port of the SIP QoE collector.' },
  { name: 'QOESipInterface', def: '', kind: 'string', doc: 'Ours: SIP Interface the QoE PUBLISH is sent from (empty = the first one).' },
  { name: 'QOEAcceptPublish', def: 1, kind: 'int', min: 0, max: 1, doc: 'Ours: 1 = a PUBLISH vq-rtcpxr (RFC 6035) from a phone is answered 200 by the SBC and folded into the call report; 0 = relayed by IP2IPRouting like any PUBLISH.' },
  { name: 'QOEHttpCollectorUrl', def: '', kind: 'string', doc: 'Ours: http(s) URL receiving QoE reports as JSON arrays (empty = none).' },
  { name: 'QOEReportInterval', def: 0, kind: 'int', min: 0, max: 86400, doc: 'Ours: also report long calls every N seconds (0 = at the end only).' },
  { name: 'UserAgentDisplayInfo', def: '', kind: 'string', doc: 'User-Agent / Server header value; empty (default) = no such header, so scanners cannot fingerprint the product.' },
  { name: 'EnableIDS', def: 1, kind: 'int', min: 0, max: 1, doc: 'Intrusion detection and blocking; with no IDSMatch rows the built-in default policy applies (docs/security.md).' },
  { name: 'IDSProtectKnownPeers', def: 1, kind: 'int', min: 0, max: 1, doc: 'Ours: sources of Proxy Sets and Classification rules are never denied by IDS nor rate-limited (0 = treat them like anyone).' },
  { name: 'SourceRequestRate', def: 50, kind: 'int', min: 0, max: 1_000_000, doc: 'Ours: out-of-dialog requests per second accepted from one unknown source address (token bucket); 0 = no limit.' },
  { name: 'SourceRequestBurst', def: 100, kind: 'int', min: 1, max: 1_000_000, doc: 'Ours: token bucket size of SourceRequestRate.' },
  { name: 'RequireStrictCert', def: 0, kind: 'int', min: 0, max: 1, doc: 'Strict certificate extension validation of TLS peers for every TLSContexts row (the column of the same name sets it per context).' },
  { name: 'SIPSRequireClientCertificate', def: 0, kind: 'int', min: 0, max: 1, doc: 'Mutual TLS for SIP Interfaces whose TLSMutualAuthentication is -1: 1 = client certificates required.' },
  { name: 'PrivacyPseudonymizationKey', def: '', kind: 'string', doc: 'Ours: when set, calling/called numbers and URI users in CDRs, CDR log lines and /api/v1/calls are replaced by a keyed hash (HMAC-SHA-256), stable per number; the value is a secret.' },
  { name: 'SIPMaxPendingCallsPerSource', def: 50, kind: 'int', min: 1, max: 1_000_000, doc: 'Ours: calls in setup (INVITE until the ACK of the 2xx) from one address that is not a known peer; more get 503.' },
  { name: 'SIPWorkerThreads', def: 1, kind: 'int', min: 0, max: 64, doc: 'Ours: SIP signalling threads in all (docs/performance.md, "Multi-core signalling"): 1 = the main thread alone; 0 = one per core; N = the main thread and N-1 workers, each owning the calls whose Call-ID hashes to it. UDP only is spread (TCP/TLS stay on the main thread); a configuration with registered users or Accounts stays on one thread. The environment variable SBC_SIP_WORKERS overrides it.' },
  { name: 'SIPUdpBatchedIO', def: 1, kind: 'int', min: 0, max: 1, doc: 'Ours: 1 = SIP over UDP through the native addon (recvmmsg batches in, one sendmmsg per event-loop turn out; docs/performance.md); 0 = node dgram. Without the addon it is dgram. The environment variable SBC_SIP_UDP_BATCHED=0/1 overrides it (benches, tests).' },
  { name: 'SIPMaxConnectionsPerSource', def: 32, kind: 'int', min: 1, max: 100_000, doc: 'Ours: inbound TCP/TLS connections from one unknown source address (known peers are not limited).' },
  { name: 'SIPMessageCompletionTimeout', def: 10, kind: 'int', min: 1, max: 3600, doc: 'Ours: seconds in which a SIP message begun on a TCP/TLS connection must be complete (slowloris), whatever trickles in.' },
  { name: 'SIPFirstMessageTimeout', def: 10, kind: 'int', min: 1, max: 3600, doc: 'Ours: seconds in which a connection from an unknown source must deliver a valid SIP message (and finish its TLS handshake).' },
  { name: 'SourceRateLimitResponse', def: 0, kind: 'int', min: 0, max: 699, doc: 'Ours: answer to requests over SourceRequestRate: 0 = silent drop, 503 = Service Unavailable.' },
  { name: 'SbcApiPort', def: 0, kind: 'int', min: 0, max: 65535, doc: 'REST API and Prometheus metrics port; 0 = disabled.' },
  { name: 'SbcApiAddress', def: '127.0.0.1', kind: 'string', doc: 'REST API bind address; a non-loopback address without HTTPS is warned about.' },
  { name: 'SbcApiAuthentication', def: 1, kind: 'int', min: 0, max: 1, doc: 'Ours: 1 = every API request needs a WebUsers user; 0 = none (only honoured on a loopback address; for local benches).' },
  { name: 'SbcApiMetricsOpen', def: 0, kind: 'int', min: 0, max: 1, doc: 'Ours: 1 = /metrics without credentials for loopback clients.' },
  { name: 'SbcApiTlsCertFile', def: '', kind: 'string', doc: 'Ours: PEM certificate for HTTPS on the API port (with SbcApiTlsKeyFile); empty = plain HTTP.' },
  { name: 'SbcApiTlsKeyFile', def: '', kind: 'string', doc: 'Ours: PEM private key for HTTPS on the API port.' },
];

function lower(s: string): string {
  return s.toLowerCase();
}

/** Reads typed scalars, reporting bad values against the scalar's line. */
export function readScalars(
  list: readonly IniScalar[], file: string, diagnostics: Diagnostic[],
): { scalars: Map<string, string>; typed: Map<string, number | string | readonly number[]> } {
  const scalars = new Map<string, string>();
  const lines = new Map<string, number>();
  for (const s of list) {
    const k = lower(s.name);
    const prev = lines.get(k);
    if (prev !== undefined) {
      diagnostics.push({ severity: 'warning', file, line: s.line, message: `parameter ${s.name} set again (first on line ${prev}); the last value is used` });
    }
    lines.set(k, s.line);
    scalars.set(k, s.value);
  }
  const typed = new Map<string, number | string | readonly number[]>();
  for (const spec of SCALARS) {
    const k = lower(spec.name);
    const raw = scalars.get(k);
    if (raw === undefined || raw.trim() === '') {
      typed.set(k, spec.kind === 'codes' ? [] : spec.def);
      continue;
    }
    if (spec.kind === 'string') {
      typed.set(k, raw);
    } else if (spec.kind === 'codes') {
      const codes = parseCodes(raw);
      if (!codes) {
        diagnostics.push({ severity: 'error', file, line: lines.get(k)!, message: `${spec.name}: '${raw}' is not a list of SIP response codes` });
        typed.set(k, []);
      } else {
        typed.set(k, Object.freeze(codes));
      }
    } else {
      const t = raw.trim();
      const n = Number(t);
      if (!/^-?\d+$/.test(t) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        diagnostics.push({
          severity: 'error', file, line: lines.get(k)!,
          message: `${spec.name}: '${raw}' is not an integer in ${spec.min ?? '-inf'}..${spec.max ?? 'inf'}`,
        });
        typed.set(k, spec.def);
      } else {
        typed.set(k, n);
      }
    }
  }
  return { scalars, typed };
}

function indexByName<T>(rows: readonly T[], name: (r: T) => string): Map<string, T> {
  const m = new Map<string, T>();
  for (const r of rows) {
    const k = lower(name(r));
    if (k !== '' && !m.has(k)) m.set(k, r);
  }
  return m;
}

function groupBy<T>(rows: readonly T[], key: (r: T) => string, order: (r: T) => number): Map<string, readonly T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(r);
  }
  for (const list of m.values()) {
    list.sort((a, b) => order(a) - order(b));
    Object.freeze(list);
  }
  return m as Map<string, readonly T[]>;
}

const EMPTY: readonly never[] = Object.freeze([]);

class SbcConfigImpl implements SbcConfig {
  readonly scalars: ReadonlyMap<string, string>;
  readonly sip: SipSettings;
  readonly api: ApiSettings;
  declare readonly manipulation: CompiledManipulation;
  readonly interfaces; readonly sipInterfaces; readonly proxySets; readonly proxyIps; readonly ipGroups;
  readonly classifications; readonly ip2ipRouting; readonly inboundManipulations; readonly outboundManipulations;
  readonly messageConditions; readonly messageManipulations; readonly ipProfiles; readonly mediaRealms;
  readonly audioCodersGroups; readonly audioCoders; readonly allowedAudioCodersGroups; readonly allowedAudioCoders;
  readonly accounts; readonly sbcUserInfo; readonly alternativeRoutingReasons; readonly admissionControl;
  readonly dialPlans; readonly dialPlanRules;
  readonly cdrFormats; readonly qoeProfiles; readonly qoeColorRules; readonly qualityOfServiceRules;
  readonly idsPolicies; readonly idsRules; readonly idsMatches; readonly webUsers; readonly tlsContexts;

  readonly #ipGroups: Map<string, IpGroupRow>;
  readonly #proxySets: Map<string, ProxySetRow>;
  readonly #sipInterfaces: Map<string, SipInterfaceRow>;
  readonly #interfaces: Map<string, InterfaceRow>;
  readonly #profiles: Map<string, IpProfileRow>;
  readonly #realms: Map<string, MediaRealmRow>;
  readonly #conditions: Map<string, MessageConditionRow>;
  readonly #proxyIps: Map<string, readonly ProxyIpRow[]>;
  readonly #manSets: Map<string, readonly MessageManipulationRow[]>;
  readonly #coders: Map<string, readonly AudioCoderRow[]>;
  readonly #allowed: Map<string, readonly AllowedAudioCoderRow[]>;
  readonly #accounts: Map<string, readonly AccountRow[]>;
  /** Admission rows by lower-cased entity name; '' holds the Any rows. Table order is kept. */
  readonly #admissionByGroup: Map<string, readonly AdmissionControlRow[]>;
  readonly #admissionByInterface: Map<string, readonly AdmissionControlRow[]>;

  constructor(tables: SbcTables, scalars: ReadonlyMap<string, string>, sip: SipSettings, api: ApiSettings, manipulation: CompiledManipulation) {
    Object.defineProperty(this, 'manipulation', { value: manipulation, enumerable: false });
    this.scalars = scalars;
    this.sip = sip;
    this.api = api;
    this.interfaces = tables.interfaces;
    this.sipInterfaces = tables.sipInterfaces;
    this.proxySets = tables.proxySets;
    this.proxyIps = tables.proxyIps;
    this.ipGroups = tables.ipGroups;
    this.classifications = tables.classifications;
    this.ip2ipRouting = tables.ip2ipRouting;
    this.inboundManipulations = tables.inboundManipulations;
    this.outboundManipulations = tables.outboundManipulations;
    this.messageConditions = tables.messageConditions;
    this.messageManipulations = tables.messageManipulations;
    this.ipProfiles = tables.ipProfiles;
    this.mediaRealms = tables.mediaRealms;
    this.audioCodersGroups = tables.audioCodersGroups;
    this.audioCoders = tables.audioCoders;
    this.allowedAudioCodersGroups = tables.allowedAudioCodersGroups;
    this.allowedAudioCoders = tables.allowedAudioCoders;
    this.accounts = tables.accounts;
    this.sbcUserInfo = tables.sbcUserInfo;
    this.alternativeRoutingReasons = tables.alternativeRoutingReasons;
    this.admissionControl = tables.admissionControl;
    this.dialPlans = tables.dialPlans;
    this.dialPlanRules = tables.dialPlanRules;
    this.cdrFormats = tables.cdrFormats;
    this.qoeProfiles = tables.qoeProfiles;
    this.qoeColorRules = tables.qoeColorRules;
    this.qualityOfServiceRules = tables.qualityOfServiceRules;
    this.idsPolicies = tables.idsPolicies;
    this.idsRules = tables.idsRules;
    this.idsMatches = tables.idsMatches;
    this.webUsers = tables.webUsers;
    this.tlsContexts = tables.tlsContexts;

    this.#ipGroups = indexByName(tables.ipGroups, (r) => r.name);
    this.#proxySets = indexByName(tables.proxySets, (r) => r.proxyName);
    this.#sipInterfaces = indexByName(tables.sipInterfaces, (r) => r.interfaceName);
    this.#interfaces = indexByName(tables.interfaces, (r) => r.interfaceName);
    this.#profiles = indexByName(tables.ipProfiles, (r) => r.profileName);
    this.#realms = indexByName(tables.mediaRealms, (r) => r.mediaRealmName);
    this.#conditions = indexByName(tables.messageConditions, (r) => r.name);
    const setNameOf = (id: string): string => {
      const t = id.trim();
      if (/^\d+$/.test(t)) {
        const ps = tables.proxySets.find((p) => p.index === Number(t));
        return ps ? lower(ps.proxyName) : `#${t}`;
      }
      return lower(t);
    };
    this.#proxyIps = groupBy(tables.proxyIps, (r) => setNameOf(r.proxySetId), (r) => r.proxyIpIndex);
    this.#manSets = groupBy(tables.messageManipulations, (r) => String(r.manSetId), (r) => r.index);
    const coderGroupOf = (id: string): string => {
      const t = id.trim();
      if (/^\d+$/.test(t)) {
        const g = tables.audioCodersGroups.find((p) => p.index === Number(t));
        return g ? lower(g.name) : `#${t}`;
      }
      return lower(t);
    };
    this.#coders = groupBy(tables.audioCoders, (r) => coderGroupOf(r.audioCodersGroupId), (r) => r.audioCodersIndex);
    this.#allowed = groupBy(tables.allowedAudioCoders, (r) => lower(r.allowedAudioCodersGroupName), (r) => r.allowedAudioCodersIndex);
    this.#accounts = groupBy(tables.accounts, (r) => lower(r.servingIpGroupName), (r) => r.index);
    const byPosition = (r: AdmissionControlRow): number => r.index;
    this.#admissionByGroup = groupBy(
      tables.admissionControl.filter((r) => r.limitType === 'ip-group'),
      (r) => (isAnyName(r.ipGroupName) ? '' : lower(r.ipGroupName)), byPosition,
    );
    this.#admissionByInterface = groupBy(
      tables.admissionControl.filter((r) => r.limitType === 'sip-interface'),
      (r) => (isAnyName(r.sipInterfaceName) ? '' : lower(r.sipInterfaceName)), byPosition,
    );
    Object.freeze(this);
  }

  ipGroupByName(name: string): IpGroupRow | undefined { return this.#ipGroups.get(lower(name)); }
  proxySetByName(name: string): ProxySetRow | undefined { return this.#proxySets.get(lower(name)); }
  sipInterfaceByName(name: string): SipInterfaceRow | undefined { return this.#sipInterfaces.get(lower(name)); }
  interfaceByName(name: string): InterfaceRow | undefined { return this.#interfaces.get(lower(name)); }
  ipProfileByName(name: string): IpProfileRow | undefined { return this.#profiles.get(lower(name)); }
  mediaRealmByName(name: string): MediaRealmRow | undefined { return this.#realms.get(lower(name)); }
  messageConditionByName(name: string): MessageConditionRow | undefined { return this.#conditions.get(lower(name)); }
  proxyIpsOf(proxySetName: string): readonly ProxyIpRow[] { return this.#proxyIps.get(lower(proxySetName)) ?? EMPTY; }
  messageManipulationSet(manSetId: number): readonly MessageManipulationRow[] { return this.#manSets.get(String(manSetId)) ?? EMPTY; }
  audioCodersOf(groupName: string): readonly AudioCoderRow[] { return this.#coders.get(lower(groupName)) ?? EMPTY; }
  allowedAudioCodersOf(groupName: string): readonly AllowedAudioCoderRow[] { return this.#allowed.get(lower(groupName)) ?? EMPTY; }
  accountsServedBy(servingIpGroupName: string): readonly AccountRow[] { return this.#accounts.get(lower(servingIpGroupName)) ?? EMPTY; }
  mediaPortRange(realm: MediaRealmRow): readonly [number, number] {
    const end = realm.portRangeEnd > 0 ? realm.portRangeEnd : realm.portRangeStart + realm.mediaSessionLeg * 2 - 1;
    return [realm.portRangeStart, end];
  }
  sipInterfaceAddress(name: string): string | undefined {
    const si = this.sipInterfaceByName(name);
    if (!si) return undefined;
    return this.interfaceByName(si.networkInterface)?.ipAddress;
  }

  admissionRulesFor(entity: AdmissionEntity, method: string, direction: AdmissionDirection): readonly AdmissionControlRow[] {
    const byName = 'ipGroupName' in entity ? this.#admissionByGroup : this.#admissionByInterface;
    if (byName.size === 0) return EMPTY;
    const name = 'ipGroupName' in entity ? entity.ipGroupName : entity.sipInterfaceName;
    const type = admissionTypeOf(method);
    const out: AdmissionControlRow[] = [];
    const named = byName.get(lower(name));
    const any = byName.get('');
    if (named) for (const r of named) if (admissionApplies(r, type, direction)) out.push(r);
    if (any) for (const r of any) if (admissionApplies(r, type, direction)) out.push(r);
    if (out.length === 0) return EMPTY;
    if (named && any) out.sort((a, b) => a.index - b.index);
    return out;
  }

  admissionLimitFor(ipGroupName: string, direction: AdmissionDirection): number | null {
    // Called for every new call: two short lists walked without building anything.
    if (this.#admissionByGroup.size === 0) return null;
    const a = smallestInviteLimit(this.#admissionByGroup.get(lower(ipGroupName)), direction);
    const b = smallestInviteLimit(this.#admissionByGroup.get(''), direction);
    if (a < 0) return b < 0 ? null : b;
    return b < 0 ? a : Math.min(a, b);
  }
}

/** Smallest non-negative INVITE Limit in the list, -1 when none. */
function smallestInviteLimit(list: readonly AdmissionControlRow[] | undefined, direction: AdmissionDirection): number {
  let min = -1;
  if (!list) return min;
  for (const r of list) {
    if (r.limit < 0 || !admissionApplies(r, 'invite', direction)) continue;
    if (min < 0 || r.limit < min) min = r.limit;
  }
  return min;
}

function admissionTypeOf(method: string): 'invite' | 'subscribe' | 'other' {
  const m = method.toUpperCase();
  return m === 'INVITE' ? 'invite' : m === 'SUBSCRIBE' ? 'subscribe' : 'other';
}

function admissionApplies(r: AdmissionControlRow, type: 'invite' | 'subscribe' | 'other', direction: AdmissionDirection): boolean {
  if (r.requestType !== 'all' && r.requestType !== type) return false;
  return direction === 'both' || r.requestDirection === 'both' || r.requestDirection === direction;
}

export function buildConfig(
  tables: SbcTables, scalars: ReadonlyMap<string, string>, typed: ReadonlyMap<string, number | string | readonly number[]>,
  manipulation: CompiledManipulation,
): SbcConfig {
  const num = (n: string): number => typed.get(lower(n)) as number;
  const text = (n: string): string => typed.get(lower(n)) as string;
  let reasons: number[];
  if (tables.alternativeRoutingReasons.length > 0) reasons = tables.alternativeRoutingReasons.map((r) => r.releaseCause);
  else {
    const fromScalar = typed.get('sbcalternativeroutingreasons') as readonly number[];
    reasons = fromScalar.length > 0 ? [...fromScalar] : [503];
  }
  if (!reasons.includes(408)) reasons.push(408);
  reasons = [...new Set(reasons)].sort((a, b) => a - b);
  const sip: SipSettings = Object.freeze({
    t1Ms: num('SipT1Rtx'),
    t2Ms: num('SipT2Rtx'),
    t4Ms: num('SipT4Rtx'),
    maxRtx: num('SIPMaxRtx'),
    maxRerouteAttemptsOn3xx: num('MaxRerouteAttemptsOn3xx'),
    maxAltRouteAttempts: num('SBCMaxAltRouteAttempts'),
    altRouteReasons: Object.freeze(reasons),
    altRouteOnNoResponse: true as const,
    maxForwardsLimit: num('SBCMaxForwardsLimit'),
    sessionExpiresSec: num('SBCSessionExpires'),
    minSeSec: num('SBCMinSE'),
    maxCallDurationMin: num('SBCMaxCallDuration'),
    brokenConnectionTimeoutMs: num('BrokenConnectionEventTimeout') * 100,
    userAgent: text('UserAgentDisplayInfo'),
  });
  const api: ApiSettings = Object.freeze({ port: num('SbcApiPort'), address: text('SbcApiAddress') });
  return new SbcConfigImpl(tables, scalars, sip, api, manipulation);
}
