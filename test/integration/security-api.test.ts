/**
 * The REST API of the real SBC process is closed by default (issue 12):
 * every endpoint without credentials answers 401, a Monitor cannot reload,
 * an Operator can, and neither passwords nor tokens reach the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from './helpers/sipp.js';
import { basicAuth, startSbc, testIni, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';

describe('REST API authentication (real SBC process)', () => {
  let sbc: SbcProcess;
  let base: string;

  beforeAll(async () => {
    const apiPort = await findFreePort();
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

  it('Monitor reads but cannot reload; Operator reloads', async () => {
    const mon = basicAuth(TEST_API_USERS.monitor);
    expect((await fetch(`${base}/api/v1/calls`, { headers: mon })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: mon })).status).toBe(403);
    expect(sbc.logs.some((l) => l.msg.startsWith('configuration reload'))).toBe(false);
    const op = basicAuth(TEST_API_USERS.operator);
    expect((await fetch(`${base}/api/v1/config/reload`, { method: 'POST', headers: op })).status).toBe(200);
    await sbc.waitForLog((l) => l.msg.startsWith('configuration reload'), 5000);
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
