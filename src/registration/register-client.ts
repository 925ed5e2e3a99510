/**
 * One registration the SBC keeps up itself (a Mediant `Account` row with
 * Register = Regular): REGISTER toward the serving IP Group's proxy set,
 * digest answers (RFC 3261 §22, RFC 7616: qop=auth with a counted nonce,
 * stale=true), refresh before expiry (§10.2.4, Mediant
 * RegistrationTimeDivider / RegistrationTimeThreshold), 423 Min-Expires
 * (§10.3 step 7), retry with back-off and a new Call-ID after a failure,
 * and Expires: 0 when it stops (§10.2.2).
 */
import { randomBytes } from 'node:crypto';
import { buildDigestAuthorization, pickDigestChallenge, type DigestChallenge } from '../sip/digest.js';
import { parseNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { newCallId, newTag } from '../sip/response.js';
import { parseUri, uriHost } from '../sip/uri.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import type { Endpoint, Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';

export interface RequestSender {
  /** Adds our Via and runs the client transaction (timer F, retransmissions). */
  sendRequest(req: SipMessage, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler): unknown;
}

/** What a REGISTER of one account says and where it goes; fixed for the client's life (a changed row makes a new client). */
export interface AccountSpec {
  /** Stable key: the Account row index. */
  readonly key: string;
  readonly name: string;
  readonly servedIpGroup: string;
  readonly servingIpGroup: string;
  /** AOR user and host: From/To `sip:user@host`. */
  readonly aorUser: string;
  readonly aorHost: string;
  readonly requestUri: string;
  readonly contactUser: string;
  readonly username: string;
  readonly password: string;
  readonly interfaceName: string;
  readonly expiresSec: number;
  /** Percent of the granted expiry after which we refresh (50..100). */
  readonly refreshPercent: number;
  /** When > 0 and shorter than the percent rule: refresh this many s before expiry. */
  readonly refreshThresholdSec: number;
  readonly retrySec: number;
  /** > 0: exponential back-off capped here. */
  readonly maxBackoffSec: number;
  readonly userAgent: string;
}

export interface RegisterClientDeps {
  readonly sender: RequestSender;
  /** The proxy set's live servers in the order to try; empty when none is up. */
  readonly servers: () => readonly Endpoint[];
  /** Our address on the interface for this transport (Contact); null when not listening. */
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly logger: Logger;
  /** Called after every state change (metrics). */
  readonly onChange?: (c: RegisterClient) => void;
}

export type AccountState = 'idle' | 'registering' | 'registered' | 'failed' | 'unregistering' | 'unregistered';

export interface AccountStatus {
  key: string;
  name: string;
  servedIpGroup: string;
  servingIpGroup: string;
  aor: string;
  state: AccountState;
  registrar: string | null;
  /** Seconds until the registration expires; null when not registered. */
  expiresInSec: number | null;
  lastResponse: number | 'timeout' | 'transport-error' | 'no-server' | null;
  failures: number;
  /** Seconds until the next REGISTER (refresh or retry); null when none is scheduled. */
  nextAttemptInSec: number | null;
  /** When the account entered its current state (ms since the epoch). */
  since: number;
}

/** How many challenges in a row one REGISTER may draw before we call the credentials wrong. */
const MAX_CHALLENGES = 3;
const MAX_423_RETRIES = 3;

export class RegisterClient {
  private state: AccountState = 'idle';
  private stateSince = Date.now();
  private callId = newCallId();
  private readonly fromTag = newTag();
  private cseq = 0;
  private expiresSec: number;
  private grantedUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private serverIndex = 0;
  private registrar: Endpoint | null = null;
  private challenge: { ch: DigestChallenge; proxy: boolean; nc: number } | null = null;
  private challengesInRow = 0;
  private retries423 = 0;
  private failures = 0;
  private lastResponse: AccountStatus['lastResponse'] = null;
  /** Bumped per REGISTER: answers to an older one are ignored. */
  private generation = 0;
  private stopped = false;
  private unregisterDone: (() => void) | null = null;

  constructor(readonly spec: AccountSpec, private readonly deps: RegisterClientDeps) {
    this.expiresSec = spec.expiresSec;
  }

  get currentState(): AccountState {
    return this.state;
  }

  get isRegistered(): boolean {
    return this.state === 'registered' && Date.now() < this.grantedUntil;
  }

  /** The server the registration is held at (or being attempted at). */
  get registrarEndpoint(): Endpoint | null {
    return this.registrar;
  }

  start(): void {
    if (this.stopped) return;
    this.send(0, 'initial');
  }

  /** Registers again now at the proxy set's first live server, with a new Call-ID (a new registrar binding, §10.2.4). */
  reRegister(reason: string): void {
    if (this.stopped) return;
    this.deps.logger.info({ account: this.spec.name, reason }, 're-registering');
    this.callId = newCallId();
    this.challenge = null;
    this.serverIndex = 0;
    this.send(0, reason);
  }

  /** The first live server differs from the one we hold the registration at. */
  registrarChanged(): boolean {
    const first = this.deps.servers()[0];
    const r = this.registrar;
    if (first === undefined || r === null) return first !== undefined && this.state !== 'registering';
    return first.address !== r.address || first.port !== r.port || first.transport !== r.transport;
  }

  /**
   * Stops refreshing; when registered, un-registers (Expires: 0) and
   * resolves once the registrar answered or `timeoutMs` passed.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    if (!this.isRegistered || this.registrar === null) {
      this.setState('idle');
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => done(), timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        this.unregisterDone = null;
        resolve();
      };
      this.unregisterDone = done;
      this.expiresSec = 0;
      this.send(0, 'stop');
    });
  }

  status(now = Date.now()): AccountStatus {
    const s = this.spec;
    return {
      key: s.key, name: s.name, servedIpGroup: s.servedIpGroup, servingIpGroup: s.servingIpGroup,
      aor: `sip:${s.aorUser}@${s.aorHost}`,
      state: this.state,
      registrar: this.registrar === null ? null : `${this.registrar.transport}:${this.registrar.address}:${this.registrar.port}`,
      expiresInSec: this.state === 'registered' ? Math.max(0, Math.round((this.grantedUntil - now) / 1000)) : null,
      lastResponse: this.lastResponse,
      failures: this.failures,
      nextAttemptInSec: this.timer === null ? null : Math.max(0, Math.round((this.timerAt - now) / 1000)),
      since: this.stateSince,
    };
  }

  // ---------------------------------------------------------------------------

  private setState(s: AccountState): void {
    if (this.state === s) return;
    this.state = s;
    this.stateSince = Date.now();
    this.deps.onChange?.(this);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(sec: number, why: string): void {
    this.clearTimer();
    if (this.stopped) return;
    const ms = Math.max(200, Math.round(sec * 1000));
    this.timerAt = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send(0, why);
    }, ms);
    this.timer.unref?.();
  }

  private buildRegister(target: Endpoint): SipMessage | null {
    const s = this.spec;
    const local = this.deps.contactAddress(s.interfaceName, target.transport);
    if (local === null) return null;
    const req = SipMessage.request('REGISTER', s.requestUri);
    const aor = `<sip:${s.aorUser}@${s.aorHost}>`;
    req.setHeader('max-forwards', '70');
    req.setHeader('from', `${aor};tag=${this.fromTag}`);
    req.setHeader('to', aor);
    req.setHeader('call-id', this.callId);
    req.setHeader('cseq', `${++this.cseq} REGISTER`);
    const tp = target.transport === 'udp' ? '' : `;transport=${target.transport}`;
    const user = s.contactUser.length > 0 ? `${s.contactUser}@` : '';
    req.setHeader('contact', `<sip:${user}${uriHost(local.address)}:${local.port}${tp}>`);
    req.setHeader('expires', String(this.expiresSec));
    req.setHeader('allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, MESSAGE, SUBSCRIBE');
    if (s.userAgent.length > 0) req.setHeader('user-agent', s.userAgent);
    if (this.challenge !== null) {
      const c = this.challenge;
      c.nc++;
      const value = buildDigestAuthorization(c.ch, { method: 'REGISTER', uri: s.requestUri, username: s.username, password: s.password, nc: c.nc });
      if (value !== null) req.setHeader(c.proxy ? 'proxy-authorization' : 'authorization', value);
    }
    return req;
  }

  private send(_attempt: number, why: string): void {
    this.clearTimer();
    const servers = this.deps.servers();
    if (servers.length === 0) {
      this.lastResponse = 'no-server';
      this.fail(`no live server in the proxy set of ${this.spec.servingIpGroup}`);
      return;
    }
    const target = servers[this.serverIndex % servers.length]!;
    const req = this.buildRegister(target);
    if (req === null) {
      this.lastResponse = 'no-server';
      this.fail(`no ${target.transport} listener on SIP Interface ${this.spec.interfaceName}`);
      return;
    }
    if (this.registrar !== null && (this.registrar.address !== target.address || this.registrar.port !== target.port)) {
      // Another registrar: a new binding there (§10.2.4 keeps one Call-ID per registrar).
      this.callId = newCallId();
      req.setHeader('call-id', this.callId);
    }
    this.registrar = target;
    // A refresh keeps the account registered until the old expiry passes.
    if (this.expiresSec === 0) this.setState('unregistering');
    else if (!this.isRegistered) this.setState('registering');
    const gen = ++this.generation;
    this.deps.logger.debug({ account: this.spec.name, why, registrar: target, expires: this.expiresSec }, 'sending REGISTER');
    const handler: ClientTransactionHandler = {
      onFinal: (res) => { if (gen === this.generation) this.onFinal(res); },
      onTimeout: () => { if (gen === this.generation) this.onNoAnswer('timeout'); },
      onTransportError: () => { if (gen === this.generation) this.onNoAnswer('transport-error'); },
    };
    try {
      this.deps.sender.sendRequest(req, target, this.spec.interfaceName, handler);
    } catch (err) {
      this.deps.logger.warn({ err, account: this.spec.name }, 'REGISTER could not be sent');
      this.onNoAnswer('transport-error');
    }
  }

  private onFinal(res: SipMessage): void {
    const status = res.status;
    this.lastResponse = status;
    if (status >= 200 && status < 300) return this.on2xx(res);
    if (status === 401 || status === 407) {
      const proxy = status === 407;
      const ch = pickDigestChallenge(res.getHeaderValues(proxy ? 'proxy-authenticate' : 'www-authenticate'));
      const prev = this.challenge;
      // The same nonce refused again without stale: our credentials are wrong (§22.2 — do not loop).
      const sameNonce = prev !== null && ch !== null && prev.ch.nonce === ch.nonce && !ch.stale;
      if (ch !== null && !sameNonce && this.challengesInRow < MAX_CHALLENGES && this.spec.username.length > 0) {
        this.challengesInRow++;
        this.challenge = { ch, proxy, nc: 0 };
        return this.send(0, ch.stale ? 'stale nonce' : 'challenge');
      }
      this.challenge = null;
      return this.fail(`${status}: authentication failed`);
    }
    if (status === 423 && this.expiresSec > 0 && this.retries423 < MAX_423_RETRIES) {
      const min = Number.parseInt((res.getHeader('min-expires') ?? '').trim(), 10);
      if (Number.isFinite(min) && min > this.expiresSec && min <= 2_000_000) {
        this.retries423++;
        this.expiresSec = min;
        return this.send(0, `423: Min-Expires ${min}`);
      }
    }
    // A server failure or overload: the next attempt goes to the next server of the set.
    if (status >= 500) this.serverIndex++;
    this.fail(`${status} ${res.reason}`);
  }

  private onNoAnswer(kind: 'timeout' | 'transport-error'): void {
    this.lastResponse = kind;
    this.serverIndex++;
    this.fail(kind);
  }

  private on2xx(res: SipMessage): void {
    this.challengesInRow = 0;
    this.retries423 = 0;
    if (this.expiresSec === 0) {
      this.grantedUntil = 0;
      this.setState('unregistered');
      this.unregisterDone?.();
      return;
    }
    const granted = this.grantedExpires(res);
    if (granted <= 0) return this.fail('registrar granted no expiry for our Contact');
    this.failures = 0;
    this.grantedUntil = Date.now() + granted * 1000;
    this.setState('registered');
    this.deps.logger.info({ account: this.spec.name, expires: granted, registrar: this.registrar }, 'account registered');
    if (this.stopped) return;
    this.schedule(this.refreshAfter(granted), 'refresh');
  }

  /** §10.2.4: the expires of our Contact in the 2xx, else the Expires header, else what we asked. */
  private grantedExpires(res: SipMessage): number {
    const local = this.registrar === null ? null : this.deps.contactAddress(this.spec.interfaceName, this.registrar.transport);
    for (const v of res.getHeaderValues('contact')) {
      const na = parseNameAddr(v);
      const u = na === null ? null : parseUri(na.uri);
      if (na === null || u === null || local === null) continue;
      const ours = u.port === local.port && u.host.replace(/^\[|\]$/g, '') === local.address && u.user === this.spec.contactUser;
      if (!ours) continue;
      const e = na.params.get('expires');
      const n = e === undefined || e === null ? NaN : Number.parseInt(e, 10);
      if (Number.isFinite(n)) return n;
    }
    const h = Number.parseInt((res.getHeader('expires') ?? '').trim(), 10);
    return Number.isFinite(h) ? h : this.expiresSec;
  }

  private refreshAfter(granted: number): number {
    const byPercent = (granted * this.spec.refreshPercent) / 100;
    const t = this.spec.refreshThresholdSec;
    if (t > 0 && granted - t > 0 && granted - t < byPercent) return granted - t;
    return byPercent;
  }

  private fail(reason: string): void {
    this.failures++;
    this.challengesInRow = 0;
    this.retries423 = 0;
    if (this.expiresSec === 0) {
      // Un-registration failed: nothing more to do, we are going away.
      this.setState('unregistered');
      this.unregisterDone?.();
      return;
    }
    this.grantedUntil = 0;
    this.setState('failed');
    // A fresh Call-ID for the next attempt: a registrar that lost its state must not see an old dialog.
    this.callId = newCallId();
    this.challenge = null;
    const delay = this.backoffSec();
    this.deps.logger.warn({ account: this.spec.name, reason, failures: this.failures, retryInSec: delay }, 'account registration failed');
    this.schedule(delay, 'retry');
  }

  /** Mediant RegistrationRetryTime, or with MaxRegistrationBackoffTime an exponential wait randomised to 50-100 %. */
  private backoffSec(): number {
    const s = this.spec;
    if (s.maxBackoffSec <= 0) return s.retrySec;
    const upper = Math.min(s.maxBackoffSec, s.retrySec * 2 ** Math.min(20, this.failures - 1));
    const r = randomBytes(2).readUInt16BE(0) / 0xffff;
    return upper * (0.5 + r / 2);
  }
}
