/**
 * REST API user management (Admin only): list, create, change password,
 * delete. The users are the WebUsers rows of the configuration, so every
 * change goes through the configuration write path (ConfigStore.edit:
 * validated, written back to the ini atomically, recorded in the history)
 * and survives a restart. Passwords are turned into scrypt hashes here and
 * exist nowhere else: not in the ini, the history, a response or the log.
 *
 *   GET    /api/v1/users                       -> [{ username, role, sessionTimeoutMin }]
 *   POST   /api/v1/users                       { username, password, role, sessionTimeoutMin? } -> 201
 *   PUT    /api/v1/users/:username/password    { password } -> 200
 *   DELETE /api/v1/users/:username             -> 200 (the last admin cannot be deleted: 409)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { editRow, formatDiagnostic, type ConfigStore, type ReloadResult, type SbcConfig } from '../config/index.js';
import type { ApiRole } from './auth.js';
import { hashPassword } from './password.js';

const ROLES: readonly ApiRole[] = ['monitor', 'operator', 'admin'];
/** NIST SP 800-63B §5.1.1.2: at least 8 characters; an upper bound keeps scrypt's input sane. */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 256;
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;

type RowError = { readonly status: 400 | 404 | 409; readonly error: string };

interface UserBody {
  username?: unknown;
  password?: unknown;
  role?: unknown;
  sessionTimeoutMin?: unknown;
}

function passwordProblem(p: unknown): string | null {
  if (typeof p !== 'string') return 'password (a string) is required';
  if (p.length < MIN_PASSWORD) return `password must have at least ${MIN_PASSWORD} characters`;
  if (p.length > MAX_PASSWORD) return `password must have at most ${MAX_PASSWORD} characters`;
  return null;
}

function rowOf(config: SbcConfig, username: string): number | null {
  return config.webUsers.find((u) => u.username === username)?.index ?? null;
}

export function registerUserRoutes(server: FastifyInstance, store: ConfigStore): void {
  const admin = { config: { role: 'admin' as const } };
  const origin = (req: FastifyRequest, detail: string) => ({ kind: 'api' as const, user: req.apiUser?.username ?? req.ip, detail });
  const answer = (reply: FastifyReply, r: ReloadResult | RowError, okCode = 200): FastifyReply => {
    if ('status' in r) return reply.code(r.status).send({ error: r.error });
    if (!r.ok) return reply.code(422).send({ error: 'the configuration refused the change', diagnostics: r.diagnostics.map(formatDiagnostic) });
    return reply.code(okCode).send({ ok: true, version: r.version?.version ?? null });
  };

  server.get('/api/v1/users', admin, async () =>
    store.current().webUsers.map((u) => ({ username: u.username, role: u.userLevel, sessionTimeoutMin: u.sessionTimeout })));

  server.post('/api/v1/users', admin, async (req, reply) => {
    const b = (req.body ?? {}) as UserBody;
    if (typeof b.username !== 'string' || !USERNAME.test(b.username)) return reply.code(400).send({ error: 'username: 1-64 of A-Z a-z 0-9 . _ @ -' });
    const bad = passwordProblem(b.password);
    if (bad !== null) return reply.code(400).send({ error: bad });
    if (typeof b.role !== 'string' || !ROLES.includes(b.role as ApiRole)) return reply.code(400).send({ error: `role: one of ${ROLES.join(', ')}` });
    const timeout = b.sessionTimeoutMin ?? 15;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 1440) return reply.code(400).send({ error: 'sessionTimeoutMin: 1-1440' });
    // Hashed before the serialised edit: scrypt takes tens of milliseconds.
    const hash = await hashPassword(b.password as string);
    const username = b.username;
    const r = await store.edit<RowError>((text, config) => {
      if (rowOf(config, username) !== null) return { status: 409 as const, error: `user ${username} exists` };
      const index = config.webUsers.reduce((m, u) => Math.max(m, u.index + 1), 0);
      const e = editRow(text, config, 'add', 'WebUsers', index, { Username: username, Password: hash, UserLevel: b.role, SessionTimeout: timeout });
      return 'error' in e ? e : { text: e.text, origin: origin(req, `user ${username} created (${String(b.role)})`) };
    });
    return answer(reply, r, 201);
  });

  server.put<{ Params: { username: string } }>('/api/v1/users/:username/password', admin, async (req, reply) => {
    const b = (req.body ?? {}) as UserBody;
    const bad = passwordProblem(b.password);
    if (bad !== null) return reply.code(400).send({ error: bad });
    const hash = await hashPassword(b.password as string);
    const username = req.params.username;
    const r = await store.edit<RowError>((text, config) => {
      const index = rowOf(config, username);
      if (index === null) return { status: 404 as const, error: `no user ${username}` };
      const e = editRow(text, config, 'patch', 'WebUsers', index, { Password: hash });
      return 'error' in e ? e : { text: e.text, origin: origin(req, `password of user ${username} changed`) };
    });
    return answer(reply, r);
  });

  server.delete<{ Params: { username: string } }>('/api/v1/users/:username', admin, async (req, reply) => {
    const username = req.params.username;
    const r = await store.edit<RowError>((text, config) => {
      const index = rowOf(config, username);
      if (index === null) return { status: 404 as const, error: `no user ${username}` };
      const admins = config.webUsers.filter((u) => u.userLevel === 'admin');
      if (admins.length === 1 && admins[0]!.username === username) return { status: 409 as const, error: 'the last admin cannot be deleted' };
      const e = editRow(text, config, 'delete', 'WebUsers', index);
      return 'error' in e ? e : { text: e.text, origin: origin(req, `user ${username} deleted`) };
    });
    return answer(reply, r);
  });
}
