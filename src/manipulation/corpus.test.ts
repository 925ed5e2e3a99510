import { describe, expect, it } from 'vitest';
import { compileManipulations, type ManipulationRowInput } from './index.js';
import { parseMessage, serializeMessage } from '../sip/index.js';
import { CASES, type RowSpec } from '../../test/fixtures/manipulation-corpus/cases.js';

function rows(specs: RowSpec[]): ManipulationRowInput[] {
  return specs.map((s, i) => ({
    index: i,
    manipulationName: `rule${i}`,
    manSetId: 1,
    messageType: s.messageType,
    condition: s.condition,
    actionSubject: s.subject,
    actionType: s.action,
    actionValue: s.value,
    rowRole: s.role ?? '0',
    ...(s.activate === undefined ? {} : { activate: s.activate }),
    line: 100 + i,
    file: 'corpus.ini',
  }));
}

describe('message manipulation corpus', () => {
  it('has at least 80 rules', () => {
    const total = CASES.reduce((n, c) => n + c.rows.length, 0);
    expect(total).toBeGreaterThanOrEqual(80);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  for (const c of CASES) {
    it(c.name, () => {
      const compiled = compileManipulations(rows(c.rows), []);
      expect(compiled.errors).toEqual([]);
      const parsed = parseMessage(Buffer.from(c.input, 'utf8'));
      if (!parsed.ok) throw new Error(`input does not parse: ${parsed.error}`);
      // The inputs must round-trip untouched, or the comparison means nothing.
      expect(serializeMessage(parsed.message).toString('utf8')).toBe(c.input);
      const res = compiled.sets.apply(1, parsed.message, c.ctx ?? {});
      expect(res.ruleErrors).toBe(0);
      const out = serializeMessage(parsed.message).toString('utf8');
      expect(out).toBe(c.expected);
      expect(res.rulesApplied).toBe(c.applied);
      // Whatever a rule did, the result is still a message our parser accepts.
      expect(parseMessage(Buffer.from(out, 'utf8')).ok).toBe(true);
    });
  }
});
