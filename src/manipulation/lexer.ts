/**
 * Tokens of the condition and action-value fields. Columns are 1-based so
 * that an error message points at the character an operator sees in the
 * ini line's field.
 */

export type TokenKind =
  | 'path' // header.from.url.user, param.call.src.user, body.sdp
  | 'string' // 'text' or "text", quotes removed, no escapes
  | 'number'
  | 'op' // == != < > <= >= contains !contains exists !exists len< len> len== regex
  | 'and'
  | 'or'
  | 'lparen'
  | 'rparen'
  | 'plus'
  | 'capture' // $1..$9
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** For op: the canonical lower-case operator; for path: as written; for string: the content. */
  text: string;
  column: number;
}

export class LexError extends Error {
  constructor(message: string, readonly column: number) {
    super(message);
  }
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isWordChar(c: number): boolean {
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return true;
  // . - _ / * are enough for header names, parameter names and content types.
  return c === 46 || c === 45 || c === 95 || c === 47 || c === 42;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10) { i++; continue; }
    const col = i + 1;
    if (c === 39 || c === 34) {
      // Strings are taken literally (regex backslashes must survive untouched).
      const close = src.indexOf(src[i]!, i + 1);
      if (close < 0) throw new LexError(`unterminated string starting at column ${col}`, col);
      out.push({ kind: 'string', text: src.slice(i + 1, close), column: col });
      i = close + 1;
      continue;
    }
    if (c === 40) { out.push({ kind: 'lparen', text: '(', column: col }); i++; continue; }
    if (c === 41) { out.push({ kind: 'rparen', text: ')', column: col }); i++; continue; }
    if (c === 43) { out.push({ kind: 'plus', text: '+', column: col }); i++; continue; }
    if (c === 36) {
      const d = src.charCodeAt(i + 1);
      if (!(d >= 49 && d <= 57) || isDigit(src.charCodeAt(i + 2))) {
        throw new LexError(`bad capture reference '${src.slice(i, i + 3)}': use $1..$9`, col);
      }
      out.push({ kind: 'capture', text: src[i + 1]!, column: col });
      i += 2;
      continue;
    }
    if (c === 61 || c === 60 || c === 62) {
      // = < >
      const two = src.slice(i, i + 2);
      if (two === '==' || two === '<=' || two === '>=') {
        out.push({ kind: 'op', text: two, column: col });
        i += 2;
        continue;
      }
      if (c === 61) throw new LexError(`unexpected '=' (use '==')`, col);
      out.push({ kind: 'op', text: src[i]!, column: col });
      i++;
      continue;
    }
    if (c === 33) {
      // ! : != !contains !exists
      if (src.charCodeAt(i + 1) === 61) {
        out.push({ kind: 'op', text: '!=', column: col });
        i += 2;
        continue;
      }
      let j = i + 1;
      while (j < n && isWordChar(src.charCodeAt(j))) j++;
      const word = src.slice(i + 1, j).toLowerCase();
      if (word === 'contains' || word === 'exists') {
        out.push({ kind: 'op', text: '!' + word, column: col });
        i = j;
        continue;
      }
      throw new LexError(`unknown operator '${src.slice(i, Math.max(j, i + 1))}'`, col);
    }
    if (isDigit(c) || (c === 45 && isDigit(src.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n && (isDigit(src.charCodeAt(j)) || src.charCodeAt(j) === 46)) j++;
      if (j < n && isWordChar(src.charCodeAt(j))) {
        let k = j;
        while (k < n && isWordChar(src.charCodeAt(k))) k++;
        throw new LexError(`unexpected '${src.slice(i, k)}'`, col);
      }
      out.push({ kind: 'number', text: src.slice(i, j), column: col });
      i = j;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n) {
        const d = src.charCodeAt(j);
        if (isWordChar(d)) { j++; continue; }
        // Content types such as application/vnd.3gpp.ussd+xml: '+' directly
        // followed by a letter stays inside a body.* path.
        if (d === 43 && isWordStart(src.charCodeAt(j + 1)) && src.slice(i, i + 5).toLowerCase() === 'body.') { j++; continue; }
        break;
      }
      const word = src.slice(i, j);
      const lower = word.toLowerCase();
      if (lower === 'len') {
        const next = src.slice(j, j + 2);
        if (next === '==') { out.push({ kind: 'op', text: 'len==', column: col }); i = j + 2; continue; }
        if (next[0] === '<' || next[0] === '>') { out.push({ kind: 'op', text: 'len' + next[0], column: col }); i = j + 1; continue; }
      }
      if (lower === 'and') out.push({ kind: 'and', text: word, column: col });
      else if (lower === 'or') out.push({ kind: 'or', text: word, column: col });
      else if (lower === 'contains' || lower === 'exists' || lower === 'regex') out.push({ kind: 'op', text: lower, column: col });
      else out.push({ kind: 'path', text: word, column: col });
      i = j;
      continue;
    }
    throw new LexError(`unexpected character '${src[i]}'`, col);
  }
  out.push({ kind: 'eof', text: '', column: n + 1 });
  return out;
}
