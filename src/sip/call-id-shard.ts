/**
 * Which SIP worker thread owns a Call-ID (docs/performance.md, "Multi-core
 * signalling"). The native dispatcher (native/src/sip-udp-shard.cc) sends a
 * datagram to shard FNV-1a(Call-ID) mod N; every Call-ID this thread makes
 * is drawn so that it hashes to this thread's own shard, so responses and
 * in-dialog requests of everything it started come back to it.
 */

let ownShard = 0;
let shardCount = 1;

/** FNV-1a over the Call-ID's characters (ASCII: the same bytes the dispatcher hashes). */
export function callIdHash(callId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < callId.length; i++) {
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
