import { describe, expect, it } from 'vitest';
import {
  buildDigestAuthorization,
  digestResponse,
  formatNonceCount,
  parseDigestChallenge,
  parseDigestCredentials,
  pickDigestChallenge,
  verifyDigestCredentials,
} from './index.js';

describe('digest authentication', () => {
  it('matches the RFC 2617 §3.5 worked example (MD5, qop=auth)', () => {
    const ch = parseDigestChallenge(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    expect(ch).toEqual({
      realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', opaque: '5ccc069c403ebaf9f0171e9517f40e41',
      algorithm: 'MD5', qop: ['auth', 'auth-int'], stale: false, domain: null,
    });
    const value = buildDigestAuthorization(ch!, {
      method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: 'Circle Of Life', cnonce: '0a4f113b', nc: 1,
    });
    expect(value).toBe(
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", ' +
      'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
    );
    const creds = parseDigestCredentials(value!)!;
    expect(creds.response).toBe('6629fae49393a05397450978507c4ef1');
    expect(verifyDigestCredentials(creds, 'GET', 'Circle Of Life')).toBe(true);
    expect(verifyDigestCredentials(creds, 'GET', 'circle of life')).toBe(false);
  });

  it('matches the RFC 7616 §3.9.1 example (SHA-256 and MD5)', () => {
    const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
    const opaque = 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS';
    const sha = `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="${nonce}", opaque="${opaque}"`;
    const md5 = `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="${nonce}", opaque="${opaque}"`;
    const input = {
      method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: 'Circle of Life',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nc: 1,
    };
    const best = pickDigestChallenge([md5, sha])!;
    expect(best.algorithm).toBe('SHA-256');
    const shaValue = buildDigestAuthorization(best, input)!;
    expect(parseDigestCredentials(shaValue)!.response).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    expect(shaValue).toContain('algorithm=SHA-256');
    const md5Value = buildDigestAuthorization(parseDigestChallenge(md5)!, input)!;
    expect(parseDigestCredentials(md5Value)!.response).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('answers a challenge without qop in the RFC 2069 form', () => {
    const ch = parseDigestChallenge('Digest realm="sip.example.net",nonce="abc123"')!;
    expect(ch.qop).toEqual([]);
    const value = buildDigestAuthorization(ch, {
      method: 'INVITE', uri: 'sip:+4930123@sip.example.net', username: 'trunk1', password: 'pw',
    })!;
    expect(value).not.toContain('qop=');
    expect(value).not.toContain('cnonce=');
    expect(value).not.toContain('opaque=');
    const creds = parseDigestCredentials(value)!;
    // HA1 = MD5(trunk1:sip.example.net:pw), HA2 = MD5(INVITE:uri), response = MD5(HA1:nonce:HA2)
    expect(creds.response).toBe(digestResponse('MD5', {
      method: 'INVITE', uri: 'sip:+4930123@sip.example.net', username: 'trunk1', password: 'pw', realm: 'sip.example.net',
      nonce: 'abc123', qop: null, cnonce: '', nc: '',
    }));
    expect(verifyDigestCredentials(creds, 'INVITE', 'pw')).toBe(true);
  });

  it('handles -sess algorithms, stale, domain, case and auth-int only', () => {
    const ch = parseDigestChallenge('digest REALM="r", Nonce="n", algorithm=md5-sess, qop=auth, stale=TRUE, domain="sip:a.example"')!;
    expect(ch).toMatchObject({ algorithm: 'MD5-sess', stale: true, domain: 'sip:a.example', qop: ['auth'] });
    const v = buildDigestAuthorization(ch, { method: 'REGISTER', uri: 'sip:a.example', username: 'u', password: 'p', cnonce: 'c', nc: 2 })!;
    expect(v).toContain('nc=00000002');
    expect(verifyDigestCredentials(parseDigestCredentials(v)!, 'REGISTER', 'p')).toBe(true);

    const intOnly = parseDigestChallenge('Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256-sess')!;
    const vi = buildDigestAuthorization(intOnly, { method: 'MESSAGE', uri: 'sip:b@r', username: 'u', password: 'p', body: 'hello' })!;
    expect(vi).toContain('qop=auth-int');
    const creds = parseDigestCredentials(vi)!;
    expect(verifyDigestCredentials(creds, 'MESSAGE', 'p', 'hello')).toBe(true);
    expect(verifyDigestCredentials(creds, 'MESSAGE', 'p', 'other body')).toBe(false);

    const sha512 = parseDigestChallenge('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256')!;
    const v5 = buildDigestAuthorization(sha512, { method: 'INVITE', uri: 'sip:x@r', username: 'u', password: 'p' })!;
    expect(parseDigestCredentials(v5)!.response).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyDigestCredentials(parseDigestCredentials(v5)!, 'INVITE', 'p')).toBe(true);
  });

  it('escapes quotes in usernames', () => {
    const ch = parseDigestChallenge('Digest realm="r", nonce="n"')!;
    const v = buildDigestAuthorization(ch, { method: 'INVITE', uri: 'sip:x@r', username: 'a"b\\c', password: 'p' })!;
    expect(v).toContain('username="a\\"b\\\\c"');
    expect(parseDigestCredentials(v)!.username).toBe('a"b\\c');
  });

  it('rejects what it cannot answer', () => {
    expect(parseDigestChallenge('Basic realm="r"')).toBeNull();
    expect(parseDigestChallenge('Digest nonce="n"')).toBeNull();
    expect(parseDigestChallenge('Digest realm="r"')).toBeNull();
    expect(parseDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-1')).toBeNull();
    expect(parseDigestChallenge('Digest realm="r, nonce="n"')).toBeNull();
    expect(pickDigestChallenge(['Basic realm="x"', 'Digest realm="r", nonce="n", algorithm=AKAv1-MD5'])).toBeNull();
    const unknownQop = parseDigestChallenge('Digest realm="r", nonce="n", qop="auth-conf"')!;
    expect(buildDigestAuthorization(unknownQop, { method: 'INVITE', uri: 'sip:x', username: 'u', password: 'p' })).toBeNull();
    expect(parseDigestCredentials('Digest username="u", realm="r"')).toBeNull();
    expect(formatNonceCount(255)).toBe('000000ff');
    expect(formatNonceCount(-3)).toBe('00000001');
  });
});
