import { describe, expect, it, vi } from 'vitest';
import {
  catastrophicReason, compileManipulations, MAX_REGEX_INPUT, type ManipulationContext, type ManipulationRowInput,
} from './index.js';
import { parseMessage, serializeMessage, type SipMessage } from '../sip/index.js';
import { INVITE, sip } from '../../test/fixtures/manipulation-corpus/messages.js';

let nextLine = 10;
function row(over: Partial<ManipulationRowInput>): ManipulationRowInput {
  const line = nextLine++;
  return {
    index: line, manipulationName: `r${line}`, manSetId: 1, messageType: '', condition: '', actionSubject: 'header.x-a',
    actionType: '0', actionValue: "'1'", rowRole: '0', line, file: 'sbc.ini', ...over,
  };
}

function msg(text = INVITE): SipMessage {
  const p = parseMessage(Buffer.from(text));
  if (!p.ok) throw new Error(p.error);
  return p.message;
}

function firstError(over: Partial<ManipulationRowInput>) {
  const r = row(over);
  const res = compileManipulations([r], []);
  expect(res.errors).toHaveLength(1);
  const e = res.errors[0]!;
  expect(e.file).toBe('sbc.ini');
  expect(e.line).toBe(r.line);
  return e;
}

describe('load-time errors carry file, line, field and column', () => {
  it.each([
    ['condition', { condition: "header.from.url.user === '100'" }, 24, /unexpected '='/],
    ['condition', { condition: "header.from.url.user equals '100'" }, 22, /'equals'.*expected an operator/],
    ['condition', { condition: "header.from.url.usr == '100'" }, 17, /unknown URL part 'usr'/],
    ['condition', { condition: "param.call.src.usr == '1'" }, 7, /unknown parameter 'param.call.src.usr'/],
    ['condition', { condition: "header.from.url.user == '100" }, 25, /unterminated string/],
    ['condition', { condition: "header.from.url.user == '1' AND" }, 32, /end of field/],
    ['condition', { condition: "header.from.url.user == '1' XOR header.to exists" }, 29, /'XOR'.*expected AND, OR/],
    ['condition', { condition: "(header.to exists" }, 18, /expected '\)'/],
    ['condition', { condition: 'header.to exists header.from exists' }, 18, /expected AND, OR/],
    ['condition', { condition: "header.to.url.user regex '(a+)+'" }, 26, /refused: nested quantifier/],
    ['condition', { condition: "header.to.url.user regex '(abc'" }, 26, /bad regex/],
    ['condition', { condition: 'header.to.url.user regex header.from' }, 26, /one quoted pattern/],
    ['condition', { condition: "foo.bar == '1'" }, 1, /expected header\.\*, body\.\* or param\.\*/],
    ['messageType', { messageType: 'invite.reqest' }, 8, /unknown message role 'reqest'/],
    ['messageType', { messageType: 'invite.response.7xx' }, 17, /bad response code/],
    ['messageType', { messageType: 'in vite' }, 1, /bad method/],
    ['actionType', { actionType: '9' }, 1, /unknown action type code 9/],
    ['actionType', { actionType: 'Change' }, 1, /unknown action type 'Change'/],
    ['rowRole', { rowRole: '2' }, 1, /unknown row role/],
    ['actionSubject', { actionSubject: '' }, 1, /empty/],
    ['actionSubject', { actionSubject: 'header.from.url.hots' }, 17, /unknown URL part 'hots'/],
    ['actionSubject', { actionSubject: 'header.from.bogus' }, 13, /unknown sub-element 'bogus'/],
    ['actionSubject', { actionSubject: 'header.from extra' }, 13, /after the subject/],
    ['actionSubject', { actionSubject: 'param.call.src.user', actionType: '2' }, 1, /read-only/],
    ['actionValue', { actionType: '2', actionValue: '' }, 1, /needs an action value/],
    ['actionValue', { actionValue: "'a' 'b'" }, 5, /join values with '\+'/],
    ['actionValue', { actionValue: "'a' + $0" }, 7, /\$1..\$9/],
    ['actionValue', { actionValue: '$1' }, 1, /no regex/],
  ])('%s %j', (field, over, column, message) => {
    const e = firstError(over as Partial<ManipulationRowInput>);
    expect(e.field).toBe(field);
    expect(e.column).toBe(column);
    expect(e.message).toMatch(message);
  });

  it("'Use Previous Condition' on the first row of a set loads as the device does: a warning, the row uses its own condition", () => {
    const r = row({ rowRole: 'Use Previous Condition', actionSubject: 'header.x-first', actionValue: "'yes'" });
    const res = compileManipulations([r], []);
    expect(res.errors).toEqual([]);
    expect(res.warnings).toHaveLength(1);
    expect(res.warnings[0]).toMatchObject({ file: 'sbc.ini', line: r.line, field: 'rowRole' });
    expect(res.warnings[0]!.message).toMatch(/no previous condition; the row uses its own condition/);
    const m = msg();
    expect(res.sets.apply(1, m, {}).rulesApplied).toBe(1);
    expect(m.getHeader('x-first')).toBe('yes');
  });

  it('keeps compiling the other rows and the set still works', () => {
    const res = compileManipulations([
      row({ actionType: '42' }),
      row({ actionSubject: 'header.x-ok', actionValue: "'yes'" }),
    ], []);
    expect(res.errors).toHaveLength(1);
    const m = msg();
    expect(res.sets.apply(1, m, {}).rulesApplied).toBe(1);
    expect(m.getHeader('x-ok')).toBe('yes');
  });

  it('a Use Previous Condition row after a broken row is an error too, not an unconditional rule', () => {
    const res = compileManipulations([
      row({ condition: "header.to ==" }),
      row({ rowRole: '1', actionSubject: 'header.user-agent', actionType: '1', actionValue: '' }),
    ], []);
    expect(res.errors.map((e) => e.field)).toEqual(['condition', 'rowRole']);
    const m = msg();
    res.sets.apply(1, m, {});
    expect(m.getHeader('user-agent')).toBe('PBX-Vendor/1.0');
  });

  it('a Use Previous Condition row may not have its own condition', () => {
    const res = compileManipulations([row({}), row({ rowRole: '1', condition: 'header.to exists' })], []);
    expect(res.errors[0]!.message).toMatch(/cannot have its own condition/);
  });
});

describe('what is refused at load', () => {
  it.each([
    ['header.call-id', '1', ''], ['header.cseq', '1', ''], ['header.from', '1', ''], ['header.to', 'Remove', ''],
    ['header.via', '1', ''], ['header.via.1', '1', ''], ['header.v', '1', ''], ['header.max-forwards', '1', ''],
    ['header.call-id', '2', "''"], ['header.from', '0', "'<sip:a@b>'"], ['header.ca*', '1', ''],
    ['header.from.param.tag', '1', ''], ['header.to.param.tag', '2', "'x'"],
    ['header.contact.url', '1', ''], ['header.from.url.host', '1', ''], ['header.request-uri', '1', ''],
    ['header.request-uri.methodtype', '1', ''], ['header.request-uri.url', '2', "''"],
  ])('%s action %s', (subject, type, value) => {
    const e = firstError({ actionSubject: subject, actionType: type, actionValue: value });
    expect(e.field).toBe('actionSubject');
    expect(e.message).toMatch(/refused|unparseable|not possible/);
  });

  it('x-* prefix removal is allowed, header.* is not', () => {
    expect(compileManipulations([row({ actionSubject: 'header.x-*', actionType: '1', actionValue: '' })], []).errors).toEqual([]);
    expect(firstError({ actionSubject: 'header.*', actionType: '1', actionValue: '' }).message).toMatch(/every header/);
  });
});

describe('catastrophic regex check', () => {
  it.each(['(a+)+', '(a*)*', '(a|a)*', '(a|ab)+', '(\\d+){2,}', '^(x+x+)+y$', '((ab)*)+', '(.*|b)*'])('refuses %s', (p) => {
    expect(catastrophicReason(p)).not.toBeNull();
  });
  it.each(['^0(\\d+)$', '(.*)x(.*)', '^\\+1(\\d{3})(\\d+)$', '(a|b)*', '[a+]+', '(?:ab)+c', '\\(a+\\)+', 'a{2,5}'])('accepts %s', (p) => {
    expect(catastrophicReason(p)).toBeNull();
  });
});

describe('run-time safety', () => {
  it('a rule that throws is skipped and logged; the others still run', () => {
    const warn = vi.fn();
    const res = compileManipulations([
      row({ condition: "param.call.src.user == '1'", actionSubject: 'header.x-first' }),
      row({ actionSubject: 'header.x-second' }),
    ], [], { logger: { warn } });
    const ctx = {} as ManipulationContext;
    Object.defineProperty(ctx, 'callSrcUser', { get: () => { throw new Error('broken context'); } });
    const m = msg();
    const out = res.sets.apply(1, m, ctx);
    expect(out.ruleErrors).toBe(1);
    expect(out.rulesApplied).toBe(1);
    expect(m.getHeader('x-second')).toBe('1');
    expect(warn).toHaveBeenCalledOnce();
  });

  it('regex input is bounded', () => {
    const res = compileManipulations([row({ condition: "body.sdp regex 'v=0'" })], []);
    const big = sip(['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:b@c>',
      'Call-ID: x', 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], 'v=0\r\n' + 'a=x\r\n'.repeat(MAX_REGEX_INPUT / 5 + 1));
    expect(res.sets.apply(1, msg(big), {}).rulesApplied).toBe(0);
    expect(res.sets.apply(1, msg(), {}).rulesApplied).toBe(1);
  });

  it('rules do not throw on messages they do not fit', () => {
    const subjects = ['header.from.url.user', 'header.contact.param.expires', 'header.request-uri.url.host', 'header.request-uri.methodtype',
      'header.x-nope.name', 'header.via.3.param.branch', 'body.sdp', 'header.to.url.type', 'header.p-asserted-identity.url.port'];
    const rows = subjects.flatMap((s) => ['0', '2', '3', '4', '5', '6', '7'].map((t) => row({ condition: `${s} len> 0 OR ${s} !exists`, actionSubject: s, actionType: t, actionValue: "'9'" })));
    const res = compileManipulations(rows, []);
    // Some combinations are legitimately refused at load (Normalize on a param, ...): those are config errors, not crashes.
    const garbage = sip(['SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: sip:a@b;tag=1', 'To: "x <sip:b@c>', 'Call-ID: x', 'CSeq: 1 INVITE']);
    const p = parseMessage(Buffer.from(garbage));
    const m = p.ok ? p.message : p.partial!;
    const out = res.sets.apply(1, m, {});
    expect(out.ruleErrors).toBe(0);
    expect(() => serializeMessage(m)).not.toThrow();
  });

  it('unknown set ids do nothing; ids() and has() report the sets', () => {
    const res = compileManipulations([row({ manSetId: 4 }), row({ manSetId: 2 })], []);
    expect(res.sets.ids()).toEqual([2, 4]);
    expect(res.sets.has(4)).toBe(true);
    expect(res.sets.has(1)).toBe(false);
    expect(res.sets.apply(1, msg(), {})).toEqual({ rulesApplied: 0, ruleErrors: 0 });
  });

  it('rows run in index order within a set, whatever the input order', () => {
    const res = compileManipulations([
      row({ index: 2, actionSubject: 'header.x-a', actionType: '4', actionValue: "'2'" }),
      row({ index: 1, actionSubject: 'header.x-a', actionType: '0', actionValue: "'1'" }),
    ], []);
    const m = msg();
    res.sets.apply(1, m, {});
    expect(m.getHeader('x-a')).toBe('12');
  });

  it('trace lists every rule', () => {
    const res = compileManipulations([row({ manipulationName: 'tagit' }), row({ condition: 'header.nope exists' })], []);
    const out = res.sets.apply(1, msg(), { trace: true });
    expect(out.trace).toHaveLength(2);
    expect(out.trace![0]).toMatch(/tagit.*applied/);
    expect(out.trace![1]).toMatch(/no match/);
  });
});

describe('Message Conditions table', () => {
  const conds = [
    { index: 0, name: 'FromPbx', condition: "header.from.url.host == 'pbx.local' AND header.user-agent contains 'PBX'", line: 50, file: 'sbc.ini' },
    { index: 1, name: 'IsTrunk', condition: "param.ipg.src.type == 'Server' AND header.via exists", line: 51, file: 'sbc.ini' },
    { index: 2, name: 'Broken', condition: "header.from.url.host ==", line: 52, file: 'sbc.ini' },
    { index: 3, name: 'frompbx', condition: 'header.to exists', line: 53, file: 'sbc.ini' },
    { index: 4, name: 'Empty', condition: '  ', line: 54, file: 'sbc.ini' },
  ];
  const res = compileManipulations([], conds);

  it('evaluates named conditions (names case-insensitive)', () => {
    expect(res.conditions.evaluate('FromPbx', msg(), {})).toBe(true);
    expect(res.conditions.evaluate('FROMPBX', msg(), {})).toBe(true);
    expect(res.conditions.evaluate('IsTrunk', msg(), {})).toBe(false);
    expect(res.conditions.evaluate('IsTrunk', msg(), { srcIpGroup: { name: 'T', id: 2, type: 'Server' } })).toBe(true);
    expect(res.conditions.has('istrunk')).toBe(true);
    expect(res.conditions.has('nope')).toBe(false);
    expect(res.conditions.evaluate('nope', msg(), {})).toBe(false);
  });

  it('reports broken, duplicate and empty conditions with their line', () => {
    expect(res.errors.map((e) => [e.line, e.field, e.column])).toEqual([[52, 'condition', 24], [53, 'name', 1], [54, 'condition', 1]]);
    expect(res.conditions.has('Broken')).toBe(false);
  });
});
