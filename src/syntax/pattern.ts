/**
 * Mediant-style prefix patterns for user parts, compiled once at load.
 *
 *   ''  or '*'      any user
 *   '$'             the empty user only
 *   digits/letters  literal (letters case-insensitive), matched as a prefix
 *   x               any one digit
 *   [n-m]           a number in the range; n and m may have several digits ([100-199])
 *   [1,3,5-7]       a list of numbers/ranges
 *   # (at the end)  the user must end there (exact match instead of prefix)
 *   * (at the end)  anything may follow (same as plain prefix matching)
 */

type Item = { readonly lo: number; readonly hi: number; readonly minLen: number; readonly maxLen: number } | { readonly lit: string };
type Element = { readonly k: 'lit'; readonly c: string } | { readonly k: 'digit' } | { readonly k: 'set'; readonly items: readonly Item[] };

export interface PrefixPattern {
  readonly source: string;
  /** True when the pattern matches any user. */
  readonly any: boolean;
  matches(user: string): boolean;
}

export class PrefixSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(message);
  }
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

function matchAt(els: readonly Element[], ei: number, s: string, si: number, exact: boolean): boolean {
  if (ei === els.length) return !exact || si === s.length;
  const el = els[ei]!;
  switch (el.k) {
    case 'lit':
      if (si >= s.length || s[si]!.toLowerCase() !== el.c) return false;
      return matchAt(els, ei + 1, s, si + 1, exact);
    case 'digit':
      if (si >= s.length || !isDigitCode(s.charCodeAt(si))) return false;
      return matchAt(els, ei + 1, s, si + 1, exact);
    case 'set':
      for (const it of el.items) {
        if ('lit' in it) {
          if (s.length - si >= it.lit.length && s.slice(si, si + it.lit.length).toLowerCase() === it.lit && matchAt(els, ei + 1, s, si + it.lit.length, exact)) return true;
          continue;
        }
        let v = 0;
        for (let len = 1; len <= it.maxLen && si + len <= s.length; len++) {
          const c = s.charCodeAt(si + len - 1);
          if (!isDigitCode(c)) break;
          v = v * 10 + (c - 48);
          if (len >= it.minLen && v >= it.lo && v <= it.hi && matchAt(els, ei + 1, s, si + len, exact)) return true;
        }
      }
      return false;
  }
}

const ANY: PrefixPattern = Object.freeze({ source: '*', any: true, matches: () => true });

export function compilePrefix(source: string): PrefixPattern {
  const src = source.trim();
  if (src === '' || src === '*') return src === '*' ? ANY : Object.freeze({ source: '', any: true, matches: () => true });
  if (src === '$') return Object.freeze({ source: src, any: false, matches: (u: string) => u === '' });
  const els: Element[] = [];
  let exact = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '#' && i === src.length - 1 && i > 0) {
      exact = true;
      break;
    }
    if (ch === '*' && i === src.length - 1) break;
    if (ch === 'x' || ch === 'X') {
      els.push({ k: 'digit' });
      continue;
    }
    if (ch === ']') throw new PrefixSyntaxError(`unexpected ']' in prefix '${src}'`, i);
    if (ch === '[') {
      const close = src.indexOf(']', i);
      if (close < 0) throw new PrefixSyntaxError(`missing ']' in prefix '${src}'`, i);
      const body = src.slice(i + 1, close);
      if (body.trim() === '') throw new PrefixSyntaxError(`empty [] in prefix '${src}'`, i);
      const items: Item[] = [];
      for (const part of body.split(',')) {
        const p = part.trim();
        const dash = p.indexOf('-');
        if (dash > 0) {
          const a = p.slice(0, dash).trim();
          const b = p.slice(dash + 1).trim();
          if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new PrefixSyntaxError(`range '${p}' in prefix '${src}' must be digits`, i);
          const lo = Number(a);
          const hi = Number(b);
          if (lo > hi) throw new PrefixSyntaxError(`range '${p}' in prefix '${src}' is reversed`, i);
          items.push({ lo, hi, minLen: a.length, maxLen: Math.max(a.length, b.length) });
        } else if (p === '') {
          throw new PrefixSyntaxError(`empty list item in prefix '${src}'`, i);
        } else if (/^\d+$/.test(p)) {
          const n = Number(p);
          items.push({ lo: n, hi: n, minLen: p.length, maxLen: p.length });
        } else {
          items.push({ lit: p.toLowerCase() });
        }
      }
      els.push({ k: 'set', items });
      i = close;
      continue;
    }
    els.push({ k: 'lit', c: ch.toLowerCase() });
  }
  const frozen = Object.freeze(els);
  return Object.freeze({ source: src, any: false, matches: (user: string) => matchAt(frozen, 0, user, 0, exact) });
}

/** Host patterns: '' or '*' any; '*.example.com' any subdomain; else case-insensitive equality. */
export interface HostPattern {
  readonly source: string;
  readonly any: boolean;
  matches(host: string): boolean;
}

export function compileHost(source: string): HostPattern {
  const src = source.trim().toLowerCase();
  if (src === '' || src === '*') return Object.freeze({ source: src, any: true, matches: () => true });
  if (src.startsWith('*.')) {
    const suffix = src.slice(1);
    return Object.freeze({ source: src, any: false, matches: (h: string) => h.toLowerCase().endsWith(suffix) });
  }
  return Object.freeze({ source: src, any: false, matches: (h: string) => h.toLowerCase() === src });
}

/**
 * Source address patterns: '' or '*' any; IPv4 exact, a.b.c.d/n, or per-octet '*' / [n-m];
 * IPv6 exact (case-insensitive) or with /n.
 */
export interface AddressPattern {
  readonly source: string;
  readonly any: boolean;
  matches(address: string): boolean;
}

function ipv4ToInt(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

function ipv6ToBigInt(s: string): bigint | null {
  let str = s.toLowerCase();
  if (str.startsWith('[') && str.endsWith(']')) str = str.slice(1, -1);
  const dbl = str.indexOf('::');
  let head: string[];
  let tail: string[];
  if (dbl >= 0) {
    head = str.slice(0, dbl) === '' ? [] : str.slice(0, dbl).split(':');
    tail = str.slice(dbl + 2) === '' ? [] : str.slice(dbl + 2).split(':');
  } else {
    head = str.split(':');
    tail = [];
  }
  const groups: string[] = [...head];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (dbl < 0 && missing !== 0)) return null;
  for (let i = 0; i < missing; i++) groups.push('0');
  groups.push(...tail);
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

export class AddressSyntaxError extends Error {}

export function compileAddress(source: string): AddressPattern {
  const src = source.trim();
  if (src === '' || src === '*') return Object.freeze({ source: src, any: true, matches: () => true });
  const slash = src.indexOf('/');
  if (slash > 0) {
    const base = src.slice(0, slash);
    const bitsText = src.slice(slash + 1);
    if (!/^\d+$/.test(bitsText)) throw new AddressSyntaxError(`bad prefix length in '${src}'`);
    const bits = Number(bitsText);
    const v4 = ipv4ToInt(base);
    if (v4 !== null) {
      if (bits > 32) throw new AddressSyntaxError(`prefix length above 32 in '${src}'`);
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      const net = (v4 & mask) >>> 0;
      return Object.freeze({
        source: src, any: false,
        matches: (a: string) => { const x = ipv4ToInt(a); return x !== null && ((x & mask) >>> 0) === net; },
      });
    }
    const v6 = ipv6ToBigInt(base);
    if (v6 === null || bits > 128) throw new AddressSyntaxError(`'${src}' is not an address/prefix`);
    const shift = BigInt(128 - bits);
    const net = v6 >> shift;
    return Object.freeze({
      source: src, any: false,
      matches: (a: string) => { const x = ipv6ToBigInt(a); return x !== null && x >> shift === net; },
    });
  }
  if (src.includes(':')) {
    const v6 = ipv6ToBigInt(src);
    if (v6 === null) throw new AddressSyntaxError(`'${src}' is not an IPv6 address`);
    return Object.freeze({ source: src, any: false, matches: (a: string) => ipv6ToBigInt(a) === v6 });
  }
  const octets = src.split('.');
  if (octets.length !== 4) throw new AddressSyntaxError(`'${src}' is not an IPv4 address`);
  const ranges: Array<readonly [number, number]> = [];
  for (const o of octets) {
    if (o === '*') ranges.push([0, 255]);
    else if (/^\d{1,3}$/.test(o) && Number(o) <= 255) ranges.push([Number(o), Number(o)]);
    else {
      const m = /^\[(\d{1,3})-(\d{1,3})\]$/.exec(o);
      if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 255) throw new AddressSyntaxError(`'${src}' is not an IPv4 address pattern`);
      ranges.push([Number(m[1]), Number(m[2])]);
    }
  }
  return Object.freeze({
    source: src, any: false,
    matches: (a: string) => {
      const parts = a.split('.');
      if (parts.length !== 4) return false;
      for (let i = 0; i < 4; i++) {
        const n = Number(parts[i]);
        if (!(n >= ranges[i]![0] && n <= ranges[i]![1]) || parts[i] === '') return false;
      }
      return true;
    },
  });
}
