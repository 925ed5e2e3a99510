/**
 * rtpengine as a media bench target: started in the foreground, userspace
 * forwarding only (--table=-1), driven over its ng control protocol
 * (bencode over UDP, "cookie <dict>") to set up one call per relayed session.
 */
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { bdecode, bencode, type BValue } from './bencode.js';
import { freePort, sleep, spawnManaged, stopManaged, type ManagedProcess } from './procs.js';

const RTPENGINE_BIN = '/usr/bin/rtpengine';

type Dict = { [key: string]: BValue };

export class NgClient {
  private readonly sock: Socket;
  private readonly pending = new Map<string, (d: Dict | Error) => void>();
  private readonly port: number;

  constructor(port: number) {
    this.port = port;
    this.sock = createSocket('udp4');
    this.sock.on('message', (msg) => this.onMessage(msg));
    this.sock.on('error', () => {
      /* replies time out instead */
    });
  }

  private onMessage(msg: Buffer): void {
    const sp = msg.indexOf(0x20);
    if (sp <= 0) return;
    const cookie = msg.toString('latin1', 0, sp);
    const cb = this.pending.get(cookie);
    if (cb === undefined) return;
    this.pending.delete(cookie);
    try {
      const v = bdecode(msg.subarray(sp + 1));
      if (typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) cb(new Error('ng: reply is not a dictionary'));
      else cb(v);
    } catch (e) {
      cb(e as Error);
    }
  }

  /** Sends a command, retrying once; rejects on timeout or result != ok. */
  async command(d: Dict, timeoutMs = 2000): Promise<Dict> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const cookie = randomBytes(6).toString('hex');
      const reply = await new Promise<Dict | Error>((resolve) => {
        const t = setTimeout(() => {
          this.pending.delete(cookie);
          resolve(new Error(`ng ${String(d.command)}: no reply within ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending.set(cookie, (r) => {
          clearTimeout(t);
          resolve(r);
        });
        this.sock.send(Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), bencode(d)]), this.port, '127.0.0.1');
      });
      if (reply instanceof Error) {
        if (attempt === 0 && reply.message.includes('no reply')) continue;
        throw reply;
      }
      if (reply.result !== 'ok') {
        throw new Error(`ng ${String(d.command)}: ${String(reply.result)} ${String(reply['error-reason'] ?? '')}`);
      }
      return reply;
    }
    throw new Error('ng: unreachable');
  }

  close(): void {
    this.sock.close();
  }
}

function sdp(port: number, id: string): string {
  return (
    'v=0\r\n' +
    `o=bench ${id} 1 IN IP4 127.0.0.1\r\n` +
    's=bench\r\n' +
    'c=IN IP4 127.0.0.1\r\n' +
    't=0 0\r\n' +
    `m=audio ${port} RTP/AVP 0\r\n` +
    'a=rtpmap:0 PCMU/8000\r\n' +
    'a=ptime:20\r\n' +
    'a=sendrecv\r\n'
  );
}

/** The suite of the SRTP step, the same as the SBC's (sbc-native-srtp). */
const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';

/**
 * Keeps only the a=crypto lines of one suite (RFC 4568 9.1: the answerer
 * picks one of the offered lines), as a signalling hop in the middle would.
 */
export function onlySuite(body: string, suite: string): string {
  return body
    .split('\r\n')
    .filter((l) => !l.startsWith('a=crypto:') || l.split(' ')[1] === suite)
    .join('\r\n');
}

/** The m=audio port of an SDP body, or null. */
export function sdpAudioPort(body: string): number | null {
  const i = body.indexOf('m=audio ');
  if (i < 0) return null;
  const n = Number.parseInt(body.slice(i + 8), 10);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : null;
}

export interface RtpengineHandle {
  proc: ManagedProcess;
  ng: NgClient;
  /** Sets up one call per pair of generator ports; returns where each generator socket must send. */
  allocate(genPorts: readonly number[]): Promise<number[]>;
  release(): Promise<void>;
  stop(): Promise<void>;
}

export type RtpengineStart = { ok: true; handle: RtpengineHandle } | { ok: false; reason: string };

export interface RtpengineOptions {
  /** --num-threads: worker threads moving packets (the bench gives it as many as sbc-native-mt's relay threads). */
  threads: number;
  /**
   * Chain two calls per generator session: call 1 offers plain RTP and is
   * told to speak RTP/SAVP (SDES) toward its B side, whose SDP becomes call
   * 2's offer, answered back to plain RTP; so every packet is encrypted once
   * and decrypted once, as in the SBC's sbc-native-srtp engine.
   */
  srtp: boolean;
}

export async function startRtpengine(workDir: string, maxSessions: number, opts: RtpengineOptions = { threads: 2, srtp: false }): Promise<RtpengineStart> {
  if (!existsSync(RTPENGINE_BIN)) return { ok: false, reason: `${RTPENGINE_BIN} not installed` };
  mkdirSync(workDir, { recursive: true });
  const ngPort = await freePort();
  // 4 ports per call (RTP+RTCP on each side); below the ephemeral range (32768+) so client sockets do not collide.
  const span = Math.min(22000, Math.max(2000, maxSessions * (opts.srtp ? 8 : 4) + 200));
  const portMin = 10000 + 2 * Math.floor(Math.random() * Math.max(1, (22000 - span) / 2));
  const proc = spawnManaged('rtpengine', RTPENGINE_BIN, [
    '--config-file=none', '--foreground', '--table=-1',
    '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${portMin}`, `--port-max=${portMin + span}`,
    '--log-stderr', '--log-level=3', `--num-threads=${Math.max(1, Math.floor(opts.threads))}`, '--delete-delay=0',
    `--pidfile=${workDir}/rtpengine.pid`,
  ], { cwd: workDir });
  const ng = new NgClient(ngPort);
  let up = false;
  for (let i = 0; i < 30 && proc.exitInfo() === null; i++) {
    try {
      await ng.command({ command: 'ping' }, 300);
      up = true;
      break;
    } catch (e) {
      // "pong" comes back as result=pong, which command() reports as an error: that is fine.
      if ((e as Error).message.includes('pong')) {
        up = true;
        break;
      }
      await sleep(100);
    }
  }
  if (!up) {
    const tail = proc.stderrTail().slice(-600);
    ng.close();
    await stopManaged(proc, 500);
    return { ok: false, reason: `rtpengine did not answer ng ping${tail ? `: ${tail}` : ''}` };
  }
  let calls: string[] = [];
  const run = `${process.pid}-${Date.now()}`;
  const flags = { ICE: 'remove', replace: ['origin', 'session-connection'] };
  const port = (d: Dict): number => {
    const p = sdpAudioPort(String(d.sdp ?? ''));
    if (p === null) throw new Error('rtpengine returned an SDP without m=audio');
    return p;
  };
  /** One call A <-> B; returns where A and B must send. */
  const plainCall = async (callId: string, a: number, b: number, s: number): Promise<[number, number]> => {
    calls.push(callId);
    const offer = await ng.command({ command: 'offer', 'call-id': callId, 'from-tag': 'a', sdp: sdp(a, `${s}`), ...flags });
    const answer = await ng.command({ command: 'answer', 'call-id': callId, 'from-tag': 'a', 'to-tag': 'b', sdp: sdp(b, `${s}`), ...flags });
    // The offer's rewritten SDP goes to B: B sends there. The answer's goes to A.
    return [port(answer), port(offer)];
  };
  /** A -RTP-> call 1 -SRTP-> call 2 -RTP-> B: call 1's SAVP offer is call 2's offer, call 2's SAVP answer is call 1's answer. */
  const srtpChain = async (callId: string, a: number, b: number, s: number): Promise<[number, number]> => {
    const c1 = `${callId}-srtp1`;
    const c2 = `${callId}-srtp2`;
    calls.push(c1, c2);
    // SDES only (rtpengine also offers DTLS-SRTP by default, which call 2 would pick).
    const savp = { 'transport-protocol': 'RTP/SAVP', DTLS: 'off' };
    const offer1 = await ng.command({ command: 'offer', 'call-id': c1, 'from-tag': 'a', sdp: sdp(a, `${s}`), ...flags, ...savp });
    const offer2 = await ng.command({ command: 'offer', 'call-id': c2, 'from-tag': 'a', sdp: onlySuite(String(offer1.sdp ?? ''), SRTP_SUITE), ...flags, 'transport-protocol': 'RTP/AVP' });
    const answer2 = await ng.command({ command: 'answer', 'call-id': c2, 'from-tag': 'a', 'to-tag': 'b', sdp: sdp(b, `${s}`), ...flags });
    if (!String(answer2.sdp ?? '').includes(`a=crypto:`)) throw new Error('rtpengine: the SRTP leg was answered without a=crypto');
    const answer1 = await ng.command({ command: 'answer', 'call-id': c1, 'from-tag': 'a', 'to-tag': 'b', sdp: String(answer2.sdp ?? ''), ...flags });
    return [port(answer1), port(offer2)];
  };
  const handle: RtpengineHandle = {
    proc,
    ng,
    async allocate(genPorts) {
      const targets: number[] = new Array<number>(genPorts.length).fill(0);
      const sessions = genPorts.length / 2;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < sessions) {
          const s = next++;
          const callId = `bench-${run}-${s}`;
          const [toA, toB] = opts.srtp ? await srtpChain(callId, genPorts[2 * s]!, genPorts[2 * s + 1]!, s) : await plainCall(callId, genPorts[2 * s]!, genPorts[2 * s + 1]!, s);
          targets[2 * s] = toA;
          targets[2 * s + 1] = toB;
        }
      };
      await Promise.all(Array.from({ length: Math.min(32, sessions) }, worker));
      return targets;
    },
    async release() {
      const ids = calls;
      calls = [];
      let i = 0;
      const worker = async (): Promise<void> => {
        while (i < ids.length) {
          const id = ids[i++]!;
          await ng.command({ command: 'delete', 'call-id': id, 'from-tag': 'a' }).catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: Math.min(32, ids.length) }, worker));
    },
    async stop() {
      ng.close();
      await stopManaged(proc, 2000);
    },
  };
  return { ok: true, handle };
}
