/**
 * Dialog state (RFC 3261 §12): identifiers, route set, remote target and
 * CSeq spaces of one side of a call, and the in-dialog requests built from
 * them. A B2BUA holds two of these per call, one per leg, and they share
 * nothing.
 */
import { parseNameAddr, formatNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';
import { flatString } from '../util/flat-string.js';

export type DialogState = 'early' | 'confirmed' | 'terminated';
export type DialogRole = 'uas' | 'uac';

export interface DialogInit {
  role: DialogRole;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From/To header value without the tag parameter. */
  localUri: string;
  /** The peer's From/To header value without the tag parameter. */
  remoteUri: string;
  remoteTarget: string;
  /** In the order our requests carry them in Route. */
  routeSet: string[];
  localSeq: number;
  /** -1 while the peer has sent no request inside the dialog. */
  remoteSeq: number;
  secure: boolean;
  state: DialogState;
}

/**
 * Identifiers are fixed at creation; the mutable parts (state, CSeq
 * spaces, remote target, route set) change only through the methods
 * below, each of which names the RFC 3261 rule it applies.
 */
export class Dialog {
  readonly role: DialogRole;
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localUri: string;
  readonly remoteUri: string;
  readonly secure: boolean;
  private target: string;
  private routes: string[];
  private localCSeq: number;
  private remoteCSeq: number;
  private current: DialogState;

  constructor(init: DialogInit) {
    // A dialog lives as long as its call: its strings are copied out of the
    // message they came from, so that message's text is not kept with them.
    this.role = init.role;
    this.callId = flatString(init.callId);
    this.localTag = flatString(init.localTag);
    this.remoteTag = flatString(init.remoteTag);
    this.localUri = flatString(init.localUri);
    this.remoteUri = flatString(init.remoteUri);
    this.target = flatString(init.remoteTarget);
    this.routes = init.routeSet.map(flatString);
    this.localCSeq = init.localSeq;
    this.remoteCSeq = init.remoteSeq;
    this.secure = init.secure;
    this.current = init.state;
  }

  get state(): DialogState {
    return this.current;
  }

  get remoteTarget(): string {
    return this.target;
  }

  get routeSet(): readonly string[] {
    return this.routes;
  }

  /** The CSeq number of our last request in this dialog (0 before the first on a UAS-side dialog). */
  get localSeq(): number {
    return this.localCSeq;
  }

  /** The CSeq number of the peer's last request; -1 before the first. */
  get remoteSeq(): number {
    return this.remoteCSeq;
  }

  /**
   * The dialog is established (§12.1: a 2xx was sent or received). Only
   * early dialogs move; a terminated dialog stays terminated.
   */
  confirm(): void {
    if (this.current === 'early') this.current = 'confirmed';
  }

  /** The dialog ends (BYE sent or received, §15); nothing else is sent in it but the BYE itself. */
  terminate(): void {
    this.current = 'terminated';
  }

  /** Takes the next local CSeq number for a request other than ACK/CANCEL (§12.2.1.1). */
  nextLocalSeq(): number {
    // The first request of a UAS-side dialog starts its own space.
    this.localCSeq = this.localCSeq === 0 ? 1 + Math.floor(Math.random() * 0x7fff) : this.localCSeq + 1;
    return this.localCSeq;
  }

  /**
   * Numbers already used outside this object (requests sent while the
   * dialog was early, e.g. PRACKs, or the INVITE that created it) must not
   * be reused: the local space continues above `seq`.
   */
  advanceLocalSeqTo(seq: number): void {
    if (seq > this.localCSeq) this.localCSeq = seq;
  }

  /**
   * UAS side (§12.1.1): from a dialog-creating request we received and the
   * To tag we put in our response. Record-Route is kept in received order.
   * Returns null when the request lacks what a dialog needs.
   */
  static fromRequest(req: SipMessage, localTag: string, state: DialogState = 'early'): Dialog | null {
    const remoteTag = req.fromTag;
    const cseq = req.cseq;
    const from = req.getHeader('from');
    const to = req.getHeader('to');
    const target = contactUri(req);
    if (remoteTag === null || cseq === null || from === undefined || to === undefined || target === null) return null;
    return new Dialog({
      role: 'uas',
      callId: req.callId,
      localTag,
      remoteTag,
      localUri: withoutTag(to),
      remoteUri: withoutTag(from),
      remoteTarget: target,
      routeSet: req.getHeaderValues('record-route'),
      localSeq: 0,
      remoteSeq: cseq.seq,
      secure: isSips(req.requestUri) && isSips(target),
      state,
    });
  }

  /**
   * UAC side (§12.1.2): from the request we sent and a 1xx (with To tag)
   * or 2xx response to it. Record-Route is reversed. Null when the response
   * cannot create a dialog.
   */
  static fromResponse(req: SipMessage, res: SipMessage): Dialog | null {
    const remoteTag = res.toTag;
    const localTag = req.fromTag;
    const cseq = req.cseq;
    const from = req.getHeader('from');
    const to = res.getHeader('to');
    if (remoteTag === null || localTag === null || cseq === null || from === undefined || to === undefined) return null;
    // A 1xx without Contact still makes an early dialog; the request URI stands in until one arrives.
    const target = contactUri(res) ?? req.requestUri;
    return new Dialog({
      role: 'uac',
      callId: req.callId,
      localTag,
      remoteTag,
      localUri: withoutTag(from),
      remoteUri: withoutTag(to),
      remoteTarget: target,
      routeSet: res.getHeaderValues('record-route').reverse(),
      localSeq: cseq.seq,
      remoteSeq: -1,
      secure: isSips(req.requestUri),
      state: res.status >= 200 ? 'confirmed' : 'early',
    });
  }

  /** Key under which requests from the peer find this dialog: Call-ID and our tag. */
  get key(): string {
    return dialogKey(this.callId, this.localTag);
  }

  /**
   * A later response in the same (early) dialog: a 2xx confirms it and
   * fixes the route set (§12.1.2, §13.2.2.4); any response with Contact
   * updates the remote target.
   */
  updateFromResponse(res: SipMessage): void {
    const target = contactUri(res);
    if (target !== null) this.target = flatString(target);
    if (this.current === 'early' && res.status >= 200 && res.status < 300) {
      if (this.role === 'uac') this.routes = res.getHeaderValues('record-route').reverse().map(flatString);
      this.current = 'confirmed';
    }
  }

  /** Target refresh (§12.2): re-INVITE, UPDATE or their 2xx carrying Contact. */
  refreshTarget(msg: SipMessage): void {
    const target = contactUri(msg);
    if (target !== null) this.target = flatString(target);
  }

  /**
   * Checks the CSeq of a request from the peer (§12.2.2). Lower than the
   * last one means out of order: the caller answers 500. ACK and CANCEL
   * reuse the INVITE's number and are not checked.
   */
  acceptRemoteSeq(req: SipMessage): boolean {
    const cseq = req.cseq;
    if (cseq === null) return false;
    if (req.method === 'ACK' || req.method === 'CANCEL') return true;
    if (this.remoteCSeq >= 0 && cseq.seq <= this.remoteCSeq) return false;
    this.remoteCSeq = cseq.seq;
    return true;
  }

  /**
   * An in-dialog request (§12.2.1.1). ACK reuses the INVITE's CSeq number
   * given in `ackSeq`; every other method takes the next local number.
   * Via is the transaction layer's; Contact is the caller's to add.
   */
  createRequest(method: string, ackSeq?: number): SipMessage {
    const seq = method === 'ACK' ? ackSeq ?? this.localCSeq : this.nextLocalSeq();
    let requestUri = this.target;
    const routes = this.routes.slice();
    if (routes.length > 0 && !isLooseRoute(routes[0]!)) {
      // Strict routing (§12.2.1.1): the first route becomes the Request-URI.
      const first = parseNameAddr(routes.shift()!);
      requestUri = first?.uri ?? requestUri;
      routes.push(`<${this.target}>`);
    }
    const req = SipMessage.request(method, requestUri);
    req.setHeader('max-forwards', '70');
    for (const r of routes) req.addHeader('route', r);
    req.setHeader('from', `${this.localUri};tag=${this.localTag}`);
    req.setHeader('to', `${this.remoteUri};tag=${this.remoteTag}`);
    req.setHeader('call-id', this.callId);
    req.setHeader('cseq', `${seq} ${method}`);
    return req;
  }

  /** Where the next in-dialog request goes first: the top route, or the remote target. */
  get nextHopUri(): string {
    if (this.routes.length > 0) {
      const na = parseNameAddr(this.routes[0]!);
      if (na !== null) return na.uri;
    }
    return this.target;
  }
}

export function dialogKey(callId: string, localTag: string): string {
  return `${callId}\u0000${localTag}`;
}

/** The Contact URI of a message, or null when absent or unreadable. */
export function contactUri(msg: SipMessage): string | null {
  const values = msg.getHeaderValues('contact');
  if (values.length === 0) return null;
  const na = parseNameAddr(values[0]!);
  if (na === null || na.uri === '*') return null;
  return na.uri;
}

/** A From/To header value with its tag removed, in canonical name-addr form. */
export function withoutTag(value: string): string {
  const na = parseNameAddr(value);
  if (na === null) return value;
  na.params.delete('tag');
  return formatNameAddr(na);
}

function isSips(uri: string): boolean {
  return uri.length >= 5 && uri.slice(0, 5).toLowerCase() === 'sips:';
}

function isLooseRoute(route: string): boolean {
  const na = parseNameAddr(route);
  if (na === null) return true;
  const u = parseUri(na.uri);
  return u === null || u.params.has('lr');
}
