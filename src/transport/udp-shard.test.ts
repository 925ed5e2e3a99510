/**
 * The native dispatcher of SIP worker threads (native/src/sip-udp-shard.cc)
 * with a real worker thread: each datagram reaches the thread that owns its
 * Call-ID by the same hash the JavaScript side draws Call-IDs with; REGISTER
 * and responses to REGISTER stay on shard 0; garbage goes to shard 0; the
 * worker's replies leave from the owner's port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { openUdpSocket } from './udp-socket.js';
import type { SipUdpSocket } from './udp-types.js';
import { callIdHash, shardOfCallId, shardOfHead } from '../sip/call-id-shard.js';
import { batchedUdpAvailable } from './udp-batched.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.url); }).then(async ({ openUdpSocket }) => {
  const s = await openUdpSocket({ address: '127.0.0.1', port: 0, batched: true, sharing: { role: 'worker', share: workerData.share, shard: 1 },
    onDatagram: (b, address, port) => {
      parentPort.postMessage(b.toString('latin1'));
      s.send(Buffer.from('echo'), port, address, () => undefined);
    } });
  parentPort.postMessage('ready:' + s.port);
  parentPort.on('message', async (m) => { if (m === 'close') { await s.close(); parentPort.postMessage('closed'); parentPort.close(); } });
});`;

describe('UDP shared by SIP worker threads (native dispatcher)', () => {
  let owner: SipUdpSocket;
  let worker: Worker;
  const onMain: string[] = [];
  const onWorker: string[] = [];
  let workerPort = 0;

  beforeAll(async () => {
    // The addon is part of the build (npm run build:native): without it this fails, it does not skip.
    expect(batchedUdpAvailable(), 'native addon with SipUdpSocket').toBe(true);
    owner = await openUdpSocket({ address: '127.0.0.1', port: 0, batched: true, sharing: { role: 'owner', shards: 2 }, onDatagram: (b) => onMain.push(b.toString('latin1')) });
    expect(owner.share).toBeGreaterThan(0);
    worker = new Worker(WORKER, { eval: true, workerData: { share: owner.share, url: new URL('./udp-socket.ts', import.meta.url).href } });
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: string) => {
        if (m.startsWith('ready:')) {
          workerPort = Number(m.slice(6));
          resolve();
        } else if (m !== 'closed') onWorker.push(m);
      });
      worker.once('error', reject);
    });
  });

  afterAll(async () => {
    worker.postMessage('close');
    await new Promise((r) => worker.once('exit', r));
    await owner.close();
  });

  it('hashes a Call-ID the way the JavaScript side does (FNV-1a)', () => {
    expect(callIdHash('')).toBe(0x811c9dc5);
    expect(callIdHash('a')).toBe(0xe40c292c);
    expect(shardOfCallId('anything', 1)).toBe(0);
  });

  it('hands each datagram to the thread that owns its Call-ID; registrations and garbage stay on shard 0', async () => {
    const client = dgram.createSocket('udp4');
    const echoes: Array<{ port: number }> = [];
    client.on('message', (_m, rinfo) => echoes.push({ port: rinfo.port }));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const ids = Array.from({ length: 40 }, (_, i) => `call-${i}@example.com`);
    const toWorker = ids.filter((id) => shardOfCallId(id, 2) === 1);
    const regId = ids.find((id) => shardOfCallId(id, 2) === 1)!;
    const send = (text: string): Promise<void> => new Promise((r) => client.send(text, owner.port, '127.0.0.1', () => r()));
    for (const [i, id] of ids.entries()) {
      // Long and compact header forms, odd case and spacing: the dispatcher reads them all.
      const header = i % 3 === 0 ? `i: ${id}` : i % 3 === 1 ? `call-ID  :   ${id}  ` : `Call-ID: ${id}`;
      await send(`INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK${i}\r\n${header}\r\nCSeq: 1 INVITE\r\n\r\n`);
    }
    await send(`REGISTER sip:b SIP/2.0\r\nCall-ID: ${regId}\r\nCSeq: 1 REGISTER\r\n\r\n`);
    await send(`SIP/2.0 200 OK\r\nCall-ID: ${regId}\r\nCSeq: 7 REGISTER\r\n\r\n`);
    await send('\x00\x01 not sip at all');
    await send(`OPTIONS sip:b SIP/2.0\r\nVia: x\r\n\r\nCall-ID: ${regId}\r\n`); // a Call-ID in the body is no header
    const expectOnMain = ids.length - toWorker.length + 4;
    for (let i = 0; i < 200 && (onMain.length < expectOnMain || onWorker.length < toWorker.length); i++) await new Promise((r) => setTimeout(r, 10));
    expect(onWorker.length).toBe(toWorker.length);
    expect(toWorker.length).toBeGreaterThan(5);
    for (const id of toWorker) expect(onWorker.some((m) => m.includes(id))).toBe(true);
    expect(onMain.length).toBe(expectOnMain);
    expect(onMain.some((m) => m.startsWith('REGISTER'))).toBe(true);
    expect(onMain.some((m) => m.startsWith('SIP/2.0 200'))).toBe(true);
    // The worker's replies leave from the owner's port (a shared port, not one of its own).
    for (let i = 0; i < 200 && echoes.length < toWorker.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(workerPort).toBe(owner.port);
    expect(echoes.length).toBe(toWorker.length);
    expect(echoes.every((e) => e.port === owner.port)).toBe(true);
    client.close();
  });

  it('shardOfHead (TCP/TLS messages) picks the shard the native dispatcher picks, message for message', async () => {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const send = (text: string): Promise<void> => new Promise((r) => client.send(text, owner.port, '127.0.0.1', () => r()));
    const mainBefore = onMain.length;
    const workerBefore = onWorker.length;
    const names = ['Call-ID', 'call-id', 'CALL-ID', 'i', 'I', 'Call-Id '];
    const starts = ['INVITE sip:a@b SIP/2.0', 'BYE sip:a@b SIP/2.0', 'REGISTER sip:b SIP/2.0', 'SIP/2.0 200 OK', 'SIP/2.0 180 Ringing'];
    const cseqs = ['1 INVITE', '2 BYE', '3 REGISTER', '4  REGISTER', '5 REGISTERX'];
    const heads: string[] = [];
    for (let i = 0; i < 240; i++) {
      const id = `x${i}-${(i * 7919).toString(36)}@h${i % 5}`;
      const name = names[i % names.length]!;
      const value = i % 4 === 0 ? `\t ${id}  ` : id;
      const lines = [starts[i % starts.length]!, `Via: SIP/2.0/UDP x;branch=z9hG4bKmark${i}`];
      const cseq = `CSeq: ${cseqs[(i >> 1) % cseqs.length]!}`;
      // CSeq before or after the Call-ID; every 11th message has no Call-ID at all.
      if (i % 2 === 0) lines.push(cseq);
      if (i % 11 !== 0) lines.push(`${name}:${value}`);
      if (i % 2 === 1) lines.push(cseq);
      heads.push(lines.join('\r\n'));
    }
    for (const h of heads) await send(`${h}\r\n\r\n`);
    const seen = (): number => onMain.length - mainBefore + onWorker.length - workerBefore;
    for (let i = 0; i < 300 && seen() < heads.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen()).toBe(heads.length);
    const onWorkerNow = onWorker.slice(workerBefore);
    let mismatches = 0;
    heads.forEach((h, i) => {
      const native = onWorkerNow.some((m) => m.includes(`z9hG4bKmark${i}\r\n`)) ? 1 : 0;
      if (native !== shardOfHead(h, 2)) mismatches++;
    });
    expect(mismatches).toBe(0);
    // Both shards were exercised.
    expect(onWorkerNow.length).toBeGreaterThan(20);
    expect(onMain.length - mainBefore).toBeGreaterThan(20);
    client.close();
  });
});
