import type { PayloadInfo, StreamInfo } from './sdp-types.js';

/**
 * Coder policy: which offered payload formats a leg may use (the IP Profile's
 * allowed coders group) and in which order of preference.
 */

/** RFC 3551 §6 static payload types (names as registered for a=rtpmap). */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, { name: string; clockRate: number; channels: number | null }> = new Map([
  [0, { name: 'PCMU', clockRate: 8000, channels: 1 }],
  [3, { name: 'GSM', clockRate: 8000, channels: 1 }],
  [4, { name: 'G723', clockRate: 8000, channels: 1 }],
  [5, { name: 'DVI4', clockRate: 8000, channels: 1 }],
  [6, { name: 'DVI4', clockRate: 16000, channels: 1 }],
  [7, { name: 'LPC', clockRate: 8000, channels: 1 }],
  [8, { name: 'PCMA', clockRate: 8000, channels: 1 }],
  [9, { name: 'G722', clockRate: 8000, channels: 1 }],
  [10, { name: 'L16', clockRate: 44100, channels: 2 }],
  [11, { name: 'L16', clockRate: 44100, channels: 1 }],
  [12, { name: 'QCELP', clockRate: 8000, channels: 1 }],
  [13, { name: 'CN', clockRate: 8000, channels: 1 }],
  [14, { name: 'MPA', clockRate: 90000, channels: null }],
  [15, { name: 'G728', clockRate: 8000, channels: 1 }],
  [16, { name: 'DVI4', clockRate: 11025, channels: 1 }],
  [17, { name: 'DVI4', clockRate: 22050, channels: 1 }],
  [18, { name: 'G729', clockRate: 8000, channels: 1 }],
  [25, { name: 'CelB', clockRate: 90000, channels: null }],
  [26, { name: 'JPEG', clockRate: 90000, channels: null }],
  [28, { name: 'nv', clockRate: 90000, channels: null }],
  [31, { name: 'H261', clockRate: 90000, channels: null }],
  [32, { name: 'MPV', clockRate: 90000, channels: null }],
  [33, { name: 'MP2T', clockRate: 90000, channels: null }],
  [34, { name: 'H263', clockRate: 90000, channels: null }],
]);

/**
 * Mediant coder names and common spellings mapped to the rtpmap encoding name
 * (lower case). Anything not listed is matched as written.
 */
const CODER_ALIASES: ReadonlyMap<string, string> = new Map([
  ['g711ulaw64k', 'pcmu'], ['g711ulaw', 'pcmu'], ['g711u', 'pcmu'], ['ulaw', 'pcmu'], ['mulaw', 'pcmu'],
  ['g711alaw64k', 'pcma'], ['g711alaw', 'pcma'], ['g711a', 'pcma'], ['alaw', 'pcma'],
  ['g729a', 'g729'], ['g729ab', 'g729'], ['g729b', 'g729'],
  ['g722_64k', 'g722'], ['g722-64k', 'g722'],
  ['g723.1', 'g723'], ['g7231', 'g723'],
  ['gsm-fr', 'gsm'], ['gsmfr', 'gsm'],
  ['rfc2833', 'telephone-event'], ['rfc4733', 'telephone-event'], ['dtmf', 'telephone-event'],
  ['comfort-noise', 'cn'], ['comfortnoise', 'cn'],
]);

export interface CoderPolicy {
  /** Allowed audio coders in order of preference; undefined = no restriction. */
  audio?: readonly string[];
  /** Allowed video coders in order of preference; undefined = no restriction. */
  video?: readonly string[];
}

/** Canonical lower-case coder name for a policy entry ("G711Alaw64k" -> "pcma"). */
export function normalizeCoderName(name: string): string {
  const lower = name.trim().toLowerCase();
  return CODER_ALIASES.get(lower) ?? lower;
}

/** Lower-case encoding name of an offered payload: rtpmap name, else the static table; null if unknown. */
export function payloadCoderName(p: PayloadInfo): string | null {
  if (p.name !== null) return p.name.toLowerCase();
  return STATIC_PAYLOAD_TYPES.get(p.pt)?.name.toLowerCase() ?? null;
}

/** The policy list for a media type (undefined = unrestricted). */
export function policyFor(policy: CoderPolicy | undefined, media: string): readonly string[] | undefined {
  if (policy === undefined) return undefined;
  if (media === 'audio') return policy.audio;
  if (media === 'video') return policy.video;
  return undefined;
}

interface PolicyEntry {
  name: string | null;
  clockRate: number | null;
  staticPt: number | null;
}

function parsePolicyEntry(entry: string): PolicyEntry {
  const trimmed = entry.trim();
  if (/^\d{1,3}$/.test(trimmed)) return { name: null, clockRate: null, staticPt: Number(trimmed) };
  const slash = trimmed.indexOf('/');
  if (slash > 0) {
    const rate = Number(trimmed.slice(slash + 1));
    return { name: normalizeCoderName(trimmed.slice(0, slash)), clockRate: Number.isFinite(rate) ? rate : null, staticPt: null };
  }
  return { name: normalizeCoderName(trimmed), clockRate: null, staticPt: null };
}

function matches(p: PayloadInfo, e: PolicyEntry): boolean {
  if (e.staticPt !== null) return p.pt === e.staticPt && p.pt < 96;
  const name = payloadCoderName(p);
  if (name === null || name !== e.name) return false;
  if (e.clockRate === null) return true;
  const rate = p.clockRate ?? STATIC_PAYLOAD_TYPES.get(p.pt)?.clockRate ?? null;
  return rate === e.clockRate;
}

export interface CoderRestriction {
  /** Payloads to keep, in the order they should appear on the m= line. */
  kept: PayloadInfo[];
  removed: PayloadInfo[];
  /**
   * True when at least one real coder survived (telephone-event and CN alone
   * cannot carry a call).
   */
  usable: boolean;
}

function isAuxiliary(p: PayloadInfo): boolean {
  const n = payloadCoderName(p);
  return n === 'telephone-event' || n === 'cn';
}

/**
 * Keeps the offered payloads named in `allowed` (case-insensitive, by rtpmap
 * name or static PT; "name/rate" restricts the clock rate too) and, when
 * `reorder` is set, puts them in the order of the list. An undefined list
 * keeps everything in offer order.
 */
export function restrictCoders(
  offered: readonly PayloadInfo[],
  allowed: readonly string[] | undefined,
  reorder = true,
): CoderRestriction {
  if (allowed === undefined) {
    return { kept: offered.slice(), removed: [], usable: offered.some((p) => !isAuxiliary(p)) };
  }
  const entries = allowed.map(parsePolicyEntry);
  let kept: PayloadInfo[];
  if (reorder) {
    kept = [];
    const taken = new Set<number>();
    for (const e of entries) {
      for (const p of offered) {
        if (!taken.has(p.pt) && matches(p, e)) {
          taken.add(p.pt);
          kept.push(p);
        }
      }
    }
  } else {
    kept = offered.filter((p) => entries.some((e) => matches(p, e)));
  }
  const keptSet = new Set(kept.map((p) => p.pt));
  const removed = offered.filter((p) => !keptSet.has(p.pt));
  return { kept, removed, usable: kept.some((p) => !isAuxiliary(p)) };
}

function sameCoder(a: PayloadInfo, b: PayloadInfo): boolean {
  const an = payloadCoderName(a);
  if (an === null || an !== payloadCoderName(b)) return false;
  const ar = a.clockRate ?? STATIC_PAYLOAD_TYPES.get(a.pt)?.clockRate ?? null;
  const br = b.clockRate ?? STATIC_PAYLOAD_TYPES.get(b.pt)?.clockRate ?? null;
  return ar === br;
}

/**
 * RFC 3264 §6: the answer has as many m= lines as the offer, of the same
 * media types, and accepts only formats that were offered. A payload matches
 * by PT number or, for answerers that renumber dynamic types, by the same
 * encoding name and clock rate. Returns an error text, or null when the
 * answer is acceptable.
 */
export function checkAnswerSubset(offer: readonly StreamInfo[], answer: readonly StreamInfo[]): string | null {
  if (answer.length !== offer.length) {
    return `answer has ${answer.length} m= lines, offer had ${offer.length}`;
  }
  for (let i = 0; i < offer.length; i++) {
    const o = offer[i]!;
    const a = answer[i]!;
    if (a.rejected) continue;
    if (o.rejected) return `m= line ${i + 1}: answer accepts a stream the offer disabled`;
    if (a.media !== o.media) return `m= line ${i + 1}: answer media "${a.media}" differs from offer "${o.media}"`;
    if (a.transport === 'rtp') {
      for (const p of a.payloads) {
        const ok = o.payloads.some((op) => op.pt === p.pt && (p.name === null || op.name === null || sameCoder(op, p)))
          || o.payloads.some((op) => sameCoder(op, p));
        if (!ok) return `m= line ${i + 1}: answer payload ${p.pt}${p.name ? ` (${p.name})` : ''} was not offered`;
      }
    } else {
      for (const f of a.formats) {
        if (!o.formats.includes(f)) return `m= line ${i + 1}: answer format "${f}" was not offered`;
      }
    }
  }
  return null;
}
