import type { SipMessage } from '../sip/message.js';

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
  tls?: { certFile: string; keyFile: string };
}

/** What `listen` actually bound. */
export interface ListenerInfo {
  name: string;
  address: string;
  udpPort?: number;
  tcpPort?: number;
  tlsPort?: number;
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
}

export interface TransportEvents {
  message: [InboundMessage];
  connectionClosed: [{ connectionId: number; remote: Endpoint; interfaceName: string }];
}
