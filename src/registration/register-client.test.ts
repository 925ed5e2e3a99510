import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDigestCredentials, verifyDigestCredentials } from '../sip/digest.js';
import { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import type { Endpoint } from '../transport/types.js';
import { silentLogger } from '../util/logger.js';
import { RegisterClient, type AccountSpec } from './register-client.js';

const SPEC: AccountSpec = {
  key: '0', name: 'trunk', servedIpGroup: 'PBX', servingIpGroup: 'ITSP', aorUser: '4930123', aorHost: 'itsp.test',
  requestUri: 'sip:itsp.test', contactUser: '4930123', username: 'u1', password: 'secret', interfaceName: 'WAN',
  expiresSec: 300, refreshPercent: 50, refreshThresholdSec: 0, retrySec: 30, maxBackoffSec: 0, userAgent: 'sbc-test',
};

interface Sent { req: SipMessage; dest: Endpoint; handler: ClientTransactionHandler }

function harness(spec: AccountSpec = SPEC, servers: Endpoint[] = [{ address: '127.0.0.3', port: 5060, transport: 'udp' }]) {
  const sent: Sent[] = [];
  const client = new RegisterClient(spec, {
    sender: { sendRequest: (req, dest, _i, handler) => { sent.push({ req: req.clone(), dest, handler }); return {}; } },
    servers: () => servers,
    contactAddress: () => ({ address: '127.0.0.1', port: 5080 }),
    logger: silentLogger(),
  });
  const answer = (status: number, headers: Array<[string, string]> = []): void => {
    const last = sent[sent.length - 1]!;
    const res = createResponse(last.req, status, undefined, 'srv');
    for (const [k, v] of headers) res.addHeader(k, v);
    last.handler.onFinal(res);
  };
  return { sent, client, answer };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('RegisterClient', () => {
  it('answers a qop=auth challenge, counts the nonce on refresh, follows stale=true', () => {
    const { sent, client, answer } = harness();
    client.start();
    expect(sent[0]!.req.getHeader('authorization')).toBeUndefined();
    expect(sent[0]!.req.getHeader('expires')).toBe('300');
    expect(sent[0]!.req.getHeader('contact')).toBe('<sip:4930123@127.0.0.1:5080>');
    answer(401, [['WWW-Authenticate', 'Digest realm="itsp", nonce="n1", qop="auth", algorithm=SHA-256']]);
    const creds = parseDigestCredentials(sent[1]!.req.getHeader('authorization')!)!;
    expect(creds.algorithm).toBe('SHA-256');
    expect(creds.nc).toBe('00000001');
    expect(verifyDigestCredentials(creds, 'REGISTER', 'secret')).toBe(true);
    expect(sent[1]!.req.callId).toBe(sent[0]!.req.callId);
    expect(sent[1]!.req.cseq!.seq).toBe(sent[0]!.req.cseq!.seq + 1);
    answer(200, [['Contact', '<sip:4930123@127.0.0.1:5080>;expires=120']]);
    expect(client.status().state).toBe('registered');
    expect(client.status().expiresInSec).toBe(120);
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(3);
    const refresh = parseDigestCredentials(sent[2]!.req.getHeader('authorization')!)!;
    expect(refresh.nonce).toBe('n1');
    expect(refresh.nc).toBe('00000002');
    answer(401, [['WWW-Authenticate', 'Digest realm="itsp", nonce="n2", qop="auth", stale=true']]);
    expect(client.status().state).toBe('registered');
    const fresh = parseDigestCredentials(sent[3]!.req.getHeader('authorization')!)!;
    expect(fresh.nonce).toBe('n2');
    expect(fresh.nc).toBe('00000001');
  });

  it('gives up on a refused nonce and retries later with a new Call-ID', () => {
    const { sent, client, answer } = harness();
    client.start();
    answer(401, [['WWW-Authenticate', 'Digest realm="itsp", nonce="n1"']]);
    answer(401, [['WWW-Authenticate', 'Digest realm="itsp", nonce="n1"']]);
    expect(client.status().state).toBe('failed');
    expect(client.status().failures).toBe(1);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(30_000);
    expect(sent).toHaveLength(3);
    expect(sent[2]!.req.callId).not.toBe(sent[0]!.req.callId);
    expect(sent[2]!.req.getHeader('authorization')).toBeUndefined();
  });

  it('raises Expires to the 423 Min-Expires', () => {
    const { sent, client, answer } = harness();
    client.start();
    answer(423, [['Min-Expires', '1800']]);
    expect(sent[1]!.req.getHeader('expires')).toBe('1800');
    answer(200, [['Expires', '1800']]);
    expect(client.status().state).toBe('registered');
  });

  it('fails over to the next server on timeout and backs off exponentially', () => {
    const servers: Endpoint[] = [{ address: '127.0.0.3', port: 5060, transport: 'udp' }, { address: '127.0.0.4', port: 5060, transport: 'udp' }];
    const { sent, client } = harness({ ...SPEC, retrySec: 2, maxBackoffSec: 60 }, servers);
    client.start();
    sent[0]!.handler.onTimeout();
    expect(client.status().lastResponse).toBe('timeout');
    vi.advanceTimersByTime(2_000);
    expect(sent[1]!.dest.address).toBe('127.0.0.4');
    sent[1]!.handler.onTimeout();
    // Second failure: between 2 and 4 s.
    vi.advanceTimersByTime(1_900);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(2_200);
    expect(sent).toHaveLength(3);
  });

  it('un-registers with Expires: 0 on stop', async () => {
    const { sent, client, answer } = harness();
    client.start();
    answer(200, [['Expires', '300']]);
    const stopped = client.stop(5000);
    expect(sent[1]!.req.getHeader('expires')).toBe('0');
    expect(sent[1]!.req.callId).toBe(sent[0]!.req.callId);
    answer(200);
    await stopped;
    expect(client.status().state).toBe('unregistered');
  });
});
