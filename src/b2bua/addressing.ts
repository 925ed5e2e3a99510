/**
 * Where the messages of one leg go and what our Contact on it says. Both
 * are fixed when the leg gets a destination (the caller's source for leg A,
 * the routed target for leg B, the target of a local transfer), so a
 * missing listener is found at routing time and refused there instead of
 * being papered over with a made-up address later.
 */
import { bareHost, parseUri } from '../sip/uri.js';
import type { Dialog } from '../dialog/dialog.js';
import { contactValue } from './headers.js';
import type { Endpoint, Transport } from './ports.js';

export interface LegRoute {
  /** SIP Interface the leg's requests leave from. */
  readonly iface: string;
  readonly transport: Transport;
  /** The peer's address: where the request came from (leg A), or the routed destination. */
  readonly dest: Endpoint;
  /**
   * True for a dialog where we are the UAS toward a caller: requests go back
   * where the caller's came from (NAT, its TCP connection), not to its Contact.
   */
  readonly replyToSource: boolean;
  /** Our Contact header value on this leg. */
  readonly contact: string;
}

export function legRoute(
  iface: string, transport: Transport, dest: Endpoint, replyToSource: boolean, contactUser: string, local: { address: string; port: number },
): LegRoute {
  return { iface, transport, dest, replyToSource, contact: contactValue(contactUser, local.address, local.port, transport) };
}

/**
 * Where an in-dialog request goes (§12.2.1.1, §8.1.2): back to the caller's
 * source, or the top route / remote target when it is an address,
 * otherwise the leg's destination.
 */
export function nextHop(route: LegRoute, d: Dialog): Endpoint {
  return route.replyToSource ? route.dest : endpointOfUri(d.nextHopUri, route.dest);
}

/** The endpoint a URI names when its host is an IP literal; `fallback` otherwise. */
export function endpointOfUri(uriText: string, fallback: Endpoint): Endpoint {
  const u = parseUri(uriText);
  if (u === null || u.host.length === 0) return fallback;
  const host = bareHost(u.host);
  if (!isIpLiteral(host)) return fallback;
  const tp = (u.params.get('transport') ?? '').toLowerCase();
  const transport: Transport = u.scheme === 'sips' || tp === 'tls' ? 'tls' : tp === 'tcp' ? 'tcp' : tp === 'udp' ? 'udp' : fallback.transport;
  const port = u.port ?? (transport === 'tls' ? 5061 : 5060);
  return { address: host, port, transport };
}

function isIpLiteral(host: string): boolean {
  if (host.indexOf(':') >= 0) return true;
  let dots = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46) dots++;
    else if (c < 48 || c > 57) return false;
  }
  return dots === 3;
}

/** The `name=value` pairs of a URI's headers part (RFC 3261 §19.1.1), names lower-case, values unescaped. */
export function uriHeaders(headers: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (headers.length === 0) return out;
  for (const part of headers.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out.push([decodeURIComponent(part.slice(0, eq)).toLowerCase(), decodeURIComponent(part.slice(eq + 1))]);
    } catch {
      // A broken escape: that header is left out.
    }
  }
  return out;
}

/** The q value of a Contact (RFC 3261 §20.10); a missing q counts as 1, a broken one as 0. */
export function qOf(na: { params: Map<string, string | null> }): number {
  const q = na.params.get('q');
  const n = q === undefined || q === null ? 1 : Number.parseFloat(q);
  return Number.isFinite(n) ? n : 0;
}
