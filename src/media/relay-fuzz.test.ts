/**
 * Bounded fuzz of the native relay (issue 17): 200k packets of the mutation
 * classes in test/fuzz/relay-fuzz.ts (truncated, bit-flipped, lying
 * CSRC/extension/RTCP lengths, garbage, oversize, replays, SSRC sprays,
 * wrong sources) against plain and SRTP sessions while sessions are
 * created, renegotiated and destroyed, plus junk settings at the addon
 * boundary. The driver runs in a child process so a crash is a failed
 * test, not a dead test worker; it checks that every counter stays finite
 * and non-negative and that the descriptor count returns to its baseline.
 * scripts/native-sanitize.sh runs the same driver against an ASan/UBSan build.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeAddonPath } from './relay-native.js';

const driver = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fuzz', 'relay-fuzz.ts');

interface FuzzSummary {
  kind: string;
  packets: number;
  created: number;
  closed: number;
  updates: number;
  boundaryThrows: number;
  sunk: number;
  fdsBefore: number;
  fdsAfter: number;
  perMutation: Record<string, number>;
}

describe('native relay fuzz', () => {
  it('200k mutated packets with session churn: no crash, sane counters, no descriptor leak', () => {
    const addon = nativeAddonPath();
    expect(addon, 'native addon built (npm run build:native)').not.toBeNull();
    const r = spawnSync(process.execPath, ['--import', 'tsx', driver, '--packets', '200000', '--addon', addon!], {
      encoding: 'utf8',
      timeout: 240_000,
      maxBuffer: 1 << 20,
    });
    expect(r.signal, `fuzz driver crashed or hung; stderr: ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const sum = JSON.parse(r.stdout.trim().split('\n').pop()!) as FuzzSummary;
    expect(sum.kind).toBe('native');
    expect(sum.packets).toBe(200_000);
    expect(sum.created).toBeGreaterThan(50);
    expect(sum.closed).toBe(sum.created);
    expect(sum.updates).toBeGreaterThan(0);
    expect(sum.boundaryThrows).toBeGreaterThan(0);
    expect(sum.sunk).toBeGreaterThan(0); // valid packets did get through
    // The driver fails on any descriptor opened during the run and still open (a leak);
    // the runner's own descriptors may close meanwhile, so the count may only go down.
    expect(sum.fdsAfter).toBeLessThanOrEqual(sum.fdsBefore);
    expect(Object.keys(sum.perMutation).length).toBe(12);
    for (const n of Object.values(sum.perMutation)) expect(n).toBeGreaterThan(1000);
  }, 90_000); // a child process under load: beyond the unit project's short default
});
