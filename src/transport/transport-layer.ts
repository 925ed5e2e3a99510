/**
 * SIP transports (RFC 3261 §18): UDP, TCP and TLS listeners per SIP
 * Interface, stream connections with reuse, Via received/rport (RFC 3581),
 * the §18.2.2 response rules and the §18.1.1 UDP -> TCP switch for large
 * requests.
 *
 * Everything that reaches a socket handler is caught here: a peer can make
 * us drop its bytes or close its connection, never throw out of the loop.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { strictSocketProblem } from './strict-cert.js';
import { loadTls, type LoadedTls, type TlsSpec } from './tls-options.js';
import type { Logger } from 'pino';
import type { SipMessage, SipMessageKind } from '../sip/message.js';
import { DEFAULT_PARSE_LIMITS, parseFramed, parseMessage, type ParseLimits, type ParseResult } from '../sip/parser.js';
import { serializeMessage } from '../sip/serializer.js';
import { StreamFramer } from '../sip/stream-framer.js';
import { createResponse } from '../sip/response.js';
import { formatVia, type Via } from '../sip/via.js';
import { udpResponseDestination, type WireResponse } from './wire-response.js';
import { bareHost } from '../sip/uri.js';
import { openUdpSocket, udpBatchedIo, type SipUdpSocket } from './udp-socket.js';
import type {
  Endpoint,
  InboundMessage,
  ListenerInfo,
  ResponseTarget,
  SourceGate,
  SipInterfaceSpec,
  StreamFrame,
  StreamSend,
  Transport,
  TransportEvents,
  TransportStats,
} from './types.js';

export interface TransportOptions {
  /** Stream connections without traffic for this long are closed. Default 120 s. */
  idleTimeoutMs?: number;
  /** Outgoing TCP/TLS connect (and TLS handshake) limit. Default 5 s. */
  connectTimeoutMs?: number;
  /** Message size / header limits; maxMessageBytes is also the per-connection buffer limit. */
  limits?: ParseLimits;
  /** Requests larger than this go over TCP when the interface has TCP (§18.1.1). Default 1300. */
  udpSizeBudget?: number;
  /** Verify the peer certificate on outgoing TLS from interfaces without a TLS context. Default true. */
  tlsRejectUnauthorized?: boolean;
  /** Inbound connections per TCP/TLS listener from unknown sources (known peers get 1000 more). Default 10000. */
  maxConnectionsPerListener?: number;
  /** Inbound connections from one unknown source address. Default 32. */
  maxConnectionsPerSource?: number;
  /** A message started on a stream must be complete within this (not an idle timer: a byte a second does not reset it). Default 10 s. */
  messageDeadlineMs?: number;
  /** An inbound connection from an unknown source must deliver a valid message within this. Default 10 s. */
  firstMessageDeadlineMs?: number;
  /** IDS deny list and per-source limits; none = everything is admitted. */
  gate?: SourceGate;
  /** SIP over UDP through the native addon in recvmmsg/sendmmsg batches (SIPUdpBatchedIO); dgram when false or without the addon. Default: on unless SBC_SIP_UDP_BATCHED=0. */
  udpBatchedIo?: boolean;
  /**
   * A SIP worker thread's transport: it owns no TCP/TLS connection. Its
   * listeners' TCP/TLS ports are the main thread's (given to `listen`, not
   * bound), stream messages arrive through acceptStreamFrame, and every
   * stream send goes through this to the main thread.
   */
  streamRelay?: (send: StreamSend) => Promise<void>;
  logger?: Logger;
}

interface Connection {
  id: number;
  transport: 'tcp' | 'tls';
  socket: net.Socket;
  framer: StreamFramer;
  remote: Endpoint;
  local: { address: string; port: number; transport: Transport };
  interfaceName: string;
  key: string;
  /** Pending until an outgoing connection is established; null once usable. */
  ready: Promise<void> | null;
  closed: boolean;
  /** Accepted (not opened by us): counted per source. */
  inbound: boolean;
  trusted: boolean;
  /** Runs while a message is partly received (slowloris deadline) or until the first valid message. */
  deadline: ReturnType<typeof setTimeout> | null;
  validSeen: boolean;
}

interface BoundInterface {
  info: ListenerInfo;
  udp: SipUdpSocket | null;
  tcp: net.Server | null;
  tls: tls.Server | null;
  /** The interface's TLS context (files as configured; contexts as last loaded). */
  tlsSpec: TlsSpec | null;
  tlsLoaded: LoadedTls | null;
  /** The local end of every datagram received on the UDP port: one shared object (no one changes it). */
  udpLocal: Endpoint | null;
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

function connKey(transport: Transport, address: string, port: number): string {
  return `${transport}|${address}|${port}`;
}

/** §18.2.2 for a stream whose connection is gone: received (or the sent-by host) and rport (or the sent-by port). */
function streamResponseDestination(via: Via): Endpoint & { transport: 'tcp' | 'tls' } {
  const transport = via.transport === 'TLS' ? 'tls' : 'tcp';
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  const rportNum = rport === undefined || rport === null ? NaN : Number(rport);
  const address = received ?? bareHost(via.host);
  const port = Number.isInteger(rportNum) ? rportNum : (via.port ?? (transport === 'tls' ? 5061 : 5060));
  return { address, port, transport };
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export type { WireResponse } from './wire-response.js';
export type { ResponseTarget } from './types.js';

export class TransportLayer extends EventEmitter<TransportEvents> {
  /** Sees every SIP message parsed from the network ('in') or handed to a socket ('out'): counters. Must not throw. */
  onSipMessage: ((msg: SipMessageKind, direction: 'in' | 'out') => void) | null = null;
  private readonly ifaces = new Map<string, BoundInterface>();
  private readonly connsById = new Map<number, Connection>();
  private readonly connsByKey = new Map<string, Connection>();
  private nextConnId = 1;
  private closing = false;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly limits: ParseLimits;
  private readonly udpSizeBudget: number;
  private readonly tlsRejectUnauthorized: boolean;
  private readonly maxConnections: number;
  private readonly maxPerSource: number;
  private readonly messageDeadlineMs: number;
  private readonly firstMessageDeadlineMs: number;
  private readonly inboundBySource = new Map<string, number>();
  private untrustedInbound = 0;
  private readonly log: Logger | undefined;
  private gate: SourceGate | null;
  private readonly udpBatchedIo: boolean;
  private readonly streamRelay: ((send: StreamSend) => Promise<void>) | null;
  /** Main thread with SIP workers: takes a framed stream message for another thread (true) or leaves it here (false). */
  private streamHandOff: ((frame: StreamFrame) => boolean) | null = null;
  private readonly counters: Omit<TransportStats, 'openConnections' | 'udpReceiveErrors' | 'udpDropped' | 'udpSendSyscalls' | 'udpReceiveSyscalls'> = {
    udpReceived: 0,
    streamReceived: 0,
    sent: 0,
    sendErrors: 0,
    badRequestsAnswered: 0,
    garbageDropped: 0,
    keepAlivesAnswered: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    idleConnectionsClosed: 0,
    streamFramingErrors: 0,
    udpToTcpSwitches: 0,
    udpToTcpFallbacks: 0,
    listenerErrors: 0,
    peakOpenConnections: 0,
    deniedDropped: 0,
    gateDropped: 0,
    gateAnswered: 0,
    connectionsRefused: 0,
    slowConnectionsClosed: 0,
  };

  constructor(opts: TransportOptions = {}) {
    super();
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.limits = opts.limits ?? DEFAULT_PARSE_LIMITS;
    this.udpSizeBudget = opts.udpSizeBudget ?? 1300;
    this.tlsRejectUnauthorized = opts.tlsRejectUnauthorized ?? true;
    this.maxConnections = opts.maxConnectionsPerListener ?? 10_000;
    this.maxPerSource = opts.maxConnectionsPerSource ?? 32;
    this.messageDeadlineMs = opts.messageDeadlineMs ?? 10_000;
    this.firstMessageDeadlineMs = opts.firstMessageDeadlineMs ?? 10_000;
    this.log = opts.logger;
    this.gate = opts.gate ?? null;
    // Default as SIPUdpBatchedIO's: on, unless SBC_SIP_UDP_BATCHED=0 (test peers and benches follow the same switch).
    this.udpBatchedIo = opts.udpBatchedIo ?? udpBatchedIo(undefined, process.env['SBC_SIP_UDP_BATCHED']);
    this.streamRelay = opts.streamRelay ?? null;
  }

  /** Main thread with SIP workers: every framed stream message is offered to `handOff` first (docs/performance.md). */
  setStreamHandOff(handOff: ((frame: StreamFrame) => boolean) | null): void {
    this.streamHandOff = handOff;
  }

  /** Installs (or removes) the source gate; the application builds it after the listeners. */
  setGate(gate: SourceGate | null): void {
    this.gate = gate;
  }

  stats(): TransportStats {
    const udp = { udpReceiveErrors: 0, udpDropped: 0, udpSendSyscalls: 0, udpReceiveSyscalls: 0 };
    for (const bi of this.ifaces.values()) {
      if (bi.udp === null) continue;
      const u = bi.udp.stats();
      udp.udpReceiveErrors += u.receiveErrors;
      udp.udpDropped += u.dropped;
      udp.udpSendSyscalls += u.sendSyscalls;
      udp.udpReceiveSyscalls += u.receiveSyscalls;
    }
    return { ...this.counters, ...udp, openConnections: this.connsById.size };
  }

  /** The bound ports of an interface, or undefined when it is not listening. */
  getInterface(name: string): ListenerInfo | undefined {
    return this.ifaces.get(name)?.info;
  }

  /** Our listening address and port for an interface and transport (for Contact/Via); null when not listening. */
  contactAddress(interfaceName: string, transport: Transport): { address: string; port: number } | null {
    const info = this.ifaces.get(interfaceName)?.info;
    if (info === undefined) return null;
    const port = transport === 'udp' ? info.udpPort : transport === 'tcp' ? info.tcpPort : info.tlsPort;
    return port === undefined ? null : { address: info.address, port };
  }

  /** Binds the listeners of one SIP Interface. Rejects (and unbinds what it bound) on any failure. */
  async listen(iface: SipInterfaceSpec): Promise<ListenerInfo> {
    if (this.ifaces.has(iface.name)) throw new Error(`SIP interface "${iface.name}" is already listening`);
    if (net.isIP(iface.address) === 0) throw new Error(`SIP interface "${iface.name}": address "${iface.address}" is not an IP address`);
    if (iface.udpPort === undefined && iface.tcpPort === undefined && iface.tlsPort === undefined) {
      throw new Error(`SIP interface "${iface.name}" has no UDP, TCP or TLS port`);
    }
    const bi: BoundInterface = {
      info: { name: iface.name, address: iface.address }, udp: null, tcp: null, tls: null, tlsSpec: iface.tls ?? null, tlsLoaded: null, udpLocal: null,
    };
    try {
      if (iface.udpPort !== undefined) {
        bi.udp = await openUdpSocket({
          address: iface.address, port: iface.udpPort, batched: this.udpBatchedIo, log: this.log,
          onDatagram: (buf, address, port, shared) => this.onDatagram(bi, buf, address, port, shared),
          ...(iface.udpSharing !== undefined ? { sharing: iface.udpSharing } : {}),
        });
        bi.info.udpPort = bi.udp.port;
        bi.udpLocal = Object.freeze({ address: iface.address, port: bi.udp.port, transport: 'udp' as const });
        if (bi.udp.share !== 0) bi.info.udpShare = bi.udp.share;
      }
      if (this.streamRelay !== null) {
        // The main thread's listeners: their ports go into our Via and Contact, nothing is bound here.
        if (iface.tcpPort !== undefined) bi.info.tcpPort = iface.tcpPort;
        if (iface.tlsPort !== undefined) bi.info.tlsPort = iface.tlsPort;
      } else if (iface.tcpPort !== undefined) {
        const server = net.createServer((socket) => this.adoptInbound(socket, 'tcp', bi));
        bi.tcp = server;
        bi.info.tcpPort = await this.listenServer(server, iface.address, iface.tcpPort);
      }
      if (iface.tlsPort !== undefined && this.streamRelay === null) {
        if (iface.tls === undefined) throw new Error(`SIP interface "${iface.name}" has a TLS port but no certificate/key files`);
        // A handshake that does not finish in time is a slowloris too.
        bi.tlsLoaded = await loadTls(iface.tls, this.firstMessageDeadlineMs);
        const server = tls.createServer(bi.tlsLoaded.server);
        server.on('secureConnection', (socket) => {
          const problem = bi.tlsLoaded?.strictClientCert === true ? strictSocketProblem(socket, 'client') : null;
          if (problem === null) return this.adoptInbound(socket, 'tls', bi);
          this.log?.warn({ src: socket.remoteAddress, iface: bi.info.name, problem }, 'TLS client certificate refused (RequireStrictCert)');
          this.gate?.connectionAbuse({ address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, transport: 'tls' }, bi.info.name);
          socket.destroy();
        });
        server.on('tlsClientError', (err, socket) => {
          this.log?.debug({ err: err.message }, 'TLS handshake failed');
          const address = socket.remoteAddress;
          if (address !== undefined) this.gate?.connectionAbuse({ address, port: socket.remotePort ?? 0, transport: 'tls' }, bi.info.name);
        });
        bi.tls = server;
        bi.info.tlsPort = await this.listenServer(server, iface.address, iface.tlsPort);
      }
    } catch (err) {
      this.closeInterface(bi);
      throw err;
    }
    this.ifaces.set(iface.name, bi);
    return { ...bi.info };
  }

  /**
   * Sends a message to `dest` from the interface. For a UDP request over
   * the size budget, TCP is tried first when the interface has TCP and the
   * top Via is rewritten to match; on TCP failure it goes over UDP after all.
   * Resolves with the transport actually used.
   */
  async send(msg: SipMessage, dest: Endpoint, interfaceName: string): Promise<Transport> {
    const bi = this.ifaces.get(interfaceName);
    if (bi === undefined) throw new Error(`unknown SIP interface "${interfaceName}"`);
    this.onSipMessage?.(msg, 'out');
    let data = serializeMessage(msg);
    if (dest.transport !== 'udp') {
      await this.sendStream({ address: dest.address, port: dest.port, transport: dest.transport }, bi, data);
      return dest.transport;
    }
    if (msg.isRequest && data.length > this.udpSizeBudget && (bi.tcp !== null || this.streamRelay !== null) && bi.info.tcpPort !== undefined) {
      const oldVia = this.rewriteTopViaTransport(msg, 'TCP', bi.info.tcpPort);
      try {
        await this.sendStream({ address: dest.address, port: dest.port, transport: 'tcp' }, bi, serializeMessage(msg));
        this.counters.udpToTcpSwitches++;
        return 'tcp';
      } catch (err) {
        this.counters.udpToTcpFallbacks++;
        this.log?.debug({ err: (err as Error).message, dest }, 'TCP for large request failed, falling back to UDP');
        if (oldVia !== null) msg.setHeaderValueAt('via', 0, oldVia);
        data = serializeMessage(msg);
      }
    }
    await this.sendUdp(bi, data, dest.address, dest.port);
    return 'udp';
  }

  /**
   * RFC 5626 §4.4.1 keep-alive toward a peer: CRLFCRLF on the connection
   * already open to it (none is opened: a keep-alive for a flow that is
   * gone would only create a new one).
   */
  async sendKeepAlive(remote: Endpoint): Promise<'sent' | 'no-connection' | 'failed'> {
    if (remote.transport === 'udp' || this.streamRelay !== null) return 'no-connection';
    const c = this.connsByKey.get(connKey(remote.transport, remote.address, remote.port));
    if (c === undefined || c.closed || c.ready !== null) return 'no-connection';
    return this.write(c, CRLFCRLF).then(() => 'sent' as const, () => 'failed' as const);
  }

  /**
   * Sends a response where §18.2.2 and RFC 3581 say: back over the
   * connection the request came on for streams (a new connection to
   * received/sent-by when it is gone), to received:rport for UDP.
   */
  async sendResponse(res: SipMessage, target: ResponseTarget): Promise<void> {
    const bi = this.ifaces.get(target.interfaceName);
    if (bi === undefined) throw new Error(`unknown SIP interface "${target.interfaceName}"`);
    this.onSipMessage?.(res, 'out');
    const via = res.topVia;
    if (via === null) throw new Error('response has no Via');
    const data = serializeMessage(res);
    if (via.transport === 'TCP' || via.transport === 'TLS') {
      if (this.streamRelay !== null) {
        await this.streamRelay({ interfaceName: bi.info.name, connectionId: target.connectionId, dest: streamResponseDestination(via), data });
        return;
      }
      const c = target.connectionId === null ? undefined : this.connsById.get(target.connectionId);
      if (c !== undefined && !c.closed) {
        await this.write(c, data);
        return;
      }
      await this.sendStream(streamResponseDestination(via), bi, data);
      return;
    }
    const to = udpResponseDestination(via, target);
    await this.sendUdp(bi, data, to.address, to.port);
  }

  /**
   * Main thread: a stream send a SIP worker asked for (StreamSend), on
   * its connection while that is open, else to its destination.
   */
  async sendForWorker(s: StreamSend): Promise<void> {
    const bi = this.ifaces.get(s.interfaceName);
    if (bi === undefined) throw new Error(`unknown SIP interface "${s.interfaceName}"`);
    const data = Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const c = s.connectionId === null ? undefined : this.connsById.get(s.connectionId);
    if (c !== undefined && !c.closed) return this.write(c, data);
    if (s.dest === null) throw new Error(`connection ${s.connectionId ?? '-'} is closed`);
    return this.sendStream(s.dest, bi, data);
  }

  /** Sends a WireResponse (the first time, or again for a retransmitted request). */
  sendWireResponse(w: WireResponse): Promise<void> {
    const bi = this.ifaces.get(w.interfaceName);
    if (bi === undefined) return Promise.reject(new Error(`unknown SIP interface "${w.interfaceName}"`));
    this.onSipMessage?.(w, 'out');
    return this.sendUdp(bi, w.data, w.address, w.port);
  }

  /**
   * Reads every interface's certificate, key and roots again (SIGHUP):
   * new handshakes use them, established connections keep theirs. An
   * interface whose files are unreadable keeps its old context.
   */
  async reloadTls(): Promise<Array<{ interfaceName: string; error: string | null }>> {
    const out: Array<{ interfaceName: string; error: string | null }> = [];
    for (const bi of this.ifaces.values()) {
      if (bi.tlsSpec === null) continue;
      try {
        const loaded = await loadTls(bi.tlsSpec, this.firstMessageDeadlineMs);
        bi.tls?.setSecureContext(loaded.server);
        bi.tlsLoaded = loaded;
        out.push({ interfaceName: bi.info.name, error: null });
      } catch (err) {
        out.push({ interfaceName: bi.info.name, error: (err as Error).message });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.connsById.values()) c.socket.destroy();
    const waits: Array<Promise<void>> = [];
    for (const bi of this.ifaces.values()) waits.push(this.closeInterface(bi));
    this.ifaces.clear();
    await Promise.all(waits);
  }

  // --- listeners -----------------------------------------------------------

  private listenServer(server: net.Server, address: string, port: number): Promise<number> {
    // Headroom above the unknown sources' share: known peers are never locked out by strangers.
    server.maxConnections = this.maxConnections + 1000;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: address, port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log?.warn({ err: err.message }, 'listener error'));
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  private closeInterface(bi: BoundInterface): Promise<void> {
    const waits: Array<Promise<void>> = [];
    if (bi.udp !== null) {
      waits.push(bi.udp.close());
    }
    for (const s of [bi.tcp, bi.tls]) {
      if (s !== null && s.listening) waits.push(new Promise((r) => s.close(() => r())));
    }
    return Promise.all(waits).then(() => undefined);
  }

  // --- inbound ---------------------------------------------------------------

  /**
   * A UDP datagram a worker thread handed over (a request or response it
   * does not own: docs/performance.md), handled as if this interface had
   * received it from `address:port`.
   */
  injectDatagram(interfaceName: string, buf: Buffer, address: string, port: number): void {
    const bi = this.ifaces.get(interfaceName);
    if (bi !== undefined && bi.udp !== null) this.onDatagram(bi, buf, address, port, false);
  }

  /** SIP worker thread: a message the main thread framed off one of its connections for this thread. */
  acceptStreamFrame(f: StreamFrame): void {
    try {
      const body = f.body.byteLength === 0 ? Buffer.alloc(0) : Buffer.from(f.body.buffer, f.body.byteOffset, f.body.byteLength);
      this.handleParsed(parseFramed(f.head, body, this.limits), f.remote, f.local, f.interfaceName, f.connectionId);
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'error handling stream message from the main thread');
    }
  }

  /**
   * Main thread: a stream message a SIP worker handed back (one it does
   * not own), handled as if connection `connectionId` had delivered it.
   */
  injectStreamMessage(interfaceName: string, connectionId: number, remote: Endpoint, buf: Buffer): void {
    const bi = this.ifaces.get(interfaceName);
    if (bi === undefined) return;
    try {
      const c = this.connsById.get(connectionId);
      const transport = remote.transport;
      const local = c?.local ?? { address: bi.info.address, port: (transport === 'tls' ? bi.info.tlsPort : bi.info.tcpPort) ?? 0, transport };
      this.handleParsed(parseMessage(buf, this.limits), c?.remote ?? remote, local, interfaceName, connectionId);
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'error handling stream message from a worker');
    }
  }

  private onDatagram(bi: BoundInterface, buf: Buffer, address: string, port: number, shared: boolean): void {
    try {
      this.counters.udpReceived++;
      // Denied sources are dropped before a byte is parsed.
      if (this.gate !== null && !this.gate.admitSource(address, port, bi.info.name)) {
        this.counters.deniedDropped++;
        return;
      }
      // A datagram of only CR/LF is a NAT keep-alive; nothing to do.
      if (buf.length <= 4 && (buf[0] === 13 || buf[0] === 10)) return;
      const remote: Endpoint = { address, port, transport: 'udp' };
      // Bound once at listen time (socket.address() is a syscall per call), one object for every datagram.
      const local = bi.udpLocal ?? { address: bi.info.address, port: bi.info.udpPort ?? 0, transport: 'udp' as Transport };
      const parsed = parseMessage(buf, this.limits);
      // A body kept as a view would pin the whole receive batch for the life of the call.
      if (shared && parsed.ok && parsed.message.body.length > 0) parsed.message.body = Buffer.from(parsed.message.body);
      this.handleParsed(parsed, remote, local, bi.info.name, null);
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'error handling datagram');
    }
  }

  private adoptInbound(socket: net.Socket, transport: 'tcp' | 'tls', bi: BoundInterface): void {
    try {
      if (this.closing || socket.remoteAddress === undefined || socket.remotePort === undefined) {
        socket.destroy();
        return;
      }
      if (this.gate !== null && !this.gate.admitSource(socket.remoteAddress, socket.remotePort, bi.info.name)) {
        this.counters.deniedDropped++;
        socket.destroy();
        return;
      }
      const address = socket.remoteAddress;
      // Without a source gate (a bare transport, e.g. a test UAS) every peer is trusted: limits are the gate's policy.
      const trusted = this.gate === null ? true : this.gate.trusted(address);
      const fromSource = this.inboundBySource.get(address) ?? 0;
      if (!trusted && (fromSource >= this.maxPerSource || this.untrustedInbound >= this.maxConnections)) {
        this.counters.connectionsRefused++;
        this.gate?.connectionAbuse({ address, port: socket.remotePort, transport }, bi.info.name);
        socket.destroy();
        return;
      }
      const remote: Endpoint = { address, port: socket.remotePort, transport };
      const c = this.registerConnection(socket, transport, remote, bi);
      c.ready = null;
      c.inbound = true;
      c.trusted = trusted;
      this.inboundBySource.set(address, fromSource + 1);
      if (!trusted) {
        this.untrustedInbound++;
        // Nothing valid soon from a stranger: close (an idle timer would let it sit for minutes).
        this.armDeadline(c, this.firstMessageDeadlineMs);
      }
    } catch (err) {
      this.log?.error({ err }, 'error accepting connection');
      socket.destroy();
    }
  }

  private registerConnection(socket: net.Socket, transport: 'tcp' | 'tls', remote: Endpoint, bi: BoundInterface): Connection {
    const port = transport === 'tcp' ? bi.info.tcpPort : bi.info.tlsPort;
    const c: Connection = {
      id: this.nextConnId++,
      transport,
      socket,
      // Raw: a message whose call another thread owns goes there unparsed (setStreamHandOff).
      framer: new StreamFramer(this.limits, { raw: true }),
      remote,
      local: { address: bi.info.address, port: port ?? 0, transport },
      interfaceName: bi.info.name,
      key: connKey(transport, remote.address, remote.port),
      ready: null,
      closed: false,
      inbound: false,
      trusted: false,
      deadline: null,
      validSeen: false,
    };
    this.counters.connectionsOpened++;
    this.connsById.set(c.id, c);
    if (this.connsById.size > this.counters.peakOpenConnections) this.counters.peakOpenConnections = this.connsById.size;
    // The newest connection to a peer wins for reuse.
    this.connsByKey.set(c.key, c);
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeoutMs);
    socket.on('timeout', () => {
      this.counters.idleConnectionsClosed++;
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onStreamData(c, chunk));
    socket.on('error', (err) => this.log?.debug({ err: err.message, remote: c.remote }, 'connection error'));
    socket.on('close', () => this.onStreamClosed(c));
    return c;
  }

  /** Closes the stream unless the deadline is cleared first. */
  private armDeadline(c: Connection, ms: number): void {
    if (c.deadline !== null) clearTimeout(c.deadline);
    c.deadline = setTimeout(() => {
      c.deadline = null;
      if (c.closed) return;
      this.counters.slowConnectionsClosed++;
      this.gate?.connectionAbuse(c.remote, c.interfaceName);
      c.socket.destroy();
    }, ms);
    c.deadline.unref();
  }

  private onStreamData(c: Connection, chunk: Buffer): void {
    try {
      const events = c.framer.push(chunk);
      for (const ev of events) {
        if (ev.kind === 'frame') {
          this.counters.streamReceived++;
          if (this.streamHandOff !== null && this.streamHandOff({
            interfaceName: c.interfaceName, connectionId: c.id, remote: c.remote, local: c.local, head: ev.head, body: ev.body,
          })) {
            // It had a Call-ID of another thread's: framed and addressed, valid enough to keep the stream.
            c.validSeen = true;
            continue;
          }
          const result = parseFramed(ev.head, ev.body, this.limits);
          if (result.ok) c.validSeen = true;
          this.handleParsed(result, c.remote, c.local, c.interfaceName, c.id);
        } else if (ev.kind === 'ping') {
          // RFC 5626 §3.5.1: a CRLFCRLF ping is answered with a CRLF pong.
          this.counters.keepAlivesAnswered++;
          if (!c.closed) c.socket.write(CRLF);
        } else if (ev.kind === 'fatal') {
          // (A raw framer gives no 'message' events: frames are parsed above, or by the thread that owns them.)
          this.counters.streamFramingErrors++;
          this.gate?.malformed(c.remote, c.interfaceName);
          this.log?.debug({ error: ev.error, remote: c.remote }, 'closing stream: framing error');
          c.socket.destroy();
          return;
        }
      }
      // §18.3 framing deadline: a message begun must end in time, however slowly its bytes trickle.
      if (c.closed) return;
      if (c.framer.buffered > 0) {
        if (events.length > 0 || c.deadline === null) this.armDeadline(c, this.messageDeadlineMs);
      } else if (c.deadline !== null && (c.validSeen || c.trusted || !c.inbound)) {
        clearTimeout(c.deadline);
        c.deadline = null;
      }
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'error handling stream data');
    }
  }

  private onStreamClosed(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    if (c.deadline !== null) clearTimeout(c.deadline);
    c.deadline = null;
    if (c.inbound) {
      const n = (this.inboundBySource.get(c.remote.address) ?? 1) - 1;
      if (n <= 0) this.inboundBySource.delete(c.remote.address);
      else this.inboundBySource.set(c.remote.address, n);
      if (!c.trusted) this.untrustedInbound--;
    }
    this.counters.connectionsClosed++;
    this.connsById.delete(c.id);
    if (this.connsByKey.get(c.key) === c) this.connsByKey.delete(c.key);
    try {
      this.emit('connectionClosed', { connectionId: c.id, remote: c.remote, interfaceName: c.interfaceName });
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'connectionClosed listener threw');
    }
  }

  private handleParsed(
    result: ParseResult,
    remote: Endpoint,
    local: InboundMessage['local'],
    interfaceName: string,
    connectionId: number | null,
  ): void {
    if (!result.ok) {
      const p = result.partial;
      const answer = this.gate === null || this.gate.malformed(remote, interfaceName);
      // A broken request we can address gets a 400 naming the problem (§21.4.1), or 505/513; ACK is never answered.
      if (answer && p !== null && p.isRequest && p.method !== 'ACK' && p.topVia !== null) {
        this.stampVia(p, remote);
        const status = result.error === 'Unsupported SIP Version' ? 505 : result.error === 'Message Too Large' ? 513 : 400;
        const res = createResponse(p, status, status === 400 ? result.error : undefined);
        this.counters.badRequestsAnswered++;
        this.sendResponse(res, { interfaceName, connectionId, remote }).catch((err: Error) => {
          this.log?.debug({ err: err.message }, 'could not send 400');
        });
      } else {
        this.counters.garbageDropped++;
      }
      return;
    }
    const msg = result.message;
    if (msg.isRequest) {
      this.stampVia(msg, remote);
      if (this.gate !== null) {
        const verdict = this.gate.admitRequest(msg, remote, interfaceName);
        if (verdict !== 'pass') {
          if (verdict === 'drop' || msg.method === 'ACK') {
            this.counters.gateDropped++;
            return;
          }
          // Stateless (§8.2.6 without a transaction): a retransmission gets the same answer again.
          this.counters.gateAnswered++;
          this.sendResponse(createResponse(msg, verdict), { interfaceName, connectionId, remote }).catch(() => undefined);
          return;
        }
      }
    }
    const inbound: InboundMessage = { message: msg, remote, local, interfaceName, connectionId };
    this.onSipMessage?.(msg, 'in');
    try {
      this.emit('message', inbound);
    } catch (err) {
      this.counters.listenerErrors++;
      this.log?.error({ err }, 'message listener threw');
    }
  }

  /** §18.2.1 `received` and RFC 3581 `rport` on the top Via of a request. */
  private stampVia(msg: SipMessage, remote: Endpoint): void {
    const via = msg.topVia;
    if (via === null) return;
    let changed = false;
    // A received/rport value written by the sender is never trusted: responses
    // go where the request really came from, not where a forger points them.
    const received = via.params.get('received');
    if (bareHost(via.host) !== remote.address || (received !== undefined && received !== remote.address)) {
      via.params.set('received', remote.address);
      changed = true;
    }
    const rport = via.params.get('rport');
    if (rport !== undefined && rport !== String(remote.port)) {
      via.params.set('rport', String(remote.port));
      if (!via.params.has('received')) via.params.set('received', remote.address);
      changed = true;
    }
    if (changed) msg.setHeaderValueAt('via', 0, formatVia(via));
  }

  // --- outbound --------------------------------------------------------------

  private sendUdp(bi: BoundInterface, data: Buffer, address: string, port: number): Promise<void> {
    const sock = bi.udp;
    if (sock === null) return Promise.reject(new Error(`SIP interface "${bi.info.name}" has no UDP listener`));
    return new Promise((resolve, reject) => sock.send(data, port, address, this.sendDone(resolve, reject)));
  }

  /** The completion callback of one send: counts it as sent or failed and settles its promise. */
  private sendDone(resolve: () => void, reject: (err: Error) => void): (err?: Error | null) => void {
    return (err) => {
      if (err) {
        this.counters.sendErrors++;
        reject(err);
      } else {
        this.counters.sent++;
        resolve();
      }
    };
  }

  private async sendStream(dest: Endpoint & { transport: 'tcp' | 'tls' }, bi: BoundInterface, data: Buffer): Promise<void> {
    if (this.streamRelay !== null) return this.streamRelay({ interfaceName: bi.info.name, connectionId: null, dest, data });
    let c = this.connsByKey.get(connKey(dest.transport, dest.address, dest.port));
    if (c === undefined || c.closed) c = this.connect(dest, bi);
    if (c.ready !== null) await c.ready;
    await this.write(c, data);
  }

  private write(c: Connection, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (c.closed || c.socket.destroyed) {
        this.counters.sendErrors++;
        reject(new Error(`connection to ${c.remote.address}:${c.remote.port} is closed`));
        return;
      }
      c.socket.write(data, this.sendDone(resolve, reject));
    });
  }

  private connect(dest: Endpoint & { transport: 'tcp' | 'tls' }, bi: BoundInterface): Connection {
    if (this.closing) throw new Error('transport is closing');
    const localAddress = isWildcard(bi.info.address) ? undefined : bi.info.address;
    const socket =
      dest.transport === 'tls'
        ? tls.connect({
            ...(bi.tlsLoaded?.client ?? { rejectUnauthorized: this.tlsRejectUnauthorized, minVersion: 'TLSv1.2' }),
            // A plain socket underneath so that the source address is the interface's.
            socket: net.connect({ host: dest.address, port: dest.port, localAddress }),
            // RFC 5922 §7: the identity checked is the host we meant to reach (an IP literal checks the IP SAN).
            host: dest.address,
            servername: net.isIP(dest.address) === 0 ? dest.address : undefined,
          })
        : net.connect({ host: dest.address, port: dest.port, localAddress });
    const c = this.registerConnection(socket, dest.transport, { ...dest }, bi);
    c.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${dest.address}:${dest.port} timed out`));
      }, this.connectTimeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once(dest.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        c.ready = null;
        resolve();
      });
    });
    // Several sends may wait on the same connect; a failure must not surface as unhandled.
    c.ready.catch(() => undefined);
    return c;
  }

  /** Rewrites transport and port of the top Via; returns the old value. */
  private rewriteTopViaTransport(msg: SipMessage, transport: string, port: number): string | null {
    const old = msg.getHeaderValues('via')[0];
    const via = msg.topVia;
    if (old === undefined || via === null) return null;
    via.transport = transport;
    via.port = port;
    msg.setHeaderValueAt('via', 0, formatVia(via));
    return old;
  }
}
