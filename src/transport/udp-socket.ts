/**
 * The UDP socket of one SIP Interface (RFC 3261 §18), behind one small
 * interface with two implementations: node's dgram (a syscall, a send
 * request and a JS<->C++ crossing per message) and the native addon's
 * batched socket (`udp-batched.ts`: recvmmsg batches in, one sendmmsg per
 * tick out). `SIPUdpBatchedIO` chooses; without the addon it is dgram.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { openBatchedUdp } from './udp-batched.js';
import type { SipUdpSocket, UdpOpenOptions, UdpSocketStats } from './udp-types.js';

export type { DatagramHandler, SendCallback, SipUdpSocket, UdpOpenOptions, UdpSocketStats } from './udp-types.js';

const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;

/** Binds a UDP socket; rejects when the address cannot be bound (EADDRINUSE ...). */
export async function openUdpSocket(o: UdpOpenOptions): Promise<SipUdpSocket> {
  if (o.batched || o.sharing !== undefined) {
    const s = openBatchedUdp(o, o.bufferBytes ?? DEFAULT_BUFFER_BYTES);
    if (s !== null) return s;
    if (o.sharing !== undefined) throw new Error('SIP worker threads need the native addon (npm run build:native)');
  }
  return openDgram(o);
}

function openDgram(o: UdpOpenOptions): Promise<SipUdpSocket> {
  const sock = dgram.createSocket({ type: net.isIPv6(o.address) ? 'udp6' : 'udp4' });
  const counters: UdpSocketStats = { receiveErrors: 0, dropped: 0, sendSyscalls: 0, receiveSyscalls: 0 };
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      sock.close();
      reject(err);
    };
    sock.once('error', onError);
    sock.bind(o.port, o.address, () => {
      sock.off('error', onError);
      sock.on('error', (err) => {
        counters.receiveErrors++;
        o.log?.warn({ err: err.message }, 'UDP socket error');
      });
      sock.on('message', (buf, rinfo) => {
        counters.receiveSyscalls++;
        o.onDatagram(buf, rinfo.address, rinfo.port, false);
      });
      const bytes = o.bufferBytes ?? DEFAULT_BUFFER_BYTES;
      try {
        // Bursts of a few thousand calls per second overflow the default buffers.
        sock.setRecvBufferSize(bytes);
        sock.setSendBufferSize(bytes);
      } catch {
        /* the kernel may cap it; defaults still work */
      }
      const port = sock.address().port;
      resolve({
        kind: 'dgram',
        share: 0,
        port,
        send: (data, toPort, address, done) => {
          counters.sendSyscalls++;
          try {
            sock.send(data, toPort, address, (err) => done(err ?? null));
          } catch (err) {
            done(err as Error);
          }
        },
        close: () => new Promise<void>((r) => { try { sock.close(() => r()); } catch { r(); } }),
        stats: () => ({ ...counters }),
      });
    });
  });
}

/**
 * SIPUdpBatchedIO from the ini (raw text, range-checked by the config
 * loader), overridden by SBC_SIP_UDP_BATCHED when set (A/B benches, test
 * runs of either path without editing every ini). Default on.
 */
export function udpBatchedIo(iniValue: string | undefined, envValue: string | undefined): boolean {
  const v = envValue !== undefined && envValue.trim() !== '' ? envValue : iniValue;
  if (v === undefined || v.trim() === '') return true;
  return v.trim() !== '0';
}
