/**
 * The types shared by the two UDP socket implementations (udp-socket.ts:
 * node dgram; udp-batched.ts: the native addon's batched socket).
 */
import type { Logger } from 'pino';

/**
 * One datagram from `address:port`. `shared` is true when `buf` is a view
 * into a buffer that holds other datagrams too: whatever is kept beyond the
 * call (a body) must be copied, or it would pin the whole batch.
 */
export type DatagramHandler = (buf: Buffer, address: string, port: number, shared: boolean) => void;

export type SendCallback = (err: Error | null) => void;

export interface UdpSocketStats {
  /** Receive errors consumed and dropped (queued ICMP errors and the like). */
  receiveErrors: number;
  /** Datagrams dropped: truncated on receipt, or sends refused while the send queue was full. */
  dropped: number;
  /** Send syscalls made (sendmmsg calls, or one per message for dgram). */
  sendSyscalls: number;
  /** Receive syscalls that returned data (recvmmsg calls, or one per message for dgram). */
  receiveSyscalls: number;
}

export interface SipUdpSocket {
  readonly kind: 'batched' | 'dgram';
  /** The bound port. */
  readonly port: number;
  /** The share id worker threads attach to (an owner of several shards), else 0. */
  readonly share: number;
  /**
   * Hands a datagram to the kernel; `done` runs once it was taken (null) or
   * refused (an error with `code`). A callback, not a promise: this is the
   * per-message hot path, and the caller wraps it in the one promise it needs.
   */
  send(data: Buffer, port: number, address: string, done: SendCallback): void;
  close(): Promise<void>;
  stats(): UdpSocketStats;
}

export interface UdpOpenOptions {
  address: string;
  port: number;
  /** Use the addon's batched socket when it loads (else dgram, with a warning). */
  batched: boolean;
  onDatagram: DatagramHandler;
  log?: Logger;
  /** See SipInterfaceSpec.udpSharing: needs the batched socket. */
  sharing?: { role: 'owner'; shards: number } | { role: 'worker'; share: number; shard: number };
  /** Socket buffer sizes (the kernel caps them at net.core.rmem_max/wmem_max). Default 4 MiB. */
  bufferBytes?: number;
}
