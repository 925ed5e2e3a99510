/**
 * Adapts the configuration, routing and manipulation modules to the call
 * engine's RoutingPort. Classifying a call's INVITE hands out a per-call
 * handle bound to the configuration that classified it (a hot reload
 * changes new calls only); each routing walk holds the decision it is
 * stepping through (alternative routes).
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { IpGroupRow, IpProfileRow } from '../config/schema.js';
import type { ManipulationContext } from '../manipulation/index.js';
import {
  applyNumberManipulation, classify, nextAlternative, routeRequest,
  type ProxyStateView, type RequestView, type RouteDecision,
} from '../routing/index.js';
import type {
  CallProfile, CallRouting, ClassifyResult, InboundMessage, IpGroupRef, OutboundContext, RouteFailure, RouteResult, RouteTarget,
  RouteWalk, RoutingPort,
} from '../b2bua/ports.js';
import type { SipMessage } from '../sip/message.js';
import type { AdmissionPort } from '../b2bua/ports.js';
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import { formatUri, parseUri, uriHost, type SipUri } from '../sip/uri.js';
import type { Logger } from '../util/logger.js';
import { assertIdentity, useRegisteredIdentity } from './outbound-identity.js';

/** What routing needs of the registration services (src/app/registration-services.ts). */
export interface RegistrationView {
  /** Identity toward a serving IP Group whose Account is registered (HostName for From, ContactUser for Contact). */
  identityFor(servingIpGroup: string): { contactUser: string; host: string } | null;
  /** The registered user a request for `user` goes to (an AOR user, or the unique contact user we registered upstream). */
  locateUser(user: string): UserLocation | 'expired' | null;
  /** The AOR user behind one of our upstream contact users (routing rules match the AOR, not our alias). */
  aorUserOf(user: string): string | null;
  /** The IP Group of users registered from this source (Mediant classifies registered users first). */
  registeredGroupOf(remote: { transport: string; address: string; port: number }): string | undefined;
  /** False while an Account with RouteOnlyWhenRegistered serving this group is not registered. */
  servingGroupUsable(ipGroup: string): boolean;
}

export interface UserLocation {
  readonly ipGroup: string;
  /** Where the user's REGISTER came from: requests go there (NAT, its TCP connection), not to the Contact. */
  readonly flow: { readonly transport: 'udp' | 'tcp' | 'tls'; readonly address: string; readonly port: number; readonly interfaceName: string };
  readonly contactUri: string;
  readonly aorUser: string;
}

const DEFAULT_PROFILE: CallProfile = {
  prackMode: 'transparent', sessionExpiresSec: 0, minSeSec: 90, referMode: 'relay', redirect3xxMode: 'relay', maxCallDurationSec: 0,
};

/** Mediant's SBCAlertTimeout: seconds to wait for an answer once the callee rings; 0 = transaction timers only. */
function alertTimeoutSec(config: SbcConfig): number {
  const n = Number.parseInt(config.scalars.get('sbcalerttimeout') ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** SBCDialogKeepAliveTime (ours): seconds between in-dialog OPTIONS on connected calls; 0 = off. */
function dialogKeepAliveSec(config: SbcConfig): number {
  const raw = config.scalars.get('sbcdialogkeepalivetime');
  const n = raw === undefined ? DEFAULT_DIALOG_KEEPALIVE_SEC : Number.parseInt(raw, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

const DEFAULT_DIALOG_KEEPALIVE_SEC = 300;

export function callProfileOf(config: SbcConfig, profile: IpProfileRow | undefined): CallProfile {
  const maxMin = profile && profile.sbcMaxCallDuration > 0 ? profile.sbcMaxCallDuration : config.sip.maxCallDurationMin;
  const noAnswerTimeoutSec = alertTimeoutSec(config);
  const keepAlive = dialogKeepAliveSec(config);
  if (profile === undefined) {
    return { ...DEFAULT_PROFILE, minSeSec: config.sip.minSeSec, maxCallDurationSec: maxMin * 60, noAnswerTimeoutSec, dialogKeepAliveSec: keepAlive };
  }
  return {
    noAnswerTimeoutSec,
    dialogKeepAliveSec: keepAlive,
    prackMode: profile.sbcPrackMode === 'transparent' ? 'transparent' : 'local',
    sessionExpiresSec: profile.sbcSessionExpiresMode === 'supported' ? config.sip.sessionExpiresSec : 0,
    minSeSec: config.sip.minSeSec,
    referMode: profile.sbcRemoteReferBehavior === 'handle-locally' ? 'local' : 'relay',
    redirect3xxMode: profile.sbcRemote3xxBehavior === 'handle-locally' ? 'local' : 'relay',
    maxCallDurationSec: maxMin * 60,
  };
}

/**
 * One frozen IpGroupRef per IP Group row, profile and configuration
 * snapshot, shared by every call that uses it: a call keeps two (its legs'
 * groups), and 100,000 held calls kept 200,000 identical copies.
 */
const groupRefs = new WeakMap<SbcConfig, WeakMap<IpGroupRow, Map<IpProfileRow | undefined, IpGroupRef>>>();

export function ipGroupRefOf(config: SbcConfig, g: IpGroupRow, profileOverride?: IpProfileRow): IpGroupRef {
  let byRow = groupRefs.get(config);
  if (byRow === undefined) groupRefs.set(config, (byRow = new WeakMap()));
  let byProfile = byRow.get(g);
  if (byProfile === undefined) byRow.set(g, (byProfile = new Map()));
  let ref = byProfile.get(profileOverride);
  if (ref === undefined) byProfile.set(profileOverride, (ref = freezeRef(makeIpGroupRef(config, g, profileOverride))));
  return ref;
}

function freezeRef(ref: IpGroupRef): IpGroupRef {
  Object.freeze(ref.profile);
  return Object.freeze(ref);
}

function makeIpGroupRef(config: SbcConfig, g: IpGroupRow, profileOverride?: IpProfileRow): IpGroupRef {
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

/** The manipulation context of a message of a call (source and destination IP Groups as rows of `config`). */
function contextFor(config: SbcConfig, msg: SipMessage, inbound: InboundMessage | null, src: IpGroupRef | null, dst: IpGroupRef | null): ManipulationContext {
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

/**
 * Mediant number manipulation (inbound: IPInboundManipulation on the
 * source group; outbound: IPOutboundManipulation between the groups) on
 * the From user and the Request-URI user (To follows when it named the
 * same user). Mutates `msg`.
 */
function manipulateNumbers(config: SbcConfig, direction: 'inbound' | 'outbound', msg: SipMessage, srcIpGroupName: string, dstIpGroupName?: string): void {
  const from = userHostOf(msg, 'from');
  const ruri = parseUri(msg.requestUri);
  if (ruri === null) return;
  const n = applyNumberManipulation(config, direction, {
    method: msg.method, srcIpGroupName, ...(dstIpGroupName === undefined ? {} : { dstIpGroupName }),
    srcUser: from.user, srcHost: from.host, dstUser: ruri.user, dstHost: ruri.host,
  });
  if (n.srcUser !== from.user) setUser(msg, 'from', n.srcUser);
  if (n.dstUser !== ruri.user) {
    if (userHostOf(msg, 'to').user === ruri.user) setUser(msg, 'to', n.dstUser);
    setRequestUriUser(msg, n.dstUser);
  }
}

export class ConfigRoutingPort implements RoutingPort {
  /** SBCAdmissionControl at runtime (set by the application; see admission-control.ts). */
  admission?: AdmissionPort;
  private readonly proxyState: ProxyStateView;

  constructor(
    private readonly currentConfig: () => SbcConfig,
    proxyState: ProxyStateView,
    private readonly logger: Logger,
    private readonly registrations: RegistrationView | null = null,
  ) {
    // A serving group whose mandatory registration is down is as unavailable as one without a live server.
    const regs = registrations;
    this.proxyState = regs === null ? proxyState : {
      isIpGroupAvailable: (g) => proxyState.isIpGroupAvailable(g) && regs.servingGroupUsable(g),
      candidates: (ps) => proxyState.candidates(ps),
      addressesOf: (ps) => proxyState.addressesOf?.(ps) ?? [],
    };
  }

  classify(req: SipMessage, inbound: InboundMessage): ClassifyResult {
    const config = this.currentConfig();
    // A request from the flow a user registered on belongs to that user's IP Group, whatever the rules say.
    const registered = this.registrations?.registeredGroupOf(inbound.remote);
    const regRow = registered === undefined ? undefined : config.ipGroupByName(registered);
    if (regRow !== undefined) {
      const src = ipGroupRefOf(config, regRow);
      return { srcIpGroup: src, routing: new ConfigCallRouting(config, this.proxyState, src, this.registrations) };
    }
    const conds = config.manipulation.conditions;
    const view = requestViewOf(req, inbound, (name) => conds.evaluate(name, req, contextFor(config, req, inbound, null, null)));
    const r = classify(config, view, this.proxyState);
    if (r.rejected) {
      // Debug, not info: a scanner would otherwise write one log line per probe.
      this.logger.debug({ src: `${inbound.remote.address}:${inbound.remote.port}`, method: req.method, reason: r.reason }, 'request not classified');
      return { reject: r.responseCode };
    }
    const src = ipGroupRefOf(config, r.ipGroup, r.ipProfile);
    return { srcIpGroup: src, routing: new ConfigCallRouting(config, this.proxyState, src, this.registrations) };
  }

  maxConcurrentCalls(ipGroupName: string): number | null {
    // The call engine counts a call once per IP Group, whichever leg it is on.
    return this.currentConfig().admissionLimitFor(ipGroupName, 'both');
  }
}

/** One call's routing and manipulation, all with the configuration that classified it. */
class ConfigCallRouting implements CallRouting {
  constructor(
    private readonly config: SbcConfig,
    private readonly proxyState: ProxyStateView,
    private readonly src: IpGroupRef,
    private readonly registrations: RegistrationView | null,
  ) {}

  get maxRerouteAttemptsOn3xx(): number {
    return this.config.sip.maxRerouteAttemptsOn3xx;
  }

  get maxForwardsLimit(): number {
    return this.config.sip.maxForwardsLimit;
  }

  applyInbound(req: SipMessage, inbound: InboundMessage): void {
    const config = this.config;
    const row = config.ipGroupByName(this.src.name);
    if (row && row.inboundManSet >= 0 && config.manipulation.sets.has(row.inboundManSet)) {
      config.manipulation.sets.apply(row.inboundManSet, req, contextFor(config, req, inbound, this.src, null));
    }
    manipulateNumbers(config, 'inbound', req, this.src.name);
  }

  routeWalk(req: SipMessage, src: IpGroupRef): RouteWalk {
    return new ConfigRouteWalk(this.config, this.proxyState, req, src, this.registrations);
  }

  applyOutbound(msg: SipMessage, dst: IpGroupRef | null, ctx: OutboundContext): void {
    if (dst === null) return;
    const config = this.config;
    // Number manipulation concerns the request that creates leg B, not in-dialog traffic.
    if (msg.isRequest && msg.toTag === null && ctx.leg === 'B' && ctx.peerIpGroup) {
      manipulateNumbers(config, 'outbound', msg, ctx.peerIpGroup.name, dst.name);
    }
    const identity = this.registrations?.identityFor(dst.name) ?? null;
    if (identity !== null) useRegisteredIdentity(msg, identity, ctx.leg === 'B' && msg.isRequest && msg.toTag === null);
    const row = config.ipGroupByName(dst.name);
    const profile = row?.profileName ? config.ipProfileByName(row.profileName) : undefined;
    if (profile !== undefined && ctx.leg === 'B') assertIdentity(msg, profile.sbcAssertIdentity);
    if (row && row.outboundManSet >= 0 && config.manipulation.sets.has(row.outboundManSet)) {
      config.manipulation.sets.apply(row.outboundManSet, msg, contextFor(config, msg, null, ctx.peerIpGroup, dst));
    }
  }

  credentialsFor(dst: IpGroupRef | null): { username: string; password: string } | null {
    if (dst === null) return null;
    const acc = this.config.accountsServedBy(dst.name)[0];
    if (acc && acc.username) return { username: acc.username, password: acc.password };
    const g = this.config.ipGroupByName(dst.name);
    if (g && g.username) return { username: g.username, password: g.password };
    return null;
  }
}

/** The first route of a request, then the alternative after each failure (Mediant alternative routing). */
class ConfigRouteWalk implements RouteWalk {
  private decision: RouteDecision | null = null;

  constructor(
    private readonly config: SbcConfig,
    private readonly proxyState: ProxyStateView,
    private readonly req: SipMessage,
    private readonly src: IpGroupRef,
    private readonly registrations: RegistrationView | null,
  ) {}

  next(lastFailure: RouteFailure): RouteResult {
    const { config, req, src } = this;
    let decision: RouteDecision | null;
    if (lastFailure === null || this.decision === null) {
      let view = requestViewOf(req, NO_SOURCE, (name) =>
        config.manipulation.conditions.evaluate(name, req, contextFor(config, req, null, src, null)));
      // A request to one of our upstream contact users is routed as a request to the user's AOR.
      const aorUser = this.registrations?.aorUserOf(view.requestUriUser) ?? null;
      if (aorUser !== null) view = { ...view, requestUriUser: aorUser, dstUser: view.dstUser === view.requestUriUser ? aorUser : view.dstUser };
      decision = routeRequest(config, { ...view, srcIpGroupName: src.name }, this.proxyState);
    } else {
      if (this.decision.kind !== 'route') return null;
      const failure = typeof lastFailure === 'number' ? { responseCode: lastFailure } : { noResponse: true };
      decision = nextAlternative(config, this.decision, failure, this.proxyState);
      if (decision === null) return null;
    }
    this.decision = decision;
    if (decision.kind === 'no-route') return { reject: decision.responseCode };
    return targetOf(config, req, decision, this.registrations);
  }
}

/** Mediant "All Users": the binding's flow and Contact; 404 unknown, 480 registered but expired (RFC 3261 §10.3, §21.4.18). */
function userTarget(config: SbcConfig, req: SipMessage, d: Extract<RouteDecision, { kind: 'route' }>, regs: RegistrationView | null): RouteTarget | { reject: number } {
  const ruri = parseUri(req.requestUri);
  const loc = regs?.locateUser(ruri?.user ?? '') ?? null;
  if (loc === null) return { reject: 404 };
  if (loc === 'expired') return { reject: 480 };
  const group = config.ipGroupByName(loc.ipGroup) ?? d.dstIpGroup;
  const contact = parseUri(loc.contactUri);
  // §19.1.1: a Request-URI carries no headers; the Contact's parameters (unknown ones too) stay.
  const requestUri = contact === null ? loc.contactUri : formatUri({ ...contact, headers: '' });
  return {
    dstIpGroup: group ? ipGroupRefOf(config, group) : null,
    dest: { address: loc.flow.address, port: loc.flow.port, transport: loc.flow.transport },
    interfaceName: loc.flow.interfaceName,
    requestUri,
    ruleName: d.row.routeName || `IP2IPRouting ${d.row.index}`,
  };
}

function targetOf(
  config: SbcConfig, req: SipMessage, d: Extract<RouteDecision, { kind: 'route' }>, regs: RegistrationView | null,
): RouteTarget | { reject: number; ruleName?: string } {
  const dest = d.destination;
  const dstRef = d.dstIpGroup ? ipGroupRefOf(config, d.dstIpGroup) : null;
  const ruri = parseUri(req.requestUri);
  const user = ruri?.user ?? '';
  let address: string;
  let port: number;
  let transport: 'udp' | 'tcp' | 'tls';
  let host: string;
  switch (dest.kind) {
    case 'reject':
      return { reject: dest.responseCode, ruleName: d.row.routeName || `IP2IPRouting ${d.row.index}` };
    case 'registered-users':
      return userTarget(config, req, d, regs);
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
  const interfaceName = d.sipInterfaceName ?? defaultInterface(config, d.dstIpGroup);
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

function defaultInterface(config: SbcConfig, g: IpGroupRow | undefined): string {
  if (g?.proxySetName) {
    const ps = config.proxySetByName(g.proxySetName);
    if (ps?.sbcIpv4SipInterfaceName) return ps.sbcIpv4SipInterfaceName;
  }
  return config.sipInterfaces[0]?.interfaceName ?? '';
}
