import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { RegistrationDb, type Binding } from './bindings.js';
import { BindingStore } from './binding-store.js';

function binding(user: string, expiresInMs = 60_000): Binding {
  const now = Date.now();
  return {
    aor: `${user}@pbx.local`, aorUser: user, contact: `<sip:${user}@10.0.0.9:5062;unknownparam?Route=%3Csip:x%3E>`,
    contactUri: `sip:${user}@10.0.0.9:5062;unknownparam?Route=%3Csip:x%3E`, ipGroup: 'Users',
    flow: { transport: 'tcp', address: '203.0.113.9', port: 40001, interfaceName: 'WAN', connectionId: 7 },
    expiresAt: now + expiresInMs, upstreamExpiresAt: now + 3_600_000, userAgent: 'ua', path: [], callId: `c-${user}`, cseq: 3,
    sbcUser: RegistrationDb.newSbcUser(),
    upstream: { address: '10.1.1.1', port: 5060, transport: 'udp', interfaceName: 'LAN', requestUri: 'sip:pbx.local', ipGroup: 'PBX' },
    registeredAt: now,
  };
}

describe('BindingStore', () => {
  let dir = '';
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'bstore-')), 'not-yet-created');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('keeps puts and removes across a reopen; expired bindings and connections do not come back', async () => {
    const db = new RegistrationDb();
    const store = new BindingStore(dir, db, silentLogger());
    expect(await store.open()).toBe(0);
    const a = binding('200');
    const b = binding('201');
    const c = binding('202', 300);
    db.put(a);
    db.put(b);
    db.put(c);
    db.remove(b);
    a.cseq = 9;
    db.touch(a);
    await store.close();
    await new Promise((r) => setTimeout(r, 350));

    const db2 = new RegistrationDb();
    const store2 = new BindingStore(dir, db2, silentLogger());
    expect(await store2.open()).toBe(1);
    const back = db2.find('200@pbx.local', a.contactUri)!;
    expect(back.contact).toBe(a.contact);
    expect(back.cseq).toBe(9);
    expect(back.flow).toEqual({ ...a.flow, connectionId: null });
    expect(db2.bySbcContactUser(a.sbcUser)).toBe(back);
    await store2.close();
    // The reopen wrote a snapshot: one line per live binding.
    expect((await readFile(join(dir, 'bindings.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('drops a torn last line, starts empty on a corrupt journal and moves it aside', async () => {
    const db = new RegistrationDb();
    const store = new BindingStore(dir, db, silentLogger());
    await store.open();
    db.put(binding('200'));
    await store.close();
    await appendFile(join(dir, 'bindings.jsonl'), '{"op":"put","b":{"aor":');
    const db2 = new RegistrationDb();
    expect(await new BindingStore(dir, db2, silentLogger()).open()).toBe(1);

    await writeFile(join(dir, 'bindings.jsonl'), 'garbage\n{"op":"del","k":"x"}\n');
    const db3 = new RegistrationDb();
    expect(await new BindingStore(dir, db3, silentLogger()).open()).toBe(0);
    expect((await readdir(dir)).some((f) => f.startsWith('bindings.jsonl.corrupt-'))).toBe(true);

    await writeFile(join(dir, 'bindings.jsonl'), '{"op":"put","b":{"aor":"x"}}\n{"op":"del","k":"x"}\n');
    expect(await new BindingStore(dir, new RegistrationDb(), silentLogger()).open()).toBe(0);
  });
});
