/**
 * The transaction layer (RFC 3261 §17): matches requests and responses to
 * transactions, creates server transactions for new requests and hands
 * them to the TU, absorbs retransmissions, answers CANCEL and detects
 * merged requests.
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/message.js';
import { createResponse, newBranch, newTag } from '../sip/response.js';
import { BRANCH_MAGIC_COOKIE, buildVia } from '../sip/via.js';
import type { TransportLayer } from '../transport/transport-layer.js';
import type { Endpoint, InboundMessage } from '../transport/types.js';
import { InviteClientTransaction, NOOP_HANDLER, NonInviteClientTransaction, type AnyClientTransaction } from './client.js';
import { callTu, type Counters, type TxEnv } from './env.js';
import { EndTimerWheel } from './end-timers.js';
import { InviteServerTransaction, NonInviteServerTransaction, type AnyServerTransaction } from './server.js';
import { requestDerivedFromInvite } from './derived-requests.js';
import { flatString } from '../util/flat-string.js';
import type {
  ClientTransaction,
  ClientTransactionHandler,
  ServerTransaction,
  TransactionLayerOptions,
  TransactionStats,
} from './types.js';

/**
 * Server transaction id. RFC 3261 branches: branch + sent-by + method
 * (ACK counts as INVITE) per §17.2.3. Older branches: the RFC 2543 tuple
 * of Request-URI, From tag, Call-ID, CSeq number and top Via; the To tag
 * is checked separately for ACK.
 */
export function serverTransactionKey(req: SipMessage, method: string): string | null {
  const via = req.topVia;
  const cseq = req.cseq;
  if (via === null || cseq === null) return null;
  const branch = via.params.get('branch');
  if (branch !== undefined && branch !== null && branch.startsWith(BRANCH_MAGIC_COOKIE)) {
    return `${branch}|${via.host.toLowerCase()}:${via.port ?? ''}|${method}`;
  }
  const topVia = req.getHeaderValues('via')[0] ?? '';
  return `2543|${req.requestUri}|${req.fromTag ?? ''}|${req.callId}|${cseq.seq}|${topVia}|${method}`;
}

export class TransactionLayer {
  /** The TU. A new request (never a retransmission). For ACK of a 2xx, `stx` is null. */
  onRequest: (req: SipMessage, stx: ServerTransaction | null, inbound: InboundMessage) => void = (req, stx) => {
    // Until a TU is attached, say so rather than leave the caller retransmitting.
    if (stx !== null) stx.respond(createResponse(req, 503, undefined, newTag()));
  };
  /** Responses that match no client transaction (2xx retransmissions after the transaction ended, forked 2xx). */
  onStrayResponse: (res: SipMessage, inbound: InboundMessage) => void = () => undefined;

  readonly transport: TransportLayer;
  private readonly clients = new Map<string, AnyClientTransaction>();
  private readonly servers = new Map<string, AnyServerTransaction>();
  /** Requests sendStateless already gave our Via (resent as they are). */
  private readonly viaAdded = new WeakSet<SipMessage>();
  private readonly mergeIndex = new Map<string, AnyServerTransaction>();
  private readonly acceptedIndex = new Map<string, InviteServerTransaction>();
  private readonly env: TxEnv;
  private readonly counters: Counters = {
    requestsReceived: 0,
    responsesReceived: 0,
    retransmissionsSent: 0,
    retransmissionsAbsorbed: 0,
    requestsDiscarded: 0,
    clientTimeouts: 0,
    transportErrors: 0,
    ackTimeouts: 0,
    loopsOrMerges482: 0,
    cancelsMatched: 0,
    cancelsUnmatched481: 0,
    strayResponses: 0,
    acksForwarded: 0,
    tuErrors: 0,
  };
  private readonly log: Logger | undefined;
  private readonly listener = (m: InboundMessage): void => this.onMessage(m);

  constructor(transport: TransportLayer, opts: TransactionLayerOptions = {}) {
    this.transport = transport;
    this.log = opts.logger;
    const t1 = positive(opts.t1Ms, 500);
    const clients = this.clients;
    const servers = this.servers;
    const mergeIndex = this.mergeIndex;
    const acceptedIndex = this.acceptedIndex;
    this.env = {
      t1,
      t2: positive(opts.t2Ms, 4000),
      t4: positive(opts.t4Ms, 5000),
      maxRtx: positive(opts.maxRtx, Number.POSITIVE_INFINITY),
      transport,
      counters: this.counters,
      log: opts.logger,
      endTimers: new EndTimerWheel(),
      clientTerminated(key) {
        clients.delete(key);
      },
      serverTerminated(tx) {
        if (servers.get(tx.key) === tx) servers.delete(tx.key);
        if (tx.mergeKey !== null && mergeIndex.get(tx.mergeKey) === tx) mergeIndex.delete(tx.mergeKey);
        if (tx.acceptedKey !== null && acceptedIndex.get(tx.acceptedKey) === tx) acceptedIndex.delete(tx.acceptedKey);
      },
      registerAccepted(key, tx) {
        acceptedIndex.set(key, tx as InviteServerTransaction);
      },
    };
    transport.on('message', this.listener);
  }

  get timers(): { t1: number; t2: number; t4: number } {
    return { t1: this.env.t1, t2: this.env.t2, t4: this.env.t4 };
  }

  /** Adds our Via (new branch, rport) on top, starts the client transaction and sends. */
  sendRequest(req: SipMessage, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler): ClientTransaction {
    if (req.method === 'ACK') throw new Error('ACK is not sent in a client transaction: use sendStateless');
    const branch = this.addOwnVia(req, dest, interfaceName);
    return this.startClient(req, branch, dest, interfaceName, handler);
  }

  /**
   * ACK for a 2xx and other stateless sends (a request gets its own new
   * branch Via). Sending the same request again (the ACK again for each
   * retransmitted 2xx, RFC 3261 §13.2.2.4) sends it as it was: one Via.
   */
  async sendStateless(msg: SipMessage, dest: Endpoint, interfaceName: string): Promise<void> {
    if (msg.isRequest && !this.viaAdded.has(msg)) {
      this.addOwnVia(msg, dest, interfaceName);
      this.viaAdded.add(msg);
    }
    await this.transport.send(msg, dest, interfaceName);
  }

  /**
   * CANCEL for a pending INVITE client transaction (§9.1): same branch,
   * Request-URI, Call-ID, From, To and CSeq number. Deferred until a 1xx
   * arrives when the INVITE is still Calling; does nothing once a final
   * response was received. Returns whether a CANCEL is (or will be) sent.
   */
  cancel(ctx: ClientTransaction, extraHeaders?: Array<[string, string]>): boolean {
    if (!(ctx instanceof InviteClientTransaction)) return false;
    return ctx.requestCancel(() => {
      // §9.1: To exactly as in the INVITE (no tag), whatever forks answered.
      const c = requestDerivedFromInvite(ctx.request, 'CANCEL', ctx.request.getHeader('to') ?? '', extraHeaders);
      this.startClient(c, ctx.branch, ctx.dest, ctx.interfaceName, NOOP_HANDLER);
    });
  }

  stats(): TransactionStats {
    return { clientTransactions: this.clients.size, serverTransactions: this.servers.size, ...this.counters };
  }

  /** Stops every timer and forgets every transaction; the transport stays open. */
  close(): void {
    this.transport.off('message', this.listener);
    for (const tx of this.clients.values()) tx.clearTimers();
    for (const tx of this.servers.values()) tx.clearTimers();
    this.env.endTimers.clear();
    this.clients.clear();
    this.servers.clear();
    this.mergeIndex.clear();
    this.acceptedIndex.clear();
  }

  // ---------------------------------------------------------------------------

  private addOwnVia(req: SipMessage, dest: Endpoint, interfaceName: string): string {
    const info = this.transport.getInterface(interfaceName);
    if (info === undefined) throw new Error(`unknown SIP interface "${interfaceName}"`);
    const port =
      (dest.transport === 'udp' ? info.udpPort : dest.transport === 'tcp' ? info.tcpPort : info.tlsPort) ??
      info.udpPort ?? info.tcpPort ?? info.tlsPort ?? 5060;
    const branch = newBranch();
    req.addHeader('via', buildVia(dest.transport, info.address, port, branch), true);
    if (!req.hasHeader('max-forwards')) req.setHeader('max-forwards', '70');
    return branch;
  }

  private startClient(
    req: SipMessage,
    branch: string,
    dest: Endpoint,
    interfaceName: string,
    handler: ClientTransactionHandler,
  ): AnyClientTransaction {
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(this.env, req, branch, dest, interfaceName, handler)
        : new NonInviteClientTransaction(this.env, req, branch, dest, interfaceName, handler);
    this.clients.set(tx.key, tx);
    tx.start();
    return tx;
  }

  private onMessage(inbound: InboundMessage): void {
    const msg = inbound.message;
    if (msg.isRequest) {
      this.counters.requestsReceived++;
      this.onInboundRequest(msg, inbound);
    } else {
      this.counters.responsesReceived++;
      this.onInboundResponse(msg, inbound);
    }
  }

  /** §17.1.3: branch of the top Via + CSeq method. */
  private onInboundResponse(res: SipMessage, inbound: InboundMessage): void {
    const branch = res.topVia?.params.get('branch');
    const cseq = res.cseq;
    const tx = branch && cseq !== null ? this.clients.get(`${branch}|${cseq.method}`) : undefined;
    if (tx !== undefined) {
      tx.receive(res);
      return;
    }
    this.counters.strayResponses++;
    callTu(this.env, 'onStrayResponse', () => this.onStrayResponse(res, inbound));
  }

  private onInboundRequest(req: SipMessage, inbound: InboundMessage): void {
    const method = req.method;
    if (method === 'ACK') {
      this.onAck(req, inbound);
      return;
    }
    const key = serverTransactionKey(req, method);
    if (key === null) return; // the parser guarantees Via and CSeq; be safe anyway
    const existing = this.servers.get(key);
    if (existing !== undefined) {
      existing.receiveRetransmission();
      return;
    }
    if (method === 'CANCEL') {
      this.onCancelRequest(req, inbound, key);
      return;
    }
    // §8.2.2.2: same From tag, Call-ID and CSeq as a live transaction but not the same transaction: a merge or loop.
    // The Request-URI is part of the key: a proxy forking to several contacts that all lead to us (users
    // registered through the SBC, one upstream contact per binding) sends the same request to different
    // Request-URIs, and each branch must reach its binding (RFC 3261 §16.6, the errata on merged requests).
    let mergeKey: string | null = null;
    if (req.toTag === null && req.fromTag !== null) {
      mergeKey = `${req.fromTag}|${req.callId}|${req.cseq?.seq ?? 0}|${method}|${req.requestUri}`;
      const other = this.mergeIndex.get(mergeKey);
      if (other !== undefined && !other.terminated) {
        this.counters.loopsOrMerges482++;
        const stx = this.createServer(req, inbound, key);
        stx.respond(createResponse(req, 482, undefined, newTag()));
        return;
      }
    }
    const stx = this.createServer(req, inbound, key);
    if (mergeKey !== null) {
      stx.mergeKey = flatString(mergeKey);
      this.mergeIndex.set(stx.mergeKey, stx);
    }
    this.deliver(req, stx, inbound);
  }

  private createServer(req: SipMessage, inbound: InboundMessage, key: string): AnyServerTransaction {
    // The key lives as long as the transaction (up to 64*T1): flat, so that it keeps no slice of the request's text alive.
    key = flatString(key);
    const stx =
      req.method === 'INVITE'
        ? new InviteServerTransaction(this.env, req, inbound, key)
        : new NonInviteServerTransaction(this.env, req, inbound, key);
    this.servers.set(key, stx);
    stx.start();
    return stx;
  }

  private deliver(req: SipMessage, stx: AnyServerTransaction | null, inbound: InboundMessage): void {
    try {
      this.onRequest(req, stx, inbound);
      if (stx instanceof InviteServerTransaction) stx.sendTryingIfIdle();
    } catch (err) {
      this.counters.tuErrors++;
      this.log?.error({ err, method: req.method }, 'transaction user threw on a request');
      if (stx !== null && !stx.finalSent && !stx.terminated) stx.respond(createResponse(req, 500, undefined, newTag()));
    }
  }

  private onAck(ack: SipMessage, inbound: InboundMessage): void {
    const key = serverTransactionKey(ack, 'INVITE');
    const stx = key === null ? undefined : this.servers.get(key);
    if (stx instanceof InviteServerTransaction) {
      const toTag = ack.toTag;
      // RFC 2543 matching also needs the To tag of our response (§17.2.3).
      const sameTag = toTag === stx.request.toTag || toTag === stx.localTag;
      if (sameTag && (stx.state === 'completed' || stx.state === 'confirmed')) {
        stx.receiveAckForFinal();
        return;
      }
      if (sameTag && stx.state === 'accepted') {
        if (stx.receiveAckFor2xx()) this.forwardAck(ack, inbound);
        else this.counters.retransmissionsAbsorbed++;
        return;
      }
    }
    // ACK for a 2xx: its own transaction, found by dialog identifiers.
    const cseq = ack.cseq;
    const acc = cseq === null ? undefined : this.acceptedIndex.get(`${ack.callId}|${cseq.seq}|${ack.fromTag ?? ''}|${ack.toTag ?? ''}`);
    if (acc !== undefined && !acc.receiveAckFor2xx()) {
      this.counters.retransmissionsAbsorbed++;
      return;
    }
    this.forwardAck(ack, inbound);
  }

  private forwardAck(ack: SipMessage, inbound: InboundMessage): void {
    this.counters.acksForwarded++;
    this.deliver(ack, null, inbound);
  }

  /** §9.2: 200 to the CANCEL when it matches a pending INVITE, 481 otherwise; the TU hears via onCancel. */
  private onCancelRequest(cancel: SipMessage, inbound: InboundMessage, key: string): void {
    const cstx = this.createServer(cancel, inbound, key);
    const inviteKey = serverTransactionKey(cancel, 'INVITE');
    const inv = inviteKey === null ? undefined : this.servers.get(inviteKey);
    if (inv instanceof InviteServerTransaction && inv.state === 'discarded') {
      // The INVITE was dropped silently: so is its CANCEL.
      cstx.discard();
      return;
    }
    if (!(inv instanceof InviteServerTransaction)) {
      this.counters.cancelsUnmatched481++;
      cstx.respond(createResponse(cancel, 481, undefined, newTag()));
      return;
    }
    // §9.2: the To tag of the 200 to CANCEL should equal the one of the INVITE's responses.
    const tag = inv.localTag ?? newTag();
    cstx.respond(createResponse(cancel, 200, undefined, tag));
    if (inv.state !== 'proceeding') return;
    this.counters.cancelsMatched++;
    if (inv.onCancel !== undefined) {
      const handler = inv.onCancel;
      callTu(this.env, 'onCancel', () => handler(cancel));
    } else {
      inv.respond(createResponse(inv.request, 487, undefined, tag));
    }
  }
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}
