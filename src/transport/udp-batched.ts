/**
 * SIP over UDP through the native addon's `SipUdpSocket` (native/src/sip-udp.cc):
 *
 * - in: the addon drains the socket with recvmmsg when the main loop sees it
 *   readable and hands each batch over in one call (one Buffer, a shared
 *   Int32Array of [offset, length, port, address index], the batch's
 *   distinct source addresses);
 * - out: `send` queues the datagram; the queue leaves in one sendmmsg at
 *   the end of the tick (setImmediate runs right after the poll phase that
 *   produced the messages), so a message costs no syscall of its own. When
 *   the socket buffer is full (EAGAIN) the rest waits for writable, bounded
 *   by MAX_QUEUED_BYTES; past it new sends are refused (ENOBUFS) and
 *   counted, as a full buffer drops datagrams anyway.
 *
 * Per-message errors reach the send callback with the errno's name as
 * `code`, as node's dgram reports them; nothing here throws into the loop.
 */
import { createRequire } from 'node:module';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import { nativeAddonPath } from '../media/relay-native.js';
import type { SendCallback, SipUdpSocket, UdpOpenOptions, UdpSocketStats } from './udp-types.js';

export interface NativeSipUdpStats {
  received: number;
  recvCalls: number;
  recvErrors: number;
  truncated: number;
  sent: number;
  sendCalls: number;
  sendErrors: number;
  wouldBlock: number;
  pollErrors: number;
  listenerErrors: number;
}

export interface NativeSipUdpSocket {
  readonly port: number;
  /** The owner's share id (0 without shards); undefined on a shard. */
  readonly share?: number;
  /** items: [Buffer, address, port] * n; writes an errno (0 = sent) per consumed item; returns the number consumed. */
  send(items: unknown[], n: number, status: Int32Array): number;
  armWritable(): void;
  close(): void;
  stats(): NativeSipUdpStats;
}

export type NativeSipUdpCtor = new (
  opts: { address: string; port: number; batch: number; recvBufferBytes: number; sendBufferBytes: number; shards: number },
  onBatch: (buf: Buffer, count: number, addrs: string[]) => void,
  onWritable: () => void,
  meta: Int32Array,
) => NativeSipUdpSocket;

/** A worker thread's end of a shared socket (native/src/sip-udp-shard.cc). */
export type NativeSipUdpShardCtor = new (
  opts: { share: number; shard: number; batch: number },
  onBatch: (buf: Buffer, count: number, addrs: string[]) => void,
  onWritable: () => void,
  meta: Int32Array,
) => NativeSipUdpSocket;

export interface NativeUdp { socket: NativeSipUdpCtor; shard: NativeSipUdpShardCtor | null }

/** Datagrams per recvmmsg call. */
const BATCH = 32;
/** Bytes waiting for a writable socket before new sends are refused. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

let ctor: NativeUdp | null | undefined;
let loadError = '';

function nativeCtor(): NativeUdp | null {
  if (ctor !== undefined) return ctor;
  ctor = null;
  try {
    const p = nativeAddonPath();
    if (p === null) loadError = 'native addon not built (npm run build:native)';
    else {
      const addon = createRequire(import.meta.url)(p) as { SipUdpSocket?: NativeSipUdpCtor; SipUdpShard?: NativeSipUdpShardCtor };
      if (typeof addon.SipUdpSocket === 'function') ctor = { socket: addon.SipUdpSocket, shard: addon.SipUdpShard ?? null };
      else loadError = 'the native addon has no SipUdpSocket (rebuild it: npm run build:native)';
    }
  } catch (err) {
    loadError = (err as Error).message;
  }
  return ctor;
}

/** Whether the batched socket is available (the addon is built and has it). */
export function batchedUdpAvailable(): boolean {
  return nativeCtor() !== null;
}

function errnoError(errno: number): Error & { code: string } {
  const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? 'EIO';
  return Object.assign(new Error(`UDP send failed: ${name}`), { code: name, errno });
}

export class BatchedUdpSocket implements SipUdpSocket {
  readonly kind = 'batched' as const;
  readonly port: number;
  readonly share: number;
  private readonly native: NativeSipUdpSocket;
  private readonly meta = new Int32Array(BATCH * 4);
  private readonly ipv6: boolean;
  /** Flat [data, address, port] per queued message, with its callback beside it. */
  private items: unknown[] = [];
  private callbacks: SendCallback[] = [];
  private queued = 0;
  private queuedBytes = 0;
  private status = new Int32Array(256);
  private scheduled = false;
  private blocked = false;
  private closed = false;
  private queueDrops = 0;

  constructor(native: NativeUdp, private readonly o: UdpOpenOptions, bufferBytes: number) {
    this.ipv6 = net.isIPv6(o.address);
    const onBatch = (buf: Buffer, count: number, addrs: string[]): void => this.onBatch(buf, count, addrs);
    const onWritable = (): void => this.onWritable();
    const sharing = o.sharing;
    if (sharing?.role === 'worker') {
      if (native.shard === null) throw new Error('the native addon has no SipUdpShard (rebuild it: npm run build:native)');
      this.native = new native.shard({ share: sharing.share, shard: sharing.shard, batch: BATCH }, onBatch, onWritable, this.meta);
    } else {
      this.native = new native.socket(
        { address: o.address, port: o.port, batch: BATCH, recvBufferBytes: bufferBytes, sendBufferBytes: bufferBytes, shards: sharing?.shards ?? 1 },
        onBatch, onWritable, this.meta,
      );
    }
    this.port = this.native.port;
    this.share = this.native.share ?? 0;
  }

  private onBatch(buf: Buffer, count: number, addrs: string[]): void {
    const m = this.meta;
    const shared = count > 1;
    for (let i = 0; i < count; i++) {
      const off = m[i * 4]!;
      const len = m[i * 4 + 1]!;
      // The handler catches its own errors (transport-layer onDatagram); one datagram never stops the batch.
      try {
        this.o.onDatagram(shared ? buf.subarray(off, off + len) : buf.subarray(0, len), addrs[m[i * 4 + 3]!]!, m[i * 4 + 2]!, shared);
      } catch (err) {
        this.o.log?.error({ err }, 'error handling datagram');
      }
    }
  }

  send(data: Buffer, port: number, address: string, done: SendCallback): void {
    if (this.closed) {
      done(Object.assign(new Error('UDP socket is closed'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
      return;
    }
    if (net.isIP(address) === 0) {
      // A host name (a Via sent-by without received): resolved as dgram would, then queued.
      lookup(address, { family: this.ipv6 ? 6 : 4 }).then((r) => this.send(data, port, r.address, done), (err: Error) => done(err));
      return;
    }
    if (this.blocked && this.queuedBytes + data.length > MAX_QUEUED_BYTES) {
      this.queueDrops++;
      done(errnoError(os.constants.errno.ENOBUFS));
      return;
    }
    this.items.push(data, address, port);
    this.callbacks.push(done);
    this.queued++;
    this.queuedBytes += data.length;
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private readonly flushNow = (): void => this.flush();

  private flush(): void {
    this.scheduled = false;
    const n = this.queued;
    if (n === 0 || this.blocked || this.closed) return;
    if (this.status.length < n) this.status = new Int32Array(Math.max(n, this.status.length * 2));
    let consumed: number;
    try {
      consumed = this.native.send(this.items, n, this.status);
    } catch (err) {
      // Only a programming error gets here (bad argument types): fail the queue, keep the loop.
      const cbs = this.callbacks;
      this.reset(n, n);
      for (const cb of cbs) this.call(cb, err as Error);
      return;
    }
    if (consumed < n) {
      // Socket buffer full: keep the rest, go on when the kernel has room.
      this.blocked = true;
      this.native.armWritable();
    }
    // Detach the consumed part first: a callback may queue new messages.
    const cbs = this.callbacks;
    const st = consumed < n ? this.status.slice(0, consumed) : this.status;
    this.reset(consumed, n);
    for (let i = 0; i < consumed; i++) {
      const e = st[i]!;
      this.call(cbs[i]!, e === 0 ? null : errnoError(e));
    }
  }

  private call(cb: SendCallback, err: Error | null): void {
    try {
      cb(err);
    } catch (e) {
      this.o.log?.error({ err: e }, 'UDP send callback threw');
    }
  }

  /** Drops the first `consumed` of `n` queued messages. */
  private reset(consumed: number, n: number): void {
    if (consumed >= n) {
      this.items = [];
      this.callbacks = [];
      this.queued = 0;
      this.queuedBytes = 0;
      return;
    }
    let bytes = 0;
    for (let i = 0; i < consumed; i++) bytes += (this.items[i * 3] as Buffer).length;
    this.items = this.items.slice(consumed * 3);
    this.callbacks = this.callbacks.slice(consumed);
    this.queued = n - consumed;
    this.queuedBytes -= bytes;
  }

  private onWritable(): void {
    this.blocked = false;
    this.flush();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.flush();
      this.closed = true;
      const err = Object.assign(new Error('UDP socket closed'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
      const cbs = this.callbacks;
      this.reset(this.queued, this.queued);
      for (const cb of cbs) this.call(cb, err);
      this.native.close();
    }
    return Promise.resolve();
  }

  stats(): UdpSocketStats {
    const s = this.native.stats();
    return {
      receiveErrors: s.recvErrors + s.pollErrors,
      dropped: s.truncated + this.queueDrops,
      sendSyscalls: s.sendCalls,
      receiveSyscalls: s.recvCalls,
    };
  }
}

/** The batched socket, or null (after one warning) when the addon cannot provide it. Bind errors throw. */
export function openBatchedUdp(o: UdpOpenOptions, bufferBytes: number): SipUdpSocket | null {
  const Ctor = nativeCtor();
  if (Ctor === null) {
    o.log?.warn({ reason: loadError }, 'SIPUdpBatchedIO: native addon unavailable, using node dgram for SIP over UDP');
    return null;
  }
  return new BatchedUdpSocket(Ctor, o, bufferBytes);
}
