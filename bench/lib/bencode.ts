/**
 * Bencode, as spoken by rtpengine's ng control protocol: integers, byte
 * strings, lists and dictionaries (keys sorted on encode). Strings decode
 * as latin1 so binary-safe round trips are possible.
 */
export type BValue = number | string | Buffer | BValue[] | { [key: string]: BValue };

export function bencode(v: BValue): Buffer {
  const parts: Buffer[] = [];
  enc(v, parts);
  return Buffer.concat(parts);
}

function enc(v: BValue, out: Buffer[]): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`bencode: not an integer: ${v}`);
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (typeof v === 'string' || Buffer.isBuffer(v)) {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b);
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'));
    for (const x of v) enc(x, out);
    out.push(Buffer.from('e'));
  } else {
    out.push(Buffer.from('d'));
    for (const k of Object.keys(v).sort()) {
      enc(k, out);
      enc(v[k]!, out);
    }
    out.push(Buffer.from('e'));
  }
}

export class BencodeError extends Error {}

/** Decodes one value; strings come back as JS strings (utf8). Throws BencodeError on malformed input. */
export function bdecode(buf: Buffer): BValue {
  const [v, end] = dec(buf, 0, 0);
  if (end !== buf.length) throw new BencodeError(`bencode: trailing bytes at ${end}`);
  return v;
}

function dec(b: Buffer, i: number, depth: number): [BValue, number] {
  if (depth > 64) throw new BencodeError('bencode: nesting too deep');
  if (i >= b.length) throw new BencodeError('bencode: truncated');
  const c = b[i]!;
  if (c === 0x69 /* i */) {
    const e = b.indexOf(0x65, i + 1);
    if (e < 0) throw new BencodeError('bencode: unterminated integer');
    const n = Number(b.toString('latin1', i + 1, e));
    if (!Number.isInteger(n)) throw new BencodeError('bencode: bad integer');
    return [n, e + 1];
  }
  if (c === 0x6c /* l */) {
    const arr: BValue[] = [];
    let j = i + 1;
    while (j < b.length && b[j] !== 0x65) {
      const [x, n] = dec(b, j, depth + 1);
      arr.push(x);
      j = n;
    }
    if (j >= b.length) throw new BencodeError('bencode: unterminated list');
    return [arr, j + 1];
  }
  if (c === 0x64 /* d */) {
    const obj: { [key: string]: BValue } = {};
    let j = i + 1;
    while (j < b.length && b[j] !== 0x65) {
      const [k, n] = dec(b, j, depth + 1);
      if (typeof k !== 'string') throw new BencodeError('bencode: dictionary key is not a string');
      const [x, m] = dec(b, n, depth + 1);
      obj[k] = x;
      j = m;
    }
    if (j >= b.length) throw new BencodeError('bencode: unterminated dictionary');
    return [obj, j + 1];
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = b.indexOf(0x3a, i);
    if (colon < 0) throw new BencodeError('bencode: bad string length');
    const len = Number(b.toString('latin1', i, colon));
    if (!Number.isInteger(len) || colon + 1 + len > b.length) throw new BencodeError('bencode: string overruns input');
    return [b.toString('utf8', colon + 1, colon + 1 + len), colon + 1 + len];
  }
  throw new BencodeError(`bencode: unexpected byte 0x${c.toString(16)} at ${i}`);
}
