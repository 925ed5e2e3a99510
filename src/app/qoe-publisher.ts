/**
 * The QoE feed's SIP side (QoePublishPort, src/qoe/feed.ts): one
 * out-of-dialog PUBLISH per report toward the collector at
 * QOEServerIP:QOEPort, sent through the transaction layer (retransmissions,
 * timer F) from the SIP Interface `QOESipInterface` (ours; default the
 * first one). RFC 6035 §5: `Event: vq-rtcpxr`, `Content-Type:
 * application/vq-rtcpxr`; RFC 3903 §11.1: a PUBLISH without SIP-If-Match
 * (each report is a new publication). The feed retries and spools what
 * the collector did not answer with a 2xx.
 */
import { isIP } from 'node:net';
import type { TransactionPort } from '../b2bua/ports.js';
import type { QoePublishPort } from '../qoe/feed.js';
import { SipMessage } from '../sip/message.js';
import { newCallId, newTag } from '../sip/response.js';
import type { Transport } from '../transport/types.js';

export interface QoePublisherDeps {
  readonly tx: TransactionPort;
  /** The SIP Interface the PUBLISH leaves from, and our address on it (for From); null when it does not listen on UDP. */
  readonly local: () => { interfaceName: string; address: string; port: number } | null;
  /** User-Agent value; empty = none (UserAgentDisplayInfo). */
  readonly userAgent: () => string;
}

const hostPort = (host: string, port: number): string => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

export class SipQoePublisher implements QoePublishPort {
  constructor(private readonly deps: QoePublisherDeps) {}

  /** The PUBLISH for one report (exported for tests through `publish`). */
  build(host: string, port: number, body: string, local: { address: string; port: number }): SipMessage {
    const collector = `sip:collector@${hostPort(host, port)}`;
    const req = SipMessage.request('PUBLISH', collector);
    req.setHeader('max-forwards', '70');
    req.setHeader('from', `<sip:sbc@${hostPort(local.address, local.port)}>;tag=${newTag()}`);
    req.setHeader('to', `<${collector}>`);
    req.setHeader('call-id', newCallId());
    req.setHeader('cseq', '1 PUBLISH');
    req.setHeader('event', 'vq-rtcpxr');
    const ua = this.deps.userAgent();
    if (ua !== '') req.setHeader('user-agent', ua);
    req.setBody(body, 'application/vq-rtcpxr');
    return req;
  }

  publish(r: { host: string; port: number; body: string; callId: string }): Promise<number> {
    if (isIP(r.host) === 0) return Promise.reject(new Error(`QOEServerIP ${r.host} is not an IP address`));
    const local = this.deps.local();
    if (local === null) return Promise.reject(new Error('no SIP Interface listens on UDP to send the QoE PUBLISH from'));
    const req = this.build(r.host, r.port, r.body, local);
    const dest = { address: r.host, port: r.port, transport: 'udp' as Transport };
    return new Promise((resolve, reject) => {
      try {
        this.deps.tx.sendRequest(req, dest, local.interfaceName, {
          onFinal: (res) => resolve(res.status),
          onTimeout: () => reject(new Error('QoE collector did not answer the PUBLISH')),
          onTransportError: (err) => reject(err),
        });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }
}
