/**
 * SIP-over-UDP I/O micro-bench (issue 15, "Batched I/O"): the transport
 * layer alone, answering OPTIONS with 200, driven by sipp at a fixed rate;
 * node dgram against the addon's batched socket (SIPUdpBatchedIO),
 * alternating, several rounds. Reports the server's CPU time per request
 * (utime + stime from /proc), messages per syscall, and sipp's response
 * time. CPU per request is the figure that survives a shared machine best;
 * compare rounds of the same run only.
 *
 *   npm run build && node dist/bench/udp-io-bench.js [--rate 4000] [--requests 40000] [--rounds 3]
 *   (the server half: node dist/bench/udp-io-bench.js --serve 0|1)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TransportLayer } from '../src/transport/index.js';
import { createResponse } from '../src/sip/response.js';

const SCENARIO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'scenarios', 'options-uac.xml');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function serve(batched: boolean): Promise<void> {
  const t = new TransportLayer({ udpBatchedIo: batched });
  const info = await t.listen({ name: 'bench', address: '127.0.0.1', udpPort: 0 });
  t.on('message', (m) => {
    if (!m.message.isRequest || m.message.method === 'ACK') return;
    t.sendResponse(createResponse(m.message, 200), m).catch(() => undefined);
  });
  process.on('SIGTERM', () => {
    process.stdout.write(`STATS ${JSON.stringify(t.stats())}\n`);
    void t.close().then(() => process.exit(0));
  });
  process.stdout.write(`READY ${info.udpPort}\n`);
}

/** Host-wide UDP drop counters (/proc/net/snmp): other processes count too. */
function udpSnmp(): Record<string, number> {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  for (const k of ['RcvbufErrors', 'SndbufErrors', 'InErrors']) out[k] = vals[names.indexOf(k)] ?? 0;
  return out;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface RoundResult { server: string; kernel: string; mode: string; cpuUsPerRequest: number; ok: number; failed: number; p50: number; p99: number; inPerSyscall: number; outPerSyscall: number; load: string }

async function round(batched: boolean, rate: number, requests: number): Promise<RoundResult> {
  const self = fileURLToPath(import.meta.url);
  const srv = spawn(process.execPath, [self, '--serve', batched ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    srv.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    srv.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  const dir = mkdtempSync(join(tmpdir(), 'udp-io-'));
  const sipp = (n: number, r: number, extra: string[]): void => {
    spawnSync('sipp', ['-sf', SCENARIO, `127.0.0.1:${port}`, '-i', '127.0.0.1', '-nostdin', '-r', String(r), '-rp', '1000', '-m', String(n),
      '-recv_timeout', '5000', '-timeout', '120s', '-buff_size', '4194304', '-trace_stat', '-stf', 'stat.csv', ...extra], { cwd: dir, stdio: 'ignore' });
  };
  sipp(Math.min(2000, requests), Math.min(rate, 1000), []); // warm-up: JIT
  rmSync(join(dir, 'stat.csv'), { force: true });
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const k0 = udpSnmp();
  const c0 = cpuTicks(srv.pid!);
  sipp(requests, rate, ['-trace_rtt', '-rtt_freq', '1']);
  const c1 = cpuTicks(srv.pid!);
  const k1 = udpSnmp();
  const statsP = new Promise<string>((resolve) => srv.once('exit', () => resolve(out)));
  srv.kill('SIGTERM');
  const final = await statsP;
  const st = JSON.parse(/STATS (.*)/.exec(final)![1]!) as { udpReceived: number; sent: number; sendErrors: number; udpDropped: number; udpReceiveSyscalls: number; udpSendSyscalls: number };
  const rows = readFileSync(join(dir, 'stat.csv'), 'utf8').trim().split('\n');
  const head = rows[0]!.split(';');
  const last = rows[rows.length - 1]!.split(';');
  const col = (n: string): number => Number(last[head.indexOf(n)]);
  const rtt: number[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('_rtt.csv'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n').slice(1)) {
      const v = Number(line.split(';')[1]);
      if (line !== '' && Number.isFinite(v)) rtt.push(v);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  rtt.sort((a, b) => a - b);
  const pct = (p: number): number => rtt[Math.min(rtt.length - 1, Math.floor(p * rtt.length))] ?? NaN;
  // Tick length is 10 ms on Linux (USER_HZ 100).
  const cpuUs = ((c1 - c0) * 10_000) / requests;
  return {
    server: `received ${st.udpReceived}, sent ${st.sent}, send errors ${st.sendErrors}, dropped ${st.udpDropped}`,
    kernel: Object.entries(k1).map(([k, v]) => `${k} +${v - (k0[k] ?? 0)}`).join(', '),
    mode: batched ? 'batched' : 'dgram', cpuUsPerRequest: cpuUs, ok: col('SuccessfulCall(C)'), failed: col('FailedCall(C)'),
    p50: pct(0.5), p99: pct(0.99), inPerSyscall: st.udpReceived / Math.max(1, st.udpReceiveSyscalls), outPerSyscall: st.sent / Math.max(1, st.udpSendSyscalls), load,
  };
}

async function main(): Promise<void> {
  const serveAt = process.argv.indexOf('--serve');
  if (serveAt >= 0) return serve(process.argv[serveAt + 1] === '1');
  const rate = arg('--rate', 4000);
  const requests = arg('--requests', 40_000);
  const rounds = arg('--rounds', 3);
  process.stdout.write(`OPTIONS at ${rate}/s, ${requests} per round, ${rounds} rounds, alternating dgram / batched\n`);
  process.stdout.write('| round | mode | CPU µs per request | ok / failed | rtt p50 / p99 ms | in / out msgs per syscall | load |\n| --- | --- | ---: | ---: | ---: | ---: | --- |\n');
  const only = process.argv.indexOf('--only');
  const modes = only >= 0 ? [process.argv[only + 1] === 'batched'] : null;
  for (let r = 1; r <= rounds; r++) {
    for (const batched of modes ?? (r % 2 === 1 ? [false, true] : [true, false])) {
      const x = await round(batched, rate, requests);
      process.stdout.write(`| ${r} | ${x.mode} | ${x.cpuUsPerRequest.toFixed(1)} | ${x.ok} / ${x.failed} | ${x.p50} / ${x.p99} | ${x.inPerSyscall.toFixed(1)} / ${x.outPerSyscall.toFixed(1)} | ${x.load} |\n`);
      if (process.argv.includes('--verbose')) process.stdout.write(`|  | server: ${x.server}; host UDP: ${x.kernel} | | | | | |\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
