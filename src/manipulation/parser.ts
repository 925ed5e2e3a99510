/**
 * Field parsers: text -> AST. Everything here runs once, at config load.
 * Errors carry the 1-based column of the offending token.
 */
import { canonicalHeaderName } from '../sip/header-names.js';
import { isTokenChar } from '../sip/grammar.js';
import { LexError, tokenize, type Token } from './lexer.js';

export class FieldError extends Error {
  constructor(message: string, readonly column: number) {
    super(message);
  }
}

// --- element references ----------------------------------------------------

/** What inside a header (or the Request-URI) a reference points at. */
export type SubElement =
  | { kind: 'whole' }
  | { kind: 'url' }
  | { kind: 'url.user' }
  | { kind: 'url.host' }
  | { kind: 'url.port' }
  | { kind: 'url.type' }
  | { kind: 'url.param'; name: string }
  | { kind: 'name' }
  | { kind: 'param'; name: string };

export type ElementRef =
  | { kind: 'header'; name: string; prefix: boolean; index: number | null; sub: SubElement; text: string }
  | { kind: 'request-uri'; sub: SubElement; text: string }
  | { kind: 'methodtype'; text: string }
  | { kind: 'reason'; text: string }
  | { kind: 'body'; contentType: string; text: string }
  | { kind: 'param'; name: string; text: string };

/** Names a `param.*` reference may use (lower case). */
export const CONTEXT_PARAMS: ReadonlySet<string> = new Set([
  'call.src.user', 'call.dst.user', 'call.src.host', 'call.dst.host',
  'ipg.src.name', 'ipg.src.id', 'ipg.src.type', 'ipg.src.host', 'ipg.src.user',
  'ipg.dst.name', 'ipg.dst.id', 'ipg.dst.type', 'ipg.dst.host', 'ipg.dst.user',
  'message.address.src.ip', 'message.address.src.port',
  'message.sdp.ip', 'message.sdp.rtpmode',
]);

function isHeaderNameChar(c: number): boolean {
  return isTokenChar(c) && c !== 46; // '.' separates path segments
}

/**
 * Parses `header.NAME[.INDEX][.sub]`, `body.TYPE`, `param.NAME`. `column`
 * is where the path token starts, so segment errors point inside it.
 */
export function parseElementPath(text: string, column: number): ElementRef {
  const segs = text.split('.');
  const colOf = (segIndex: number): number => {
    let off = 0;
    for (let i = 0; i < segIndex && i < segs.length; i++) off += segs[i]!.length + 1;
    return column + off;
  };
  const root = segs[0]!.toLowerCase();
  if (root === 'param') {
    const name = segs.slice(1).join('.').toLowerCase();
    if (!CONTEXT_PARAMS.has(name)) throw new FieldError(`unknown parameter 'param.${segs.slice(1).join('.')}'`, colOf(1));
    return { kind: 'param', name, text };
  }
  if (root === 'body') {
    const rest = segs.slice(1).join('.').toLowerCase();
    if (rest.length === 0) throw new FieldError(`'body' needs a content type (body.sdp, body.application/dtmf-relay)`, column);
    const contentType = rest === 'sdp' ? 'application/sdp' : rest.indexOf('/') < 0 ? `application/${rest}` : rest;
    return { kind: 'body', contentType, text };
  }
  if (root !== 'header') {
    throw new FieldError(`unknown element '${text}': expected header.*, body.* or param.*`, column);
  }
  const rawName = segs[1];
  if (rawName === undefined || rawName.length === 0) throw new FieldError(`'header' needs a header name`, colOf(1));
  let name = rawName.toLowerCase();
  let prefix = false;
  if (name.endsWith('*')) {
    prefix = true;
    name = name.slice(0, -1);
    if (name.length === 0) throw new FieldError(`'header.*' would match every header; give a prefix such as header.x-*`, colOf(1));
  }
  for (let i = 0; i < name.length; i++) {
    if (!isHeaderNameChar(name.charCodeAt(i))) throw new FieldError(`bad header name '${rawName}'`, colOf(1));
  }
  let k = 2;
  if (name === 'request-uri') {
    const s2 = segs[2]?.toLowerCase();
    if (s2 === 'methodtype') {
      if (segs.length > 3) throw new FieldError(`unexpected '${segs[3]}' after methodtype`, colOf(3));
      return { kind: 'methodtype', text };
    }
    if (s2 === 'reason') {
      if (segs.length > 3) throw new FieldError(`unexpected '${segs[3]}' after reason`, colOf(3));
      return { kind: 'reason', text };
    }
    const sub = parseSub(segs, k, colOf, true);
    return { kind: 'request-uri', sub, text };
  }
  if (!prefix) name = canonicalHeaderName(name);
  let index: number | null = null;
  const maybeIndex = segs[k];
  if (maybeIndex !== undefined && /^\d+$/.test(maybeIndex)) {
    index = Number(maybeIndex);
    if (index > 1000) throw new FieldError(`header index ${maybeIndex} is out of range`, colOf(k));
    k++;
  }
  const sub = parseSub(segs, k, colOf, false);
  if (prefix && sub.kind !== 'whole') throw new FieldError(`a header name prefix (${rawName}) addresses whole headers only`, colOf(k));
  if (prefix && index !== null) throw new FieldError(`a header name prefix (${rawName}) cannot take an index`, colOf(2));
  return { kind: 'header', name, prefix, index, sub, text };
}

function parseSub(segs: string[], k: number, colOf: (i: number) => number, isRequestUri: boolean): SubElement {
  const s = segs[k]?.toLowerCase();
  if (s === undefined) return isRequestUri ? { kind: 'url' } : { kind: 'whole' };
  const end = (n: number, what: SubElement): SubElement => {
    if (segs.length > n) throw new FieldError(`unexpected '${segs[n]}' after ${segs.slice(k, n).join('.')}`, colOf(n));
    return what;
  };
  const paramName = (at: number): string => {
    const p = segs.slice(at).join('.');
    if (p.length === 0) throw new FieldError(`missing parameter name after '${segs.slice(k, at).join('.')}'`, colOf(at));
    for (let i = 0; i < p.length; i++) {
      if (!isTokenChar(p.charCodeAt(i))) throw new FieldError(`bad parameter name '${p}'`, colOf(at));
    }
    return p.toLowerCase();
  };
  const urlPart = (t: string | undefined, at: number): SubElement => {
    switch (t) {
      case undefined: return { kind: 'url' };
      case 'user': return end(at + 1, { kind: 'url.user' });
      case 'host': return end(at + 1, { kind: 'url.host' });
      case 'port': return end(at + 1, { kind: 'url.port' });
      case 'type': return end(at + 1, { kind: 'url.type' });
      case 'param': return { kind: 'url.param', name: paramName(at + 1) };
      default: throw new FieldError(`unknown URL part '${segs[at]}' (expected user, host, port, type or param.NAME)`, colOf(at));
    }
  };
  switch (s) {
    case 'url':
    case 'uri':
      return urlPart(segs[k + 1]?.toLowerCase(), k + 1);
    // Older Mediant releases wrote these without the `url.` level.
    case 'user': case 'host': case 'port':
      return urlPart(s, k);
    case 'uri-param':
      return { kind: 'url.param', name: paramName(k + 1) };
    case 'name':
      if (isRequestUri) break;
      return end(k + 1, { kind: 'name' });
    case 'param':
    case 'header-param':
      if (isRequestUri) break;
      return { kind: 'param', name: paramName(k + 1) };
    default:
      break;
  }
  throw new FieldError(`unknown sub-element '${segs[k]}'`, colOf(k));
}

// --- values and conditions ---------------------------------------------------

export type ValueTerm =
  | { kind: 'string'; text: string }
  | { kind: 'element'; ref: ElementRef }
  | { kind: 'capture'; n: number };

export type CompareOp =
  | '==' | '!=' | '<' | '>' | '<=' | '>='
  | 'contains' | '!contains' | 'exists' | '!exists'
  | 'len<' | 'len>' | 'len==' | 'regex';

export type CondNode =
  | { kind: 'and' | 'or'; left: CondNode; right: CondNode }
  | { kind: 'cmp'; subject: ElementRef; op: CompareOp; value: ValueTerm[] | null; column: number; valueColumn: number };

class TokenStream {
  private pos = 0;
  constructor(readonly toks: Token[]) {}
  peek(): Token { return this.toks[this.pos]!; }
  next(): Token { return this.toks[this.pos++]!; }
}

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of field';
  if (t.kind === 'string') return `'${t.text}'`;
  return `'${t.text}'`;
}

function lex(src: string): Token[] {
  try {
    return tokenize(src);
  } catch (e) {
    if (e instanceof LexError) throw new FieldError(e.message, e.column);
    throw e;
  }
}

function parseTerm(ts: TokenStream): ValueTerm {
  const t = ts.next();
  switch (t.kind) {
    case 'string': return { kind: 'string', text: t.text };
    case 'number': return { kind: 'string', text: t.text };
    case 'capture': return { kind: 'capture', n: Number(t.text) };
    case 'path': return { kind: 'element', ref: parseElementPath(t.text, t.column) };
    default: throw new FieldError(`unexpected ${describe(t)}: expected a string, a message element, a param or $1..$9`, t.column);
  }
}

function parseValueTerms(ts: TokenStream): ValueTerm[] {
  const terms = [parseTerm(ts)];
  while (ts.peek().kind === 'plus') {
    ts.next();
    terms.push(parseTerm(ts));
  }
  return terms;
}

/** Action value: `'a' + header.from.url.user + $1`. Empty field = no value. */
export function parseValue(src: string): ValueTerm[] | null {
  const ts = new TokenStream(lex(src));
  if (ts.peek().kind === 'eof') return null;
  const terms = parseValueTerms(ts);
  const t = ts.peek();
  if (t.kind !== 'eof') throw new FieldError(`unexpected ${describe(t)}: join values with '+'`, t.column);
  return terms;
}

/**
 * Condition field. Mediant's manual states that `A AND B OR C` means
 * `A AND (B OR C)`: a chain groups to the right regardless of which
 * connective is used. We keep that, and allow parentheses on top.
 */
export function parseCondition(src: string): CondNode | null {
  const ts = new TokenStream(lex(src));
  if (ts.peek().kind === 'eof') return null;
  const node = parseChain(ts);
  const t = ts.peek();
  if (t.kind !== 'eof') throw new FieldError(`unexpected ${describe(t)}: expected AND, OR or end of condition`, t.column);
  return node;
}

function parseChain(ts: TokenStream): CondNode {
  const left = parsePrimary(ts);
  const t = ts.peek();
  if (t.kind === 'and' || t.kind === 'or') {
    ts.next();
    const right = parseChain(ts);
    return { kind: t.kind, left, right };
  }
  return left;
}

function parsePrimary(ts: TokenStream): CondNode {
  const t = ts.next();
  if (t.kind === 'lparen') {
    const inner = parseChain(ts);
    const close = ts.next();
    if (close.kind !== 'rparen') throw new FieldError(`unexpected ${describe(close)}: expected ')'`, close.column);
    return inner;
  }
  if (t.kind !== 'path') throw new FieldError(`unexpected ${describe(t)}: expected a message element or param`, t.column);
  const subject = parseElementPath(t.text, t.column);
  const opTok = ts.next();
  if (opTok.kind !== 'op') throw new FieldError(`unexpected ${describe(opTok)} after '${t.text}': expected an operator`, opTok.column);
  const op = opTok.text as CompareOp;
  if (op === 'exists' || op === '!exists') {
    return { kind: 'cmp', subject, op, value: null, column: t.column, valueColumn: opTok.column };
  }
  const valueColumn = ts.peek().column;
  const value = parseValueTerms(ts);
  return { kind: 'cmp', subject, op, value, column: t.column, valueColumn };
}

/** Subject field: exactly one element reference. */
export function parseSubject(src: string): ElementRef {
  const ts = new TokenStream(lex(src));
  const t = ts.next();
  if (t.kind === 'eof') throw new FieldError('action subject is empty', 1);
  if (t.kind !== 'path') throw new FieldError(`unexpected ${describe(t)}: expected a message element`, t.column);
  const ref = parseElementPath(t.text, t.column);
  const after = ts.peek();
  if (after.kind !== 'eof') throw new FieldError(`unexpected ${describe(after)} after the subject`, after.column);
  return ref;
}

// --- message type, action type, row role ----------------------------------------

export interface MessageTypeSpec {
  /** Upper-case method, or null for any. */
  method: string | null;
  /** null = requests and responses. */
  requests: boolean;
  responses: boolean;
  /** For responses: exact code, or class (1..6) with `classOnly`, or null for any. */
  code: number | null;
  classOnly: boolean;
}

export function parseMessageType(src: string): MessageTypeSpec {
  const text = src.trim();
  const any: MessageTypeSpec = { method: null, requests: true, responses: true, code: null, classOnly: false };
  if (text.length === 0) return any;
  const lead = src.length - src.trimStart().length;
  const parts = text.split('.');
  const colOf = (i: number): number => {
    let off = lead;
    for (let j = 0; j < i; j++) off += parts[j]!.length + 1;
    return off + 1;
  };
  const m = parts[0]!;
  if (m.length === 0) throw new FieldError('missing method before \'.\'', colOf(0));
  for (let i = 0; i < m.length; i++) {
    if (!isTokenChar(m.charCodeAt(i)) || m.charCodeAt(i) === 46) throw new FieldError(`bad method '${m}'`, colOf(0));
  }
  const spec: MessageTypeSpec = { ...any, method: m.toLowerCase() === 'any' ? null : m.toUpperCase() };
  const role = parts[1]?.toLowerCase();
  if (role === undefined || role === 'any') {
    if (parts.length > 2) throw new FieldError(`unexpected '${parts[2]}'`, colOf(2));
    return spec;
  }
  if (role === 'request') {
    if (parts.length > 2) throw new FieldError(`unexpected '${parts[2]}' after request`, colOf(2));
    return { ...spec, responses: false };
  }
  if (role !== 'response') throw new FieldError(`unknown message role '${parts[1]}' (expected request, response or any)`, colOf(1));
  const out: MessageTypeSpec = { ...spec, requests: false };
  const code = parts[2]?.toLowerCase();
  if (parts.length > 3) throw new FieldError(`unexpected '${parts[3]}'`, colOf(3));
  if (code === undefined || code === 'any') return out;
  if (/^[1-6]xx$/.test(code)) return { ...out, code: Number(code[0]), classOnly: true };
  if (/^[1-6]\d\d$/.test(code)) return { ...out, code: Number(code) };
  throw new FieldError(`bad response code '${parts[2]}' (expected 100-699, 1xx-6xx or any)`, colOf(2));
}

export enum ActionType {
  Add = 0,
  Remove = 1,
  Modify = 2,
  AddPrefix = 3,
  AddSuffix = 4,
  RemoveSuffix = 5,
  RemovePrefix = 6,
  Normalize = 7,
}

const ACTION_NAMES: Readonly<Record<string, ActionType>> = {
  add: ActionType.Add,
  remove: ActionType.Remove,
  modify: ActionType.Modify,
  addprefix: ActionType.AddPrefix,
  addsuffix: ActionType.AddSuffix,
  removesuffix: ActionType.RemoveSuffix,
  removeprefix: ActionType.RemovePrefix,
  normalize: ActionType.Normalize,
};

export const ACTION_LABELS: readonly string[] = [
  'Add', 'Remove', 'Modify', 'Add Prefix', 'Add Suffix', 'Remove Suffix', 'Remove Prefix', 'Normalize',
];

function squash(s: string): string {
  return s.toLowerCase().replace(/[\s_-]+/g, '');
}

export function parseActionType(src: string): ActionType {
  const t = src.trim();
  if (t.length === 0) throw new FieldError('action type is empty', 1);
  const col = src.length - src.trimStart().length + 1;
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 0 && n <= 7) return n as ActionType;
    throw new FieldError(`unknown action type code ${t} (0 Add, 1 Remove, 2 Modify, 3 Add Prefix, 4 Add Suffix, 5 Remove Suffix, 6 Remove Prefix, 7 Normalize)`, col);
  }
  const a = ACTION_NAMES[squash(t)];
  if (a === undefined) throw new FieldError(`unknown action type '${t}'`, col);
  return a;
}

/** true = Use Previous Condition. */
export function parseRowRole(src: string): boolean {
  const t = src.trim();
  if (t.length === 0 || t === '0') return false;
  if (t === '1') return true;
  const s = squash(t);
  if (s === 'usecurrentcondition') return false;
  if (s === 'usepreviouscondition') return true;
  throw new FieldError(`unknown row role '${t}' (0 Use Current Condition, 1 Use Previous Condition)`, src.length - src.trimStart().length + 1);
}
