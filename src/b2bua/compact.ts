/**
 * What a held call keeps of the messages that set it up.
 *
 * Once a call is connected it still reads a few headers of its setup
 * INVITEs (parties for the CDR, the call list and a transfer; Session-
 * Expires, Supported, Allow) and resends one message verbatim (leg B's ACK,
 * when the callee retransmits its 2xx, RFC 3261 §13.2.2.4). Everything else
 * in those messages (the SDP offer, Via, User-Agent and the rest, the
 * parsed caches, the received text the header values were sliced from) is
 * dead weight for the hours a call may last: with 100,000 held calls it was
 * the larger part of the memory per call. `compactMessage` makes a copy with
 * only what is still read, in standalone strings (util/flat-string.ts).
 */
import { SipMessage } from '../sip/message.js';
import { flatString } from '../util/flat-string.js';

/**
 * Headers a connected call still reads from its setup INVITEs (leg A as
 * received and manipulated, leg B as sent): the parties and identifiers for
 * the CDR, the call list and a transfer, and what a losing fork's 2xx needs
 * to be ACKed and BYEd (Dialog.fromResponse). Session-Expires, Supported,
 * Allow and Record-Route were read when the 2xx was built, before this.
 */
export const HELD_INVITE_HEADERS: ReadonlySet<string> = new Set(['from', 'to', 'call-id', 'cseq']);

const METHODS = new Map(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'UPDATE', 'PRACK', 'REFER', 'NOTIFY', 'INFO', 'MESSAGE', 'SUBSCRIBE'].map((m) => [m, m]));

/** One shared string per common method name (a parsed message has its own copy). */
export function sharedMethod(method: string): string {
  return METHODS.get(method) ?? method;
}

/** Header names as written (`Call-ID`, `f`...): one shared string each, not one per message. */
const rawNames = new Map<string, string>();

function sharedRawName(raw: string): string {
  const known = rawNames.get(raw);
  if (known !== undefined) return known;
  const own = flatString(raw);
  if (rawNames.size < 1000) rawNames.set(own, own);
  return own;
}

/**
 * Strings shared between the compact messages of one call: leg A's INVITE
 * as received and after manipulation mostly carry the same values, and
 * leg B's often the same To.
 */
export class StringPool {
  private readonly values = new Map<string, string>();

  get(s: string): string {
    const known = this.values.get(s);
    if (known !== undefined) return known;
    const own = flatString(s);
    this.values.set(own, own);
    return own;
  }
}

/**
 * A copy of `msg` with the header lines named in `keep` (all when null),
 * the body only when `keepBody`, every string standalone (or shared through
 * `pool`). The copy is for reading (and, for a message of ours, sending
 * again); the original is not changed.
 */
export function compactMessage(msg: SipMessage, keep: ReadonlySet<string> | null, keepBody: boolean, pool?: StringPool): SipMessage {
  const str = (s: string): string => (pool === undefined ? flatString(s) : pool.get(s));
  const out = msg.isRequest
    ? SipMessage.request(sharedMethod(msg.method), str(msg.requestUri))
    : SipMessage.response(msg.status, flatString(msg.reason), sharedMethod(msg.method));
  for (const h of msg.headers) {
    if (keep !== null && !keep.has(h.name)) continue;
    // A plain append (no cache to invalidate in a new message); canonical names are shared constants.
    out.pushParsedHeader(h.name, sharedRawName(h.rawName), str(h.value));
  }
  if (keepBody && msg.body.length > 0) out.body = msg.body;
  return out;
}

/** Same request line and the same header lines (names and values, in order): one compact copy can stand for both. */
export function sameMessage(a: SipMessage, b: SipMessage): boolean {
  if (a.isRequest !== b.isRequest || a.method !== b.method || a.requestUri !== b.requestUri || a.status !== b.status) return false;
  const ha = a.headers;
  const hb = b.headers;
  if (ha.length !== hb.length) return false;
  for (let i = 0; i < ha.length; i++) if (ha[i]!.name !== hb[i]!.name || ha[i]!.value !== hb[i]!.value) return false;
  return a.body.equals(b.body);
}
