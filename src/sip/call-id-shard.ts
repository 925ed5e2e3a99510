/**
 * Which SIP worker thread owns a Call-ID (docs/performance.md, "Multi-core
 * signalling"). The native dispatcher (native/src/sip-udp-shard.cc) sends a
 * datagram to shard FNV-1a(Call-ID) mod N; every Call-ID this thread makes
 * is drawn so that it hashes to this thread's own shard, so responses and
 * in-dialog requests of everything it started come back to it.
 */

let ownShard = 0;
let shardCount = 1;

/** FNV-1a over the Call-ID's characters (ASCII: the same bytes the dispatcher hashes), or over s[start, end). */
export function callIdHash(callId: string, start = 0, end = callId.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= callId.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function shardOfCallId(callId: string, shards: number): number {
  return shards <= 1 ? 0 : callIdHash(callId) % shards;
}

/** Set once when a worker thread starts: Call-IDs made from then on belong to `shard` of `count`. */
export function setCallIdShard(shard: number, count: number): void {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(shard) || shard < 0 || shard >= count) {
    throw new RangeError(`call-id shard ${shard} of ${count}`);
  }
  ownShard = shard;
  shardCount = count;
}

/** Draws Call-IDs from `draw` until one belongs to this thread (N draws on average for N shards). */
export function ownCallId(draw: () => string): string {
  let id = draw();
  while (shardCount > 1 && callIdHash(id) % shardCount !== ownShard) id = draw();
  return id;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The shard of a message framed off a TCP/TLS stream, from its start line
 * and header section: the same rule as the UDP dispatcher's `shardOf`
 * (native/src/sip-udp-shard.cc), so a call's messages meet on one thread
 * whichever transport they take. REGISTER requests and responses to
 * REGISTER belong to shard 0 (the registrar); so does anything without a
 * Call-ID (shard 0 answers or drops it).
 */
export function shardOfHead(head: string, shards: number): number {
  if (shards <= 1) return 0;
  const response = head.startsWith('SIP/2.0 ');
  if (!response && head.startsWith('REGISTER ')) return 0;
  const len = head.length;
  let i = head.indexOf('\n');
  if (i < 0) return 0;
  i++;
  let callIdStart = -1;
  let callIdEnd = -1;
  let cseqSeen = !response;
  while (i < len && (callIdStart < 0 || !cseqSeen)) {
    let le = head.indexOf('\n', i);
    if (le < 0) le = len;
    let e = le;
    if (e > i && head.charCodeAt(e - 1) === 13) e--;
    if (e === i) break;
    let k = i;
    while (k < e && head.charCodeAt(k) !== 58 && !isBlank(head.charCodeAt(k))) k++;
    const nameLen = k - i;
    const nameStart = i;
    while (k < e && isBlank(head.charCodeAt(k))) k++;
    if (k < e && head.charCodeAt(k) === 58) {
      let v = k + 1;
      while (v < e && isBlank(head.charCodeAt(v))) v++;
      let ve = e;
      while (ve > v && isBlank(head.charCodeAt(ve - 1))) ve--;
      if (callIdStart < 0 && nameIs(head, nameStart, nameLen, 'call-id', 'i')) {
        callIdStart = v;
        callIdEnd = ve;
      } else if (!cseqSeen && nameIs(head, nameStart, nameLen, 'cseq', null)) {
        cseqSeen = true;
        let m = v;
        while (m < ve && head.charCodeAt(m) >= 48 && head.charCodeAt(m) <= 57) m++;
        while (m < ve && isBlank(head.charCodeAt(m))) m++;
        if (ve - m === 8 && head.startsWith('REGISTER', m)) return 0;
      }
    }
    i = le + 1;
  }
  if (callIdStart < 0 || callIdEnd <= callIdStart) return 0;
  // In place: no slice of the Call-ID per message.
  return callIdHash(head, callIdStart, callIdEnd) % shards;
}

/** Whether head[start, start+len) is `long` or `compact` (ASCII, any case). */
function nameIs(head: string, start: number, len: number, long: string, compact: string | null): boolean {
  const want = len === long.length ? long : compact !== null && len === compact.length ? compact : null;
  if (want === null) return false;
  for (let j = 0; j < len; j++) if ((head.charCodeAt(start + j) | 0x20) !== want.charCodeAt(j)) return false;
  return true;
}
