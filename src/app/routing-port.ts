/**
 * Adapts the configuration, routing and manipulation modules to the call
 * engine's RoutingPort. Each call keeps the configuration it was
 * classified with (hot reload changes only new calls), and the routing
 * decision it is walking (for alternative routes).
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { IpGroupRow, IpProfileRow } from '../config/schema.js';
import type { ManipulationContext } from '../manipulation/index.js';
import {
  applyNumberManipulation, classify, nextAlternative, routeRequest,
  type ProxyStateView, type RequestView, type RouteDecision,
} from '../routing/index.js';
import type {
  CallProfile, ClassifyResult, InboundMessage, IpGroupRef, OutboundContext, RouteFailure, RouteTarget, RoutingPort,
} from '../b2bua/ports.js';
import type { SipMessage } from '../sip/message.js';
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import { formatUri, parseUri, uriHost, type SipUri } from '../sip/uri.js';
import type { Logger } from '../util/logger.js';

interface CallRouting {
  readonly config: SbcConfig;
  decision: RouteDecision | null;
}

const DEFAULT_PROFILE: CallProfile = {
  prackMode: 'transparent', sessionExpiresSec: 0, minSeSec: 90, referMode: 'relay', redirect3xxMode: 'relay', maxCallDurationSec: 0,
};

/** Mediant's SBCAlertTimeout: seconds to wait for an answer once the callee rings; 0 = transaction timers only. */
function alertTimeoutSec(config: SbcConfig): number {
  const n = Number.parseInt(config.scalars.get('sbcalerttimeout') ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export function callProfileOf(config: SbcConfig, profile: IpProfileRow | undefined): CallProfile {
  const maxMin = profile && profile.sbcMaxCallDuration > 0 ? profile.sbcMaxCallDuration : config.sip.maxCallDurationMin;
  const noAnswerTimeoutSec = alertTimeoutSec(config);
  if (profile === undefined) return { ...DEFAULT_PROFILE, minSeSec: config.sip.minSeSec, maxCallDurationSec: maxMin * 60, noAnswerTimeoutSec };
  return {
    noAnswerTimeoutSec,
    prackMode: profile.sbcPrackMode === 'transparent' ? 'transparent' : 'local',
    sessionExpiresSec: profile.sbcSessionExpiresMode === 'supported' ? config.sip.sessionExpiresSec : 0,
    minSeSec: config.sip.minSeSec,
    referMode: profile.sbcRemoteReferBehavior === 'handle-locally' ? 'local' : 'relay',
    redirect3xxMode: profile.sbcRemote3xxBehavior === 'handle-locally' ? 'local' : 'relay',
    maxCallDurationSec: maxMin * 60,
  };
}

export function ipGroupRefOf(config: SbcConfig, g: IpGroupRow, profileOverride?: IpProfileRow): IpGroupRef {
  const profile = profileOverride ?? (g.profileName ? config.ipProfileByName(g.profileName) : undefined);
  return {
    name: g.name,
    id: g.index,
    type: g.type === 'user' ? 'user' : 'server',
    keepOriginalCallId: g.sbcKeepOriginalCallId,
    sipGroupName: g.sipGroupName ? g.sipGroupName : null,
    profile: callProfileOf(config, profile),
  };
}

function userHostOf(msg: SipMessage, header: 'from' | 'to'): { user: string; host: string } {
  const na = msg.getNameAddr(header);
  const uri = na === null ? null : parseUri(na.uri);
  return { user: uri?.user ?? '', host: uri?.host ?? '' };
}

export function requestViewOf(msg: SipMessage, inbound: Pick<InboundMessage, 'remote' | 'interfaceName'>, matches?: (name: string) => boolean): RequestView {
  const from = userHostOf(msg, 'from');
  const to = userHostOf(msg, 'to');
  const ruri = parseUri(msg.requestUri);
  const view: RequestView = {
    method: msg.method,
    srcAddress: inbound.remote.address,
    srcPort: inbound.remote.port,
    transport: inbound.remote.transport,
    sipInterfaceName: inbound.interfaceName,
    srcUser: from.user,
    srcHost: from.host,
    dstUser: to.user,
    dstHost: to.host,
    requestUriUser: ruri?.user ?? '',
    requestUriHost: ruri?.host ?? '',
    ...(ruri?.port != null ? { requestUriPort: ruri.port } : {}),
    ...(matches ? { matchesCondition: matches } : {}),
  };
  return view;
}

function setUser(msg: SipMessage, header: 'from' | 'to', user: string): void {
  const raw = msg.getHeader(header);
  if (raw === undefined) return;
  const na = parseNameAddr(raw);
  if (na === null) return;
  const uri = parseUri(na.uri);
  if (uri === null || uri.user === user) return;
  uri.user = user;
  na.uri = formatUri(uri);
  msg.setHeader(header, formatNameAddr(na));
}

function setRequestUriUser(msg: SipMessage, user: string): void {
  const uri = parseUri(msg.requestUri);
  if (uri === null || uri.user === user) return;
  uri.user = user;
  msg.requestUri = formatUri(uri);
}

/** Routing rows do not match on where the request came from (classification did that). */
const NO_SOURCE: Pick<InboundMessage, 'remote' | 'interfaceName'> = {
  remote: { address: '', port: 0, transport: 'udp' },
  interfaceName: '',
};

export class ConfigRoutingPort implements RoutingPort {
  private readonly calls = new WeakMap<SipMessage, CallRouting>();
  private readonly pending = new WeakMap<SipMessage, SbcConfig>();
  /**
   * The configuration each IP Group reference was made from. A call holds
   * its references for its whole life, so in-dialog requests and responses
   * (which carry no link to the INVITE) still find the call's configuration
   * after a reload.
   */
  private readonly refConfig = new WeakMap<IpGroupRef, SbcConfig>();

  constructor(
    private readonly currentConfig: () => SbcConfig,
    private readonly proxyState: ProxyStateView,
    private readonly logger: Logger,
  ) {}

  get maxRerouteAttemptsOn3xx(): number {
    return this.currentConfig().sip.maxRerouteAttemptsOn3xx;
  }

  private contextFor(config: SbcConfig, msg: SipMessage, inbound: InboundMessage | null, src: IpGroupRef | null, dst: IpGroupRef | null): ManipulationContext {
    const from = userHostOf(msg, 'from');
    const ruri = msg.isRequest ? parseUri(msg.requestUri) : null;
    const ctx: ManipulationContext = {
      callSrcUser: from.user,
      callSrcHost: from.host,
      callDstUser: ruri?.user ?? userHostOf(msg, 'to').user,
      callDstHost: ruri?.host ?? userHostOf(msg, 'to').host,
    };
    if (inbound) {
      ctx.messageSrcAddress = inbound.remote.address;
      ctx.messageSrcPort = inbound.remote.port;
    }
    const info = (g: IpGroupRef | null): ManipulationContext['srcIpGroup'] => {
      if (g === null) return undefined;
      const row = config.ipGroupByName(g.name);
      return { name: g.name, id: g.id, type: g.type === 'user' ? 'User' : 'Server', host: row?.sipGroupName || undefined, user: row?.contactUser || undefined };
    };
    const s = info(src);
    const d = info(dst);
    if (s) ctx.srcIpGroup = s;
    if (d) ctx.dstIpGroup = d;
    return ctx;
  }

  classify(req: SipMessage, inbound: InboundMessage): ClassifyResult {
    const config = this.currentConfig();
    const conds = config.manipulation.conditions;
    const view = requestViewOf(req, inbound, (name) => conds.evaluate(name, req, this.contextFor(config, req, inbound, null, null)));
    const r = classify(config, view, this.proxyState);
    if (r.rejected) {
      // Debug, not info: a scanner would otherwise write one log line per probe.
      this.logger.debug({ src: `${inbound.remote.address}:${inbound.remote.port}`, method: req.method, reason: r.reason }, 'request not classified');
      return { reject: r.responseCode };
    }
    this.pending.set(req, config);
    const ref = ipGroupRefOf(config, r.ipGroup, r.ipProfile);
    this.refConfig.set(ref, config);
    return { srcIpGroup: ref };
  }

  applyInbound(req: SipMessage, src: IpGroupRef, inbound: InboundMessage): void {
    // The configuration that classified the request, even if a reload came in between.
    const config = this.pending.get(req) ?? this.refConfig.get(src) ?? this.currentConfig();
    this.pending.delete(req);
    this.calls.set(req, { config, decision: null });
    const row = config.ipGroupByName(src.name);
    if (row && row.inboundManSet >= 0 && config.manipulation.sets.has(row.inboundManSet)) {
      config.manipulation.sets.apply(row.inboundManSet, req, this.contextFor(config, req, inbound, src, null));
    }
    const from = userHostOf(req, 'from');
    const ruri = parseUri(req.requestUri);
    if (ruri === null) return;
    const n = applyNumberManipulation(config, 'inbound', {
      method: req.method, srcIpGroupName: src.name, srcUser: from.user, srcHost: from.host, dstUser: ruri.user, dstHost: ruri.host,
    });
    if (n.srcUser !== from.user) setUser(req, 'from', n.srcUser);
    if (n.dstUser !== ruri.user) {
      if (userHostOf(req, 'to').user === ruri.user) setUser(req, 'to', n.dstUser);
      setRequestUriUser(req, n.dstUser);
    }
  }

  route(req: SipMessage, src: IpGroupRef, attempt: number, lastFailure: RouteFailure): RouteTarget | { reject: number } | null {
    let state = this.calls.get(req);
    if (state === undefined) {
      // A request the SBC makes for a call in progress (REFER, 3xx) routes with that call's configuration.
      state = { config: this.refConfig.get(src) ?? this.currentConfig(), decision: null };
      this.calls.set(req, state);
    }
    const { config } = state;
    let decision: RouteDecision | null;
    if (attempt === 0 || state.decision === null) {
      const view = requestViewOf(req, NO_SOURCE, (name) =>
        config.manipulation.conditions.evaluate(name, req, this.contextFor(config, req, null, src, null)));
      decision = routeRequest(config, { ...view, srcIpGroupName: src.name }, this.proxyState);
    } else {
      if (state.decision.kind !== 'route') return null;
      const failure = lastFailure === null ? {} : typeof lastFailure === 'number' ? { responseCode: lastFailure } : { noResponse: true };
      decision = nextAlternative(config, state.decision, failure, this.proxyState);
      if (decision === null) return null;
    }
    state.decision = decision;
    if (decision.kind === 'no-route') return { reject: decision.responseCode };
    return this.targetOf(config, req, decision);
  }

  private targetOf(config: SbcConfig, req: SipMessage, d: Extract<RouteDecision, { kind: 'route' }>): RouteTarget | { reject: number } {
    const dest = d.destination;
    const dstRef = d.dstIpGroup ? ipGroupRefOf(config, d.dstIpGroup) : null;
    if (dstRef !== null) this.refConfig.set(dstRef, config);
    const ruri = parseUri(req.requestUri);
    const user = ruri?.user ?? '';
    let address: string;
    let port: number;
    let transport: 'udp' | 'tcp' | 'tls';
    let host: string;
    switch (dest.kind) {
      case 'reject':
        return { reject: dest.responseCode };
      case 'registered-users':
        // No registrar yet: users of a User-type group are not reachable.
        return { reject: 404 };
      case 'ip-group': {
        const t = d.target;
        if (t === undefined) return { reject: 503 };
        address = t.address;
        port = t.port;
        transport = t.transport;
        host = t.host;
        break;
      }
      case 'address':
      case 'request-uri':
        address = dest.host;
        port = dest.port;
        transport = dest.transport;
        host = dest.host;
        break;
    }
    const interfaceName = d.sipInterfaceName ?? this.defaultInterface(config, d.dstIpGroup);
    // An IP Group's SIP Group Name is the host it is addressed by (as on a Mediant); the
    // request still goes to the proxy set's server.
    const groupHost = dest.kind === 'ip-group' && d.dstIpGroup?.sipGroupName ? d.dstIpGroup.sipGroupName : null;
    const uri: SipUri = {
      scheme: 'sip', user, password: null, host: groupHost ?? uriHost(host), port: groupHost === null ? port : null,
      params: new Map(), headers: '', opaque: null,
    };
    if (transport !== 'udp') uri.params.set('transport', transport);
    if (ruri && ruri.params.get('user') === 'phone') uri.params.set('user', 'phone');
    return {
      dstIpGroup: dstRef,
      dest: { address, port, transport },
      interfaceName,
      requestUri: formatUri(uri),
      ruleName: d.row.routeName || `IP2IPRouting ${d.row.index}`,
    };
  }

  private defaultInterface(config: SbcConfig, g: IpGroupRow | undefined): string {
    if (g?.proxySetName) {
      const ps = config.proxySetByName(g.proxySetName);
      if (ps?.sbcIpv4SipInterfaceName) return ps.sbcIpv4SipInterfaceName;
    }
    return config.sipInterfaces[0]?.interfaceName ?? '';
  }

  applyOutbound(msg: SipMessage, dst: IpGroupRef | null, ctx: OutboundContext): void {
    if (dst === null) return;
    const call = ctx.relayedFrom ? this.calls.get(ctx.relayedFrom) : undefined;
    const config = this.refConfig.get(dst) ?? (ctx.peerIpGroup ? this.refConfig.get(ctx.peerIpGroup) : undefined)
      ?? call?.config ?? this.currentConfig();
    // Number manipulation concerns the request that creates leg B, not in-dialog traffic.
    if (msg.isRequest && msg.toTag === null && ctx.leg === 'B' && ctx.peerIpGroup) {
      const from = userHostOf(msg, 'from');
      const ruri = parseUri(msg.requestUri);
      if (ruri !== null) {
        const n = applyNumberManipulation(config, 'outbound', {
          method: msg.method, srcIpGroupName: ctx.peerIpGroup.name, dstIpGroupName: dst.name,
          srcUser: from.user, srcHost: from.host, dstUser: ruri.user, dstHost: ruri.host,
        });
        if (n.srcUser !== from.user) setUser(msg, 'from', n.srcUser);
        if (n.dstUser !== ruri.user) {
          if (userHostOf(msg, 'to').user === ruri.user) setUser(msg, 'to', n.dstUser);
          setRequestUriUser(msg, n.dstUser);
        }
      }
    }
    const row = config.ipGroupByName(dst.name);
    if (row && row.outboundManSet >= 0 && config.manipulation.sets.has(row.outboundManSet)) {
      config.manipulation.sets.apply(row.outboundManSet, msg, this.contextFor(config, msg, null, ctx.peerIpGroup, dst));
    }
  }

  credentialsFor(dst: IpGroupRef | null): { username: string; password: string } | null {
    if (dst === null) return null;
    const config = this.refConfig.get(dst) ?? this.currentConfig();
    const acc = config.accountsServedBy(dst.name)[0];
    if (acc && acc.username) return { username: acc.username, password: acc.password };
    const g = config.ipGroupByName(dst.name);
    if (g && g.username) return { username: g.username, password: g.password };
    return null;
  }

  maxConcurrentCalls(ipGroupName: string): number | null {
    // The call engine counts a call once per IP Group, whichever leg it is on.
    return this.currentConfig().admissionLimitFor(ipGroupName, 'both');
  }
}
