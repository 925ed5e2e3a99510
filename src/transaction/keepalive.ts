/**
 * OPTIONS keep-alive probes for Proxy Sets: one non-INVITE client
 * transaction per probe, so retransmissions and timer F come for free.
 */
import { SipMessage } from '../sip/message.js';
import { newCallId, newTag } from '../sip/response.js';
import { uriHost } from '../sip/uri.js';
import type { Transport } from '../transport/types.js';
import type { TransactionLayer } from './transaction-layer.js';

export interface KeepAliveProberOptions {
  /** SIP Interface to send from: fixed, or chosen per Proxy Set. */
  interfaceName: string | ((proxySetName: string) => string);
  /** User part of the From URI; default "sbc". */
  fromUser?: string;
  /** User-Agent header value; omitted when not set. */
  userAgent?: string;
}

export class KeepAliveProber {
  private readonly layer: TransactionLayer;
  private readonly opts: KeepAliveProberOptions;

  constructor(layer: TransactionLayer, opts: KeepAliveProberOptions) {
    this.layer = layer;
    this.opts = opts;
  }

  /**
   * Resolves with the final status code of the OPTIONS, or 'timeout' when
   * timer F fired or the transport could not reach the target. Rejects
   * only on a configuration error (unknown interface).
   */
  probe(target: { address: string; port: number; transport: Transport }, proxySetName: string): Promise<number | 'timeout'> {
    const ifaceName = typeof this.opts.interfaceName === 'string' ? this.opts.interfaceName : this.opts.interfaceName(proxySetName);
    const info = this.layer.transport.getInterface(ifaceName);
    if (info === undefined) return Promise.reject(new Error(`unknown SIP interface "${ifaceName}"`));
    const host = `${uriHost(target.address)}:${target.port}`;
    const uri = target.transport === 'udp' ? `sip:${host}` : `sip:${host};transport=${target.transport}`;
    const req = SipMessage.request('OPTIONS', uri);
    req.addHeader('max-forwards', '70');
    req.addHeader('from', `<sip:${this.opts.fromUser ?? 'sbc'}@${uriHost(info.address)}>;tag=${newTag()}`);
    req.addHeader('to', `<${uri}>`);
    req.addHeader('call-id', newCallId());
    req.addHeader('cseq', '1 OPTIONS');
    if (this.opts.userAgent !== undefined) req.addHeader('user-agent', this.opts.userAgent);
    req.addHeader('content-length', '0');
    return new Promise((resolve, reject) => {
      try {
        this.layer.sendRequest(req, { address: target.address, port: target.port, transport: target.transport }, ifaceName, {
          onFinal: (res) => resolve(res.status),
          onTimeout: () => resolve('timeout'),
          onTransportError: () => resolve('timeout'),
        });
      } catch (err) {
        reject(err as Error);
      }
    });
  }
}
