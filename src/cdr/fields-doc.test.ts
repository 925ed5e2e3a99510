/**
 * docs/cdr.md documents every CDR field: this keeps its field table (key,
 * title, Mediant or ours, code, type, default layout) and the list of
 * per-direction metrics in the default call layout equal to the code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CDR_FIELDS, DEFAULT_CALL_FIELDS, DEFAULT_MEDIA_FIELDS } from './fields.js';

const doc = readFileSync(new URL('../../docs/cdr.md', import.meta.url), 'utf8');
const perDirection = (key: string): boolean => /^[AB]\.(rx|tx)\./.test(key);

describe('docs/cdr.md field table', () => {
  const rows = new Map<string, string>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([^`]+)` \| (\S+) \| (yes|ours) \| (\d*) \| (\w+) \| ([^|]*) \|/.exec(line);
    if (m !== null) rows.set(m[1]!, [m[2], m[3], m[4], m[5], m[6]!.trim()].join(' | '));
  }

  it('has a row per field, as the code defines it (per-direction metrics are described by pattern)', () => {
    const want = new Map<string, string>();
    for (const f of CDR_FIELDS) {
      if (perDirection(f.key)) continue;
      const layouts = [DEFAULT_CALL_FIELDS.includes(f) ? 'call' : '', DEFAULT_MEDIA_FIELDS.includes(f) ? 'media' : ''].filter((x) => x !== '');
      want.set(f.key, [f.title, f.mediant ? 'yes' : 'ours', String(f.code ?? ''), f.type, layouts.join(', ')].join(' | '));
    }
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(want));
  });

  it('lists the per-direction metrics of the default call layout', () => {
    const listed = /The default call layout has ([^;]+);/.exec(doc.replace(/\n/g, ' '))?.[1] ?? '';
    const keys = [...listed.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    expect(keys).toEqual(DEFAULT_CALL_FIELDS.filter((f) => perDirection(f.key)).map((f) => f.key));
    expect(DEFAULT_MEDIA_FIELDS.filter((f) => perDirection(f.key))).toHaveLength(CDR_FIELDS.filter((f) => perDirection(f.key)).length);
  });
});
