import { describe, expect, it } from 'vitest';
import { makeCryptoAttribute } from './crypto-attr.js';
import { anchorSdp, parseSdpMedia, SdpError, SdpOriginState, tryParseSdpMedia, type AnchorOptions } from './sdp.js';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';
const linesOf = (sdp: string): string[] => sdp.split('\r\n').filter((l) => l.length > 0);

/** An IP-PBX's G.711 offer. */
const PBX_OFFER = crlf([
  'v=0',
  'o=PBX 2890844526 2890844526 IN IP4 192.168.10.20',
  's=Talk',
  'c=IN IP4 192.168.10.20',
  't=0 0',
  'm=audio 16384 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  'a=sendrecv',
  'a=X-pbx-cookie:abc def',
]);

/** A SIP trunk's answer: media-level c=, a=rtcp with a non-default port. */
const TRUNK_ANSWER = crlf([
  'v=0',
  'o=- 3977 3978 IN IP4 198.51.100.7',
  's=-',
  't=0 0',
  'm=audio 30000 RTP/AVP 8 101',
  'c=IN IP4 198.51.100.9',
  'b=AS:80',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtcp:30011',
  'a=maxptime:40',
]);

/** WebRTC-style offer with ICE, BUNDLE and SDES. */
const WEBRTC_OFFER = crlf([
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=ice-options:trickle',
  'a=msid-semantic: WMS stream1',
  'm=audio 9 RTP/SAVPF 111 0 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0',
  'a=candidate:435653019 1 udp 1845501695 203.0.113.77 46243 typ srflx raddr 192.168.0.196 rport 46243 generation 0',
  'a=end-of-candidates',
  'a=ice-ufrag:Oyef7uvBlwafI3hT',
  'a=ice-pwd:T0teqPLNQQOf+5W+ls+P2p16',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:126 telephone-event/8000',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR',
  'a=ssrc:3570614608 cname:4TOk42mSjXCkVIa6',
]);

/** Audio + video. */
const AUDIO_VIDEO = crlf([
  'v=0',
  'o=bob 1 1 IN IP4 10.1.1.1',
  's=-',
  'c=IN IP4 10.1.1.1',
  't=0 0',
  'm=audio 5004 RTP/AVP 9 0',
  'a=rtpmap:9 G722/8000',
  'm=video 5006 RTP/AVP 96 97',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1',
  'a=rtpmap:97 VP8/90000',
  'a=rtcp-fb:96 nack pli',
  'a=rtcp-fb:* ccm fir',
  'a=content:main',
]);

/** T.38 re-INVITE: audio disabled, image stream added. */
const T38 = crlf([
  'v=0',
  'o=fax 10 11 IN IP4 10.2.2.2',
  's=-',
  'c=IN IP4 10.2.2.2',
  't=0 0',
  'm=audio 0 RTP/AVP 0',
  'm=image 6000 udptl t38',
  'a=T38FaxVersion:0',
  'a=T38MaxBitRate:14400',
  'a=T38FaxRateManagement:transferredTCF',
  'a=T38FaxMaxDatagram:316',
  'a=T38FaxUdpEC:t38UDPRedundancy',
]);

/** SRTP with two crypto suites, a=rtcp with an address, rtcp-mux. */
const SAVP_OFFER = crlf([
  'v=0',
  'o=- 77 1 IN IP6 2001:db8::5',
  's=-',
  'c=IN IP6 2001:db8::5',
  't=0 0',
  'm=audio 7000 RTP/SAVP 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp:7005 IN IP6 2001:db8::6',
  'a=rtcp-mux',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32',
]);

const OPTS: AnchorOptions = { connectionAddress: '203.0.113.5', ports: [20000], sessionId: '555', sessionVersion: 7, originUsername: 'sbc' };

describe('parseSdpMedia', () => {
  it('describes a G.711 PBX offer', () => {
    const [s] = parseSdpMedia(PBX_OFFER);
    expect(s).toMatchObject({
      index: 0, media: 'audio', port: 16384, protocol: 'RTP/AVP', transport: 'rtp', secure: false, rejected: false,
      connectionAddress: '192.168.10.20', rtcpPort: 16385, rtcpMux: false, direction: 'sendrecv',
      telephoneEventPt: 101, ptime: 20, crypto: [],
    });
    expect(s!.payloads.map((p) => [p.pt, p.name, p.clockRate])).toEqual([[0, 'PCMU', 8000], [8, 'PCMA', 8000], [101, 'telephone-event', 8000]]);
    expect(s!.payloads[2]!.fmtp).toBe('0-15');
  });

  it('takes the media-level c= and a=rtcp port of a trunk answer', () => {
    const [s] = parseSdpMedia(TRUNK_ANSWER);
    expect(s).toMatchObject({ connectionAddress: '198.51.100.9', port: 30000, rtcpPort: 30011, rtcpAddress: null });
  });

  it('reads SAVP crypto lines, rtcp-mux and a=rtcp with an address', () => {
    const [s] = parseSdpMedia(SAVP_OFFER);
    expect(s).toMatchObject({ secure: true, rtcpMux: true, rtcpPort: 7005, rtcpAddress: '2001:db8::6', connectionAddress: '2001:db8::5' });
    expect(s!.crypto.map((c) => [c.tag, c.suite])).toEqual([[1, 'AES_CM_128_HMAC_SHA1_80'], [2, 'AES_CM_128_HMAC_SHA1_32']]);
    expect(s!.crypto[0]!.keyParams[0]!.mki).toBe('1:32');
  });

  it('describes T.38 and rejected streams', () => {
    const [audio, image] = parseSdpMedia(T38);
    expect(audio).toMatchObject({ rejected: true, port: 0 });
    expect(image).toMatchObject({ media: 'image', transport: 'udptl', formats: ['t38'], rtcpPort: null, payloads: [] });
  });

  it('applies session-level direction and static payload names', () => {
    const [s] = parseSdpMedia(crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'c=IN IP4 1.2.3.4', 't=0 0', 'a=recvonly', 'm=audio 4000 RTP/AVP 18 3']));
    expect(s!.direction).toBe('recvonly');
    expect(s!.payloads.map((p) => p.name)).toEqual(['G729', 'GSM']);
  });

  it('reports malformed SDP as SdpError', () => {
    for (const bad of [
      '',
      'hello',
      crlf(['v=0', 's=-']),
      crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'm=audio abc RTP/AVP 0']),
      crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'm=audio 4000 RTP/AVP PCMU']),
      crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'c=IN IP9 x', 'm=audio 4000 RTP/AVP 0']),
      crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'm=audio 70000 RTP/AVP 0']),
      'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nthis is not sdp\r\n',
      'v=0\r\n' + 'a=x\r\n'.repeat(20000),
    ]) {
      expect(() => parseSdpMedia(bad), JSON.stringify(bad.slice(0, 40))).toThrow(SdpError);
    }
    expect(tryParseSdpMedia('junk')).toMatchObject({ ok: false });
  });
});

describe('anchorSdp', () => {
  it('anchors a PBX offer: c=, m= port, o= rewritten, everything else verbatim', () => {
    const out = anchorSdp(PBX_OFFER, OPTS);
    expect(linesOf(out.sdp)).toEqual([
      'v=0',
      'o=sbc 555 7 IN IP4 203.0.113.5',
      's=Talk',
      'c=IN IP4 203.0.113.5',
      't=0 0',
      'm=audio 20000 RTP/AVP 0 8 101',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      'a=ptime:20',
      'a=sendrecv',
      'a=X-pbx-cookie:abc def',
    ]);
    expect(out.sdp.endsWith('\r\n')).toBe(true);
    expect(out.streams[0]!.connectionAddress).toBe('192.168.10.20');
    expect(out.disabled).toEqual([]);
  });

  it('anchors a trunk answer: media-level c= and a=rtcp of the other side replaced/removed', () => {
    const out = anchorSdp(TRUNK_ANSWER, { ...OPTS, connectionAddress: '10.0.0.1', ports: [41000] });
    const l = linesOf(out.sdp);
    expect(l).toContain('m=audio 41000 RTP/AVP 8 101');
    expect(l).toContain('c=IN IP4 10.0.0.1');
    expect(l).toContain('b=AS:80');
    expect(l).toContain('a=maxptime:40');
    expect(l.some((x) => x.startsWith('a=rtcp:'))).toBe(false);
    expect(out.sdp).not.toContain('198.51.100');
  });

  it('strips ICE, candidates, BUNDLE and the peer key from a WebRTC-style offer', () => {
    const ours = makeCryptoAttribute(1, 'AES_CM_128_HMAC_SHA1_80');
    const out = anchorSdp(WEBRTC_OFFER, { ...OPTS, ports: [20002], streams: [{ crypto: [ours], rtcpMux: true }] });
    const l = linesOf(out.sdp);
    for (const gone of ['a=candidate', 'a=end-of-candidates', 'a=ice-', 'a=group:BUNDLE', 'a=rtcp:', '192.168.0.196', '0.0.0.0', 'PS1uQCVee', 'a=ssrc:', 'cname:4TOk42mSjXCkVIa6']) {
      expect(out.sdp, gone).not.toContain(gone);
    }
    expect(l[5]).toBe('m=audio 20002 RTP/SAVPF 111 0 126');
    expect(l[6]).toBe('c=IN IP4 203.0.113.5');
    for (const kept of ['a=mid:0', 'a=msid-semantic: WMS stream1', 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level', 'a=rtcp-fb:111 transport-cc', 'a=rtcp-mux', 'a=fmtp:111 minptime=10;useinbandfec=1']) {
      expect(l, kept).toContain(kept);
    }
    expect(l.filter((x) => x.startsWith('a=crypto:'))).toEqual([`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${ours.keyParams[0]!.keySaltBase64}`]);
    // c=0.0.0.0 next to ICE candidates is a trickle-ICE placeholder, not a hold
    expect(l).toContain('a=sendrecv');
    expect(out.streams[0]!.ice).toBe(true);
  });

  it('rewrites each m= line of audio + video and restricts coders per media type', () => {
    const out = anchorSdp(AUDIO_VIDEO, { ...OPTS, ports: [20000, 20002], allowedCoders: { audio: ['PCMU', 'G722'], video: ['VP8'] } });
    const l = linesOf(out.sdp);
    expect(l).toContain('m=audio 20000 RTP/AVP 0 9');
    expect(l).toContain('m=video 20002 RTP/AVP 97');
    expect(l).toContain('a=rtpmap:97 VP8/90000');
    expect(l).toContain('a=rtcp-fb:* ccm fir');
    expect(l).toContain('a=content:main');
    expect(out.sdp).not.toContain('H264');
    expect(out.sdp).not.toContain('a=rtcp-fb:96');
    expect(out.sdp).not.toContain('a=fmtp:96');
  });

  it('disables a stream when no allowed coder is left', () => {
    const out = anchorSdp(AUDIO_VIDEO, { ...OPTS, ports: [20000, 20002], allowedCoders: { audio: ['PCMA'] } });
    expect(out.disabled).toEqual([0]);
    expect(linesOf(out.sdp)).toContain('m=audio 0 RTP/AVP 9 0');
  });

  it('passes T.38 through with the port rewritten and keeps port 0 streams at 0', () => {
    const out = anchorSdp(T38, { ...OPTS, ports: [0, 20004] });
    const l = linesOf(out.sdp);
    expect(l).toContain('m=audio 0 RTP/AVP 0');
    expect(l).toContain('m=image 20004 udptl t38');
    for (const t of ['a=T38FaxVersion:0', 'a=T38MaxBitRate:14400', 'a=T38FaxRateManagement:transferredTCF', 'a=T38FaxMaxDatagram:316', 'a=T38FaxUdpEC:t38UDPRedundancy']) {
      expect(l).toContain(t);
    }
    expect(out.disabled).toEqual([0]);
  });

  it('keeps hold directions, and turns a c=0.0.0.0 hold into sendonly', () => {
    const hold = (dir: string | null, addr = '192.168.10.20'): string =>
      crlf(['v=0', 'o=PBX 1 2 IN IP4 192.168.10.20', 's=-', `c=IN IP4 ${addr}`, 't=0 0', 'm=audio 16384 RTP/AVP 0', ...(dir ? [`a=${dir}`] : [])]);
    expect(linesOf(anchorSdp(hold('sendonly'), OPTS).sdp)).toContain('a=sendonly');
    expect(linesOf(anchorSdp(hold('inactive'), OPTS).sdp)).toContain('a=inactive');
    expect(linesOf(anchorSdp(hold('recvonly'), OPTS).sdp)).toContain('a=recvonly');
    const zero = linesOf(anchorSdp(hold(null, '0.0.0.0'), OPTS).sdp);
    expect(zero).toContain('a=sendonly');
    expect(zero).toContain('c=IN IP4 203.0.113.5');
    expect(linesOf(anchorSdp(hold('recvonly', '0.0.0.0'), OPTS).sdp)).toContain('a=inactive');
    expect(linesOf(anchorSdp(hold('sendonly'), { ...OPTS, streams: [{ direction: 'sendrecv' }] }).sdp)).toContain('a=sendrecv');
  });

  it('SRTP modes: srtp offers RTP/SAVP with our keys, rtp strips crypto, both offers RTP/AVP with keys', () => {
    const k80 = makeCryptoAttribute(1, 'AES_CM_128_HMAC_SHA1_80');
    const k32 = makeCryptoAttribute(2, 'AES_CM_128_HMAC_SHA1_32');
    const srtp = linesOf(anchorSdp(PBX_OFFER, { ...OPTS, security: 'srtp', crypto: [[k80, k32]] }).sdp);
    expect(srtp).toContain('m=audio 20000 RTP/SAVP 0 8 101');
    expect(srtp.filter((x) => x.startsWith('a=crypto:'))).toHaveLength(2);
    expect(srtp).toContain(`a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${k32.keyParams[0]!.keySaltBase64}`);

    const rtp = anchorSdp(SAVP_OFFER, { ...OPTS, security: 'rtp', crypto: [[k80]] }).sdp;
    expect(rtp).toContain('m=audio 20000 RTP/AVP 8 101');
    expect(rtp).not.toContain('a=crypto');
    expect(rtp).toContain('c=IN IP4 203.0.113.5');
    expect(rtp).toContain('o=sbc 555 7 IN IP4 203.0.113.5');
    expect(rtp).not.toContain('2001:db8');

    const both = linesOf(anchorSdp(SAVP_OFFER, { ...OPTS, security: 'both', crypto: [[k80]], streams: [{ rtcpMux: false }] }).sdp);
    expect(both).toContain('m=audio 20000 RTP/AVP 8 101');
    expect(both.filter((x) => x.startsWith('a=crypto:'))).toEqual([`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${k80.keyParams[0]!.keySaltBase64}`]);
    expect(both).not.toContain('a=rtcp-mux');
  });

  it('writes an IPv6 realm address as IP6', () => {
    const l = linesOf(anchorSdp(PBX_OFFER, { ...OPTS, connectionAddress: '2001:db8::1' }).sdp);
    expect(l[1]).toBe('o=sbc 555 7 IN IP6 2001:db8::1');
    expect(l).toContain('c=IN IP6 2001:db8::1');
  });

  it('adds a c= to media when the input had none anywhere', () => {
    const l = linesOf(anchorSdp(crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'i=voice', 'a=sendrecv']), OPTS).sdp);
    expect(l.slice(4)).toEqual(['m=audio 20000 RTP/AVP 0', 'i=voice', 'c=IN IP4 203.0.113.5', 'a=sendrecv']);
  });

  it('refuses a port list that does not match the m= lines', () => {
    expect(() => anchorSdp(AUDIO_VIDEO, OPTS)).toThrow(/2 m= lines/);
    expect(() => anchorSdp(PBX_OFFER, { ...OPTS, ports: [70000] })).toThrow(SdpError);
  });
});

describe('SdpOriginState', () => {
  it('increments the version only when the content changes', () => {
    const st = new SdpOriginState({ sessionId: '99', username: 'sbc', initialVersion: 5 });
    const mk = (port: number): string => anchorSdp(PBX_OFFER, { ...OPTS, ports: [port], sessionId: st.sessionId, sessionVersion: 0 }).sdp;
    const first = st.stamp(mk(20000));
    expect(first).toContain('o=sbc 99 5 IN IP4 203.0.113.5\r\n');
    expect(st.stamp(mk(20000))).toBe(first);
    const changed = st.stamp(mk(20002));
    expect(changed).toContain('o=sbc 99 6 IN IP4');
    expect(st.stamp(mk(20002))).toContain('o=sbc 99 6 IN IP4');
    expect(st.stamp(mk(20000))).toContain('o=sbc 99 7 IN IP4');
    expect(st.currentVersion).toBe(7);
  });

  it('makes a numeric random session id', () => {
    const a = new SdpOriginState();
    expect(a.sessionId).toMatch(/^\d+$/);
    expect(new SdpOriginState().sessionId).not.toBe(a.sessionId);
  });
});

describe('SDP topology hiding: source and tool attributes', () => {
  it('drops a=ssrc (CNAME user@host), a=ssrc-group and a=tool at session and media level', () => {
    const offer = crlf([
      'v=0', 'o=- 1 1 IN IP4 127.0.0.2', 's=-', 'c=IN IP4 127.0.0.2', 't=0 0', 'a=tool:baresip 3.0.0',
      'm=audio 4000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=ssrc-group:FID 11 22',
      'a=ssrc:11 cname:sip:pbx@127.0.0.2:5060', 'a=ssrc:22 cname:sip:pbx@127.0.0.2:5060', 'a=sendrecv',
    ]);
    const out = anchorSdp(offer, OPTS);
    for (const gone of ['a=tool', 'baresip', 'a=ssrc', 'cname', '127.0.0.2']) expect(out.sdp, gone).not.toContain(gone);
    expect(linesOf(out.sdp)).toContain('a=rtpmap:0 PCMU/8000');
    expect(linesOf(out.sdp)).toContain('a=sendrecv');
  });
});
