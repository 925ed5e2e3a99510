/**
 * Requests the transaction layer builds from an INVITE it sent: the ACK for
 * a non-2xx final response (§17.1.1.3) and CANCEL (§9.1). Both copy the
 * INVITE's top Via (same branch: they belong to its transaction), Route
 * set, Request-URI, Call-ID, From and CSeq number; they differ only in the
 * method and in where To comes from.
 */
import { SipMessage } from '../sip/message.js';

export function requestDerivedFromInvite(
  inv: SipMessage, method: 'ACK' | 'CANCEL', to: string, extraHeaders?: ReadonlyArray<readonly [string, string]>,
): SipMessage {
  const m = SipMessage.request(method, inv.requestUri);
  const via = inv.getHeaderValues('via')[0];
  if (via !== undefined) m.addHeader('via', via);
  for (const h of inv.headers) if (h.name === 'route') m.addHeader('route', h.value);
  m.addHeader('max-forwards', '70');
  m.addHeader('from', inv.getHeader('from') ?? '');
  m.addHeader('to', to);
  m.addHeader('call-id', inv.callId);
  m.addHeader('cseq', `${inv.cseq?.seq ?? 0} ${method}`);
  if (extraHeaders !== undefined) for (const [n, v] of extraHeaders) m.addHeader(n, v);
  m.addHeader('content-length', '0');
  return m;
}
