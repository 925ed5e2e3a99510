/**
 * Keep-alives toward users registered through the SBC. A phone behind a
 * NAT is only reachable while the NAT keeps the binding of its flow open,
 * and a TCP/TLS user only while its connection lives; so the SBC sends
 * something down every registered flow periodically:
 * - an OPTIONS request (UDP, and TCP/TLS unless CRLF is chosen): any
 *   answer proves the flow alive, a timeout (timer F) or transport error
 *   proves it dead;
 * - a CRLFCRLF keep-alive on a TCP/TLS connection (RFC 5626 §3.5.1 and
 *   §4.4.1: the double CRLF); a failed write or a closed connection proves
 *   it dead.
 * A dead flow's bindings are removed (and un-registered upstream) when so
 * configured, so calls to the user get 480 at once instead of ringing into
 * a NAT that forgot it. One ping per flow, not per binding: several AORs
 * registered over one connection share it.
 */
import { SipMessage } from '../sip/message.js';
import { newCallId, newTag } from '../sip/response.js';
import { formatUri, parseUri, uriHost } from '../sip/uri.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import type { Endpoint, Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { RegistrationDb, type Binding, type Flow } from './bindings.js';

export interface UserKeepAliveSettings {
  /** SBCUserKeepAliveTime (ours): seconds between OPTIONS pings; 0 = no OPTIONS pings. */
  readonly optionsIntervalSec: number;
  /** Mediant UsePingPongKeepAlive: TCP/TLS flows get CRLFCRLF instead of OPTIONS. */
  readonly crlfOnStreams: boolean;
  /** Mediant PingPongKeepAliveTime: seconds between CRLF pings. */
  readonly crlfIntervalSec: number;
  /** SBCUserKeepAliveRemoveDead (ours): remove the bindings of a dead flow. */
  readonly removeDead: boolean;
}

export interface UserKeepAliveDeps {
  readonly db: RegistrationDb;
  readonly settings: () => UserKeepAliveSettings;
  readonly sendRequest: (req: SipMessage, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler) => unknown;
  /** Writes CRLFCRLF on the existing connection to `remote`: 'sent', 'no-connection' (none open), or 'failed'. */
  readonly sendCrlf: (remote: Endpoint) => Promise<'sent' | 'no-connection' | 'failed'>;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  /** A binding removed because its flow died (the caller un-registers it upstream). */
  readonly onDead: (b: Binding, reason: string) => void;
  readonly logger: Logger;
  readonly userAgent: () => string;
  /** Counts pings by kind and outcome (Prometheus). */
  readonly count?: (kind: 'options' | 'crlf', result: 'alive' | 'dead' | 'sent') => void;
  /** 0.8-1.0: the share of the interval used (Mediant randomises to avoid avalanches); injectable for tests. */
  readonly jitter?: () => number;
}

interface FlowState {
  nextAt: number;
  inFlight: boolean;
}

export class UserKeepAlive {
  private readonly flows = new Map<string, FlowState>();

  constructor(private readonly deps: UserKeepAliveDeps) {}

  /** Called once a second: pings every flow whose time has come. */
  tick(now: number): void {
    const s = this.deps.settings();
    const seen = new Set<string>();
    for (const b of this.deps.db.all()) {
      if (b.permanent === true) continue;
      const key = RegistrationDb.flowKey(b.flow);
      if (seen.has(key)) continue;
      seen.add(key);
      const kind = this.kindFor(b.flow, s);
      if (kind === null) continue;
      const intervalMs = (kind === 'crlf' ? s.crlfIntervalSec : s.optionsIntervalSec) * 1000;
      let st = this.flows.get(key);
      if (st === undefined) {
        // The first ping comes one interval after the flow was seen (the REGISTER just proved it alive).
        this.flows.set(key, (st = { nextAt: now + this.spread(intervalMs), inFlight: false }));
        continue;
      }
      if (st.inFlight || now < st.nextAt) continue;
      st.nextAt = now + this.spread(intervalMs);
      if (kind === 'crlf') this.pingCrlf(b, key, st);
      else this.pingOptions(b, key, st);
    }
    for (const key of this.flows.keys()) if (!seen.has(key)) this.flows.delete(key);
  }

  /** A TCP/TLS connection closed: its flow is dead. */
  connectionClosed(remote: Endpoint): void {
    if (!this.deps.settings().removeDead) return;
    this.dead(RegistrationDb.flowKey(remote), 'connection closed');
  }

  private kindFor(flow: Flow, s: UserKeepAliveSettings): 'options' | 'crlf' | null {
    if (flow.transport !== 'udp' && s.crlfOnStreams && s.crlfIntervalSec > 0) return 'crlf';
    return s.optionsIntervalSec > 0 ? 'options' : null;
  }

  private spread(ms: number): number {
    const j = this.deps.jitter?.() ?? 0.8 + Math.random() * 0.2;
    return Math.max(200, Math.round(ms * j));
  }

  private pingCrlf(b: Binding, key: string, st: FlowState): void {
    st.inFlight = true;
    const f = b.flow;
    void this.deps.sendCrlf({ transport: f.transport, address: f.address, port: f.port }).then((r) => {
      st.inFlight = false;
      // No connection: a binding restored after a restart, reachable again once the user reconnects (its next refresh).
      if (r === 'no-connection') return;
      this.deps.count?.('crlf', r === 'sent' ? 'sent' : 'dead');
      if (r === 'failed' && this.deps.settings().removeDead) this.dead(key, 'keep-alive write failed');
    });
  }

  private pingOptions(b: Binding, key: string, st: FlowState): void {
    const f = b.flow;
    const local = this.deps.contactAddress(f.interfaceName, f.transport);
    if (local === null) return;
    const req = optionsFor(b, local, this.deps.userAgent());
    st.inFlight = true;
    const done = (alive: boolean, why: string): void => {
      st.inFlight = false;
      this.deps.count?.('options', alive ? 'alive' : 'dead');
      if (!alive && this.deps.settings().removeDead) this.dead(key, why);
    };
    try {
      this.deps.sendRequest(req, { transport: f.transport, address: f.address, port: f.port }, f.interfaceName, {
        // Any answer, 405 or 404 included, came back through the NAT: the flow works.
        onFinal: () => done(true, ''),
        onTimeout: () => done(false, 'OPTIONS timed out'),
        onTransportError: () => done(false, 'OPTIONS could not be sent'),
      });
    } catch (err) {
      st.inFlight = false;
      this.deps.logger.debug({ err, flow: key }, 'keep-alive OPTIONS not sent');
    }
  }

  private dead(key: string, reason: string): void {
    this.flows.delete(key);
    const victims = [...this.deps.db.all()].filter((b) => RegistrationDb.flowKey(b.flow) === key);
    for (const b of victims) {
      this.deps.db.remove(b, true);
      this.deps.logger.info({ aor: b.aor, contact: b.contact, flow: key, reason }, 'registration flow dead');
      this.deps.onDead(b, reason);
    }
  }
}

/** OPTIONS toward the binding's Contact (headers dropped, §19.1.1), sent to its flow; our own From/Call-ID (topology hiding). */
function optionsFor(b: Binding, local: { address: string; port: number }, userAgent: string): SipMessage {
  const parsed = parseUri(b.contactUri);
  const ruri = parsed === null ? b.contactUri : formatUri({ ...parsed, headers: '' });
  const host = b.aor.slice(b.aor.lastIndexOf('@') + 1);
  const req = SipMessage.request('OPTIONS', ruri);
  req.addHeader('max-forwards', '70');
  req.addHeader('from', `<sip:keepalive@${uriHost(local.address)}>;tag=${newTag()}`);
  req.addHeader('to', `<sip:${b.aorUser}@${host}>`);
  req.addHeader('call-id', newCallId());
  req.addHeader('cseq', '1 OPTIONS');
  if (userAgent !== '') req.addHeader('user-agent', userAgent);
  req.addHeader('content-length', '0');
  return req;
}
