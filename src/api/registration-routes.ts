/**
 * REST routes and Prometheus gauges for registrations: the accounts the
 * SBC registers itself (Account table) and the users registered through it.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AccountStatus } from '../registration/register-client.js';

export interface RegistrationBackend {
  accounts(): AccountStatus[];
  /** Registered users (bindings), optionally only those of one AOR (user or user@host). */
  users(aor?: string): unknown[];
  userCounts(): Record<string, number>;
  /** Contacts (bindings) per IP Group. */
  bindingCounts(): Record<string, number>;
  /** Failed authentications (SBC as authenticator) per source address. */
  authFailures(): Record<string, number>;
  /** Subscription dialog pairs relayed now (SUBSCRIBE/NOTIFY). */
  subscriptions(): number;
}

export interface RegistrationMetrics {
  readonly accountRegistered: Gauge<'account' | 'serving_ip_group'>;
  readonly registeredUsers: Gauge<'ip_group'>;
  readonly registeredBindings: Gauge<'ip_group'>;
  readonly userKeepAlives: Counter<'kind' | 'result'>;
  readonly registerRequests: Counter<'direction' | 'result'>;
  readonly authFailures: Counter;
}

export function createRegistrationMetrics(registry: Registry): RegistrationMetrics {
  return {
    accountRegistered: new Gauge({
      name: 'sbc_account_registered', help: '1 while an Account row is registered at its serving IP Group',
      labelNames: ['account', 'serving_ip_group'], registers: [registry],
    }),
    registeredUsers: new Gauge({
      name: 'sbc_registered_users', help: 'Users registered through the SBC, by IP Group', labelNames: ['ip_group'], registers: [registry],
    }),
    registeredBindings: new Gauge({
      name: 'sbc_registered_bindings', help: 'Contacts (bindings) registered through the SBC, by IP Group', labelNames: ['ip_group'], registers: [registry],
    }),
    userKeepAlives: new Counter({
      name: 'sbc_user_keepalives_total', help: 'Keep-alives sent to registered users\' flows (kind options|crlf; result alive|dead|sent)',
      labelNames: ['kind', 'result'], registers: [registry],
    }),
    registerRequests: new Counter({
      name: 'sbc_register_requests_total', help: 'REGISTER requests from users, by how they were answered',
      labelNames: ['direction', 'result'], registers: [registry],
    }),
    authFailures: new Counter({
      name: 'sbc_auth_failures_total', help: 'Failed digest authentications of the SBC as authenticator (wrong credentials, replays, unknown nonces)',
      registers: [registry],
    }),
  };
}

/** Installs GET /api/v1/registrations and GET /api/v1/registrations/users. */
export function registrationRoutes(backend: RegistrationBackend): (server: FastifyInstance) => void {
  return (server) => {
    const monitor = { config: { role: 'monitor' as const } };
    server.get('/api/v1/registrations', monitor, async () => ({
      accounts: backend.accounts(), users: backend.userCounts(), bindings: backend.bindingCounts(), subscriptions: backend.subscriptions(),
    }));
    server.get<{ Querystring: { aor?: string } }>('/api/v1/registrations/users', monitor, async (req) => backend.users(req.query.aor));
    server.get('/api/v1/registrations/auth-failures', monitor, async () => backend.authFailures());
  };
}
