/**
 * JS-call latency of the native relay under a packet flood: how long
 * `sessionCount()` and `stats(id)` of the addon take on the JavaScript
 * thread while the relay thread is saturated. Those calls sit on the
 * signalling path (CDR/QoE, status API), so they must never wait for packet
 * processing (issue 17, item 4). `updateLeg(id, 0, same settings)` stands
 * for the calls that do take the engine mutex (createSession, updateLeg,
 * closeSession): they may wait for one receive round, never for a whole
 * epoll batch.
 *
 *   npm run build && node dist/bench/relay-call-latency.js [--addon PATH] [--sessions N] [--samples N] [--no-flood]
 *
 * A child process floods the A legs of N plain-RTP sessions (loopback,
 * 172-byte packets, as fast as node:dgram sends them) for the whole run; the
 * relay forwards out of the B legs to a port nobody reads. The parent calls
 * sessionCount(), stats() and updateLeg() once per millisecond and reports p50 / p99 /
 * p99.9 / max of each call in microseconds plus the packets relayed.
 * `--addon` benches another build of media_relay.node (e.g. a copy of the
 * build before a change). `--no-flood` measures the same calls with idle
 * sessions: the floor on this machine (allocation, GC, scheduling). Every
 * loop is bounded; the flooder is stopped by PID at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { nativeAddonPath, type NativeAddon } from '../src/media/relay-native.js';

interface Options {
  addon: string;
  sessions: number;
  samples: number;
  flood: boolean;
}

interface FloodStart {
  ports: number[];
}

interface EngineHandle {
  createSession(a: object, b: object): { id: number; aRtp: number };
  stats(id: number): { A: { rtpPacketsIn: number }; B: { rtpPacketsOut: number } } | null;
  updateLeg(id: number, leg: number, settings: object): boolean;
  sessionCount(): number;
  closeSession(id: number): boolean;
  shutdown(): void;
}

const HOST = '127.0.0.1';
/** Flood duration cap: the flooder stops on its own even if the parent dies. */
const FLOOD_MAX_MS = 120_000;

function parseArgs(argv: string[]): Options {
  const o: Options = { addon: nativeAddonPath() ?? '', sessions: 32, samples: 5000, flood: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--addon' && v) o.addon = argv[++i]!;
    else if (a === '--sessions' && v) o.sessions = Math.max(1, Math.min(500, Number(argv[++i])));
    else if (a === '--samples' && v) o.samples = Math.max(100, Math.min(100_000, Number(argv[++i])));
    else if (a === '--no-flood') o.flood = false;
    else if (a === '--help') {
      console.log('usage: node dist/bench/relay-call-latency.js [--addon PATH] [--sessions N] [--samples N] [--no-flood]');
      process.exit(0);
    }
  }
  if (!o.addon) throw new Error('native addon not built: run npm run build:native (or pass --addon)');
  return o;
}

/** Child side: send as fast as dgram allows to every port, round robin, until told to stop. */
function runFlooder(): void {
  const sock = createSocket('udp4');
  const pkt = Buffer.alloc(172, 0x55);
  pkt[0] = 0x80;
  pkt[1] = 8;
  let ports: number[] = [];
  let seq = 0;
  let sent = 0;
  let stop = false;
  const deadline = Date.now() + FLOOD_MAX_MS;
  const burst = (): void => {
    if (stop || Date.now() > deadline || ports.length === 0) {
      sock.close();
      process.send?.({ sent });
      return;
    }
    // Bounded burst per tick, then yield so send callbacks drain.
    for (let i = 0; i < 256; i++) {
      const port = ports[i % ports.length]!;
      pkt.writeUInt16BE(seq++ & 0xffff, 2);
      pkt.writeUInt32BE((seq * 160) >>> 0, 4);
      pkt.writeUInt32BE(0x1000 + (i % ports.length), 8);
      sock.send(pkt, port, HOST);
      sent++;
    }
    setImmediate(burst);
  };
  process.on('message', (m: FloodStart | { stop: true }) => {
    if ('stop' in m) {
      stop = true;
      if (ports.length === 0) process.send?.({ sent: 0 }, () => process.exit(0));
    }
    else {
      ports = m.ports;
      if (ports.length === 0) return; // --no-flood: idle until told to stop
      sock.bind(0, HOST, () => burst());
    }
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function summary(name: string, us: number[]): string {
  const s = [...us].sort((x, y) => x - y);
  const f = (x: number): string => x.toFixed(1);
  return `${name.padEnd(28)} p50 ${f(pct(s, 50))}  p99 ${f(pct(s, 99))}  p99.9 ${f(pct(s, 99.9))}  max ${f(s[s.length - 1]!)} us`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const require = createRequire(import.meta.url);
  const addon = require(o.addon) as NativeAddon;
  const engine = new addon.Engine() as unknown as EngineHandle;
  // B legs send to a loopback port nobody binds (discard): the relay's send path runs, nobody reads.
  const leg = (remotePort: number): object => ({
    localAddress: HOST,
    localRtpPort: 0,
    rtcpMux: true,
    remoteAddress: HOST,
    remoteRtpPort: remotePort,
    remoteRtcpPort: remotePort,
    signalledOnly: false,
    srtpInKey: null,
    srtpInTag: 10,
    srtpOutKey: null,
    srtpOutTag: 10,
    telephoneEventPt: -1,
    clockRate: 8000,
  });
  const ids: number[] = [];
  const ports: number[] = [];
  for (let i = 0; i < o.sessions; i++) {
    const c = engine.createSession(leg(9), leg(9));
    ids.push(c.id);
    ports.push(c.aRtp);
  }
  const flooder: ChildProcess = fork(fileURLToPath(import.meta.url), ['--flooder'], { stdio: 'inherit' });
  const flooderDone = new Promise<{ sent: number }>((resolve) => {
    flooder.once('message', (m) => resolve(m as { sent: number }));
    flooder.once('exit', () => resolve({ sent: -1 }));
  });
  flooder.send({ ports: o.flood ? ports : [] } satisfies FloodStart);
  try {
    // Wait (bounded) until the flood reaches the relay.
    for (let i = 0; o.flood && i < 500 && (engine.stats(ids[0]!)?.A.rtpPacketsIn ?? 0) < 1000; i++) await new Promise((r) => setTimeout(r, 10));
    const countUs: number[] = [];
    const statsUs: number[] = [];
    const updateUs: number[] = [];
    const same = leg(9);
    const calls: Array<[number[], (i: number) => void]> = [
      [countUs, () => engine.sessionCount()],
      [statsUs, (i) => engine.stats(ids[i % ids.length]!)],
      [updateUs, (i) => engine.updateLeg(ids[i % ids.length]!, 0, same)],
    ];
    for (let i = 0; i < o.samples; i++) {
      // Rotate which call goes first: a call right after one that waited
      // for the lock would find it free and look faster than it is.
      for (let k = 0; k < calls.length; k++) {
        const [out, call] = calls[(i + k) % calls.length]!;
        const t = process.hrtime.bigint();
        call(i);
        out.push(Number(process.hrtime.bigint() - t) / 1000);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    let relayed = 0;
    for (const id of ids) relayed += engine.stats(id)?.B.rtpPacketsOut ?? 0;
    flooder.send({ stop: true });
    const f = await flooderDone;
    console.log(`addon: ${o.addon}`);
    console.log(`sessions ${o.sessions}, samples ${o.samples}, ${o.flood ? '' : 'NO FLOOD, '}flooder sent ${f.sent}, relay forwarded ${relayed}`);
    console.log(summary('sessionCount()', countUs));
    console.log(summary('stats(id)', statsUs));
    console.log(summary('updateLeg(id) [engine lock]', updateUs));
  } finally {
    if (flooder.exitCode === null && flooder.pid !== undefined) process.kill(flooder.pid, 'SIGTERM');
    for (const id of ids) engine.closeSession(id);
    engine.shutdown();
  }
}

if (process.argv.includes('--flooder')) runFlooder();
else
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
