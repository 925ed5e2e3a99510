/**
 * The registration side of one running SBC, assembled in one place so
 * that `Sbc` only starts, updates and stops it: the Account registrations
 * toward trunks, the REST routes and the Prometheus gauges.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createRegistrationMetrics, registrationRoutes, type RegistrationMetrics } from '../api/registration-routes.js';
import type { SbcConfig } from '../config/sbc-config.js';
import { RegistrationDb, type Binding } from '../registrar/bindings.js';
import { BindingStore } from '../registrar/binding-store.js';
import { AuthGate } from '../registrar/auth-gate.js';
import type { AuthFailure } from '../registrar/authenticator.js';
import { EventEmitter } from 'node:events';
import { NonInviteRelay, type DialogRegistry } from '../b2bua/non-call/request-relay.js';
import type { NonCallHandler, TransactionPort } from '../b2bua/ports.js';
import { RegisterRelay, type RegistrarSettings } from '../registrar/register-relay.js';
import { UserKeepAlive, type UserKeepAliveSettings } from '../registrar/user-keepalive.js';
import type { ProxySetManager } from '../routing/proxy-set.js';
import type { Endpoint, Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { AccountRegistrar } from './account-registrar.js';
import { syncPermanentBindings } from './user-info-registrations.js';
import type { RegistrationView, UserLocation } from './routing-port.js';

export interface RegistrationServicesDeps {
  readonly config: SbcConfig;
  /** The live configuration (reloads apply to the next REGISTER). */
  readonly currentConfig: () => SbcConfig;
  /** The transaction layer. */
  readonly sender: TransactionPort;
  readonly proxySets: ProxySetManager;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Directory of the registration store (RegistrationDatabaseDir / --registration-db); null keeps bindings in memory only. */
  readonly dbDir: string | null;
  /** The transport's connections: CRLF keep-alives on them, and their closing (dead flows). */
  readonly flows?: FlowPort;
}

/** What the keep-alives toward registered users need of the transport layer. */
export interface FlowPort {
  sendKeepAlive(remote: Endpoint): Promise<'sent' | 'no-connection' | 'failed'>;
  on(event: 'connectionClosed', listener: (e: { remote: Endpoint }) => void): unknown;
}

export class RegistrationServices implements RegistrationView {
  readonly accounts: AccountRegistrar;
  readonly metrics: RegistrationMetrics;
  readonly db = new RegistrationDb();
  readonly relay: RegisterRelay;
  /** MESSAGE, SUBSCRIBE/NOTIFY, PUBLISH, INFO, OPTIONS to users: relayed outside calls. */
  readonly nonInvite: NonInviteRelay;
  /** What the call manager hands out-of-dialog non-INVITE requests to: REGISTER relay first, then the others. */
  readonly nonCall: NonCallHandler;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly logger: Logger;
  private readonly store: BindingStore | null;
  /** The SBC as digest authenticator (CallManager gate). */
  readonly gate: AuthGate;
  /** OPTIONS / CRLF keep-alives toward registered users' flows (NAT bindings, connections). */
  readonly keepAlive: UserKeepAlive;
  /** Every failed authentication, per source (for the intrusion detection: `on('failure', ...)`). */
  readonly authFailures = new EventEmitter<{ failure: [AuthFailure] }>();

  constructor(private readonly deps: RegistrationServicesDeps) {
    this.metrics = createRegistrationMetrics(deps.registry);
    this.logger = deps.logger.child({ module: 'registrar' });
    const m = this.metrics;
    this.nonInvite = new NonInviteRelay({
      tx: deps.sender,
      local: { contactAddress: deps.contactAddress },
      logger: deps.logger.child({ module: 'non-call' }),
      relaysOptionsTo: (user) => user !== '' && this.db.locate(user, Date.now()) !== null,
    });
    this.nonCall = { handle: (req, stx, inbound, cls) => this.relay.handle(req, stx, inbound, cls) || this.nonInvite.handle(req, stx, inbound, cls) };
    this.gate = new AuthGate(deps.currentConfig, this.logger);
    this.gate.authenticator.onFailure = (f) => {
      m.authFailures.inc();
      this.authFailures.emit('failure', f);
    };
    this.store = deps.dbDir === null ? null : new BindingStore(deps.dbDir, this.db, this.logger);
    this.relay = new RegisterRelay({
      db: this.db,
      sendRequest: (req, dest, iface, handler) => deps.sender.sendRequest(req, dest, iface, handler),
      contactAddress: deps.contactAddress,
      settings: () => settingsOf(deps.currentConfig()),
      logger: this.logger,
      userAgent: () => deps.currentConfig().sip.userAgent,
      count: (result) => m.registerRequests.inc({ direction: 'in', result }),
    });
    const flows = deps.flows;
    this.keepAlive = new UserKeepAlive({
      db: this.db,
      settings: () => keepAliveSettingsOf(deps.currentConfig()),
      sendRequest: (req, dest, iface, handler) => deps.sender.sendRequest(req, dest, iface, handler),
      sendCrlf: (remote) => (flows === undefined ? Promise.resolve('no-connection' as const) : flows.sendKeepAlive(remote)),
      contactAddress: deps.contactAddress,
      onDead: (b) => this.relay.unregisterUpstream(b),
      logger: this.logger,
      userAgent: () => deps.currentConfig().sip.userAgent,
      count: (kind, result) => m.userKeepAlives.inc({ kind, result }),
    });
    flows?.on('connectionClosed', (e) => this.keepAlive.connectionClosed(e.remote));
    this.accounts = new AccountRegistrar(deps.config, {
      sender: deps.sender,
      proxies: deps.proxySets,
      contactAddress: deps.contactAddress,
      logger: deps.logger.child({ module: 'account-registrar' }),
      onChange: (s) => m.accountRegistered.set({ account: s.name, serving_ip_group: s.servingIpGroup }, s.state === 'registered' ? 1 : 0),
    });
    const failover = (e: { proxySetName: string }): void => this.accounts.proxySetChanged(e.proxySetName);
    deps.proxySets.on('server-down', failover);
    deps.proxySets.on('server-up', failover);
  }

  servingGroupUsable(ipGroup: string): boolean {
    return this.accounts.servingGroupUsable(ipGroup);
  }

  /** The call manager's dialog map (subscription dialogs live there). */
  attachDialogs(d: DialogRegistry): void {
    this.nonInvite.attachDialogs(d);
  }

  async start(): Promise<void> {
    if (this.store !== null) {
      try {
        await this.store.open();
      } catch (err) {
        this.logger.error({ err }, 'registration store cannot be opened: bindings are kept in memory only');
      }
    }
    this.syncPermanentUsers(this.deps.config);
    this.accounts.start();
    // One sweep a second: bindings past their expiry (and grace) go, and are un-registered upstream.
    this.sweeper = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweeper.unref();
  }

  sweep(now: number): void {
    for (const b of this.db.due(now)) {
      this.db.remove(b, true);
      this.logger.info({ aor: b.aor, contact: b.contact }, 'registration expired');
      this.relay.unregisterUpstream(b);
    }
    this.keepAlive.tick(now);
    this.metrics.registeredUsers.reset();
    for (const [g, n] of Object.entries(this.db.counts())) this.metrics.registeredUsers.set({ ip_group: g }, n);
    this.metrics.registeredBindings.reset();
    for (const [g, n] of Object.entries(this.db.bindingCounts())) this.metrics.registeredBindings.set({ ip_group: g }, n);
  }

  /** The registered user a request for `user` (AOR user or our upstream contact user) goes to. */
  locateUser(user: string): UserLocation | 'expired' | null {
    const b = this.db.locate(user, Date.now());
    if (b === null || b === 'expired') return b;
    return { ipGroup: b.ipGroup, flow: b.flow, contactUri: b.contactUri, aorUser: b.aorUser };
  }

  registeredGroupOf(remote: { transport: string; address: string; port: number }): string | undefined {
    return this.db.groupOfFlow(remote, Date.now());
  }

  aorUserOf(user: string): string | null {
    return this.db.bySbcContactUser(user)?.aorUser ?? null;
  }

  update(config: SbcConfig): void {
    this.syncPermanentUsers(config);
    this.accounts.update(config);
  }

  /** IP Group RegistrationMode not-needed: the user info table's users are registered by configuration. */
  private syncPermanentUsers(config: SbcConfig): void {
    for (const error of syncPermanentBindings(this.db, config, Date.now())) this.logger.error({ error }, 'user cannot be registered by configuration');
  }

  identityFor(servingIpGroup: string): { contactUser: string; host: string } | null {
    return this.accounts.identityFor(servingIpGroup);
  }

  get routes(): (server: FastifyInstance) => void {
    return registrationRoutes({
      accounts: () => this.accounts.status(),
      users: (aor) => [...this.db.all()].filter((b) => aor === undefined || b.aor === aor || b.aorUser === aor).map(bindingView),
      userCounts: () => this.db.counts(),
      bindingCounts: () => this.db.bindingCounts(),
      authFailures: () => this.gate.authenticator.failuresBySource(),
      subscriptions: () => this.nonInvite.subscriptions.size,
    });
  }

  /** Un-registers accounts (Expires: 0) within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.accounts.stop(timeoutMs);
    await this.store?.close();
  }
}

function scalar(config: SbcConfig, name: string): number {
  const n = Number.parseInt(config.scalars.get(name.toLowerCase()) ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function settingsOf(config: SbcConfig): RegistrarSettings {
  return {
    userRegistrationTime: scalar(config, 'SBCUserRegistrationTime'),
    proxyRegistrationTime: scalar(config, 'SBCProxyRegistrationTime'),
    graceTime: scalar(config, 'SBCUserRegistrationGraceTime'),
    maxUsers: (g) => config.ipGroupByName(g)?.maxNumOfRegUsers ?? -1,
    natRegistrationTime: (g, transport) => {
      const name = config.ipGroupByName(g)?.profileName;
      const p = name ? config.ipProfileByName(name) : undefined;
      if (p === undefined) return -1;
      return transport === 'udp' ? p.sbcUserBehindUdpNatRegistrationTime : p.sbcUserBehindTcpNatRegistrationTime;
    },
  };
}

function keepAliveSettingsOf(config: SbcConfig): UserKeepAliveSettings {
  return {
    optionsIntervalSec: scalar(config, 'SBCUserKeepAliveTime'),
    crlfOnStreams: scalar(config, 'UsePingPongKeepAlive') === 1,
    crlfIntervalSec: scalar(config, 'PingPongKeepAliveTime') || 120,
    removeDead: scalar(config, 'SBCUserKeepAliveRemoveDead') === 1,
  };
}

function bindingView(b: Binding): Record<string, unknown> {
  const now = Date.now();
  return {
    aor: b.aor, contact: b.contact, ipGroup: b.ipGroup, flow: b.flow, userAgent: b.userAgent, path: b.path,
    permanent: b.permanent === true,
    expiresInSec: b.permanent === true ? null : Math.max(0, Math.round((b.expiresAt - now) / 1000)),
    upstreamExpiresInSec: b.upstreamExpiresAt === 0 ? null : Math.max(0, Math.round((b.upstreamExpiresAt - now) / 1000)),
    registrar: b.upstream === null ? null : `${b.upstream.transport}:${b.upstream.address}:${b.upstream.port}`,
  };
}
