/**
 * The registration bench (`bench/registration.ts`) at a tiny size, so it
 * cannot rot: one low-rate REGISTER step per target (the SBC in front of
 * Kamailio, Kamailio alone) and a 20-user soak with 1 s refreshes. It
 * asserts that the harness works and reports what happened, not speed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../bench/lib/procs.js';
import { assertSippInstalled } from './helpers/sipp.js';
import { KAMAILIO_BIN } from './helpers/kamailio.js';

interface Report {
  ladder: { steps: Array<{ target: string; rate: number; ok: number; failed: number; clean: boolean }>; ceilings: Record<string, number> };
  soak: { usersOk: number; usersFailed: number; registersSent: number; answeredFromCache: number; forwarded: number; bindingsMidSoak: number; heapBytesPerBinding: number | null };
}

describe('registration bench smoke', () => {
  it('runs a REGISTER step against both targets and a small soak, and writes its report', async () => {
    assertSippInstalled();
    if (!existsSync(KAMAILIO_BIN)) throw new Error('kamailio not found: apt-get install kamailio');
    const script = join(repoRoot(), 'dist', 'bench', 'registration.js');
    if (!existsSync(script)) throw new Error(`${script} not found: run 'npm run build' first`);
    const out = mkdtempSync(join(tmpdir(), 'bench-reg-smoke-'));
    try {
      const child = spawn(process.execPath, [script, '--rates', '50', '--step', '2', '--soak', '--users', '20', '--refresh', '1', '--out', out], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      const code = await new Promise<number | null>((res) => child.on('exit', res));
      clearTimeout(killer);
      expect(code, text).toBe(0);
      const report = JSON.parse(readFileSync(join(out, 'registration.json'), 'utf8')) as Report;
      expect(report.ladder.steps.map((s) => [s.target, s.rate, s.ok, s.failed])).toEqual([['sbc', 50, 100, 0], ['kamailio', 50, 100, 0]]);
      // A step is clean only within the latency SLO, which is the bench's finding, not this
      // test's (no timing assertions in tests): the ceiling must agree with the step's verdict.
      for (const s of report.ladder.steps) expect(report.ladder.ceilings[s.target], s.target).toBe(s.clean ? 50 : 0);
      expect(report.soak).toMatchObject({ usersOk: 20, usersFailed: 0, registersSent: 120, bindingsMidSoak: 20 });
      // Refreshes within the registrar's period are answered by the SBC itself.
      expect(report.soak.forwarded).toBe(20);
      expect(report.soak.answeredFromCache).toBe(100);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
