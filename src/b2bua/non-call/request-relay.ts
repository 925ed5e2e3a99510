/**
 * Out-of-dialog requests that are no call — MESSAGE, PUBLISH, INFO,
 * unsolicited NOTIFY, OPTIONS toward a user, SUBSCRIBE — relayed like
 * INVITEs: routed by IP2IPRouting (RequestType), manipulated, and sent
 * as a new request of the SBC (own Call-ID, tags, Via, Contact: topology
 * hiding), the final answer relayed back. Alternative routes are tried
 * on timeout and transport errors. A SUBSCRIBE's 2xx hands over to a
 * Subscription (subscription.ts), which keeps the dialog pair until the
 * subscription ends (RFC 6665).
 */
import { SipMessage } from '../../sip/message.js';
import { createResponse, newCallId, newTag } from '../../sip/response.js';
import { uriHost } from '../../sip/uri.js';
import type { Logger } from '../../util/logger.js';
import { copyEndToEndHeaders, maxForwards, rehomeNameAddr, setMaxForwards } from '../headers.js';
import type {
  CallRouting, ClientTransactionHandler, InboundMessage, IpGroupRef, LocalAddressPort, NonCallHandler, RouteTarget, ServerTransactionRef,
  TransactionPort,
} from '../ports.js';
import { EarlyNotifies, Subscription, type DialogRegistry } from './subscription.js';

export type { DialogRegistry };

/** Methods relayed outside dialogs (REGISTER has its own relay; INVITE is a call). */
const RELAYED = new Set(['MESSAGE', 'PUBLISH', 'INFO', 'NOTIFY', 'OPTIONS', 'SUBSCRIBE']);

export interface RequestRelayDeps {
  readonly tx: TransactionPort;
  readonly local: LocalAddressPort;
  readonly logger: Logger;
  /** Subscriptions live at most this long without a refresh (bounded state). */
  readonly maxSubscriptionSec?: number;
  /** OPTIONS for this Request-URI user go to the user (a registered one); all others are the SBC's to answer. Default: none. */
  readonly relaysOptionsTo?: (user: string) => boolean;
}

export interface Classified {
  srcIpGroup: IpGroupRef;
  routing: CallRouting;
}

export class NonInviteRelay implements NonCallHandler {
  private dialogs: DialogRegistry | null = null;
  readonly subscriptions = new Set<Subscription>();

  constructor(private readonly deps: RequestRelayDeps) {}

  /** The call manager's dialog map, where subscription dialogs are entered. */
  attachDialogs(d: DialogRegistry): void {
    this.dialogs = d;
  }

  handle(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, cls: Classified): boolean {
    if (!RELAYED.has(req.method)) return false;
    // OPTIONS are the SBC's to answer (keep-alives, scanners), unless they are for a registered user.
    if (req.method === 'OPTIONS' && !(this.deps.relaysOptionsTo?.(req.parsedRequestUri?.user ?? '') ?? false)) return false;
    if (req.method === 'SUBSCRIBE' && this.dialogs === null) return false;
    if (maxForwards(req) <= 1) {
      this.reply(stx, req, 483);
      return true;
    }
    const aReq = req.clone();
    try {
      cls.routing.applyInbound(aReq, inbound);
    } catch (err) {
      this.deps.logger.error({ err, method: req.method }, 'inbound manipulation failed');
      this.reply(stx, req, 500);
      return true;
    }
    const walk = cls.routing.routeWalk(aReq, cls.srcIpGroup);
    const first = walk.next(null);
    if (first === null || 'reject' in first) {
      this.reply(stx, req, first === null ? 404 : first.reject);
      return true;
    }
    const callId = newCallId();
    const fromTag = newTag();
    const early = req.method === 'SUBSCRIBE' && this.dialogs !== null ? new EarlyNotifies(this.dialogs, callId, fromTag) : null;
    const send = (target: RouteTarget): void => {
      const out = this.buildRequest(aReq, target, callId, fromTag);
      if (out === null) {
        early?.fail();
        this.reply(stx, req, 503);
        return;
      }
      cls.routing.applyOutbound(out, target.dstIpGroup, { leg: 'B', peerIpGroup: cls.srcIpGroup, relayedFrom: aReq });
      const handler: ClientTransactionHandler = {
        onFinal: (res) => this.onFinal(stx, req, aReq, out, res, inbound, target, cls, early),
        onTimeout: () => retry('timeout', 408),
        onTransportError: () => retry('transport-error', 503),
      };
      this.deps.tx.sendRequest(out, target.dest, target.interfaceName, handler);
    };
    const retry = (failure: 'timeout' | 'transport-error', status: number): void => {
      const next = walk.next(failure);
      if (next === null || 'reject' in next) {
        early?.fail();
        this.reply(stx, req, status);
      } else send(next);
    };
    send(first);
    return true;
  }

  private buildRequest(aReq: SipMessage, target: RouteTarget, callId: string, fromTag: string): SipMessage | null {
    const local = this.deps.local.contactAddress(target.interfaceName, target.dest.transport);
    if (local === null) return null;
    const host = target.dstIpGroup?.sipGroupName ?? uriHost(target.dest.address);
    const out = SipMessage.request(aReq.method, target.requestUri);
    setMaxForwards(out, maxForwards(aReq) - 1);
    out.setHeader('from', `${rehomeNameAddr(aReq.getHeader('from'), host)};tag=${fromTag}`);
    out.setHeader('to', rehomeNameAddr(aReq.getHeader('to'), host));
    out.setHeader('call-id', callId);
    out.setHeader('cseq', `1 ${aReq.method}`);
    const tp = target.dest.transport === 'udp' ? '' : `;transport=${target.dest.transport}`;
    out.setHeader('contact', `<sip:${uriHost(local.address)}:${local.port}${tp}>`);
    copyEndToEndHeaders(aReq, out);
    if (aReq.body.length > 0) out.setBody(aReq.body, aReq.contentType);
    return out;
  }

  private onFinal(
    stx: ServerTransactionRef, req: SipMessage, aReq: SipMessage, out: SipMessage, res: SipMessage, inbound: InboundMessage,
    target: RouteTarget, cls: Classified, early: EarlyNotifies | null,
  ): void {
    const ok = res.status >= 200 && res.status < 300;
    let sub: Subscription | null = null;
    const aTag = newTag();
    const back = createResponse(req, res.status, res.reason, aTag);
    copyEndToEndHeaders(res, back);
    for (const h of ['www-authenticate', 'proxy-authenticate', 'min-expires']) for (const v of res.getHeaderValues(h)) back.addHeader(h, v);
    if (res.body.length > 0) back.setBody(res.body, res.contentType);
    if (ok && req.method === 'SUBSCRIBE' && this.dialogs !== null) {
      const contact = this.deps.local.contactAddress(inbound.interfaceName, inbound.remote.transport);
      if (contact !== null) {
        const tp = inbound.remote.transport === 'udp' ? '' : `;transport=${inbound.remote.transport}`;
        back.setHeader('contact', `<sip:${uriHost(contact.address)}:${contact.port}${tp}>`);
      }
      sub = Subscription.create({
        aSubscribe: req, aTag, bSubscribe: out, bResponse: res, inbound, target, src: cls.srcIpGroup, routing: cls.routing,
        tx: this.deps.tx, local: this.deps.local, dialogs: this.dialogs, logger: this.deps.logger,
        maxSec: this.deps.maxSubscriptionSec ?? 7200, onEnd: (s) => this.subscriptions.delete(s),
      });
      if (sub !== null) this.subscriptions.add(sub);
    }
    cls.routing.applyOutbound(back, cls.srcIpGroup, { leg: 'A', peerIpGroup: target.dstIpGroup, relayedFrom: res });
    this.send(stx, back);
    // After our 2xx to the subscriber: NOTIFYs that overtook the notifier's 2xx follow it.
    if (sub !== null) early?.handOver(sub);
    else early?.fail();
  }

  private reply(stx: ServerTransactionRef, req: SipMessage, status: number): void {
    this.send(stx, createResponse(req, status, undefined, newTag()));
  }

  private send(stx: ServerTransactionRef, res: SipMessage): void {
    try {
      stx.respond(res);
    } catch (err) {
      this.deps.logger.debug({ err }, 'answer could not be sent');
    }
  }
}
