/**
 * Keeps the registrations of the `Account` table up (rows with Register
 * set): one RegisterClient per row, rebuilt when a reload changes the row
 * (or what it depends on), re-registered when the serving proxy set fails
 * over to another server, un-registered on shutdown. Also tells the call
 * routing which identity a registered trunk expects (Mediant: HostName in
 * the INVITE's From, ContactUser in the Contact).
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { AccountRow } from '../config/schema.js';
import { RegisterClient, type AccountSpec, type AccountStatus, type RequestSender } from '../registration/register-client.js';
import type { ProxyStateView } from '../routing/types.js';
import type { Endpoint, Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { userInfoAccounts } from './user-info-registrations.js';

export interface AccountRegistrarDeps {
  readonly sender: RequestSender;
  readonly proxies: ProxyStateView;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly logger: Logger;
  /** Called when an account's state changes (metrics). */
  readonly onChange?: (status: AccountStatus) => void;
}

/** The identity calls toward a serving IP Group take while its account is registered. */
export interface RegisteredIdentity {
  readonly contactUser: string;
  readonly host: string;
}

function num(config: SbcConfig, name: string, def: number): number {
  const raw = config.scalars.get(name.toLowerCase());
  const n = raw === undefined ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) ? n : def;
}

/** The REGISTER an Account row asks for under `config`; null when the row cannot register (logged by the caller). */
export function accountSpecOf(config: SbcConfig, row: AccountRow, key = String(row.index)): AccountSpec | { error: string } {
  const serving = config.ipGroupByName(row.servingIpGroupName);
  if (serving === undefined) return { error: `ServingIPGroupName "${row.servingIpGroupName}" is not an IP Group` };
  if (serving.proxySetName === '') return { error: `serving IP Group "${serving.name}" has no proxy set` };
  const served = config.ipGroupByName(row.servedIpGroupName);
  const ps = config.proxySetByName(serving.proxySetName);
  const firstHost = (config.proxyIpsOf(serving.proxySetName)[0]?.ipAddress ?? '').replace(/:\d+$/, '');
  const domain = serving.sipGroupName || row.hostName || firstHost;
  const aorUser = row.contactUser || row.username || served?.contactUser || '';
  if (aorUser === '') return { error: 'neither ContactUser nor Username is set' };
  return {
    key,
    name: row.accountName || `Account ${row.index}`,
    servedIpGroup: row.servedIpGroupName,
    servingIpGroup: serving.name,
    aorUser,
    aorHost: row.hostName || domain,
    requestUri: `sip:${domain}`,
    contactUser: row.contactUser || aorUser,
    username: row.username,
    password: row.password,
    interfaceName: ps?.sbcIpv4SipInterfaceName || config.sipInterfaces[0]?.interfaceName || '',
    expiresSec: num(config, 'RegistrationTime', 180),
    refreshPercent: num(config, 'RegistrationTimeDivider', 50),
    refreshThresholdSec: num(config, 'RegistrationTimeThreshold', 0),
    retrySec: num(config, 'RegistrationRetryTime', 30),
    maxBackoffSec: num(config, 'MaxRegistrationBackoffTime', 0),
    userAgent: config.sip.userAgent,
  };
}

interface Entry {
  readonly client: RegisterClient;
  /** The spec as JSON: a reload that changes it replaces the client. */
  readonly fingerprint: string;
  readonly proxySetName: string;
  readonly mandatory: boolean;
}

export class AccountRegistrar {
  private readonly entries = new Map<string, Entry>();
  private config: SbcConfig;

  constructor(config: SbcConfig, private readonly deps: AccountRegistrarDeps) {
    this.config = config;
  }

  start(): void {
    this.update(this.config);
  }

  /** A reload: new rows register, removed rows un-register, changed rows do both. */
  update(config: SbcConfig): void {
    this.config = config;
    const wanted = new Map<string, { spec: AccountSpec; proxySetName: string; mandatory: boolean }>();
    for (const row of config.accounts) {
      if (row.register === 'no') continue;
      const spec = accountSpecOf(config, row);
      if ('error' in spec) {
        this.deps.logger.error({ account: row.index, error: spec.error }, 'Account row cannot register');
        continue;
      }
      wanted.set(spec.key, { spec, proxySetName: config.ipGroupByName(spec.servingIpGroup)!.proxySetName, mandatory: row.routeOnlyWhenRegistered });
    }
    // IP Group RegistrationMode sbc-initiates: the user info table's users, registered like accounts.
    const users = userInfoAccounts(config);
    for (const error of users.errors) this.deps.logger.error({ error }, 'user cannot be registered by the SBC');
    for (const u of users.accounts) {
      const spec = accountSpecOf(config, u.row, u.key);
      if ('error' in spec) {
        this.deps.logger.error({ user: u.row.contactUser, error: spec.error }, 'user cannot be registered by the SBC');
        continue;
      }
      wanted.set(spec.key, { spec, proxySetName: config.ipGroupByName(spec.servingIpGroup)!.proxySetName, mandatory: false });
    }
    for (const [key, e] of this.entries) {
      const w = wanted.get(key);
      if (w !== undefined && JSON.stringify(w.spec) === e.fingerprint && w.mandatory === e.mandatory) continue;
      this.entries.delete(key);
      void e.client.stop(2000);
      this.deps.logger.info({ account: e.client.spec.name }, w === undefined ? 'Account removed: un-registering' : 'Account changed: registering again');
    }
    for (const [key, w] of wanted) {
      if (this.entries.has(key)) continue;
      const client = new RegisterClient(w.spec, {
        sender: this.deps.sender,
        servers: () => this.deps.proxies.candidates(w.proxySetName).map((t): Endpoint => ({ address: t.address, port: t.port, transport: t.transport })),
        contactAddress: this.deps.contactAddress,
        logger: this.deps.logger,
        onChange: (c) => this.deps.onChange?.(c.status()),
      });
      this.entries.set(key, { client, fingerprint: JSON.stringify(w.spec), proxySetName: w.proxySetName, mandatory: w.mandatory });
      client.start();
    }
  }

  /** A server of a proxy set went down or came back: accounts whose registrar is no longer the first choice re-register. */
  proxySetChanged(proxySetName: string): void {
    for (const e of this.entries.values()) {
      if (e.proxySetName.toLowerCase() !== proxySetName.toLowerCase()) continue;
      if (e.client.registrarChanged()) e.client.reRegister('proxy set failover');
    }
  }

  /** Identity for calls toward `servingIpGroup`: the first registered account serving it. */
  identityFor(servingIpGroup: string): RegisteredIdentity | null {
    for (const e of this.entries.values()) {
      const s = e.client.spec;
      if (s.servingIpGroup.toLowerCase() === servingIpGroup.toLowerCase() && e.client.isRegistered) {
        return { contactUser: s.contactUser, host: s.aorHost };
      }
    }
    return null;
  }

  /** False while an account with RouteOnlyWhenRegistered serving this group is not registered. */
  servingGroupUsable(ipGroup: string): boolean {
    for (const e of this.entries.values()) {
      if (e.mandatory && e.client.spec.servingIpGroup.toLowerCase() === ipGroup.toLowerCase() && !e.client.isRegistered) return false;
    }
    return true;
  }

  status(): AccountStatus[] {
    const now = Date.now();
    return [...this.entries.values()].map((e) => e.client.status(now));
  }

  /** Un-registers every account (Expires: 0), waiting at most `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    const clients = [...this.entries.values()].map((e) => e.client);
    this.entries.clear();
    await Promise.all(clients.map((c) => c.stop(timeoutMs)));
  }
}
