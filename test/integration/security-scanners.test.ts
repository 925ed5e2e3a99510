/**
 * The scanners an SBC faces on the internet (sipvicious: `svmap`, `svwar`)
 * against the real SBC process on loopback. The SBC must stay up, create
 * no call, keep no transaction, and tell the scanners as little as its
 * configuration says: the test ini rejects unclassified requests with 403
 * (ClassificationFailureResponseType); a variant uses 0 = drop silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

interface Status {
  calls: { calls: number; totalCalls: number; rejected: number };
  transactions: { clientTransactions: number; serverTransactions: number; tuErrors: number };
  transport: { listenerErrors: number };
}

/** The scanner's own address: classified by nothing in the test ini. */
const SCANNER = '127.0.0.9';

function assertSipviciousInstalled(): void {
  for (const tool of ['svmap', 'svwar']) {
    if (!existsSync(`/usr/bin/${tool}`)) {
      throw new Error(`${tool} not found: apt-get install sipvicious (scripts/install-test-deps.sh does)`);
    }
  }
}

interface ToolRun {
  code: number | null;
  out: string;
}

/** Runs one sipvicious tool, bounded by a kill timer; its session files go to a scratch HOME. */
async function runTool(tool: string, args: string[], home: string, timeoutMs = 30_000): Promise<ToolRun> {
  // A fresh source port per run: the SBC's retransmitted 403s for one scan must not reach the next.
  const localPort = await findFreePort(SCANNER);
  return new Promise((resolve) => {
    const child = spawn(`/usr/bin/${tool}`, ['-P', String(localPort), ...args], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * The tool ran to its end: exit code 0 and no Python traceback (a crashed
 * scanner prints empty result tables too, which would pass as "found nothing").
 */
function expectCompleted(run: ToolRun, what: string): void {
  expect(run.code, `${what} exit code:\n${run.out}`).toBe(0);
  expect(run.out, what).not.toMatch(/Traceback|Error:|Exception/);
}

/** svmap's table: `| 127.0.0.1:5060 | User-Agent |`. */
function svmapDevices(out: string): Array<{ port: number; agent: string }> {
  const rows: Array<{ port: number; agent: string }> = [];
  for (const m of out.matchAll(/\|\s*127\.0\.0\.1:(\d+)\s*\|\s*([^|]*?)\s*\|/g)) rows.push({ port: Number(m[1]), agent: m[2]! });
  return rows;
}

/** svwar's table: `| 101 | reqauth |`. */
function svwarExtensions(out: string): string[] {
  return [...out.matchAll(/^\|\s*(\d+)\s*\|\s*\w+\s*\|/gm)].map((m) => m[1]!);
}

async function settle(sbc: SbcProcess, timeoutMs: number): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let s = await sbc.api<Status>('/api/v1/status');
  while (Date.now() < deadline && (s.transactions.serverTransactions > 0 || s.transactions.clientTransactions > 0 || s.calls.calls > 0)) {
    await new Promise((r) => setTimeout(r, 250));
    s = await sbc.api<Status>('/api/v1/status');
  }
  return s;
}

async function startScannedSbc(failureResponse: number): Promise<{ sbc: SbcProcess; lanPort: number; wanPort: number }> {
  const lanPort = await findFreePort();
  const wanPort = await findFreePort();
  const apiPort = await findFreePort();
  let ini = testIni({ lanPort, wanPort, apiPort, media: false, pbx: { address: '127.0.0.2', port: 5060 }, itsp: [{ address: '127.0.0.3', port: 5060 }] });
  // testIni writes 403 as each SIP Interface's ClassificationFailureResponseType.
  ini = ini.replace(/^(SIPInterface \d+ = .*), 403;$/gm, `$1, ${failureResponse};`);
  const sbc = await startSbc(ini);
  return { sbc, lanPort, wanPort };
}

describe('sipvicious against the SBC (unclassified requests answered 403)', () => {
  let sbc: SbcProcess;
  let lanPort: number;
  let wanPort: number;
  let home: string;

  beforeAll(async () => {
    assertSipviciousInstalled();
    home = await mkdtemp(join(tmpdir(), 'sipvicious-'));
    ({ sbc, lanPort, wanPort } = await startScannedSbc(403));
  });

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('svmap sees both SIP ports but no product name; svwar enumerates no extension; nothing is left behind', async () => {
    const map = await runTool('svmap', ['-p', `${lanPort},${wanPort}`, '127.0.0.1'], home);
    expectCompleted(map, 'svmap');
    // Its result table was printed (header and rows), not just nothing.
    expect(map.out).toMatch(/\|\s*SIP Device\s*\|\s*User Agent\s*\|/);
    const devices = svmapDevices(map.out);
    // Out-of-dialog OPTIONS are answered, so the ports are visible; no Server/User-Agent header names us.
    expect(devices.map((d) => d.port).sort(), map.out).toEqual([lanPort, wanPort].sort());
    for (const d of devices) expect(d.agent).toBe('unknown');

    for (const port of [lanPort, wanPort]) {
      // REGISTER (svwar's default): 405 for every extension, so nothing to tell them apart.
      const reg = await runTool('svwar', ['-p', String(port), '-e', '100-199', '127.0.0.1'], home);
      expectCompleted(reg, 'svwar REGISTER');
      expect(svwarExtensions(reg.out), reg.out).toEqual([]);
      expect(reg.out).toContain('found nothing');
      // INVITE: the same 403 for every extension; sipvicious gives up.
      const inv = await runTool('svwar', ['-m', 'INVITE', '-p', String(port), '-e', '100-199', '127.0.0.1'], home);
      expectCompleted(inv, 'svwar INVITE');
      expect(svwarExtensions(inv.out), inv.out).toEqual([]);
      expect(inv.out).toContain('found nothing');
    }

    expect(sbc.proc.exitCode).toBeNull();
    const s = await settle(sbc, 15_000);
    expect(s.calls.totalCalls).toBe(0);
    expect(s.calls.calls).toBe(0);
    expect(s.calls.rejected).toBeGreaterThan(0);
    expect(s.transactions.serverTransactions).toBe(0);
    expect(s.transactions.clientTransactions).toBe(0);
    expect(s.transactions.tuErrors).toBe(0);
    expect(s.transport.listenerErrors).toBe(0);
    expect(sbc.logs.filter((l) => l.level >= 50).map((l) => JSON.stringify(l)).join('\n')).toBe('');
  }, 60_000);
});

describe('sipvicious against the SBC (unclassified requests dropped silently)', () => {
  let sbc: SbcProcess;
  let lanPort: number;
  let wanPort: number;
  let home: string;

  beforeAll(async () => {
    assertSipviciousInstalled();
    home = await mkdtemp(join(tmpdir(), 'sipvicious-'));
    ({ sbc, lanPort, wanPort } = await startScannedSbc(0));
  });

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('svwar INVITE and REGISTER scans create no call and the SBC stays up', async () => {
    const inv = await runTool('svwar', ['-m', 'INVITE', '--maximumtime', '3', '-p', String(lanPort), '-e', '100-149', '127.0.0.1'], home);
    expectCompleted(inv, 'svwar INVITE');
    expect(svwarExtensions(inv.out), inv.out).toEqual([]);
    expect(inv.out).toContain('found nothing');
    const reg = await runTool('svwar', ['--maximumtime', '3', '-p', String(wanPort), '-e', '100-149', '127.0.0.1'], home);
    expectCompleted(reg, 'svwar REGISTER');
    expect(svwarExtensions(reg.out), reg.out).toEqual([]);
    expect(reg.out).toContain('found nothing');
    expect(sbc.proc.exitCode).toBeNull();
    const s = await sbc.api<Status>('/api/v1/status');
    expect(s.calls.totalCalls).toBe(0);
    expect(s.calls.calls).toBe(0);
    expect(s.transactions.tuErrors).toBe(0);
    expect(s.transport.listenerErrors).toBe(0);
  }, 60_000);

  // Out-of-dialog OPTIONS, REGISTER, BYE ... are classified before they are answered, so
  // "drop silently" hides the SBC from a scanner.
  it('svmap finds nothing', async () => {
    const map = await runTool('svmap', ['-p', `${lanPort},${wanPort}`, '127.0.0.1'], home);
    // svmap prints no table when nothing answered; it must still have run to its end.
    expectCompleted(map, 'svmap');
    expect(svmapDevices(map.out), map.out).toEqual([]);
  }, 30_000);

  // The 100 Trying goes out only after the TU has seen the INVITE, and a dropped INVITE's
  // transaction is discarded: it absorbs retransmissions silently and ends after 64*T1.
  it('a dropped INVITE gets no answer at all and leaves no server transaction', async () => {
    const sock = dgram.createSocket('udp4');
    let answers = 0;
    sock.on('message', () => {
      answers++;
    });
    await new Promise<void>((r) => sock.bind(0, SCANNER, () => r()));
    const port = sock.address().port;
    for (let i = 0; i < 20; i++) {
      const msg = [
        `INVITE sip:${100 + i}@127.0.0.1:${wanPort} SIP/2.0`,
        `Via: SIP/2.0/UDP ${SCANNER}:${port};branch=z9hG4bKdrop${i};rport`,
        'Max-Forwards: 70',
        `From: <sip:scan@${SCANNER}>;tag=d${i}`,
        `To: <sip:${100 + i}@127.0.0.1>`,
        `Call-ID: drop-${i}@${SCANNER}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:scan@${SCANNER}:${port}>`,
        'Content-Length: 0', '', '',
      ].join('\r\n');
      await new Promise<void>((r) => sock.send(msg, wanPort, '127.0.0.1', () => r()));
    }
    // Longer than timer H (64*T1 = 6.4 s with the test ini's T1 of 100 ms).
    const s = await settle(sbc, 8000);
    sock.close();
    expect(answers).toBe(0);
    expect(s.transactions.serverTransactions).toBe(0);
  }, 30_000);
});
