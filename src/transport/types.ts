import type { SipMessage } from '../sip/message.js';
import type { TlsSpec } from './tls-options.js';

export type Transport = 'udp' | 'tcp' | 'tls';

export interface Endpoint {
  address: string;
  port: number;
  transport: Transport;
}

/** One SIP Interface: an address with the ports it listens on. Port 0 binds an ephemeral port. */
export interface SipInterfaceSpec {
  name: string;
  address: string;
  udpPort?: number;
  tcpPort?: number;
  tlsPort?: number;
  tls?: TlsSpec;
  /**
   * UDP shared by several worker threads (docs/performance.md): `owner`
   * binds the port and hands each datagram to the shard that owns its
   * Call-ID (`shards` in all); a `worker` binds nothing and receives its
   * shard's datagrams from the owner's `share`, sending on the same port.
   */
  udpSharing?: { role: 'owner'; shards: number } | { role: 'worker'; share: number; shard: number };
}

/**
 * A message framed off a TCP/TLS connection of the main thread, for the
 * SIP worker thread that owns its Call-ID (docs/performance.md,
 * "Multi-core signalling"): the connection stays the main thread's.
 */
export interface StreamFrame {
  interfaceName: string;
  connectionId: number;
  remote: Endpoint;
  local: Endpoint;
  head: string;
  body: Uint8Array;
}

/**
 * A send over TCP/TLS that a SIP worker thread asks of the main thread,
 * which owns every connection: on connection `connectionId` while it is
 * open, else to `dest` (reusing or opening a connection).
 */
export interface StreamSend {
  interfaceName: string;
  connectionId: number | null;
  dest: (Endpoint & { transport: 'tcp' | 'tls' }) | null;
  data: Uint8Array;
}

/** What `listen` actually bound. */
export interface ListenerInfo {
  name: string;
  address: string;
  udpPort?: number;
  tcpPort?: number;
  tlsPort?: number;
  /** The id workers attach to (udpSharing owner with more than one shard). */
  udpShare?: number;
}

/** Where to send a response: the request's arrival facts (§18.2.2). */
export interface ResponseTarget {
  interfaceName: string;
  connectionId: number | null;
  remote: Endpoint;
}

export interface InboundMessage {
  message: SipMessage;
  remote: Endpoint;
  local: { address: string; port: number; transport: Transport };
  interfaceName: string;
  /** The TCP/TLS connection the message arrived on; null for UDP. */
  connectionId: number | null;
}

export interface TransportStats {
  udpReceived: number;
  streamReceived: number;
  sent: number;
  sendErrors: number;
  /** Broken requests answered with 400. */
  badRequestsAnswered: number;
  /** Unparseable datagrams/messages that could not be answered. */
  garbageDropped: number;
  keepAlivesAnswered: number;
  connectionsOpened: number;
  connectionsClosed: number;
  idleConnectionsClosed: number;
  /** Streams closed because framing failed (oversized or unframeable data). */
  streamFramingErrors: number;
  /** Requests over the UDP size budget sent over TCP instead (§18.1.1). */
  udpToTcpSwitches: number;
  udpToTcpFallbacks: number;
  /** Exceptions thrown by 'message' listeners, caught so they never reach the socket. */
  listenerErrors: number;
  openConnections: number;
  peakOpenConnections: number;
  /** Datagrams and connections dropped unread because the source gate refused the source (IDS deny list). */
  deniedDropped: number;
  /** Parsed requests the source gate dropped (rate limit) or answered statelessly. */
  gateDropped: number;
  gateAnswered: number;
  /** Inbound connections refused: over the per-source limit, or the listener full for unknown sources. */
  connectionsRefused: number;
  /** Streams closed because a message did not complete within the deadline (slowloris) or nothing valid came first. */
  slowConnectionsClosed: number;
  /** UDP receive errors consumed and dropped (queued ICMP errors and the like). */
  udpReceiveErrors: number;
  /** Datagrams dropped: truncated on receipt, or refused while the batched send queue was full. */
  udpDropped: number;
  /** sendmmsg calls (batched) or datagrams sent (dgram): messages per syscall = sent / this. */
  udpSendSyscalls: number;
  /** recvmmsg calls that returned data (batched) or datagrams received (dgram). */
  udpReceiveSyscalls: number;
}

/**
 * The edge's say over inbound traffic (src/security implements it): asked
 * before anything is parsed or any state is created, so that a denied or
 * flooding source costs a lookup, not a transaction.
 */
export interface SourceGate {
  /** A datagram or a new TCP/TLS connection from this source: false = drop it unread. */
  admitSource(address: string, port: number, interfaceName: string): boolean;
  /** A parsed request before the transaction layer sees it: pass, drop silently, or answer statelessly with this status. */
  admitRequest(msg: SipMessage, remote: Endpoint, interfaceName: string): 'pass' | 'drop' | number;
  /** A message that could not be parsed or framed; returns whether it may be answered (400/505/513). */
  malformed(remote: Endpoint, interfaceName: string): boolean;
  /** A known peer (Proxy Set / Classification address): no per-source connection limit or first-message deadline. */
  trusted(address: string): boolean;
  /** A stream closed for abuse (too slow to complete a message, nothing valid sent, TLS handshake failed). */
  connectionAbuse(remote: Endpoint, interfaceName: string): void;
}

export interface TransportEvents {
  message: [InboundMessage];
  connectionClosed: [{ connectionId: number; remote: Endpoint; interfaceName: string }];
}
