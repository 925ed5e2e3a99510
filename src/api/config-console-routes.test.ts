import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigHistory, ConfigStore } from '../config/index.js';
import { registerAuth } from './auth.js';
import { registerConfigConsoleRoutes } from './config-console-routes.js';
import { registerConfigRoutes } from './config-routes.js';
import { hashPasswordSync } from './password.js';

const users = [
  { username: 'mon', passwordHash: hashPasswordSync('m-pw'), role: 'monitor' as const, sessionTimeoutMin: 5 },
  { username: 'op', passwordHash: hashPasswordSync('o-pw'), role: 'operator' as const, sessionTimeoutMin: 5 },
  { username: 'adm', passwordHash: hashPasswordSync('a-pw'), role: 'admin' as const, sessionTimeoutMin: 5 },
];
const auth = (u: string, p: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const MON = auth('mon', 'm-pw');
const OP = auth('op', 'o-pw');
const ADM = auth('adm', 'a-pw');

describe('configuration API for the console: schema, preview, roles, rollback, route explainer', () => {
  let server: FastifyInstance;
  let store: ConfigStore;
  let file: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-cfg-console-'));
    file = join(dir, 'sbc.ini');
    const webUsers = `\n[ WebUsers ]\nFORMAT Index = Username, Password, UserLevel, SessionTimeout;\nWebUsers 0 = "adm", "${users[2]!.passwordHash}", 200, 15;\n[ \\WebUsers ]\n`;
    await writeFile(file, (await readFile('config/pbx-to-itsp.ini', 'utf8')) + webUsers);
    const opened = await ConfigStore.open(file);
    expect(opened.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    store = opened.store!;
    await store.attach(await ConfigHistory.open(join(dir, 'history'), { maxVersions: 20 }), null);
    server = Fastify({ logger: false });
    registerAuth(server, { enabled: true, users: () => users });
    registerConfigRoutes(server, { store });
    registerConfigConsoleRoutes(server, { store });
    await server.ready();
  });
  afterAll(async () => server?.close());

  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, headers: Record<string, string>, payload?: unknown) => {
    const r = await server.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: r.statusCode, json: r.body === '' ? null : r.json() as Record<string, unknown> };
  };

  it('schema: every table with Mediant column names, descriptions and the role that edits it', async () => {
    const r = await call('GET', '/api/v1/config/schema', MON);
    expect(r.status).toBe(200);
    const tables = r.json!['tables'] as Array<{ name: string; editRole: string; columns: Array<{ name: string; doc: string; values?: unknown[] }> }>;
    const routing = tables.find((t) => t.name === 'IP2IPRouting')!;
    expect(routing.editRole).toBe('operator');
    const dest = routing.columns.find((c) => c.name === 'DestIPGroupName')!;
    expect(dest.doc.length).toBeGreaterThan(5);
    expect(routing.columns.find((c) => c.name === 'DestType')!.values).toContainEqual({ code: 0, name: 'ip-group' });
    expect(tables.find((t) => t.name === 'WebUsers')!.editRole).toBe('admin');
  });

  it('preview: the check-config validator places errors on row and column; a good edit shows its diff; nothing is applied', async () => {
    const before = store.text();
    expect((await call('POST', '/api/v1/config/preview', MON, { op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestIPGroupName: 'PBX' } })).status).toBe(403);
    const bad = await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestIPGroupName: 'NOWHERE' } });
    expect(bad.status).toBe(200);
    expect(bad.json!['ok']).toBe(false);
    const diag = (bad.json!['diagnostics'] as Array<Record<string, unknown>>).find((d) => d['severity'] === 'error')!;
    expect(diag).toMatchObject({ table: 'IP2IPRouting', index: 0, columnName: 'DestIPGroupName' });
    expect(diag['text']).toMatch(/sbc\.ini:\d+:\d+: error: IP2IPRouting 0: refers to IPGroup 'NOWHERE' which does not exist/);
    const badInt = await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestType: 'sideways' } });
    expect(badInt.status).toBe(400);
    expect(badInt.json).toMatchObject({ columnName: 'DestType', table: 'IP2IPRouting' });
    const good = await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestIPGroupName: 'PBX' } });
    expect(good.json).toMatchObject({ ok: true, changes: ["IP2IPRouting 0: DestIPGroupName 'ITSP' -> 'PBX'"] });
    expect(store.text()).toBe(before);
    expect((await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'WebUsers', index: 0, values: { SessionTimeout: 30 } })).status).toBe(403);
    expect((await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'Nope', index: 0 })).status).toBe(404);
  });

  it('apply: an operator edits a routing row with If-Match; a stale base is 412; security tables need an admin', async () => {
    const good = await call('POST', '/api/v1/config/preview', OP, { op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestIPGroupName: 'PBX' } });
    const base = String(good.json!['base']);
    const stale = await server.inject({ method: 'PATCH', url: '/api/v1/config/tables/IP2IPRouting/0', headers: { ...OP, 'if-match': '"0000"' }, payload: { DestIPGroupName: 'PBX' } });
    expect(stale.statusCode).toBe(412);
    const ok = await server.inject({ method: 'PATCH', url: '/api/v1/config/tables/IP2IPRouting/0', headers: { ...OP, 'if-match': `"${base}"` }, payload: { DestIPGroupName: 'PBX' } });
    expect(ok.statusCode).toBe(200);
    expect(store.current().ip2ipRouting[0]!.destIpGroupName).toBe('PBX');
    const history = await call('GET', '/api/v1/config/history', MON);
    const versions = history.json!['versions'] as Array<{ version: number; origin: { user?: string; detail?: string } }>;
    expect(versions.at(-1)!.origin).toMatchObject({ kind: 'api', user: 'op', detail: 'PATCH IP2IPRouting 0' });
    expect((await call('PATCH', '/api/v1/config/tables/WebUsers/0', OP, { SessionTimeout: 30 })).status).toBe(403);
    expect((await call('PATCH', '/api/v1/config/tables/IP2IPRouting/0', MON, { DestIPGroupName: 'ITSP' })).status).toBe(403);
    expect((await call('POST', '/api/v1/config/validate', MON, { ini: store.text() })).status).toBe(403);
    expect((await call('POST', '/api/v1/config/validate', OP, { ini: store.text() })).json!['ok']).toBe(true);
  });

  it('rollback: an operator rolls back a routing change; not one that would change parameters', async () => {
    const versions = ((await call('GET', '/api/v1/config/history', MON)).json!['versions'] as Array<{ version: number }>).map((v) => v.version);
    const first = versions[0]!;
    expect((await call('POST', `/api/v1/config/rollback/${first}`, MON)).status).toBe(403);
    const r = await call('POST', `/api/v1/config/rollback/${first}`, OP);
    expect(r.status).toBe(200);
    expect(r.json!['changes']).toEqual(["IP2IPRouting 0: DestIPGroupName 'PBX' -> 'ITSP'"]);
    expect(store.current().ip2ipRouting[0]!.destIpGroupName).toBe('ITSP');
    const last = ((await call('GET', '/api/v1/config/history', MON)).json!['versions'] as Array<{ origin: { kind: string; user?: string } }>).at(-1)!;
    expect(last.origin).toMatchObject({ kind: 'rollback', user: 'op' });
    // An admin changes a parameter; rolling back over it is the admin's call.
    const put = await server.inject({ method: 'PUT', url: '/api/v1/config', headers: { ...ADM, 'content-type': 'text/plain' }, payload: store.text().replace('SipT1Rtx = 500', 'SipT1Rtx = 450') });
    expect(put.statusCode).toBe(200);
    const refused = await call('POST', `/api/v1/config/rollback/${first}`, OP);
    expect(refused.status).toBe(403);
    expect(String(refused.json!['error'])).toMatch(/parameters \(sipt1rtx\): role admin required/i);
    expect((await call('POST', `/api/v1/config/rollback/${first}`, ADM)).status).toBe(200);
  });

  it('route explainer: a Monitor asks what the SBC would do with a call', async () => {
    const r = await call('POST', '/api/v1/routing/explain', MON, { from: 'sip:1001@pbx.local', to: 'sip:92125551234@127.0.0.1', srcIp: '127.0.0.20' });
    expect(r.status).toBe(200);
    expect(r.json!['result']).toMatchObject({ outcome: 'route', srcIpGroup: 'PBX', routeIndex: 0, dstIpGroup: 'ITSP' });
    expect((r.json!['lines'] as string[]).join('\n')).toContain('source IP Group PBX');
    expect((await call('POST', '/api/v1/routing/explain', MON, { from: 'sip:a@b', to: 'sip:1@b', srcIp: '127.0.0.20', transport: 'carrier-pigeon' })).status).toBe(400);
    expect((await call('POST', '/api/v1/routing/explain', MON, { from: 'sip:a@b' })).status).toBe(400);
  });
});
