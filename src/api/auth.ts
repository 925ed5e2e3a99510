/**
 * Authentication and roles for the REST API, as a fastify hook every
 * route sits behind (Mediant-like user levels):
 *
 *   monitor   read only (status, calls, metrics, deny list)
 *   operator  monitor + reload, block/unblock, operational actions
 *   admin     everything, including users and configuration changes
 *
 * A route declares the role it needs in its options:
 *
 *   server.get('/api/v1/x', { config: { role: 'monitor' } }, handler);
 *   server.post('/api/v1/y', { config: { role: 'operator' } }, handler);
 *
 * A route that declares nothing needs `admin` (safe by default). Role
 * `loopback` opens a route without credentials to loopback clients only:
 * GET /api/v1/health (a container HEALTHCHECK), and /metrics when
 * SbcApiMetricsOpen = 1; everyone else still needs credentials (401).
 *
 * Credentials: HTTP Basic (user:password, checked against the scrypt hash
 * from the WebUsers table) or a bearer token from POST /api/v1/auth/token.
 * The web console (console-routes.ts) adds a session cookie: a request
 * without an Authorization header is that session's user, and a change
 * (any method but GET/HEAD) must carry the session's CSRF token in
 * X-CSRF-Token. Role `public` opens a route to everyone (the console's
 * login page and its assets only).
 * Failed logins are counted and a source with too many is refused (429)
 * for a while. Passwords and tokens are never logged: the request logger
 * is off and nothing here logs a header.
 */
import { randomBytes, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { verifyPassword } from './password.js';
import type { ConsoleSessions } from './console-session.js';

export type ApiRole = 'monitor' | 'operator' | 'admin';

const RANK: Record<ApiRole, number> = { monitor: 1, operator: 2, admin: 3 };

export interface ApiUser {
  username: string;
  /** scrypt hash (see password.ts). */
  passwordHash: string;
  role: ApiRole;
  /** Bearer token lifetime in minutes. */
  sessionTimeoutMin: number;
}

export interface AuthOptions {
  /** Users as configured now (read per login, so a reload applies). */
  users: () => readonly ApiUser[];
  /** false: no authentication (SbcApiAuthentication = 0; only allowed on loopback). */
  enabled: boolean;
  /** Failed logins from one address within the window before it is refused. */
  maxFailures?: number;
  failureWindowMs?: number;
  blockMs?: number;
  onFailure?: (address: string, username: string | null) => void;
  now?: () => number;
  /** Web console sessions (cookie + CSRF token); absent = none. */
  sessions?: ConsoleSessions;
}

export interface AuthStats {
  failures: number;
  blockedRequests: number;
  activeTokens: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Role a route needs (src/api/auth.ts); undeclared = admin. */
    role?: ApiRole | 'loopback' | 'public';
  }
  interface FastifyRequest {
    apiUser?: { username: string; role: ApiRole };
  }
}

interface Token {
  username: string;
  role: ApiRole;
  /** The user's hash when the token was issued. */
  passwordHash: string;
  expires: number;
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);
}

/** Tokens are stored by their SHA-256, so a heap dump does not hand them out. */
function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

export interface AuthHandle {
  stats(): AuthStats;
  /** Checks a console login's password like Basic credentials (failures counted, 429 when blocked). */
  login(address: string, username: string, password: string): Promise<ApiUser | 'bad' | 'blocked'>;
}

export function registerAuth(server: FastifyInstance, opts: AuthOptions): AuthHandle {
  const now = opts.now ?? Date.now;
  const maxFailures = opts.maxFailures ?? 5;
  const windowMs = opts.failureWindowMs ?? 60_000;
  const blockMs = opts.blockMs ?? 60_000;
  const tokens = new Map<string, Token>();
  const failuresBySource = new Map<string, { count: number; windowEnd: number; blockedUntil: number }>();
  const stats = { failures: 0, blockedRequests: 0 };

  const blocked = (address: string): boolean => {
    const f = failuresBySource.get(address);
    return f !== undefined && f.blockedUntil > now();
  };
  const fail = (address: string, username: string | null): void => {
    stats.failures++;
    opts.onFailure?.(address, username);
    const t = now();
    let f = failuresBySource.get(address);
    if (f === undefined || t >= f.windowEnd) {
      if (failuresBySource.size > 10_000) failuresBySource.clear();
      f = { count: 0, windowEnd: t + windowMs, blockedUntil: 0 };
      failuresBySource.set(address, f);
    }
    if (++f.count >= maxFailures) f.blockedUntil = t + blockMs;
  };

  const authenticate = async (req: FastifyRequest): Promise<{ username: string; role: ApiRole } | 'none' | 'bad' | 'csrf'> => {
    const h = req.headers.authorization;
    if ((h === undefined || h === '') && opts.sessions !== undefined) {
      const s = opts.sessions.lookup(req);
      if (s === 'none') return 'none';
      const user = s === 'bad' ? undefined : opts.users().find((u) => u.username === s.username);
      // A session dies with its user's deletion or password change, like a token.
      if (s === 'bad' || user === undefined || user.passwordHash !== s.passwordHash) return 'bad';
      if (req.method !== 'GET' && req.method !== 'HEAD' && !opts.sessions.csrfOk(req, s)) return 'csrf';
      return { username: user.username, role: user.role };
    }
    if (h === undefined || h === '') return 'none';
    const sp = h.indexOf(' ');
    const scheme = (sp < 0 ? h : h.slice(0, sp)).toLowerCase();
    const cred = sp < 0 ? '' : h.slice(sp + 1).trim();
    if (scheme === 'bearer') {
      const t = tokens.get(tokenKey(cred));
      // A token dies with its user's deletion or password change (the user management API).
      const user = t === undefined ? undefined : opts.users().find((u) => u.username === t.username);
      if (t === undefined || t.expires <= now() || user === undefined || user.passwordHash !== t.passwordHash) {
        if (t !== undefined) tokens.delete(tokenKey(cred));
        return 'bad';
      }
      return { username: t.username, role: user.role };
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(cred, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) return 'bad';
      const username = decoded.slice(0, colon);
      const user = opts.users().find((u) => u.username === username);
      // Verify against something even for an unknown user: timing does not tell which names exist.
      const ok = await verifyPassword(decoded.slice(colon + 1), user?.passwordHash ?? DUMMY_HASH);
      return ok && user !== undefined ? { username, role: user.role } : 'bad';
    }
    return 'bad';
  };

  const deny = (reply: FastifyReply, code: 401 | 403 | 429, message: string): FastifyReply => {
    // No Basic challenge to the console's own requests: the browser would pop up its password dialog over the login page.
    const fromConsole = reply.request.headers['x-sbc-console'] !== undefined || (reply.request.headers.cookie?.includes('sbc_console=') ?? false);
    if (code === 401 && !fromConsole) reply.header('www-authenticate', 'Basic realm="sbc", charset="UTF-8"');
    return reply.code(code).send({ error: message });
  };

  server.addHook('onRequest', async (req, reply) => {
    const need = req.routeOptions.config?.role ?? 'admin';
    if (need === 'public') return;
    if (!opts.enabled) return;
    const address = req.socket.remoteAddress ?? '';
    if (need === 'loopback' && isLoopback(address) && req.headers.authorization === undefined) return;
    if (blocked(address)) {
      stats.blockedRequests++;
      return deny(reply, 429, 'too many failed logins; try again later');
    }
    const who = await authenticate(req);
    if (who === 'none') return deny(reply, 401, 'authentication required');
    // A cookie alone proves nothing about who composed the request (CSRF): changes need the token too.
    if (who === 'csrf') return deny(reply, 403, 'X-CSRF-Token missing or wrong');
    if (who === 'bad') {
      fail(address, null);
      return deny(reply, 401, 'bad credentials');
    }
    const rank = need === 'loopback' ? 1 : RANK[need];
    if (RANK[who.role] < rank) return deny(reply, 403, `role ${need} required`);
    req.apiUser = who;
    return undefined;
  });

  server.post('/api/v1/auth/token', { config: { role: 'monitor' } }, async (req) => {
    const who = req.apiUser ?? { username: 'anonymous', role: 'admin' as ApiRole };
    const user = opts.users().find((u) => u.username === who.username);
    const minutes = user?.sessionTimeoutMin ?? 15;
    const token = randomBytes(32).toString('base64url');
    if (tokens.size > 10_000) for (const [k, t] of tokens) if (t.expires <= now()) tokens.delete(k);
    tokens.set(tokenKey(token), { username: who.username, role: who.role, passwordHash: user?.passwordHash ?? '', expires: now() + minutes * 60_000 });
    return { token, tokenType: 'Bearer', expiresInSec: minutes * 60, role: who.role };
  });

  server.delete('/api/v1/auth/token', { config: { role: 'monitor' } }, async (req, reply) => {
    const h = req.headers.authorization ?? '';
    if (h.toLowerCase().startsWith('bearer ')) tokens.delete(tokenKey(h.slice(7).trim()));
    return reply.code(204).send();
  });

  const login = async (address: string, username: string, password: string): Promise<ApiUser | 'bad' | 'blocked'> => {
    if (blocked(address)) {
      stats.blockedRequests++;
      return 'blocked';
    }
    const user = opts.users().find((u) => u.username === username);
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (ok && user !== undefined) return user;
    fail(address, null);
    return 'bad';
  };

  return {
    login,
    stats: () => ({ ...stats, activeTokens: [...tokens.values()].filter((t) => t.expires > now()).length }),
  };
}

/** A valid hash of a random password, verified when the user name is unknown. */
const DUMMY_HASH = 'scrypt$16384$8$1$c2JjLWR1bW15LXNhbHQ=$eW91LXdpbGwtbmV2ZXItbWF0Y2gtdGhpcy1oYXNo';
