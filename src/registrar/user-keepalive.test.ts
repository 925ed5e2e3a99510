import { describe, expect, it } from 'vitest';
import type { SipMessage } from '../sip/message.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import type { Endpoint } from '../transport/types.js';
import { silentLogger } from '../util/logger.js';
import { RegistrationDb, type Binding, type Flow } from './bindings.js';
import { UserKeepAlive, type UserKeepAliveSettings } from './user-keepalive.js';

function binding(aorUser: string, flow: Flow): Binding {
  return {
    aor: `${aorUser}@pbx.local`, aorUser, contact: `<sip:${aorUser}@192.168.1.9:5060>`, contactUri: `sip:${aorUser}@192.168.1.9:5060`,
    ipGroup: 'Users', flow, expiresAt: Date.now() + 600_000, upstreamExpiresAt: 0, userAgent: '', path: [], callId: `c-${aorUser}`, cseq: 1,
    sbcUser: RegistrationDb.newSbcUser(), upstream: null, registeredAt: Date.now(),
  };
}

function harness(s: Partial<UserKeepAliveSettings>, crlf: 'sent' | 'no-connection' | 'failed' = 'sent') {
  const db = new RegistrationDb();
  const sent: Array<{ req: SipMessage; dest: Endpoint; handler: ClientTransactionHandler }> = [];
  const crlfs: Endpoint[] = [];
  const dead: string[] = [];
  const ka = new UserKeepAlive({
    db,
    settings: () => ({ optionsIntervalSec: 10, crlfOnStreams: true, crlfIntervalSec: 10, removeDead: true, ...s }),
    sendRequest: (req, dest, _i, handler) => sent.push({ req, dest, handler }),
    sendCrlf: async (remote) => {
      crlfs.push(remote);
      return crlf;
    },
    contactAddress: () => ({ address: '198.51.100.1', port: 5070 }),
    onDead: (b) => dead.push(b.aor),
    logger: silentLogger(),
    userAgent: () => '',
    jitter: () => 1,
  });
  return { db, ka, sent, crlfs, dead };
}

const udp = (port: number): Flow => ({ transport: 'udp', address: '203.0.113.5', port, interfaceName: 'WAN', connectionId: null });
const tcp = (port: number): Flow => ({ transport: 'tcp', address: '203.0.113.5', port, interfaceName: 'WAN', connectionId: 7 });

describe('UserKeepAlive', () => {
  it('pings each flow once per interval with OPTIONS to the Contact, sent to the flow', () => {
    const h = harness({});
    h.db.put(binding('200', udp(40000)));
    h.db.put(binding('201', udp(40000)));
    h.ka.tick(0);
    expect(h.sent).toHaveLength(0);
    h.ka.tick(10_000);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]!.dest).toEqual({ transport: 'udp', address: '203.0.113.5', port: 40000 });
    expect(h.sent[0]!.req.requestUri).toMatch(/^sip:20[01]@192\.168\.1\.9:5060$/);
    // In flight: no second ping until the first is answered.
    h.ka.tick(25_000);
    expect(h.sent).toHaveLength(1);
    h.sent[0]!.handler.onFinal({ status: 405 } as SipMessage);
    h.ka.tick(25_000);
    expect(h.sent).toHaveLength(2);
    expect(h.dead).toEqual([]);
  });

  it('removes every binding of a flow whose OPTIONS timed out, only when configured', () => {
    for (const removeDead of [true, false]) {
      const h = harness({ removeDead });
      h.db.put(binding('200', udp(40000)));
      h.db.put(binding('201', udp(40000)));
      h.db.put(binding('202', udp(40001)));
      h.ka.tick(0);
      h.ka.tick(10_000);
      const toFirst = h.sent.find((x) => x.dest.port === 40000)!;
      toFirst.handler.onTimeout();
      expect(h.dead.sort()).toEqual(removeDead ? ['200@pbx.local', '201@pbx.local'] : []);
      expect(h.db.size).toBe(removeDead ? 1 : 3);
    }
  });

  it('sends CRLF on TCP flows; a failed write is a dead flow, no connection (after a restart) is not', async () => {
    const failed = harness({}, 'failed');
    failed.db.put(binding('200', tcp(50000)));
    failed.ka.tick(0);
    failed.ka.tick(10_000);
    await new Promise((r) => setImmediate(r));
    expect(failed.crlfs).toHaveLength(1);
    expect(failed.sent).toHaveLength(0);
    expect(failed.dead).toEqual(['200@pbx.local']);

    const none = harness({}, 'no-connection');
    none.db.put(binding('200', tcp(50000)));
    none.ka.tick(0);
    none.ka.tick(10_000);
    await new Promise((r) => setImmediate(r));
    expect(none.dead).toEqual([]);
    expect(none.db.size).toBe(1);
  });

  it('a closed connection kills its flow', () => {
    const h = harness({});
    h.db.put(binding('200', tcp(50000)));
    h.db.put(binding('201', tcp(50001)));
    h.ka.connectionClosed({ transport: 'tcp', address: '203.0.113.5', port: 50000 });
    expect(h.dead).toEqual(['200@pbx.local']);
  });

  it('does nothing when switched off', () => {
    const h = harness({ optionsIntervalSec: 0, crlfOnStreams: false });
    h.db.put(binding('200', udp(40000)));
    h.db.put(binding('201', tcp(50000)));
    h.ka.tick(0);
    h.ka.tick(100_000);
    expect(h.sent).toHaveLength(0);
    expect(h.crlfs).toHaveLength(0);
  });
});
