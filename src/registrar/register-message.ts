/**
 * Reading a REGISTER (RFC 3261 §10.2, §10.3): the AOR from To, the
 * Contact elements with their expiry, and writing the Contact list of a
 * 2xx. Contacts are kept as the user wrote them (unknown URI parameters,
 * escaped headers) so the user recognises its own bindings.
 */
import { nameAddrParamsStart, parseNameAddr } from '../sip/grammar.js';
import type { SipMessage } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';

export interface RegisterContact {
  /** The element without header parameters: `<sip:...>` or a bare addr-spec, byte-exact. */
  readonly contact: string;
  readonly uri: string;
  /** Seconds asked for (the contact's expires, else the Expires header, else the default). */
  readonly expires: number;
}

export type ParsedRegister =
  | { ok: true; aorUser: string; aorHost: string; wildcard: boolean; contacts: RegisterContact[]; expiresHeader: number | null }
  | { ok: false; status: number; reason: string };

/** §10.2.1.1 default when neither Contact nor Expires says. */
export const DEFAULT_EXPIRES = 3600;

function delta(v: string | null | undefined): number | null {
  if (v === undefined || v === null) return null;
  const t = v.trim();
  if (!/^\d{1,10}$/.test(t)) return null;
  return Math.min(Number(t), 2 ** 31 - 1);
}

export function parseRegister(req: SipMessage): ParsedRegister {
  const to = req.getNameAddr('to');
  const aor = to === null ? null : parseUri(to.uri);
  if (aor === null || aor.host === '' || (aor.scheme !== 'sip' && aor.scheme !== 'sips')) {
    return { ok: false, status: 400, reason: 'Bad To (no SIP AOR)' };
  }
  const expiresHeader = delta(req.getHeader('expires'));
  const contacts: RegisterContact[] = [];
  let wildcard = false;
  for (const raw of req.getHeaderValues('contact')) {
    const v = raw.trim();
    if (v === '*') {
      wildcard = true;
      continue;
    }
    const na = parseNameAddr(v);
    if (na === null || parseUri(na.uri) === null) return { ok: false, status: 400, reason: 'Bad Contact' };
    const end = nameAddrParamsStart(v);
    const contact = end < 0 ? v : v.slice(0, end).trim();
    const e = delta(na.params.get('expires')) ?? expiresHeader ?? DEFAULT_EXPIRES;
    contacts.push({ contact, uri: na.uri, expires: e });
  }
  // §10.3 step 6: "*" only alone and only with Expires: 0.
  if (wildcard && (contacts.length > 0 || expiresHeader !== 0)) return { ok: false, status: 400, reason: 'Invalid Wildcard Contact' };
  return { ok: true, aorUser: aor.user, aorHost: aor.host, wildcard, contacts, expiresHeader };
}

/** The expiry our upstream contact `sbcUser` got in a registrar's 2xx: its expires parameter, else Expires, else `fallback`. */
export function grantedFor(res: SipMessage, sbcUser: string, fallback: number): number {
  for (const v of res.getHeaderValues('contact')) {
    const na = parseNameAddr(v);
    const u = na === null ? null : parseUri(na.uri);
    if (na === null || u === null || u.user !== sbcUser) continue;
    const e = delta(na.params.get('expires'));
    if (e !== null) return e;
  }
  return delta(res.getHeader('expires')) ?? fallback;
}

/** The Contact element with an expires parameter (the user's own text before it). */
export function contactWithExpires(contact: string, expires: number): string {
  return `${contact};expires=${expires}`;
}
