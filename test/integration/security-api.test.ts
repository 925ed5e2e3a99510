/**
 * The REST API of the real SBC process is closed by default (issue 12):
 * every endpoint without credentials answers 401 (checked over the server's
 * own route list, GET /api/v1/routes), a Monitor cannot reload, an Operator
 * can, and neither passwords nor tokens reach the log. Admins manage the
 * users (WebUsers rows, written back to the ini as scrypt hashes, kept
 * across a restart); Monitor and Operator get 403 there.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from './helpers/sipp.js';
import { basicAuth, startSbc, testIni, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';

describe('REST API authentication (real SBC process)', () => {
  let sbc: SbcProcess;
  let base: string;
  let apiPort: number;

  beforeAll(async () => {
    apiPort = await findFreePort();
    sbc = await startSbc(testIni({
      lanPort: await findFreePort(), wanPort: await findFreePort(), apiPort, media: false,
      pbx: { address: '127.0.0.71', port: 5060 }, itsp: [{ address: '127.0.0.72', port: 5060 }],
      scalars: ['SbcApiMetricsOpen = 0'],
    }));
    base = `http://127.0.0.1:${apiPort}`;
  }, 30_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
  });

  it('answers 401 to every endpoint without credentials', async () => {
    const endpoints: Array<[string, string]> = [
      ['GET', '/api/v1/status'], ['GET', '/api/v1/calls'], ['GET', '/api/v1/proxy-sets'], ['POST', '/api/v1/config/reload'],
      ['GET', '/metrics'], ['GET', '/api/v1/security/denied'], ['POST', '/api/v1/security/denied'], ['DELETE', '/api/v1/security/denied/1.2.3.4'],
      ['GET', '/api/v1/security/stats'], ['GET', '/api/v1/admission'], ['POST', '/api/v1/auth/token'],
    ];
    for (const [method, path] of endpoints) {
      const r = await fetch(`${base}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
    const bad = await fetch(`${base}/api/v1/calls`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
  });

  it('the server\'s own route list: every route answers 401 without credentials (health only to loopback), 403 to a Monitor where it needs more', async () => {
    const routes = await sbc.api<Array<{ method: string; url: string; role: string }>>('/api/v1/routes');
    const mon = basicAuth(TEST_API_USERS.monitor);
    // Every module's routes are there (core, security, admission, config, users, registrations, CDRs).
    for (const u of ['/api/v1/status', '/api/v1/security/denied', '/api/v1/admission', '/api/v1/config', '/api/v1/users', '/api/v1/registrations/users', '/api/v1/cdrs', '/metrics']) {
      expect(routes.some((r) => r.url === u), u).toBe(true);
    }
    const seen: string[] = [];
    for (const r of routes) {
      const path = r.url.replace(/:[A-Za-z]+/g, '1').replace(/\*/g, 'x');
      const res = await fetch(`${base}${path}`, { method: r.method });
      seen.push(`${r.method} ${r.url} ${r.role} ${res.status}`);
      if (r.role === 'loopback') {
        // GET /api/v1/health: loopback clients only, no data beyond "ok".
        expect(res.status, `${r.method} ${r.url}`).toBe(200);
        continue;
      }
      // The web console's login page, its assets and the login itself (docs/console.md); checked below.
      if (r.role === 'public') continue;
      expect(res.status, `${r.method} ${r.url}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
      if (r.role === 'operator' || r.role === 'admin') {
        expect((await fetch(`${base}${path}`, { method: r.method, headers: mon })).status, `monitor: ${r.method} ${r.url}`).toBe(403);
      }
    }
    process.stdout.write(`api routes checked: ${routes.length}\n`);
    expect(routes.length).toBeGreaterThan(25);
    expect(routes.filter((r) => r.role === 'loopback').map((r) => r.url)).toEqual(['/api/v1/health']);
    expect(routes.filter((r) => r.role === 'public').map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /console', 'GET /console/:file', 'POST /console/api/login']);
  });

  it('Admins manage users (scrypt hashes in the ini, survive a restart); Monitor and Operator get 403; passwords never logged', async () => {
    const admin = { ...basicAuth(TEST_API_USERS.admin), 'content-type': 'application/json' };
    const json = (h: Record<string, string>) => ({ ...h, 'content-type': 'application/json' });
    const pw1 = 'first-Secret-pw-4711';
    const pw2 = 'second-Secret-pw-0815';
    for (const who of [TEST_API_USERS.monitor, TEST_API_USERS.operator]) {
      const h = json(basicAuth(who));
      expect((await fetch(`${base}/api/v1/users`, { headers: h })).status).toBe(403);
      expect((await fetch(`${base}/api/v1/users`, { method: 'POST', headers: h, body: JSON.stringify({ username: 'x1', password: pw1, role: 'admin' }) })).status).toBe(403);
      expect((await fetch(`${base}/api/v1/users/test-monitor/password`, { method: 'PUT', headers: h, body: JSON.stringify({ password: pw1 }) })).status).toBe(403);
      expect((await fetch(`${base}/api/v1/users/test-monitor`, { method: 'DELETE', headers: h })).status).toBe(403);
    }
    // Refusals: short password, unknown role, existing name.
    expect((await fetch(`${base}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ username: 'ops2', password: 'short', role: 'operator' }) })).status).toBe(400);
    expect((await fetch(`${base}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ username: 'ops2', password: pw1, role: 'root' }) })).status).toBe(400);
    expect((await fetch(`${base}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ username: 'test-monitor', password: pw1, role: 'monitor' }) })).status).toBe(409);

    const created = await fetch(`${base}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ username: 'ops2', password: pw1, role: 'operator' }) });
    expect(created.status).toBe(201);
    const list = await sbc.api<Array<Record<string, unknown>>>('/api/v1/users');
    expect(list).toContainEqual({ username: 'ops2', role: 'operator', sessionTimeoutMin: 15 });
    expect(JSON.stringify(list)).not.toMatch(/scrypt|password/i);
    const ops2 = basicAuth({ username: 'ops2', password: pw1 });
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: ops2 })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/users`, { headers: ops2 })).status).toBe(403);
    const token = (await (await fetch(`${base}/api/v1/auth/token`, { method: 'POST', headers: ops2 })).json() as { token: string }).token;

    // The ini holds the scrypt hash, never the password; the history records who did it.
    let ini = await readFile(sbc.configPath, 'utf8');
    expect(ini).toMatch(/WebUsers \d+ = "ops2", "scrypt\$16384\$8\$1\$[^"]+", 100, 15;/);
    expect(ini).not.toContain(pw1);
    const history = await sbc.api<{ versions: Array<{ origin: { user?: string; detail?: string } }> }>('/api/v1/config/history');
    expect(history.versions.some((v) => v.origin.user === TEST_API_USERS.admin.username && v.origin.detail === 'user ops2 created (operator)')).toBe(true);

    // Password change: the old password and the token issued with it stop working.
    expect((await fetch(`${base}/api/v1/users/ops2/password`, { method: 'PUT', headers: admin, body: JSON.stringify({ password: pw2 }) })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/status`, { headers: ops2 })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const ops2b = basicAuth({ username: 'ops2', password: pw2 });
    expect((await fetch(`${base}/api/v1/status`, { headers: ops2b })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/users/nobody/password`, { method: 'PUT', headers: admin, body: JSON.stringify({ password: pw2 }) })).status).toBe(404);

    // Survives a restart: a new process on the file the API wrote.
    ini = await readFile(sbc.configPath, 'utf8');
    expect(ini).not.toContain(pw2);
    const logsBefore = sbc.logs.map((l) => JSON.stringify(l)).join('\n') + sbc.stderr();
    expect(await sbc.stop()).toBe(0);
    sbc = await startSbc(ini);
    expect((await fetch(`${base}/api/v1/status`, { headers: ops2b })).status).toBe(200);

    // Delete: the user is gone; the last admin cannot be deleted.
    expect((await fetch(`${base}/api/v1/users/ops2`, { method: 'DELETE', headers: basicAuth(TEST_API_USERS.admin) })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/status`, { headers: ops2b })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/users/${TEST_API_USERS.admin.username}`, { method: 'DELETE', headers: basicAuth(TEST_API_USERS.admin) })).status).toBe(409);
    expect((await fetch(`${base}/api/v1/users/ops2`, { method: 'DELETE', headers: basicAuth(TEST_API_USERS.admin) })).status).toBe(404);
    const logs = logsBefore + sbc.logs.map((l) => JSON.stringify(l)).join('\n') + sbc.stderr();
    for (const secret of [pw1, pw2, token]) expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(/scrypt\$/);
  }, 60_000);

  it('Monitor reads but cannot reload; Operator reloads', async () => {
    const mon = basicAuth(TEST_API_USERS.monitor);
    const before = sbc.logs.length;
    expect((await fetch(`${base}/api/v1/calls`, { headers: mon })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: mon })).status).toBe(403);
    expect(sbc.logs.slice(before).some((l) => l.msg.startsWith('configuration reload'))).toBe(false);
    const op = basicAuth(TEST_API_USERS.operator);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: op })).status).toBe(200);
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= before && l.msg.startsWith('configuration reload'), 5000);
  });

  it('never logs passwords or tokens; failed logins are logged by address and counted', async () => {
    const secret = 'very-secret-guess-123';
    for (let i = 0; i < 2; i++) await fetch(`${base}/api/v1/status`, { headers: basicAuth({ username: TEST_API_USERS.admin.username, password: secret }) });
    const tok = await (await fetch(`${base}/api/v1/auth/token`, { method: 'POST', headers: basicAuth(TEST_API_USERS.monitor) })).json() as { token: string };
    await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${tok.token}` } });
    await sbc.waitForLog((l) => l.msg === 'REST API authentication failed', 5000);
    const all = sbc.logs.map((l) => JSON.stringify(l)).join('\n') + sbc.stderr();
    for (const s of [secret, tok.token, ...Object.values(TEST_API_USERS).map((u) => u.password)]) expect(all).not.toContain(s);
    const metrics = await (await fetch(`${base}/metrics`, { headers: sbc.authHeaders() })).text();
    expect(Number(/^sbc_api_auth_failures (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });
});
