/**
 * One subscription relayed by the SBC (RFC 6665): the dialog with the
 * subscriber (side A, we are its notifier) and the dialog with the
 * notifier (side B, we are its subscriber), both in the call manager's
 * dialog map. NOTIFYs from B go to A, refreshing or ending SUBSCRIBEs from
 * A go to B, each answer back the other way. The pair ends with a NOTIFY
 * saying `terminated`, a failed relay, or when the subscription expires
 * without a refresh.
 */
import { Dialog } from '../../dialog/dialog.js';
import type { SipMessage } from '../../sip/message.js';
import { createResponse } from '../../sip/response.js';
import { uriHost } from '../../sip/uri.js';
import type { Logger } from '../../util/logger.js';
import { copyEndToEndHeaders } from '../headers.js';
import type {
  CallRouting, ClientTransactionHandler, Endpoint, InboundMessage, IpGroupRef, LegSide, LocalAddressPort, RouteTarget,
  ServerTransactionRef, TransactionPort, DialogOwner,
} from '../ports.js';

/** The call manager's dialog map, where both dialogs of a subscription are entered. */
export interface DialogRegistry {
  registerDialog(d: Dialog, owner: DialogOwner, side: LegSide): void;
  unregisterDialog(d: Dialog): void;
}

export interface SubscriptionInit {
  aSubscribe: SipMessage;
  aTag: string;
  bSubscribe: SipMessage;
  bResponse: SipMessage;
  inbound: InboundMessage;
  target: RouteTarget;
  src: IpGroupRef;
  routing: CallRouting;
  tx: TransactionPort;
  local: LocalAddressPort;
  dialogs: DialogRegistry;
  logger: Logger;
  maxSec: number;
  onEnd: (s: Subscription) => void;
}

function expiresOf(msg: SipMessage, fallback: number): number {
  const n = Number.parseInt((msg.getHeader('expires') ?? '').trim(), 10);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export class Subscription implements DialogOwner {
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private readonly aDest: Endpoint;

  private constructor(private readonly i: SubscriptionInit, private readonly a: Dialog, private readonly b: Dialog) {
    this.aDest = i.inbound.remote;
  }

  static create(i: SubscriptionInit): Subscription | null {
    const a = Dialog.fromRequest(i.aSubscribe, i.aTag, 'confirmed');
    const b = Dialog.fromResponse(i.bSubscribe, i.bResponse);
    if (a === null || b === null) return null;
    const s = new Subscription(i, a, b);
    i.dialogs.registerDialog(a, s, 'A');
    i.dialogs.registerDialog(b, s, 'B');
    s.arm(expiresOf(i.bResponse, expiresOf(i.aSubscribe, 3600)));
    return s;
  }

  get keys(): [string, string] {
    return [this.a.key, this.b.key];
  }

  /** No refresh before the expiry (plus a little for the last NOTIFY): the state goes. */
  private arm(sec: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const ms = Math.min(Math.max(sec, 0), this.i.maxSec) * 1000 + 32_000;
    this.timer = setTimeout(() => this.end('expired'), ms);
    this.timer.unref();
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.i.dialogs.unregisterDialog(this.a);
    this.i.dialogs.unregisterDialog(this.b);
    this.i.logger.debug({ why, callId: this.a.callId }, 'subscription ended');
    this.i.onEnd(this);
  }

  onAck(): void {
    // No INVITE in a subscription dialog: nothing to acknowledge.
  }

  onLate2xx(): void {
    // Only INVITE 2xx arrive late.
  }

  onInDialogRequest(side: LegSide, req: SipMessage, stx: ServerTransactionRef): void {
    const from = side === 'A' ? this.a : this.b;
    const to = side === 'A' ? this.b : this.a;
    if (!from.acceptRemoteSeq(req)) {
      stx.respond(createResponse(req, 500, 'CSeq Out of Order'));
      return;
    }
    const out = to.createRequest(req.method);
    const toA = side === 'B';
    const iface = toA ? this.i.inbound.interfaceName : this.i.target.interfaceName;
    const dest = toA ? this.aDest : this.i.target.dest;
    const local = this.i.local.contactAddress(iface, dest.transport);
    if (local !== null) {
      const tp = dest.transport === 'udp' ? '' : `;transport=${dest.transport}`;
      out.setHeader('contact', `<sip:${uriHost(local.address)}:${local.port}${tp}>`);
    }
    copyEndToEndHeaders(req, out);
    if (req.body.length > 0) out.setBody(req.body, req.contentType);
    const dstGroup = toA ? this.i.src : this.i.target.dstIpGroup;
    const peer = toA ? this.i.target.dstIpGroup : this.i.src;
    this.i.routing.applyOutbound(out, dstGroup, { leg: toA ? 'A' : 'B', peerIpGroup: peer, relayedFrom: req });
    const terminated = req.method === 'NOTIFY' && /^\s*terminated/i.test(req.getHeader('subscription-state') ?? '');
    const unsubscribe = req.method === 'SUBSCRIBE' && expiresOf(req, 1) === 0;
    const handler: ClientTransactionHandler = {
      onFinal: (res) => {
        const back = createResponse(req, res.status, res.reason);
        copyEndToEndHeaders(res, back);
        if (res.body.length > 0) back.setBody(res.body, res.contentType);
        this.i.routing.applyOutbound(back, peer, { leg: toA ? 'B' : 'A', peerIpGroup: dstGroup, relayedFrom: res });
        stx.respond(back);
        if (res.status >= 300 && (res.status === 481 || req.method === 'SUBSCRIBE' || req.method === 'NOTIFY')) this.end(`${req.method} ${res.status}`);
        else if (terminated) this.end('terminated');
        else if (req.method === 'SUBSCRIBE' && !unsubscribe) this.arm(expiresOf(res, expiresOf(req, 3600)));
      },
      onTimeout: () => {
        stx.respond(createResponse(req, 408));
        this.end(`${req.method} timeout`);
      },
      onTransportError: () => {
        stx.respond(createResponse(req, 503));
        this.end(`${req.method} transport error`);
      },
    };
    this.i.tx.sendRequest(out, dest, iface, handler);
  }
}

/**
 * NOTIFYs that overtake the 2xx of our SUBSCRIBE (RFC 6665 §4.1.2.4 allows
 * it): held under the dialog key the notifier uses (our Call-ID and From
 * tag) until the 2xx makes the Subscription, then handed to it; 481 when
 * the SUBSCRIBE fails. At most a few, for at most 32 s.
 */
export class EarlyNotifies implements DialogOwner {
  private readonly queue: Array<{ req: SipMessage; stx: ServerTransactionRef }> = [];
  private readonly placeholder: Dialog;
  private timer: NodeJS.Timeout | null;

  constructor(private readonly dialogs: DialogRegistry, callId: string, fromTag: string) {
    this.placeholder = new Dialog({
      role: 'uac', callId, localTag: fromTag, remoteTag: '', localUri: '', remoteUri: '', remoteTarget: '', routeSet: [],
      localSeq: 1, remoteSeq: -1, secure: false, state: 'early',
    });
    dialogs.registerDialog(this.placeholder, this, 'B');
    this.timer = setTimeout(() => this.fail(), 32_000);
    this.timer.unref();
  }

  onAck(): void {
    // Nothing to acknowledge before the subscription exists.
  }

  onLate2xx(): void {
    // Only INVITE 2xx arrive late.
  }

  onInDialogRequest(_side: LegSide, req: SipMessage, stx: ServerTransactionRef): void {
    if (req.method === 'NOTIFY' && this.queue.length < 8) this.queue.push({ req, stx });
    else stx.respond(createResponse(req, 481));
  }

  /** The Subscription now owns the dialog key: the held NOTIFYs go to it in order. */
  handOver(sub: Subscription): void {
    this.stop();
    for (const q of this.queue.splice(0)) sub.onInDialogRequest('B', q.req, q.stx);
  }

  /** The SUBSCRIBE failed: no dialog, the held NOTIFYs get 481. */
  fail(): void {
    this.stop();
    this.dialogs.unregisterDialog(this.placeholder);
    for (const q of this.queue.splice(0)) q.stx.respond(createResponse(q.req, 481));
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
