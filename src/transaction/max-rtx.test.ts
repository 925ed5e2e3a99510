import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SipMessage } from '../sip/message.js';
import { TransportLayer } from '../transport/transport-layer.js';
import type { Endpoint, ListenerInfo, Transport } from '../transport/types.js';
import { TransactionLayer } from './transaction-layer.js';

/** Counts requests sent; never touches a socket. */
class CountingTransport extends TransportLayer {
  sends: number[] = [];
  start = 0;
  override getInterface(name: string): ListenerInfo | undefined {
    return { name, address: '192.0.2.10', udpPort: 5060 };
  }
  override send(_msg: SipMessage, dest: Endpoint): Promise<Transport> {
    this.sends.push(Date.now() - this.start);
    return Promise.resolve(dest.transport);
  }
}

const DEST: Endpoint = { address: '198.51.100.7', port: 5062, transport: 'udp' };

function request(method: string): SipMessage {
  const m = SipMessage.request(method, 'sip:carol@198.51.100.7');
  m.addHeader('from', '<sip:sbc@192.0.2.10>;tag=x1');
  m.addHeader('to', '<sip:carol@198.51.100.7>');
  m.addHeader('call-id', `rtx-${method}`);
  m.addHeader('cseq', `1 ${method}`);
  return m;
}

describe('SIPMaxRtx bounds client retransmissions', () => {
  let fake: CountingTransport;
  beforeEach(() => {
    vi.useFakeTimers();
    fake = new CountingTransport();
    fake.start = Date.now();
  });
  afterEach(() => vi.useRealTimers());

  it('INVITE: 3 transmissions, then a timeout one interval after the last', () => {
    const layer = new TransactionLayer(fake, { maxRtx: 3 });
    const events: string[] = [];
    layer.sendRequest(request('INVITE'), DEST, 'lan', {
      onFinal: () => events.push('final'), onTimeout: () => events.push(`timeout@${Date.now() - fake.start}`), onTransportError: () => events.push('error'),
    });
    vi.advanceTimersByTime(40_000);
    expect(fake.sends).toEqual([0, 500, 1500]);
    expect(events).toEqual(['timeout@3500']);
    expect(layer.stats().clientTransactions).toBe(0);
  });

  it('non-INVITE: 7 transmissions (Mediant default) end before timer F', () => {
    const layer = new TransactionLayer(fake, { maxRtx: 7 });
    const events: string[] = [];
    layer.sendRequest(request('OPTIONS'), DEST, 'lan', {
      onFinal: () => events.push('final'), onTimeout: () => events.push(`timeout@${Date.now() - fake.start}`), onTransportError: () => events.push('error'),
    });
    vi.advanceTimersByTime(40_000);
    expect(fake.sends).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500]);
    expect(events).toEqual(['timeout@19500']);
  });

  it('unset: only timer B ends the INVITE (RFC 3261 behaviour)', () => {
    const layer = new TransactionLayer(fake);
    const events: string[] = [];
    layer.sendRequest(request('INVITE'), DEST, 'lan', {
      onFinal: () => events.push('final'), onTimeout: () => events.push(`timeout@${Date.now() - fake.start}`), onTransportError: () => events.push('error'),
    });
    vi.advanceTimersByTime(40_000);
    expect(fake.sends).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(events).toEqual(['timeout@32000']);
  });
});
