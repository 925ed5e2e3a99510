/**
 * Where a UDP response goes, and a response kept as the bytes it went out
 * as: what a server transaction resends for a retransmitted request for
 * 64*T1 (§17.2.2 Timer J) without keeping the message.
 */
import type { SipMessage, SipMessageKind } from '../sip/message.js';
import { serializeMessage } from '../sip/serializer.js';
import { bareHost } from '../sip/uri.js';
import type { Via } from '../sip/via.js';
import type { ResponseTarget } from './types.js';

/** A UDP response ready to go (again): wireResponse makes it, TransportLayer.sendWireResponse sends it. */
export interface WireResponse extends SipMessageKind {
  readonly isRequest: false;
  readonly interfaceName: string;
  readonly data: Buffer;
  readonly address: string;
  readonly port: number;
}

/**
 * Where a UDP response goes (§18.2.2, RFC 3581): received:rport when the
 * request carried rport, else received (or the sent-by host) and the
 * sent-by port. Via maddr is deliberately not honoured: at the network
 * edge it would let anyone point our responses at a third party.
 */
export function udpResponseDestination(via: Via, target: ResponseTarget): { address: string; port: number } {
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  const rportNum = rport === undefined || rport === null ? NaN : Number(rport);
  if (Number.isInteger(rportNum) && rportNum > 0) return { address: received ?? target.remote.address, port: rportNum };
  if (received !== undefined && received !== null) return { address: received, port: via.port ?? 5060 };
  return { address: bareHost(via.host), port: via.port ?? 5060 };
}

/**
 * A UDP response as TransportLayer.sendResponse would send it, bytes and
 * destination: a BYE's 200 kept as a message would keep its header values,
 * and through them the BYE's whole text, in the heap for 32 s of every
 * call. Null over TCP/TLS, where the transaction does not wait.
 */
export function wireResponse(res: SipMessage, target: ResponseTarget): WireResponse | null {
  const via = res.topVia;
  if (via === null || via.transport === 'TCP' || via.transport === 'TLS') return null;
  const to = udpResponseDestination(via, target);
  // A buffer of its own: a small Buffer is a slice of a shared 8 KiB pool slab, which it would pin for 64*T1.
  const pooled = serializeMessage(res);
  const data = Buffer.allocUnsafeSlow(pooled.length);
  pooled.copy(data);
  return { isRequest: false, status: res.status, method: res.method, interfaceName: target.interfaceName, data, address: to.address, port: to.port };
}
