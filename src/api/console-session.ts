/**
 * Web console sessions: a random id in an HttpOnly, SameSite=Strict cookie
 * (RFC 6265 section 4.1; SameSite per RFC 6265bis) and a CSRF token the
 * page sends back in X-CSRF-Token on every change. The cookie alone never
 * authorises a change: a page on another site can make the browser send
 * the cookie (older browsers ignore SameSite) but cannot read the token.
 *
 * Sessions are stored by the SHA-256 of their id (a heap dump does not hand
 * them out), expire after the user's SessionTimeout of inactivity, and hold
 * the password hash they were opened with so a password change ends them.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/** The API user (auth.ts ApiUser), restated here so auth.ts can import this module without a cycle. */
type ApiRole = 'monitor' | 'operator' | 'admin';
interface ApiUser {
  username: string;
  passwordHash: string;
  role: ApiRole;
  sessionTimeoutMin: number;
}

export const SESSION_COOKIE = 'sbc_console';

export interface ConsoleSession {
  username: string;
  role: ApiRole;
  passwordHash: string;
  csrf: string;
  /** Idle timeout in ms, and when it runs out. */
  idleMs: number;
  expires: number;
}

export interface ConsoleSessions {
  /** Opens a session; returns the cookie value (given to the browser only). */
  open(user: ApiUser): { id: string; session: ConsoleSession };
  /** The request's session: 'none' without a cookie, 'bad' for an unknown or expired one. */
  lookup(req: FastifyRequest): ConsoleSession | 'none' | 'bad';
  csrfOk(req: FastifyRequest, s: ConsoleSession): boolean;
  close(req: FastifyRequest): void;
  /** Set-Cookie value for an id ('' clears it). */
  cookie(id: string, secure: boolean): string;
  count(): number;
}

const MAX_SESSIONS = 1000;

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64');
}

/** The value of one cookie from a Cookie header (RFC 6265 section 5.4); null when absent. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function createConsoleSessions(now: () => number = Date.now): ConsoleSessions {
  const sessions = new Map<string, ConsoleSession>();
  const idOf = (req: FastifyRequest): string | null => cookieValue(req.headers.cookie, SESSION_COOKIE);
  const prune = (): void => {
    const t = now();
    for (const [k, s] of sessions) if (s.expires <= t) sessions.delete(k);
    // Still full: the oldest go first (Map keeps insertion order).
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
  };
  return {
    open(user) {
      if (sessions.size >= MAX_SESSIONS) prune();
      const id = randomBytes(32).toString('base64url');
      const idleMs = Math.max(1, user.sessionTimeoutMin) * 60_000;
      const session: ConsoleSession = {
        username: user.username, role: user.role, passwordHash: user.passwordHash,
        csrf: randomBytes(24).toString('base64url'), idleMs, expires: now() + idleMs,
      };
      sessions.set(keyOf(id), session);
      return { id, session };
    },
    lookup(req) {
      const id = idOf(req);
      if (id === null || id === '') return 'none';
      const k = keyOf(id);
      const s = sessions.get(k);
      if (s === undefined) return 'bad';
      if (s.expires <= now()) {
        sessions.delete(k);
        return 'bad';
      }
      s.expires = now() + s.idleMs;
      return s;
    },
    csrfOk(req, s) {
      const h = req.headers['x-csrf-token'];
      if (typeof h !== 'string') return false;
      const a = Buffer.from(h);
      const b = Buffer.from(s.csrf);
      return a.length === b.length && timingSafeEqual(a, b);
    },
    close(req) {
      const id = idOf(req);
      if (id !== null) sessions.delete(keyOf(id));
    },
    cookie(id, secure) {
      const base = `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
      return id === '' ? `${base}; Max-Age=0` : base;
    },
    count: () => sessions.size,
  };
}
