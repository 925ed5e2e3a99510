/**
 * Regression (issue 17, item 2): when file descriptors run out, the native
 * engine must fail with a clear EMFILE error and never hang. Before the fix,
 * an eventfd() failing with EMFILE went unchecked: the engine "started", its
 * thread waited forever, and shutdown() (and the process exit hook) never
 * returned.
 *
 * The engine runs in a child process under `ulimit -n 40`; the child fills
 * the descriptor table itself and frees exactly as many descriptors as each
 * step needs. The test waits for the child's exit (bounded by the spawn
 * timeout), never for a fixed time.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeAddonPath } from './relay-native.js';

const here = dirname(fileURLToPath(import.meta.url));

interface ChildReport {
  kind: string;
  noneFree: string;
  oneFree: string;
  factoryOneFree: { code: string; resourceExhausted: boolean; name: string };
  threeFreeEngine: string;
  threeFreeSession: { code: string; resourceExhausted: boolean };
  fdsAfterFailedSession: number;
  fdsBeforeFailedSession: number;
  shutdownReturned: boolean;
  afterRelease: string;
}

// The child: CommonJS for -e; the TS modules come in through tsx before the
// descriptor table is filled (loading code needs descriptors of its own).
const CHILD = `
(async () => {
  const fs = require('node:fs');
  const addon = require(process.env.ADDON);
  const relay = await import(process.env.RELAY_TS);
  const report = {};
  report.kind = new relay.NativeRelayEngine(addon).kind;
  const fdCount = () => fs.readdirSync('/proc/self/fd').length;
  const held = [];
  for (let i = 0; i < 200; i++) {
    try { held.push(fs.openSync('/dev/null', 'r')); } catch (e) { break; }
  }
  const free = (n) => { for (let i = 0; i < n; i++) fs.closeSync(held.pop()); };
  const codeOf = (fn) => { try { fn(); return 'no error'; } catch (e) { return e.code || e.message; } };
  const leg = { localAddress: '127.0.0.1', localRtpPort: 0, rtcpMux: false, remote: null, latch: 'first-packet', srtp: null, telephoneEventPt: null };

  report.noneFree = codeOf(() => new addon.Engine());
  free(1); // epoll_create1 gets it, eventfd() fails: the hang before the fix
  report.oneFree = codeOf(() => new addon.Engine());
  try {
    relay.createRelayEngine({ prefer: 'native' });
    report.factoryOneFree = { code: 'no error' };
  } catch (e) {
    report.factoryOneFree = { code: e.code, resourceExhausted: e.resourceExhausted === true, name: e.name };
  }
  free(2); // three free: the engine starts (2), a session needs 4 sockets
  let engine = null;
  report.threeFreeEngine = codeOf(() => { engine = new relay.NativeRelayEngine(addon); });
  // readdir itself needs a descriptor: count with one more free, then take it back.
  free(1);
  report.fdsBeforeFailedSession = fdCount();
  held.push(fs.openSync('/dev/null', 'r'));
  try {
    await engine.createSession(leg, leg);
    report.threeFreeSession = { code: 'no error' };
  } catch (e) {
    report.threeFreeSession = { code: e.code, resourceExhausted: e.resourceExhausted === true };
  }
  fs.closeSync(held.pop());
  report.fdsAfterFailedSession = fdCount();
  await engine.shutdown();
  report.shutdownReturned = true;
  free(held.length);
  const e2 = new relay.NativeRelayEngine(addon);
  const s = await e2.createSession(leg, leg);
  report.afterRelease = typeof s.localPorts.A.rtp;
  s.close();
  await e2.shutdown();
  process.stdout.write(JSON.stringify(report) + '\\n');
})().catch((e) => { console.error(e); process.exit(3); });
`;

describe('native relay when file descriptors run out (ulimit -n 40)', () => {
  it('fails engine and session creation with EMFILE, never hangs, leaks nothing', () => {
    const addon = nativeAddonPath();
    expect(addon, 'native addon built (npm run build:native)').not.toBeNull();
    const r = spawnSync('bash', ['-c', 'ulimit -n 40 && exec "$0" --import tsx -e "$1"', process.execPath, CHILD], {
      encoding: 'utf8',
      // A hang (the bug) ends here with SIGTERM instead of stalling the suite.
      timeout: 45_000,
      env: { ...process.env, ADDON: addon!, RELAY_TS: join(here, 'relay.ts') },
    });
    expect(r.signal, `child hung or crashed; stderr: ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildReport;
    expect(rep.kind).toBe('native');
    expect(rep.noneFree).toBe('EMFILE');
    expect(rep.oneFree).toBe('EMFILE');
    // No silent fallback to the JS relay: it would fail the same way, call by call.
    expect(rep.factoryOneFree).toEqual({ code: 'EMFILE', resourceExhausted: true, name: 'RelayError' });
    expect(rep.threeFreeEngine).toBe('no error');
    expect(rep.threeFreeSession).toEqual({ code: 'EMFILE', resourceExhausted: true });
    expect(rep.fdsAfterFailedSession).toBe(rep.fdsBeforeFailedSession);
    expect(rep.shutdownReturned).toBe(true);
    expect(rep.afterRelease).toBe('number');
  }, 90_000); // a child process under load: beyond the unit project's short default
});
