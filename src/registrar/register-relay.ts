/**
 * REGISTER from users through the SBC (Mediant far-end users): the
 * request is routed like a call (IP2IPRouting RequestType REGISTER) and
 * sent on to the registrar with the SBC's own Contact (a unique user per
 * binding, so nothing of the user's network leaks upstream); the answer,
 * challenges included, goes back to the user. A 2xx enters the binding
 * into the registration database with the flow it came on. Refreshes
 * while the upstream registration outlives the user's next refresh are
 * answered from the database (registration throttling).
 */
import type { CallRouting, InboundMessage, IpGroupRef, NonCallHandler, RouteTarget, ServerTransactionRef } from '../b2bua/ports.js';
import { SipMessage } from '../sip/message.js';
import { createResponse, newCallId, newTag } from '../sip/response.js';
import { bareHost, parseUri, uriHost } from '../sip/uri.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import type { Endpoint, Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { RegistrationDb, type Binding, type Flow } from './bindings.js';
import { contactWithExpires, grantedFor, parseRegister, type RegisterContact } from './register-message.js';

export interface RegistrarSettings {
  /** Mediant SBCUserRegistrationTime: expiry granted to users; 0 = as the registrar granted. */
  readonly userRegistrationTime: number;
  /** Mediant SBCProxyRegistrationTime: expiry asked upstream; 0 = as the user asked. */
  readonly proxyRegistrationTime: number;
  /** Mediant SBCUserRegistrationGraceTime: a binding outlives its expiry by this much. */
  readonly graceTime: number;
  /** IP Group MaxNumOfRegUsers (-1 = unlimited). */
  maxUsers(ipGroup: string): number;
  /** IpProfile SBCUserBehindUdp/TcpNATRegistrationTime of the group: -1 = not configured, 0 = as asked. */
  natRegistrationTime(ipGroup: string, transport: Transport): number;
}

export interface RegisterRelayDeps {
  readonly db: RegistrationDb;
  readonly sendRequest: (req: SipMessage, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler) => unknown;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly settings: () => RegistrarSettings;
  readonly logger: Logger;
  readonly userAgent: () => string;
  /** Counts answers to users: forwarded-2xx, cached, local, rejected, relayed-<status>. */
  readonly count?: (result: string) => void;
}

/** Per user Call-ID: the Call-ID, From tag and CSeq we use upstream (§10.2: one Call-ID per registrar, rising CSeq). */
interface UpstreamDialog {
  readonly callId: string;
  readonly fromTag: string;
  cseq: number;
  lastUsed: number;
}

const COPIED_HEADERS = ['authorization', 'proxy-authorization', 'user-agent', 'allow', 'accept', 'supported'];
const RELAYED_BACK = ['www-authenticate', 'proxy-authenticate', 'min-expires', 'retry-after', 'warning', 'date'];
const MAX_DIALOGS = 100_000;

export class RegisterRelay implements NonCallHandler {
  private readonly dialogs = new Map<string, UpstreamDialog>();

  constructor(private readonly deps: RegisterRelayDeps) {}

  handle(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, cls: { srcIpGroup: IpGroupRef; routing: CallRouting }): boolean {
    if (req.method !== 'REGISTER') return false;
    const aReq = req.clone();
    cls.routing.applyInbound(aReq, inbound);
    const parsed = parseRegister(aReq);
    if (!parsed.ok) return this.reply(stx, req, parsed.status, [], parsed.reason);
    const db = this.deps.db;
    const aor = RegistrationDb.aorKey(parsed.aorUser, parsed.aorHost);
    const src = cls.srcIpGroup;
    const now = Date.now();
    const settings = this.deps.settings();
    if (parsed.contacts.length === 0 && !parsed.wildcard) return this.answer2xx(stx, req, aor, now);
    const known = db.bindingsOf(aor);
    const adding = parsed.contacts.some((c) => c.expires > 0);
    const limit = settings.maxUsers(src.name);
    if (adding && known.length === 0 && limit >= 0 && db.aorCount(src.name) >= limit) {
      this.deps.logger.info({ aor, ipGroup: src.name, limit }, 'REGISTER refused: MaxNumOfRegUsers reached');
      return this.reply(stx, req, 403, [], 'Maximum Registered Users Reached');
    }
    const flow: Flow = {
      transport: inbound.remote.transport, address: inbound.remote.address, port: inbound.remote.port,
      interfaceName: inbound.interfaceName, connectionId: inbound.connectionId,
    };
    if (this.answeredFromCache(stx, req, aor, parsed.contacts, flow, now, settings, src.name)) return true;
    const target = cls.routing.routeWalk(aReq, src).next(null);
    if (target === null || 'reject' in target) return this.reply(stx, req, target === null ? 404 : target.reject);
    if (target.dstIpGroup?.type === 'user') return this.registerLocally(stx, req, aor, parsed.aorUser, parsed.contacts, parsed.wildcard, src, flow);
    this.forward(stx, req, aReq, cls, target, { aor, aorUser: parsed.aorUser, contacts: parsed.contacts, wildcard: parsed.wildcard, flow });
    return true;
  }

  /** §10.3 step 8: the 2xx lists every current binding of the AOR with its remaining time. */
  /**
   * The 2xx to the user: its bindings, and the Path it sent, stored with
   * them (RFC 3327 §5.3: the registrar returns the Path it stored). The
   * upstream registrar's Path and Service-Route (RFC 3608) stay upstream:
   * they name hosts beyond the SBC (topology hiding), and the user's
   * requests go through the SBC anyway.
   */
  private answer2xx(stx: ServerTransactionRef, req: SipMessage, aor: string, now: number): true {
    const contacts = this.deps.db.bindingsOf(aor).map((b) => contactWithExpires(b.contact, Math.max(0, Math.round((b.expiresAt - now) / 1000))));
    const extra: Array<[string, string]> = contacts.length > 0 ? [['Contact', contacts.join(', ')]] : [];
    for (const p of req.getHeaderValues('path')) extra.push(['Path', p]);
    return this.reply(stx, req, 200, extra);
  }

  /**
   * What the user gets: at most what it asked and the registrar granted;
   * behind a NAT the profile's NAT registration time (short, so that its
   * refreshes keep the NAT binding open), else SBCUserRegistrationTime.
   */
  private userExpires(asked: number, upstreamGranted: number, s: RegistrarSettings, nat: number): number {
    const granted = Math.min(asked, upstreamGranted);
    if (nat > 0) return Math.min(nat, granted);
    if (nat === 0) return granted;
    return s.userRegistrationTime > 0 ? Math.min(s.userRegistrationTime, granted) : granted;
  }

  /** -1 unless the Contact names another address or port than the one the REGISTER came from (a NAT) and the profile says. */
  private natTime(c: RegisterContact, flow: Flow, group: string, s: RegistrarSettings): number {
    const u = parseUri(c.uri);
    const port = u?.port ?? (flow.transport === 'tls' ? 5061 : 5060);
    const behindNat = u === null || bareHost(u.host) !== flow.address || port !== flow.port;
    return behindNat ? s.natRegistrationTime(group, flow.transport) : -1;
  }

  /** Throttling: every contact is a known binding whose upstream registration outlives the user's next refresh. */
  private answeredFromCache(
    stx: ServerTransactionRef, req: SipMessage, aor: string, contacts: RegisterContact[], flow: Flow, now: number, s: RegistrarSettings, group: string,
  ): boolean {
    if (contacts.length === 0 || contacts.some((c) => c.expires === 0)) return false;
    const bindings: Binding[] = [];
    for (const c of contacts) {
      const b = this.deps.db.find(aor, c.uri);
      if (b === undefined || b.upstreamExpiresAt === 0) return false;
      const grant = this.userExpires(c.expires, Math.round((b.upstreamExpiresAt - now) / 1000), s, this.natTime(c, flow, group, s));
      if (grant <= 0 || b.upstreamExpiresAt - now <= grant * 1000 + 5000) return false;
      // §10.3 step 7: a request older than what we have is refused upstream too.
      if (b.callId === req.callId && (req.cseq?.seq ?? 0) <= b.cseq) return false;
      bindings.push(b);
    }
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i]!;
      const grant = this.userExpires(contacts[i]!.expires, Math.round((b.upstreamExpiresAt - now) / 1000), s, this.natTime(contacts[i]!, flow, group, s));
      b.expiresAt = now + (grant + s.graceTime) * 1000;
      this.deps.db.setFlow(b, flow);
      b.callId = req.callId;
      b.cseq = req.cseq?.seq ?? b.cseq;
      this.deps.db.touch(b);
    }
    this.deps.count?.('cached');
    return this.answer2xx(stx, req, aor, now);
  }

  /** A REGISTER routed to a User-type IP Group: the SBC is the registrar (Mediant survivability). */
  private registerLocally(
    stx: ServerTransactionRef, req: SipMessage, aor: string, aorUser: string, contacts: RegisterContact[], wildcard: boolean, src: IpGroupRef, flow: Flow,
  ): true {
    const now = Date.now();
    const s = this.deps.settings();
    if (wildcard) for (const b of [...this.deps.db.bindingsOf(aor)]) if (b.permanent !== true) this.deps.db.remove(b);
    for (const c of contacts) {
      const old = this.deps.db.find(aor, c.uri);
      if (c.expires === 0) {
        if (old) this.deps.db.remove(old);
        continue;
      }
      const grant = this.userExpires(c.expires, c.expires, s, this.natTime(c, flow, src.name, s));
      this.deps.db.put(this.binding(aor, aorUser, c, src.name, flow, req, now, grant, 0, old?.sbcUser ?? RegistrationDb.newSbcUser(), null));
    }
    this.deps.count?.('local');
    return this.answer2xx(stx, req, aor, now);
  }

  private binding(
    aor: string, aorUser: string, c: RegisterContact, ipGroup: string, flow: Flow, req: SipMessage, now: number,
    userGrant: number, upstreamGrant: number, sbcUser: string, upstream: Binding['upstream'],
  ): Binding {
    return {
      aor, aorUser, contact: c.contact, contactUri: c.uri, ipGroup, flow,
      expiresAt: now + (userGrant + this.deps.settings().graceTime) * 1000,
      upstreamExpiresAt: upstreamGrant > 0 ? now + upstreamGrant * 1000 : 0,
      userAgent: req.getHeader('user-agent') ?? '', path: req.getHeaderValues('path'),
      callId: req.callId, cseq: req.cseq?.seq ?? 0, sbcUser, upstream, registeredAt: now,
    };
  }

  private upstreamDialog(userCallId: string): UpstreamDialog {
    let d = this.dialogs.get(userCallId);
    if (d === undefined) {
      if (this.dialogs.size >= MAX_DIALOGS) {
        // Bounded: forget the least recently used ones (their users get a fresh upstream Call-ID).
        const cutoff = [...this.dialogs.values()].map((x) => x.lastUsed).sort((a, b) => a - b)[MAX_DIALOGS / 10]!;
        for (const [k, v] of this.dialogs) if (v.lastUsed <= cutoff) this.dialogs.delete(k);
      }
      d = { callId: newCallId(), fromTag: newTag(), cseq: 0, lastUsed: 0 };
      this.dialogs.set(userCallId, d);
    }
    d.lastUsed = Date.now();
    return d;
  }

  private forward(
    stx: ServerTransactionRef, req: SipMessage, aReq: SipMessage, cls: { srcIpGroup: IpGroupRef; routing: CallRouting }, first: RouteTarget,
    reg: { aor: string; aorUser: string; contacts: RegisterContact[]; wildcard: boolean; flow: Flow },
  ): void {
    const s = this.deps.settings();
    const walk = cls.routing.routeWalk(aReq, cls.srcIpGroup);
    walk.next(null);
    const dialog = this.upstreamDialog(req.callId);
    const sbcUsers = reg.contacts.map((c) => this.deps.db.find(reg.aor, c.uri)?.sbcUser ?? RegistrationDb.newSbcUser());
    const asked = reg.contacts.map((c) => (c.expires > 0 && s.proxyRegistrationTime > 0 ? s.proxyRegistrationTime : c.expires));
    const send = (target: RouteTarget): void => {
      const local = this.deps.contactAddress(target.interfaceName, target.dest.transport);
      if (local === null) {
        this.reply(stx, req, 503);
        return;
      }
      const out = SipMessage.request('REGISTER', target.requestUri);
      const aorUri = `<sip:${reg.aorUser}@${reg.aor.slice(reg.aor.lastIndexOf('@') + 1)}>`;
      out.setHeader('max-forwards', '70');
      out.setHeader('from', `${aorUri};tag=${dialog.fromTag}`);
      out.setHeader('to', aorUri);
      out.setHeader('call-id', dialog.callId);
      out.setHeader('cseq', `${++dialog.cseq} REGISTER`);
      const tp = target.dest.transport === 'udp' ? '' : `;transport=${target.dest.transport}`;
      const ours = sbcUsers.map((u, i) => `<sip:${u}@${uriHost(local.address)}:${local.port}${tp}>;expires=${asked[i]}`);
      if (reg.wildcard) out.setHeader('contact', '*');
      else out.setHeader('contact', ours.join(', '));
      out.setHeader('expires', reg.wildcard ? '0' : String(asked[0] ?? 0));
      for (const h of COPIED_HEADERS) for (const v of aReq.getHeaderValues(h)) out.addHeader(h, v);
      if (!out.hasHeader('user-agent')) out.setHeader('user-agent', this.deps.userAgent());
      cls.routing.applyOutbound(out, target.dstIpGroup, { leg: 'B', peerIpGroup: cls.srcIpGroup, relayedFrom: aReq });
      const handler: ClientTransactionHandler = {
        onFinal: (res) => this.onUpstreamFinal(stx, req, res, reg, sbcUsers, asked, target, cls.srcIpGroup),
        onTimeout: () => retry('timeout', 408),
        onTransportError: () => retry('transport-error', 503),
      };
      this.deps.sendRequest(out, target.dest, target.interfaceName, handler);
    };
    const retry = (failure: 'timeout' | 'transport-error', status: number): void => {
      const next = walk.next(failure);
      if (next === null || 'reject' in next) {
        this.deps.count?.(`relayed-${status}`);
        this.reply(stx, req, status);
      } else send(next);
    };
    send(first);
  }

  private onUpstreamFinal(
    stx: ServerTransactionRef, req: SipMessage, res: SipMessage, reg: { aor: string; aorUser: string; contacts: RegisterContact[]; wildcard: boolean; flow: Flow },
    sbcUsers: string[], asked: number[], target: RouteTarget, src: IpGroupRef,
  ): void {
    if (res.status < 200 || res.status >= 300) {
      const extra: Array<[string, string]> = [];
      for (const h of RELAYED_BACK) for (const v of res.getHeaderValues(h)) extra.push([h, v]);
      this.deps.count?.(`relayed-${res.status}`);
      this.reply(stx, req, res.status, extra, res.reason);
      return;
    }
    const db = this.deps.db;
    const now = Date.now();
    const s = this.deps.settings();
    if (reg.wildcard) for (const b of [...db.bindingsOf(reg.aor)]) if (b.permanent !== true) db.remove(b);
    const upstream = {
      address: target.dest.address, port: target.dest.port, transport: target.dest.transport, interfaceName: target.interfaceName,
      requestUri: target.requestUri, ipGroup: target.dstIpGroup?.name ?? null,
    };
    reg.contacts.forEach((c, i) => {
      const old = db.find(reg.aor, c.uri);
      if (c.expires === 0 || asked[i] === 0) {
        if (old) db.remove(old);
        return;
      }
      const granted = grantedFor(res, sbcUsers[i]!, asked[i]!);
      if (granted <= 0) {
        if (old) db.remove(old);
        return;
      }
      const userGrant = this.userExpires(c.expires, granted, s, this.natTime(c, reg.flow, src.name, s));
      db.put(this.binding(reg.aor, reg.aorUser, c, src.name, reg.flow, req, now, userGrant, granted, sbcUsers[i]!, upstream));
    });
    this.deps.count?.('forwarded-2xx');
    this.answer2xx(stx, req, reg.aor, now);
  }

  /** Sends REGISTER with Expires: 0 upstream for a binding the user let expire (Mediant does the same). */
  unregisterUpstream(b: Binding): void {
    const up = b.upstream;
    if (up === null) return;
    const local = this.deps.contactAddress(up.interfaceName, up.transport);
    if (local === null) return;
    const d = this.upstreamDialog(b.callId);
    const host = b.aor.slice(b.aor.lastIndexOf('@') + 1);
    const out = SipMessage.request('REGISTER', up.requestUri);
    out.setHeader('max-forwards', '70');
    out.setHeader('from', `<sip:${b.aorUser}@${host}>;tag=${d.fromTag}`);
    out.setHeader('to', `<sip:${b.aorUser}@${host}>`);
    out.setHeader('call-id', d.callId);
    out.setHeader('cseq', `${++d.cseq} REGISTER`);
    const tp = up.transport === 'udp' ? '' : `;transport=${up.transport}`;
    out.setHeader('contact', `<sip:${b.sbcUser}@${uriHost(local.address)}:${local.port}${tp}>;expires=0`);
    out.setHeader('expires', '0');
    out.setHeader('user-agent', this.deps.userAgent());
    const ignore = (): void => undefined;
    this.deps.sendRequest(out, { address: up.address, port: up.port, transport: up.transport }, up.interfaceName, {
      onFinal: ignore, onTimeout: ignore, onTransportError: ignore,
    });
  }

  private reply(stx: ServerTransactionRef, req: SipMessage, status: number, extra: Array<[string, string]> = [], reason?: string): true {
    const res = createResponse(req, status, reason, status >= 200 ? newTag() : undefined);
    for (const [k, v] of extra) res.addHeader(k, v);
    try {
      stx.respond(res);
    } catch (err) {
      this.deps.logger.debug({ err }, 'REGISTER answer could not be sent');
    }
    return true;
  }
}
