import { describe, expect, it } from 'vitest';
import { checkAnswerSubset, normalizeCoderName, restrictCoders } from './coders.js';
import { parseSdpMedia } from './sdp.js';
import type { PayloadInfo } from './sdp-types.js';

const p = (pt: number, name: string | null, clockRate: number | null = 8000): PayloadInfo => ({ pt, name, clockRate, channels: null, fmtp: null });
const OFFER: PayloadInfo[] = [p(0, 'PCMU'), p(8, 'PCMA'), p(18, null), p(9, 'G722'), p(111, 'opus', 48000), p(101, 'telephone-event'), p(13, 'CN')];

describe('coder policy', () => {
  it('normalises Mediant names', () => {
    expect(normalizeCoderName('g711Alaw64k')).toBe('pcma');
    expect(normalizeCoderName('G711Ulaw64k')).toBe('pcmu');
    expect(normalizeCoderName('G729AB')).toBe('g729');
    expect(normalizeCoderName('RFC2833')).toBe('telephone-event');
    expect(normalizeCoderName('OPUS')).toBe('opus');
  });

  it('restricts and reorders by the allowed list, case-insensitive, static PT without rtpmap', () => {
    const r = restrictCoders(OFFER, ['g729', 'pcma', 'Telephone-Event']);
    expect(r.kept.map((x) => x.pt)).toEqual([18, 8, 101]);
    expect(r.removed.map((x) => x.pt)).toEqual([0, 9, 111, 13]);
    expect(r.usable).toBe(true);
  });

  it('drops telephone-event unless allowed and keeps offer order without reorder', () => {
    expect(restrictCoders(OFFER, ['PCMA', 'PCMU'], false).kept.map((x) => x.pt)).toEqual([0, 8]);
    expect(restrictCoders(OFFER, ['PCMA', 'PCMU']).kept.map((x) => x.pt)).toEqual([8, 0]);
  });

  it('matches numeric entries as static PTs and name/rate entries by clock rate', () => {
    expect(restrictCoders(OFFER, ['8', '0']).kept.map((x) => x.pt)).toEqual([8, 0]);
    expect(restrictCoders(OFFER, ['opus/48000']).kept.map((x) => x.pt)).toEqual([111]);
    expect(restrictCoders(OFFER, ['opus/16000']).kept).toEqual([]);
  });

  it('is unusable when only telephone-event/CN survive; undefined list keeps all', () => {
    expect(restrictCoders(OFFER, ['telephone-event', 'CN']).usable).toBe(false);
    expect(restrictCoders(OFFER, ['AMR']).usable).toBe(false);
    expect(restrictCoders(OFFER, undefined).kept).toHaveLength(OFFER.length);
  });
});

const sdp = (m: string, extra: string[] = []): string =>
  ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', m, ...extra, ''].join('\r\n');

describe('answer subset check', () => {
  const offer = parseSdpMedia(sdp('m=audio 4000 RTP/AVP 0 8 96 101', ['a=rtpmap:96 opus/48000/2', 'a=rtpmap:101 telephone-event/8000']));
  it('accepts a subset, also with a renumbered dynamic PT', () => {
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 5000 RTP/AVP 8 101', ['a=rtpmap:101 telephone-event/8000'])))).toBeNull();
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 5000 RTP/AVP 0 100', ['a=rtpmap:100 telephone-event/8000'])))).toBeNull();
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 0 RTP/AVP 0')))).toBeNull();
  });
  it('refuses payloads that were not offered, wrong m= count or media', () => {
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 5000 RTP/AVP 18')))).toMatch(/payload 18/);
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 5000 RTP/AVP 97', ['a=rtpmap:97 iLBC/8000'])))).toMatch(/97/);
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=video 5000 RTP/AVP 0')))).toMatch(/media/);
    expect(checkAnswerSubset(offer, parseSdpMedia(sdp('m=audio 5000 RTP/AVP 0', ['m=audio 5002 RTP/AVP 0'])))).toMatch(/2 m= lines/);
  });
});
