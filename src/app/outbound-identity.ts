/**
 * The identity a request carries toward its destination IP Group: the
 * registered identity of an Account (Mediant: ContactUser in our Contact,
 * HostName in From) and the IP Profile's P-Asserted-Identity handling
 * (Mediant IpProfile_SBCAssertIdentity; RFC 3325). Applied before the
 * destination's outbound Message Manipulations, which may still change it.
 */
import type { IpProfileRow } from '../config/schema.js';
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import type { SipMessage } from '../sip/message.js';
import { formatUri, parseUri } from '../sip/uri.js';

/**
 * Mediant Account semantics toward a registered serving IP Group: our
 * Contact carries the account's ContactUser (the registered binding) and
 * the dialog-creating request's From carries its HostName.
 */
export function useRegisteredIdentity(msg: SipMessage, id: { contactUser: string; host: string }, initialRequest: boolean): void {
  const contact = msg.getHeader('contact');
  if (contact !== undefined) {
    const na = parseNameAddr(contact);
    const uri = na === null ? null : parseUri(na.uri);
    if (na !== null && uri !== null && uri.user !== id.contactUser) {
      uri.user = id.contactUser;
      na.uri = formatUri(uri);
      msg.setHeader('contact', formatNameAddr(na));
    }
  }
  if (!initialRequest) return;
  const from = msg.getHeader('from');
  const na = from === undefined ? null : parseNameAddr(from);
  const uri = na === null ? null : parseUri(na.uri);
  if (na === null || uri === null || uri.host === id.host || uri.opaque !== null) return;
  uri.host = id.host;
  uri.port = null;
  na.uri = formatUri(uri);
  msg.setHeader('from', formatNameAddr(na));
}

/**
 * IpProfile SBCAssertIdentity on an initial INVITE toward the profile's
 * entity. `add` (Mediant "Add"): a P-Asserted-Identity made of the source
 * URL — the From's display name and URI as sent (so toward a registered
 * trunk its host is the Account's HostName) — replacing what the caller
 * asserted or preferred (RFC 3325 §9.1: the asserting side sets it).
 * `add-preferred` (ours): the same as P-Preferred-Identity, for a trunk
 * that asserts the identity itself (RFC 3325 §9.2). `remove`: no
 * P-Asserted-Identity leaves (and no P-Preferred-Identity).
 */
export function assertIdentity(msg: SipMessage, mode: IpProfileRow['sbcAssertIdentity']): void {
  if (mode === 'as-is' || !msg.isRequest || msg.method !== 'INVITE' || msg.toTag !== null) return;
  const from = msg.getHeader('from');
  const na = from === undefined ? null : parseNameAddr(from);
  // An anonymous From (RFC 3323) is no identity to assert: what the caller asserted stays.
  if (mode !== 'remove' && na !== null && /^sips?:anonymous@|@anonymous\.invalid\b/i.test(na.uri) && msg.getHeader('p-asserted-identity') !== undefined) return;
  msg.removeHeader('p-asserted-identity');
  msg.removeHeader('p-preferred-identity');
  if (mode === 'remove' || na === null) return;
  // The display name quoted as most UAs write it; the From's tag and other header parameters stay behind.
  const dn = na.displayName === null || na.displayName === '' ? '' : `"${na.displayName.replace(/["\\]/g, '\\$&')}" `;
  const identity = `${dn}<${na.uri}>`;
  msg.setHeader(mode === 'add' ? 'p-asserted-identity' : 'p-preferred-identity', identity);
}
