import { request } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAuth } from './auth.js';
import { registerConsoleRoutes } from './console-routes.js';
import { cookieValue, createConsoleSessions } from './console-session.js';
import { hashPasswordSync } from './password.js';

const users = [
  { username: 'mon', passwordHash: hashPasswordSync('m-pw'), role: 'monitor' as const, sessionTimeoutMin: 5 },
  { username: 'op', passwordHash: hashPasswordSync('o-pw'), role: 'operator' as const, sessionTimeoutMin: 5 },
];

describe('web console sessions, CSRF and the event stream', () => {
  let server: FastifyInstance;
  let port: number;
  let statusReads = 0;
  const callQueries: string[] = [];

  beforeAll(async () => {
    server = Fastify({ logger: false });
    const sessions = createConsoleSessions();
    const auth = registerAuth(server, { enabled: true, users: () => users, sessions });
    server.get('/api/v1/status', { config: { role: 'monitor' } }, async () => ({ n: ++statusReads }));
    server.get<{ Querystring: Record<string, string> }>('/api/v1/calls', { config: { role: 'monitor' } }, async (req, reply) => {
      callQueries.push(new URLSearchParams(req.query).toString());
      return reply.header('x-total-count', '5000').send([{ id: 'c1' }]);
    });
    server.post('/api/v1/change', { config: { role: 'operator' } }, async () => ({ changed: true }));
    registerConsoleRoutes(server, { auth, sessions, secure: false, periodMs: 40, assetDir: '/nonexistent' });
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.server.address() as { port: number }).port;
  });
  afterAll(async () => server?.close());

  const login = async (username: string, password: string): Promise<{ cookie: string; csrf: string }> => {
    const r = await server.inject({ method: 'POST', url: '/console/api/login', payload: { username, password } });
    expect(r.statusCode).toBe(200);
    const set = String(r.headers['set-cookie']);
    expect(set).toMatch(/^sbc_console=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict$/);
    return { cookie: `sbc_console=${cookieValue(set.split(';')[0], 'sbc_console')}`, csrf: (r.json() as { csrf: string }).csrf };
  };

  it('a session reads; a change needs the CSRF token and the role; logout ends the session', async () => {
    expect((await server.inject({ method: 'POST', url: '/console/api/login', payload: { username: 'mon', password: 'bad' } })).statusCode).toBe(401);
    const mon = await login('mon', 'm-pw');
    expect((await server.inject({ url: '/api/v1/status', headers: { cookie: mon.cookie } })).statusCode).toBe(200);
    expect((await server.inject({ method: 'POST', url: '/api/v1/change', headers: { cookie: mon.cookie, 'x-csrf-token': mon.csrf } })).statusCode).toBe(403);
    const op = await login('op', 'o-pw');
    expect((await server.inject({ method: 'POST', url: '/api/v1/change', headers: { cookie: op.cookie } })).statusCode).toBe(403);
    expect((await server.inject({ method: 'POST', url: '/api/v1/change', headers: { cookie: op.cookie, 'x-csrf-token': mon.csrf } })).statusCode).toBe(403);
    expect((await server.inject({ method: 'POST', url: '/api/v1/change', headers: { cookie: op.cookie, 'x-csrf-token': op.csrf } })).statusCode).toBe(200);
    // The console's own requests get no Basic challenge (no browser password dialog).
    const anon = await server.inject({ url: '/api/v1/status', headers: { 'x-sbc-console': '1' } });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toBeUndefined();
    expect((await server.inject({ method: 'POST', url: '/console/api/logout', headers: { cookie: op.cookie, 'x-csrf-token': op.csrf } })).statusCode).toBe(204);
    expect((await server.inject({ url: '/api/v1/status', headers: { cookie: op.cookie } })).statusCode).toBe(401);
    expect((await server.inject({ url: '/console/' })).statusCode).toBe(404); // not built here: said so, nothing else served
  });

  it('the event stream reads snapshots only while a client is connected', async () => {
    const mon = await login('mon', 'm-pw');
    const before = statusReads;
    const chunks: string[] = [];
    const req = request({ host: '127.0.0.1', port, path: '/console/api/events?q=PBX&offset=200', headers: { cookie: mon.cookie } });
    const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
    req.on('error', () => {});
    await new Promise<void>((resolve) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        res.on('data', (d: Buffer) => {
          chunks.push(d.toString());
          if (chunks.join('').split('event: snapshot').length > 3) resolve();
        });
      });
      req.end();
    });
    expect(chunks.join('')).toMatch(/event: snapshot\ndata: \{"time":\d+,"status":\{"n":\d+\}/);
    // The calls part is one capped page of the list (the stream's filter), with the total beside it.
    expect(chunks.join('')).toContain('"calls":[{"id":"c1"}],"callsTotal":5000');
    expect(callQueries[0]).toBe('limit=100&q=PBX&offset=200');
    req.destroy();
    await closed;
    // Once the server saw the close, the timer stops: no more reads over many periods.
    let last = -1;
    for (let i = 0; i < 50 && last !== statusReads; i++) {
      last = statusReads;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(statusReads).toBeGreaterThan(before + 2);
    const settled = statusReads;
    await new Promise((r) => setTimeout(r, 400)); // 10 periods
    expect(statusReads).toBe(settled);
  });

  it('a console not showing the call list (?calls=0) gets snapshots without calls', async () => {
    const mon = await login('mon', 'm-pw');
    const before = callQueries.length;
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/console/api/events?calls=0', headers: { cookie: mon.cookie } }, (res) => {
        let got = '';
        res.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.split('event: snapshot').length > 2) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on('error', (e) => { if (!String(e).includes('socket hang up')) reject(e); });
      req.end();
    });
    expect(text).toMatch(/event: snapshot\ndata: \{"time":\d+,"status":/);
    expect(text).not.toContain('"calls"');
    expect(callQueries.length).toBe(before);
  });
});
