/**
 * sbc_sip_messages_total{method,direction}: one count per SIP message the
 * transport layer hands us or sends. Requests count under their method;
 * responses under their status class (1xx..6xx) so the label set stays
 * small whatever a peer sends. Unknown methods count as OTHER.
 */
import type { Counter } from 'prom-client';

const KNOWN = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER',
]);

export type SipDirection = 'in' | 'out';

/** The label a message counts under. */
export function sipMessageLabel(msg: { isRequest: boolean; method: string; status: number }): string {
  if (!msg.isRequest) {
    const cls = Math.floor(msg.status / 100);
    return cls >= 1 && cls <= 6 ? `${cls}xx` : 'OTHER';
  }
  const m = msg.method.toUpperCase();
  return KNOWN.has(m) ? m : 'OTHER';
}

/** The one-liner the transport hookup calls for every message received ('in') or sent ('out'). */
export function countSipMessage(
  counter: Counter<'method' | 'direction'>, msg: { isRequest: boolean; method: string; status: number }, direction: SipDirection,
): void {
  counter.inc({ method: sipMessageLabel(msg), direction });
}
