/**
 * Refusals RFC 3261 requires of a UAS before it acts on a new request
 * (§8.2.2): an unsupported Request-URI scheme gets 416 (§8.2.2.1, whatever
 * the To header holds), option tags in Require / Proxy-Require that we
 * cannot honour get 420 listing them in Unsupported (§8.2.2.3, §20.29).
 * A B2BUA is the UAS of leg A, so it answers these itself; relaying them
 * would hand the other side a request it never agreed to understand.
 */
import type { SipMessage } from '../sip/message.js';
import { unsupportedRequired } from './headers.js';

/** URI schemes the SBC routes (RFC 3261 sip/sips, RFC 3966 tel). */
export const SUPPORTED_URI_SCHEMES: ReadonlySet<string> = new Set(['sip', 'sips', 'tel']);

export interface Refusal {
  status: 416 | 420;
  headers: Array<[string, string]>;
}

/** The Request-URI's scheme, lower-case; '' when there is none. */
export function requestUriScheme(uri: string): string {
  const colon = uri.indexOf(':');
  return colon <= 0 ? '' : uri.slice(0, colon).toLowerCase();
}

/** The refusal a new out-of-dialog request deserves, or null when it may proceed. */
export function refuseNewRequest(req: SipMessage, prackAllowed: boolean): Refusal | null {
  if (!SUPPORTED_URI_SCHEMES.has(requestUriScheme(req.requestUri))) return { status: 416, headers: [] };
  const bad = unsupportedRequired(req, prackAllowed);
  if (bad.length > 0) return { status: 420, headers: [['Unsupported', bad.join(', ')]] };
  return null;
}
