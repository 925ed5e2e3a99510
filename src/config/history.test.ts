import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigBackups, ConfigHistory, ConfigStore, attachPersistence, editRow, maskIniText, unmaskIniText, loadConfigText, parseTimeOfDay,
} from './index.js';
import { msUntil } from './backup.js';

const BASE = `; operator comment kept across row edits
[SIP Params]
SipT1Rtx = 500
ConfigBackupTime = ""
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ ProxySet ]
FORMAT Index = ProxyName;
ProxySet 0 = "P";
ProxySet 1 = "Q";
[ \\ProxySet ]
; groups
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, Password;
IPGroup 0 = 0, "PBX", "P", "s3cret";
IPGroup 1 = 0, "ITSP", "Q", "";
[ \\IPGroup ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, DestType, DestIPGroupName;
IP2IPRouting 0 = "out", "PBX", 0, "ITSP";
[ \\IP2IPRouting ]
`;

let dir = '';
let file = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sbc-hist-'));
  file = join(dir, 'sbc.ini');
  await writeFile(file, BASE);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openStore(): Promise<ConfigStore> {
  const { store } = await ConfigStore.open(file);
  await attachPersistence(store!);
  return store!;
}

describe('configuration history', () => {
  it('records startup, each accepted change with origin and diff, and nothing for refused or identical texts', async () => {
    const store = await openStore();
    const h = store.history!;
    expect(h.list().map((v) => v.origin.kind)).toEqual(['startup']);

    await writeFile(file, BASE.replace('SipT1Rtx = 500', 'SipT1Rtx = 250'));
    const r1 = await store.reload();
    expect(r1.version?.version).toBe(2);
    expect(r1.version?.origin).toEqual({ kind: 'file', detail: 'SIGHUP' });
    expect(r1.version?.changes).toEqual(["parameter sipt1rtx: '500' -> '250'"]);

    const r2 = await store.apply(store.text().replace('"s3cret"', '"n3w"'), { kind: 'api', user: '127.0.0.1', detail: 'PUT /api/v1/config' });
    expect(r2.version?.changes).toEqual(['IPGroup 0 (PBX): Password changed (value hidden)']);
    expect(await readFile(file, 'utf8')).toContain('"n3w"');

    const bad = await store.apply(store.text().replace('"out", "PBX", 0, "ITSP"', '"out", "PBX", 0, "NOWHERE"'), { kind: 'api' });
    expect(bad.ok).toBe(false);
    const same = await store.reload();
    expect(same.version).toBeNull();
    expect(h.list()).toHaveLength(3);

    // Survives a restart, including a torn last log line.
    await appendFile(join(h.dir, 'versions.jsonl'), '{"version": 4, "ti');
    const again = await ConfigHistory.open(h.dir, { maxVersions: 100 });
    expect(again.list().map((v) => v.version)).toEqual([1, 2, 3]);
    expect(await again.text(1)).toBe(BASE);
  });

  it('rolls back through the same path and records the rollback as a version', async () => {
    const store = await openStore();
    await store.apply(store.text().replace('"out", "PBX", 0, "ITSP"', '"out", "PBX", 0, "PBX"'), { kind: 'api' });
    expect(store.current().ip2ipRouting[0]!.destIpGroupName).toBe('PBX');
    const r = await store.rollback(1, { user: 'ops' });
    expect(r.ok).toBe(true);
    expect(store.current().ip2ipRouting[0]!.destIpGroupName).toBe('ITSP');
    expect('version' in r && r.version?.origin).toEqual({ kind: 'rollback', user: 'ops', detail: 'rollback to version 1' });
    expect(await readFile(file, 'utf8')).toBe(BASE);
    expect((await store.rollback(99)).ok).toBe(false);
  });

  it('keeps at most ConfigHistoryMaxVersions versions', async () => {
    await writeFile(file, `${BASE}ConfigHistoryMaxVersions = 3\n`);
    const store = await openStore();
    for (let i = 1; i <= 4; i++) await store.apply(store.text().replace(/SipT1Rtx = \d+/, `SipT1Rtx = ${100 + i}`), { kind: 'api' });
    const h = store.history!;
    expect(h.list().map((v) => v.version)).toEqual([3, 4, 5]);
    const snaps = (await readdir(h.dir)).filter((n) => n.endsWith('.ini')).sort();
    expect(snaps).toEqual(['v000003.ini', 'v000004.ini', 'v000005.ini']);
  });
});

describe('row edits and masking', () => {
  it('edits one row, keeps comments elsewhere, and refuses bad edits', async () => {
    const c = loadConfigText(BASE, file).config!;
    const e = editRow(BASE, c, 'patch', 'IP2IPRouting', 0, { DestIPGroupName: 'PBX', DestType: 'ip-group' });
    expect('text' in e).toBe(true);
    if (!('text' in e)) return;
    expect(e.text).toContain('; operator comment kept across row edits');
    expect(e.text).toContain('; groups');
    const c2 = loadConfigText(e.text, file).config!;
    expect(c2.ip2ipRouting[0]!.destIpGroupName).toBe('PBX');
    expect(c2.ip2ipRouting[0]!.routeName).toBe('out');
    expect(c2.ipGroups).toEqual(c.ipGroups);
    expect(editRow(BASE, c, 'add', 'IP2IPRouting', 0, {})).toMatchObject({ status: 409 });
    expect(editRow(BASE, c, 'patch', 'IP2IPRouting', 7, {})).toMatchObject({ status: 404 });
    expect(editRow(BASE, c, 'patch', 'IP2IPRouting', 0, { NoSuchColumn: 1 })).toMatchObject({ status: 400 });
    expect(editRow(BASE, c, 'patch', 'IP2IPRouting', 0, { DestType: 'bogus' })).toMatchObject({ status: 400 });
    const del = editRow(BASE, c, 'delete', 'IP2IPRouting', 0);
    expect('text' in del && loadConfigText(del.text, file).config!.ip2ipRouting).toEqual([]);
    const add = editRow(BASE, c, 'add', 'DialPlan', 0, { Name: 'PLAN1' });
    expect('text' in add && loadConfigText(add.text, file).config!.dialPlans.map((d) => d.name)).toEqual(['PLAN1']);
  });

  it('masks secrets for display and restores them when the masked text comes back', () => {
    const masked = maskIniText(`${BASE}SomePassword = top secret\n`);
    expect(masked).not.toMatch(/s3cret|top secret/);
    expect(masked).toContain('IPGroup 0 = 0, "PBX", "P", "*****";');
    expect(masked).toContain('IPGroup 1 = 0, "ITSP", "Q", "";');
    const running = loadConfigText(`${BASE}SomePassword = top secret\n`, file).config!;
    const back = unmaskIniText(masked, running);
    expect(loadConfigText(back, file).config!.ipGroups[0]!.password).toBe('s3cret');
    expect(loadConfigText(back, file).config!.scalars.get('somepassword')).toBe('top secret');
  });
});

describe('backups and atomic writes', () => {
  it('keeps the newest N backups', async () => {
    const b = new ConfigBackups({ dir: join(dir, 'bk'), sourceFile: file, keep: 3, dailyTime: null });
    for (let i = 0; i < 5; i++) await b.backup(`v${i}`, i % 2 === 0 ? 'change' : 'daily', new Date(2024, 0, 1, 0, 0, i));
    const names = (await readdir(join(dir, 'bk'))).sort();
    expect(names).toEqual(['sbc.ini.20240101-000002-000.change.ini', 'sbc.ini.20240101-000003-000.daily.ini', 'sbc.ini.20240101-000004-000.change.ini']);
    expect(await readFile(join(dir, 'bk', names[2]!), 'utf8')).toBe('v4');
  });

  it('parses the daily time and computes the next run', () => {
    expect(parseTimeOfDay('03:00')).toBe(10800);
    expect(parseTimeOfDay('23:59:59')).toBe(86399);
    expect(parseTimeOfDay('24:00')).toBeNull();
    expect(msUntil(3600, new Date(2024, 0, 1, 0, 59, 58))).toBe(2000);
    expect(msUntil(3600, new Date(2024, 0, 1, 1, 0, 0))).toBe(86_400_000);
  });

  it('ignores and removes a stale temporary file at open', async () => {
    await writeFile(join(dir, '.sbc.ini.tmp-999-1'), 'garbage from a crash [');
    const { store, diagnostics } = await ConfigStore.open(file);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(store!.text()).toBe(BASE);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
