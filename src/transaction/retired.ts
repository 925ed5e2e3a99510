/**
 * What a transaction keeps of its request once nothing reads it again.
 *
 * A transaction outlives its last use of the request by up to 64*T1 (an
 * INVITE server transaction Accepted until timer L, RFC 6026; a non-INVITE
 * server transaction Completed until timer J): it only absorbs
 * retransmissions then, which are matched by the layer's keys. Keeping the
 * parsed request for those 32 s made every finished call cost its setup
 * messages that long, on every call, through the old generation of the
 * heap. A retired transaction's request is a shared placeholder with the
 * method only.
 */
import { SipMessage } from '../sip/message.js';
import type { InboundMessage } from '../transport/types.js';

const placeholders = new Map<string, SipMessage>();

/** One shared empty request per method (nothing may change it: it is never sent). */
export function retiredRequest(method: string): SipMessage {
  let m = placeholders.get(method);
  if (m === undefined) {
    m = SipMessage.request(method, '');
    if (placeholders.size < 32) placeholders.set(method, m);
  }
  return m;
}

/** Where responses still go (interface, connection, remote), without the request. */
export function retiredInbound(inbound: InboundMessage): InboundMessage {
  return { message: retiredRequest(inbound.message.method), remote: inbound.remote, local: inbound.local, interfaceName: inbound.interfaceName, connectionId: inbound.connectionId };
}
