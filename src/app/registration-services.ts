/**
 * The registration side of one running SBC, assembled in one place so
 * that `Sbc` only starts, updates and stops it: the Account registrations
 * toward trunks, the REST routes and the Prometheus gauges.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createRegistrationMetrics, registrationRoutes, type RegistrationMetrics } from '../api/registration-routes.js';
import type { SbcConfig } from '../config/sbc-config.js';
import type { RequestSender } from '../registration/register-client.js';
import type { ProxySetManager } from '../routing/proxy-set.js';
import type { Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { AccountRegistrar } from './account-registrar.js';
import type { RegistrationView } from './routing-port.js';

export interface RegistrationServicesDeps {
  readonly config: SbcConfig;
  readonly sender: RequestSender;
  readonly proxySets: ProxySetManager;
  readonly contactAddress: (interfaceName: string, transport: Transport) => { address: string; port: number } | null;
  readonly registry: Registry;
  readonly logger: Logger;
}

export class RegistrationServices implements RegistrationView {
  readonly accounts: AccountRegistrar;
  readonly metrics: RegistrationMetrics;

  constructor(deps: RegistrationServicesDeps) {
    this.metrics = createRegistrationMetrics(deps.registry);
    const m = this.metrics;
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

  start(): void {
    this.accounts.start();
  }

  update(config: SbcConfig): void {
    this.accounts.update(config);
  }

  identityFor(servingIpGroup: string): { contactUser: string; host: string } | null {
    return this.accounts.identityFor(servingIpGroup);
  }

  get routes(): (server: FastifyInstance) => void {
    return registrationRoutes({
      accounts: () => this.accounts.status(),
      users: () => [],
      userCounts: () => ({}),
    });
  }

  /** Un-registers accounts (Expires: 0) within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    await this.accounts.stop(timeoutMs);
  }
}
