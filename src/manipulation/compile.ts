/**
 * Turns MessageManipulations and MessageConditions rows into closures,
 * once, at config load. Applying a set then walks an array of compiled
 * rules; nothing in the rule text is looked at again.
 */
import type { SipMessage } from '../sip/message.js';
import { buildAccessor, ESSENTIAL_HEADERS, type Accessor } from './elements.js';
import {
  ACTION_LABELS, ActionType, FieldError, parseActionType, parseCondition, parseMessageType, parseRowRole,
  parseSubject, parseValue, type CondNode, type ElementRef, type MessageTypeSpec, type ValueTerm,
} from './parser.js';
import { catastrophicReason } from './regex-safety.js';
import type {
  ApplyResult, CompileOptions, CompiledConditions, ManipulationContext, ManipulationError, ManipulationLogger,
  ManipulationRowInput, ManipulationSets, MessageConditionInput,
} from './types.js';

/** Longest text a regex is run on; longer input simply does not match. */
export const MAX_REGEX_INPUT = 16384;

/** Mutable per-application state: the captures of the last matching regex. */
interface EvalState {
  captures: string[];
}

type CondFn = (m: SipMessage, ctx: ManipulationContext, st: EvalState) => boolean;
type ValueFn = (m: SipMessage, ctx: ManipulationContext, st: EvalState) => string;
type ActionFn = (m: SipMessage, ctx: ManipulationContext, st: EvalState) => boolean;

interface CompiledRule {
  name: string;
  setId: number;
  index: number;
  active: boolean;
  usePrevious: boolean;
  typeMatch: (m: SipMessage) => boolean;
  cond: CondFn | null;
  action: ActionFn;
  label: string;
}

class Fail extends Error {
  constructor(readonly field: string, message: string, readonly column: number) {
    super(message);
  }
}

function inField<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FieldError) throw new Fail(field, e.message, e.column);
    throw e;
  }
}

// --- message type -------------------------------------------------------------------

function compileMessageType(spec: MessageTypeSpec): (m: SipMessage) => boolean {
  const { method, requests, responses, code, classOnly } = spec;
  if (method === null && requests && responses) return () => true;
  return (m) => {
    if (method !== null && m.method.toUpperCase() !== method) return false;
    if (m.isRequest) return requests;
    if (!responses) return false;
    if (code === null) return true;
    return classOnly ? Math.floor(m.status / 100) === code : m.status === code;
  };
}

// --- values -------------------------------------------------------------------

function usesCaptures(terms: ValueTerm[] | null): boolean {
  return terms !== null && terms.some((t) => t.kind === 'capture');
}

function compileTerm(t: ValueTerm): ValueFn {
  switch (t.kind) {
    case 'string': {
      const s = t.text;
      return () => s;
    }
    case 'capture': {
      const n = t.n;
      return (_m, _c, st) => st.captures[n] ?? '';
    }
    case 'element': {
      const acc = buildAccessor(t.ref);
      return (m, ctx) => acc.get(m, ctx) ?? '';
    }
  }
}

function compileValue(terms: ValueTerm[]): ValueFn {
  const fns = terms.map(compileTerm);
  if (fns.length === 1) return fns[0]!;
  return (m, ctx, st) => {
    let out = '';
    for (let i = 0; i < fns.length; i++) out += fns[i]!(m, ctx, st);
    return out;
  };
}

// --- conditions -------------------------------------------------------------------

/** Plain decimal number (no exponent, no hex): what "numeric" means for comparisons. */
function asNumber(s: string): number | null {
  const t = s.trim();
  if (t.length === 0 || t.length > 20) return null;
  let i = t.charCodeAt(0) === 45 ? 1 : 0;
  let digits = 0;
  let dot = false;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 && !dot) dot = true;
    else return null;
  }
  return digits === 0 ? null : Number(t);
}

function compare(a: string, b: string): number {
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== null && y !== null) return x === y ? 0 : x < y ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

function compileCondition(node: CondNode): CondFn {
  if (node.kind !== 'cmp') {
    const l = compileCondition(node.left);
    const r = compileCondition(node.right);
    if (node.kind === 'and') return (m, c, st) => l(m, c, st) && r(m, c, st);
    return (m, c, st) => l(m, c, st) || r(m, c, st);
  }
  const acc = buildAccessor(node.subject);
  const get = acc.get;
  const op = node.op;
  if (op === 'exists') return (m, c) => get(m, c) !== undefined;
  if (op === '!exists') return (m, c) => get(m, c) === undefined;
  const terms = node.value!;
  if (op === 'regex') {
    const only = terms[0]!;
    if (terms.length !== 1 || only.kind !== 'string') {
      throw new FieldError(`regex needs one quoted pattern`, node.valueColumn);
    }
    const bad = catastrophicReason(only.text);
    if (bad !== null) throw new FieldError(`regex '${only.text}' refused: ${bad}`, node.valueColumn);
    let re: RegExp;
    try {
      // 's': '.' also matches line breaks, so patterns can span SDP lines.
      re = new RegExp(only.text, 's');
    } catch (e) {
      throw new FieldError(`bad regex '${only.text}': ${(e as Error).message}`, node.valueColumn);
    }
    return (m, c, st) => {
      const s = get(m, c);
      if (s === undefined || s.length > MAX_REGEX_INPUT) return false;
      const r = re.exec(s);
      if (r === null) return false;
      const caps: string[] = [r[0]];
      for (let i = 1; i <= 9; i++) caps.push(r[i] ?? '');
      st.captures = caps;
      return true;
    };
  }
  const value = compileValue(terms);
  const lenOp = (test: (len: number, n: number) => boolean): CondFn => (m, c, st) => {
    const s = get(m, c);
    if (s === undefined) return false;
    const n = asNumber(value(m, c, st));
    return n !== null && test(s.length, n);
  };
  // A comparison on an absent element is false, whatever the operator.
  const cmp = (test: (s: string, v: string) => boolean): CondFn => (m, c, st) => {
    const s = get(m, c);
    return s !== undefined && test(s, value(m, c, st));
  };
  switch (op) {
    case '==': return cmp((s, v) => compare(s, v) === 0);
    case '!=': return cmp((s, v) => compare(s, v) !== 0);
    case '<': return cmp((s, v) => compare(s, v) < 0);
    case '>': return cmp((s, v) => compare(s, v) > 0);
    case '<=': return cmp((s, v) => compare(s, v) <= 0);
    case '>=': return cmp((s, v) => compare(s, v) >= 0);
    case 'contains': return cmp((s, v) => s.includes(v));
    case '!contains': return cmp((s, v) => !s.includes(v));
    case 'len<': return lenOp((l, n) => l < n);
    case 'len>': return lenOp((l, n) => l > n);
    case 'len==': return lenOp((l, n) => l === n);
    default: throw new FieldError(`unknown operator '${String(op)}'`, node.column);
  }
}

function hasRegex(node: CondNode | null): boolean {
  if (node === null) return false;
  if (node.kind === 'cmp') return node.op === 'regex';
  return hasRegex(node.left) || hasRegex(node.right);
}

// --- actions -------------------------------------------------------------------

function subjectLabel(ref: ElementRef): string {
  return ref.text;
}

/** Load-time refusals: actions that would leave a message the stack cannot use. */
function refuse(ref: ElementRef, type: ActionType, terms: ValueTerm[] | null): string | null {
  const emptyLiteral = terms !== null && terms.length === 1 && terms[0]!.kind === 'string' && terms[0]!.text.length === 0;
  if (ref.kind === 'header') {
    const essential = ref.prefix
      ? [...ESSENTIAL_HEADERS].find((h) => h.startsWith(ref.name))
      : ESSENTIAL_HEADERS.has(ref.name) ? ref.name : undefined;
    if (essential !== undefined) {
      if (ref.sub.kind === 'whole') {
        if (type === ActionType.Remove) return `removing ${essential} is refused: every SIP message needs it`;
        if (type === ActionType.Add) return `adding a ${essential} header is refused: there must be exactly the one the message has`;
        if (type === ActionType.Modify && emptyLiteral) return `emptying ${essential} is refused: every SIP message needs it`;
      }
      if ((essential === 'from' || essential === 'to') && ref.sub.kind === 'param' && ref.sub.name === 'tag' && type !== ActionType.Normalize) {
        return `changing the ${essential} tag is refused: it identifies the dialog`;
      }
    }
    if (type === ActionType.Remove && (ref.sub.kind === 'url' || ref.sub.kind === 'url.host')) {
      return `removing ${ref.sub.kind} would leave an unparseable header; remove the header instead`;
    }
  }
  if (ref.kind === 'request-uri' && type === ActionType.Remove && (ref.sub.kind === 'url' || ref.sub.kind === 'url.host')) {
    return 'removing the Request-URI (or its host) is refused';
  }
  if ((ref.kind === 'request-uri' || ref.kind === 'header') && ref.sub.kind === 'url' && emptyLiteral && type === ActionType.Modify) {
    return 'emptying a URI is refused';
  }
  return null;
}

function compileAction(ref: ElementRef, type: ActionType, terms: ValueTerm[] | null): ActionFn {
  const acc: Accessor = buildAccessor(ref);
  const label = ACTION_LABELS[type]!;
  const needsValue = type !== ActionType.Remove && type !== ActionType.Normalize;
  if (needsValue && terms === null) throw new Fail('actionValue', `${label} needs an action value`, 1);
  const refused = refuse(ref, type, terms);
  if (refused !== null) throw new Fail('actionSubject', refused, 1);
  const notPossible = (): Fail => new Fail(
    'actionSubject',
    ref.kind === 'param' ? `'${ref.text}' is read-only` : `${label} is not possible on '${ref.text}'`,
    1,
  );
  const value: ValueFn = terms === null ? () => '' : compileValue(terms);
  switch (type) {
    case ActionType.Add: {
      const add = acc.add;
      if (add === null) throw notPossible();
      return (m, c, st) => add(m, value(m, c, st));
    }
    case ActionType.Modify: {
      const modify = acc.modify;
      if (modify === null) throw notPossible();
      return (m, c, st) => modify(m, value(m, c, st));
    }
    case ActionType.Remove: {
      const remove = acc.remove;
      if (remove === null) throw notPossible();
      return (m) => remove(m);
    }
    case ActionType.Normalize: {
      const normalize = acc.normalize;
      if (normalize === null) throw notPossible();
      return (m) => normalize(m);
    }
    default: {
      const modify = acc.modify;
      if (modify === null) throw notPossible();
      const get = acc.get;
      const edit = (cur: string, v: string): string | null => {
        switch (type) {
          case ActionType.AddPrefix: return v.length === 0 ? null : v + cur;
          case ActionType.AddSuffix: return v.length === 0 ? null : cur + v;
          case ActionType.RemovePrefix: return v.length > 0 && cur.startsWith(v) ? cur.slice(v.length) : null;
          case ActionType.RemoveSuffix: return v.length > 0 && cur.endsWith(v) ? cur.slice(0, cur.length - v.length) : null;
          default: return null;
        }
      };
      return (m, c, st) => {
        const cur = get(m, c);
        if (cur === undefined) return false;
        const next = edit(cur, value(m, c, st));
        return next !== null && modify(m, next);
      };
    }
  }
}

// --- sets -------------------------------------------------------------------

class Sets implements ManipulationSets {
  constructor(private readonly bySet: Map<number, CompiledRule[]>, private readonly logger: ManipulationLogger | undefined) {}

  has(manSetId: number): boolean {
    return this.bySet.has(manSetId);
  }

  ids(): number[] {
    return [...this.bySet.keys()].sort((a, b) => a - b);
  }

  apply(manSetId: number, msg: SipMessage, ctx: ManipulationContext): ApplyResult {
    const rules = this.bySet.get(manSetId);
    const result: ApplyResult = { rulesApplied: 0, ruleErrors: 0 };
    if (rules === undefined) return result;
    let trace: string[] | null = null;
    if (ctx.trace === true) result.trace = trace = [];
    const st: EvalState = { captures: [] };
    let chainMatched = false;
    let chainCaptures: string[] = [];
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      try {
        let matched: boolean;
        if (r.usePrevious) {
          matched = chainMatched && r.typeMatch(msg);
          st.captures = chainCaptures;
        } else {
          const next = rules[i + 1];
          // An inactive row still supplies its condition to the rows that use it.
          if (!r.active && (next === undefined || !next.usePrevious)) continue;
          st.captures = [];
          matched = r.typeMatch(msg) && (r.cond === null || r.cond(msg, ctx, st));
          chainMatched = matched;
          chainCaptures = st.captures;
        }
        if (!r.active) continue;
        if (!matched) {
          if (trace !== null) trace.push(`${r.label}: no match`);
          continue;
        }
        const changed = r.action(msg, ctx, st);
        if (changed) result.rulesApplied++;
        if (trace !== null) trace.push(`${r.label}: ${changed ? 'applied' : 'matched, nothing to change'}`);
      } catch (err) {
        // A bug in one rule must not take the call (or the process) down.
        result.ruleErrors++;
        if (i === 0 || !r.usePrevious) chainMatched = false;
        if (trace !== null) trace.push(`${r.label}: error ${(err as Error).message}`);
        this.logger?.warn({ err, manSetId, rule: r.name, index: r.index }, 'message manipulation rule failed; skipped');
      }
    }
    return result;
  }
}

class Conditions implements CompiledConditions {
  constructor(private readonly byName: Map<string, CondFn>, private readonly logger: ManipulationLogger | undefined) {}

  has(name: string): boolean {
    return this.byName.has(name.trim().toLowerCase());
  }

  evaluate(name: string, msg: SipMessage, ctx: ManipulationContext): boolean {
    const fn = this.byName.get(name.trim().toLowerCase());
    if (fn === undefined) return false;
    try {
      return fn(msg, ctx, { captures: [] });
    } catch (err) {
      this.logger?.warn({ err, condition: name }, 'message condition failed; treated as false');
      return false;
    }
  }
}

export interface CompileResult {
  sets: ManipulationSets;
  conditions: CompiledConditions;
  errors: ManipulationError[];
  /** Rows loaded the way the device loads them, but probably not what was meant. */
  warnings: ManipulationError[];
}

export function compileManipulations(
  rows: ManipulationRowInput[],
  conditions: MessageConditionInput[],
  options: CompileOptions = {},
): CompileResult {
  const errors: ManipulationError[] = [];
  const warnings: ManipulationError[] = [];
  const bySet = new Map<number, CompiledRule[]>();
  const ordered = [...rows].sort((a, b) => (a.manSetId - b.manSetId) || (a.index - b.index));
  let prev: { setId: number; cond: CondNode | null; ok: boolean } | null = null;
  for (const row of ordered) {
    const name = row.manipulationName || `row ${row.index}`;
    try {
      let usePrevious = inField('rowRole', () => parseRowRole(row.rowRole ?? ''));
      const spec = inField('messageType', () => parseMessageType(row.messageType ?? ''));
      const condText = row.condition ?? '';
      const condAst = inField('condition', () => parseCondition(condText));
      if (usePrevious && (prev === null || prev.setId !== row.manSetId)) {
        // The device loads this and treats the row as having no previous condition: it uses its own.
        warnings.push({
          file: row.file, line: row.line, column: 1, field: 'rowRole',
          message: `${name}: rowRole: 'Use Previous Condition' on the first row of manipulation set ${row.manSetId}: there is no previous condition; the row uses its own condition${condAst === null ? ' (none: it applies to every message of its type)' : ''}`,
        });
        usePrevious = false;
      }
      if (usePrevious && prev !== null) {
        if (!prev.ok) throw new Fail('rowRole', `'Use Previous Condition' follows a row that has an error`, 1);
        if (condAst !== null) throw new Fail('condition', `a 'Use Previous Condition' row cannot have its own condition`, 1);
      }
      const cond = condAst === null ? null : inField('condition', () => compileCondition(condAst));
      const subject = inField('actionSubject', () => parseSubject(row.actionSubject ?? ''));
      const type = inField('actionType', () => parseActionType(String(row.actionType ?? '')));
      const terms = inField('actionValue', () => parseValue(row.actionValue ?? ''));
      const governing = usePrevious ? prev!.cond : condAst;
      if (usesCaptures(terms) && !hasRegex(governing)) {
        throw new Fail('actionValue', '$1..$9 refer to regex captures, but the condition has no regex', 1);
      }
      const action = inField('actionValue', () => compileAction(subject, type, terms));
      const rule: CompiledRule = {
        name,
        setId: row.manSetId,
        index: row.index,
        active: row.activate !== false,
        usePrevious,
        typeMatch: compileMessageType(spec),
        cond,
        action,
        label: `[set ${row.manSetId} #${row.index} ${name}] ${ACTION_LABELS[type]} ${subjectLabel(subject)}`,
      };
      let list = bySet.get(row.manSetId);
      if (list === undefined) bySet.set(row.manSetId, (list = []));
      list.push(rule);
      if (!usePrevious) prev = { setId: row.manSetId, cond: condAst, ok: true };
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      errors.push({ file: row.file, line: row.line, column: e.column, field: e.field, message: `${name}: ${e.field}: ${e.message}` });
      // Rows chained to a broken head row must not attach to an earlier one.
      if (!(e.field === 'rowRole' && prev !== null && !prev.ok)) prev = { setId: row.manSetId, cond: null, ok: false };
    }
  }
  const byName = new Map<string, CondFn>();
  for (const c of [...conditions].sort((a, b) => a.index - b.index)) {
    const key = c.name.trim().toLowerCase();
    try {
      if (key.length === 0) throw new Fail('name', 'a message condition needs a name', 1);
      if (byName.has(key)) throw new Fail('name', `duplicate message condition name '${c.name}'`, 1);
      const ast = inField('condition', () => parseCondition(c.condition ?? ''));
      if (ast === null) throw new Fail('condition', `message condition '${c.name}' is empty`, 1);
      byName.set(key, inField('condition', () => compileCondition(ast)));
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      errors.push({ file: c.file, line: c.line, column: e.column, field: e.field, message: `${c.name}: ${e.field}: ${e.message}` });
    }
  }

  return { sets: new Sets(bySet, options.logger), conditions: new Conditions(byName, options.logger), errors, warnings };
}
