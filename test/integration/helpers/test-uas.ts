/**
 * A minimal user agent server on top of TransactionLayer, for tests only:
 * INVITE -> 100 (by the layer) / 180 / 200 (optionally with a canned SDP),
 * ACK absorbed, BYE / OPTIONS / anything in-dialog -> 200, CANCEL -> 487.
 */
import type { Logger } from 'pino';
import { createResponse, newTag } from '../../../src/sip/response.js';
import type { SipMessage } from '../../../src/sip/message.js';
import { TransportLayer } from '../../../src/transport/transport-layer.js';
import type { ListenerInfo } from '../../../src/transport/types.js';
import { TransactionLayer } from '../../../src/transaction/transaction-layer.js';
import type { ServerTransaction } from '../../../src/transaction/types.js';

export interface TestUasOptions {
  address?: string;
  udp?: boolean;
  tcp?: boolean;
  /** Include an SDP answer in the 200 to INVITE. Default true. */
  sdp?: boolean;
  /** Send 180 before the 200. Default true. */
  ringing?: boolean;
  /** Wait this long before answering (lets a test CANCEL). Default 0. */
  answerDelayMs?: number;
  t1Ms?: number;
  t2Ms?: number;
  t4Ms?: number;
  idleTimeoutMs?: number;
  logger?: Logger;
}

export interface TestUasCounters {
  invites: number;
  acks: number;
  byes: number;
  options: number;
  cancels: number;
  other: number;
  ackTimeouts: number;
}

function cannedSdp(address: string): string {
  return [
    'v=0',
    `o=testuas 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio 16000 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export class TestUas {
  readonly transport: TransportLayer;
  readonly layer: TransactionLayer;
  readonly info: ListenerInfo;
  readonly counters: TestUasCounters = { invites: 0, acks: 0, byes: 0, options: 0, cancels: 0, other: 0, ackTimeouts: 0 };
  private readonly opts: TestUasOptions;
  private readonly pending = new Set<ReturnType<typeof setTimeout>>();

  private constructor(transport: TransportLayer, layer: TransactionLayer, info: ListenerInfo, opts: TestUasOptions) {
    this.transport = transport;
    this.layer = layer;
    this.info = info;
    this.opts = opts;
    layer.onRequest = (req, stx) => this.onRequest(req, stx);
  }

  static async start(opts: TestUasOptions = {}): Promise<TestUas> {
    const transport = new TransportLayer({ idleTimeoutMs: opts.idleTimeoutMs, logger: opts.logger });
    const address = opts.address ?? '127.0.0.1';
    const info = await transport.listen({
      name: 'uas',
      address,
      udpPort: opts.udp === false ? undefined : 0,
      tcpPort: opts.tcp === false ? undefined : 0,
    });
    const layer = new TransactionLayer(transport, { t1Ms: opts.t1Ms, t2Ms: opts.t2Ms, t4Ms: opts.t4Ms, logger: opts.logger });
    return new TestUas(transport, layer, info, opts);
  }

  get address(): string {
    return this.info.address;
  }

  async stop(): Promise<void> {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    this.layer.close();
    await this.transport.close();
  }

  private onRequest(req: SipMessage, stx: ServerTransaction | null): void {
    if (stx === null) {
      if (req.method === 'ACK') this.counters.acks++;
      return;
    }
    switch (req.method) {
      case 'INVITE':
        this.counters.invites++;
        this.answerInvite(req, stx);
        return;
      case 'BYE':
        this.counters.byes++;
        stx.respond(createResponse(req, 200, undefined, newTag()));
        return;
      case 'OPTIONS':
        this.counters.options++;
        stx.respond(createResponse(req, 200, undefined, newTag()));
        return;
      default:
        this.counters.other++;
        stx.respond(createResponse(req, req.toTag === null ? 501 : 200, undefined, newTag()));
    }
  }

  private answerInvite(req: SipMessage, stx: ServerTransaction): void {
    const tag = req.toTag ?? newTag();
    const transport = stx.inbound.local.transport;
    const contact = `<sip:uas@${this.address}:${stx.inbound.local.port}${transport === 'udp' ? '' : `;transport=${transport}`}>`;
    stx.onAckTimeout = () => {
      this.counters.ackTimeouts++;
    };
    stx.onCancel = () => {
      this.counters.cancels++;
      stx.respond(createResponse(req, 487, undefined, tag));
    };
    if (req.toTag === null && this.opts.ringing !== false) {
      const ringing = createResponse(req, 180, undefined, tag);
      ringing.addHeader('contact', contact);
      stx.respond(ringing);
    }
    const answer = (): void => {
      if (stx.finalSent) return;
      const ok = createResponse(req, 200, undefined, tag);
      ok.addHeader('contact', contact);
      if (this.opts.sdp !== false) ok.setBody(cannedSdp(this.address), 'application/sdp');
      stx.respond(ok);
    };
    const delay = this.opts.answerDelayMs ?? 0;
    if (delay <= 0) {
      answer();
      return;
    }
    const t = setTimeout(() => {
      this.pending.delete(t);
      answer();
    }, delay);
    this.pending.add(t);
  }
}
