/**
 * Building responses (RFC 3261 §8.2.6) and fresh identifiers.
 */
import { randomBytes } from 'node:crypto';
import { sanitizeHeaderValue, SipMessage } from './message.js';
import { BRANCH_MAGIC_COOKIE } from './via.js';
import { ownCallId } from './call-id-shard.js';

/** Default reason phrases (§21) for the codes an SBC sends itself. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy', 380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long', 415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme', 420: 'Bad Extension', 421: 'Extension Required', 422: 'Session Interval Too Small',
  423: 'Interval Too Brief', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending',
  493: 'Undecipherable',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Progress' : status < 300 ? 'OK' : 'Error');
}

/**
 * A response to `req` per §8.2.6.2: Via, From, To, Call-ID and CSeq copied;
 * a To tag added when `toTag` is given and the request had none.
 */
export function createResponse(req: SipMessage, status: number, reason?: string, toTag?: string | null): SipMessage {
  const res = SipMessage.response(status, sanitizeHeaderValue(reason ?? reasonPhrase(status)), req.method);
  for (const h of req.headers) {
    if (h.name === 'via' || h.name === 'from' || h.name === 'call-id' || h.name === 'cseq' || h.name === 'to') {
      res.pushParsedHeader(h.name, h.rawName, h.value);
    }
  }
  if (status !== 100 && toTag && req.toTag === null) res.setNameAddrParam('to', 'tag', toTag);
  if (status === 100) {
    // §8.2.6.1: a 100 copies Timestamp.
    const ts = req.getHeader('timestamp');
    if (ts !== undefined) res.setHeader('timestamp', ts);
  }
  return res;
}

/**
 * Tags, branches and Call-IDs need unpredictable bytes for every message
 * we originate; one CSPRNG call per identifier showed up in profiles, so
 * random bytes are drawn in blocks and handed out in slices.
 */
const RANDOM_BLOCK = 4096;
let randomPool = Buffer.alloc(0);
let randomOffset = 0;

function randomToken(bytes: number): string {
  if (randomOffset + bytes > randomPool.length) {
    randomPool = randomBytes(RANDOM_BLOCK);
    randomOffset = 0;
  }
  const s = randomPool.toString('base64url', randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return s;
}

export function newBranch(): string {
  return BRANCH_MAGIC_COOKIE + randomToken(9);
}

export function newTag(): string {
  return randomToken(6);
}

export function newCallId(): string {
  return ownCallId(drawCallId);
}

function drawCallId(): string {
  return randomToken(15);
}
