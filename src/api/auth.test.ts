import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createMetrics, startApiServer } from './server.js';
import { hashPasswordSync, verifyPassword } from './password.js';
import { silentLogger } from '../util/logger.js';

const users = [
  { username: 'mon', passwordHash: hashPasswordSync('m-pw'), role: 'monitor' as const, sessionTimeoutMin: 5 },
  { username: 'op', passwordHash: hashPasswordSync('o-pw'), role: 'operator' as const, sessionTimeoutMin: 5 },
  { username: 'adm', passwordHash: hashPasswordSync('a-pw'), role: 'admin' as const, sessionTimeoutMin: 5 },
];
const basic = (u: string, p: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

describe('REST API authentication and roles', () => {
  let server: FastifyInstance;
  let base: string;
  let reloads = 0;
  const failures: string[] = [];

  beforeAll(async () => {
    const api = await startApiServer({
      host: '127.0.0.1', port: 0, metrics: createMetrics(), logger: silentLogger(),
      auth: { enabled: true, users: () => users, maxFailures: 3, onFailure: (a) => failures.push(a) },
      backend: {
        status: () => ({ version: 'x', uptimeSec: 1, activeCalls: 0 }),
        calls: () => [{ from: 'secret caller' }],
        proxySets: () => [],
        reload: async () => { reloads++; return { ok: true, diagnostics: [], changes: [] }; },
      },
      extraRoutes: [(s) => s.get('/api/v1/undeclared', async () => ({ ok: true }))],
    });
    server = api.server;
    base = `http://127.0.0.1:${api.port}`;
  });
  afterAll(async () => server?.close());

  it('every endpoint without credentials gets 401 (health only for loopback, without credentials)', async () => {
    const routes = server.printRoutes({ commonPrefix: false });
    expect(routes).toContain('calls');
    for (const [method, path] of [['GET', '/api/v1/status'], ['GET', '/api/v1/calls'], ['GET', '/api/v1/proxy-sets'], ['POST', '/api/v1/config/reload'],
      ['GET', '/metrics'], ['POST', '/api/v1/auth/token'], ['GET', '/api/v1/undeclared']] as const) {
      const r = await fetch(`${base}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('Basic');
    }
    expect((await fetch(`${base}/api/v1/health`)).status).toBe(200);
    expect(reloads).toBe(0);
  });

  it('roles: monitor reads but cannot reload; operator reloads; undeclared routes need admin', async () => {
    expect((await fetch(`${base}/api/v1/calls`, { headers: basic('mon', 'm-pw') })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: basic('mon', 'm-pw') })).status).toBe(403);
    expect(reloads).toBe(0);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: basic('op', 'o-pw') })).status).toBe(200);
    expect(reloads).toBe(1);
    expect((await fetch(`${base}/api/v1/undeclared`, { headers: basic('op', 'o-pw') })).status).toBe(403);
    expect((await fetch(`${base}/api/v1/undeclared`, { headers: basic('adm', 'a-pw') })).status).toBe(200);
  });

  it('bearer tokens from /api/v1/auth/token carry the role; a revoked token is refused', async () => {
    const t = await (await fetch(`${base}/api/v1/auth/token`, { method: 'POST', headers: basic('mon', 'm-pw') })).json() as { token: string; role: string };
    expect(t.role).toBe('monitor');
    const bearer = { authorization: `Bearer ${t.token}` };
    expect((await fetch(`${base}/api/v1/status`, { headers: bearer })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: bearer })).status).toBe(403);
    expect((await fetch(`${base}/api/v1/auth/token`, { method: 'DELETE', headers: bearer })).status).toBe(204);
    expect((await fetch(`${base}/api/v1/status`, { headers: bearer })).status).toBe(401);
  });

  it('failed logins are counted and the source is refused (429) after too many', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${base}/api/v1/status`, { headers: basic('adm', 'wrong') })).status).not.toBe(200);
    const r = await fetch(`${base}/api/v1/status`, { headers: basic('adm', 'a-pw') });
    expect(r.status).toBe(429);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures.every((f) => !f.includes('wrong'))).toBe(true);
  });

  it('password hashes verify only the right password', async () => {
    const h = hashPasswordSync('pw');
    expect(h.startsWith('scrypt$16384$8$1$')).toBe(true);
    expect(await verifyPassword('pw', h)).toBe(true);
    expect(await verifyPassword('pw2', h)).toBe(false);
    expect(await verifyPassword('pw', 'plain')).toBe(false);
  });
});
