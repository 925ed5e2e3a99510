import { describe, expect, it } from 'vitest';
import { buildDigestAuthorization, parseDigestChallenge } from '../sip/digest.js';
import { SipMessage } from '../sip/message.js';
import { DigestAuthenticator, type AuthFailure, type AuthPolicy } from './authenticator.js';
import { methodListOf } from './auth-gate.js';

const POLICY: AuthPolicy = {
  realm: 'pbx.local', nonceLifetimeSec: 300, proxy: false, algorithm: 'MD5',
  user: (u) => (u === 'alice' ? { username: 'alice', password: 's3cret', localUser: '200' } : undefined),
};

function register(auth?: string): SipMessage {
  const m = SipMessage.request('REGISTER', 'sip:pbx.local');
  m.setHeader('to', '<sip:200@pbx.local>');
  if (auth !== undefined) m.setHeader('authorization', auth);
  return m;
}

function answer(a: DigestAuthenticator, password: string, nc: number, challengeValue?: string): string {
  const ch = parseDigestChallenge(challengeValue ?? a.challenge(POLICY, false)[1])!;
  return buildDigestAuthorization(ch, { method: 'REGISTER', uri: 'sip:pbx.local', username: 'alice', password, nc, cnonce: 'cn1' })!;
}

describe('DigestAuthenticator', () => {
  it('challenges, accepts the right answer, refuses a replayed nonce-count and accepts the next one', () => {
    const a = new DigestAuthenticator();
    const first = a.check(register(), '198.51.100.7', POLICY);
    expect(first).toMatchObject({ ok: false, status: 401 });
    const challenge = (first as { header: [string, string] }).header;
    expect(challenge[0]).toBe('WWW-Authenticate');
    expect(challenge[1]).toContain('qop="auth"');
    const cred1 = answer(a, 's3cret', 1, challenge[1]);
    expect(a.check(register(cred1), '198.51.100.7', POLICY)).toEqual({ ok: true, username: 'alice' });
    const replay = a.check(register(cred1), '198.51.100.7', POLICY);
    expect(replay).toMatchObject({ ok: false, status: 401, reason: 'replay' });
    expect(a.check(register(answer(a, 's3cret', 2, challenge[1])), '198.51.100.7', POLICY)).toEqual({ ok: true, username: 'alice' });
    expect(a.failuresBySource()).toEqual({ '198.51.100.7': 1 });
  });

  it('counts wrong passwords, unknown users and forged nonces per source and tells the listener', () => {
    const a = new DigestAuthenticator();
    const seen: AuthFailure[] = [];
    a.onFailure = (f) => seen.push(f);
    expect(a.check(register(answer(a, 'guess', 1)), '203.0.113.1', POLICY)).toMatchObject({ ok: false, status: 403 });
    const other = buildDigestAuthorization(parseDigestChallenge(a.challenge(POLICY, false)[1])!, {
      method: 'REGISTER', uri: 'sip:pbx.local', username: 'mallory', password: 'x', nc: 1,
    })!;
    expect(a.check(register(other), '203.0.113.1', POLICY)).toMatchObject({ ok: false, status: 403 });
    const forged = answer(a, 's3cret', 1, 'Digest realm="pbx.local", nonce="made-up-nonce", qop="auth"');
    expect(a.check(register(forged), '203.0.113.2', POLICY)).toMatchObject({ ok: false, status: 401, reason: 'unknown nonce' });
    expect(a.failuresBySource()).toEqual({ '203.0.113.1': 2, '203.0.113.2': 1 });
    expect(seen.map((f) => [f.source, f.username, f.count])).toEqual([
      ['203.0.113.1', 'alice', 1], ['203.0.113.1', 'mallory', 2], ['203.0.113.2', 'alice', 1],
    ]);
  });

  it('answers an old nonce with stale=true and no failure', () => {
    let now = 1_000_000;
    const a = new DigestAuthenticator(() => now);
    const cred = answer(a, 's3cret', 1);
    now += 301_000;
    const r = a.check(register(cred), '198.51.100.7', POLICY);
    expect(r).toMatchObject({ ok: false, status: 401, reason: 'stale nonce' });
    expect((r as { header: [string, string] }).header[1]).toContain('stale=true');
    expect(a.failuresBySource()).toEqual({});
  });

  it('reads Mediant MethodList values', () => {
    expect([...methodListOf('INVITE\\REGISTER')!]).toEqual(['INVITE', 'REGISTER']);
    expect(methodListOf('')).toBeNull();
  });
});
