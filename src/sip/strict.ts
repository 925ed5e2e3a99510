/**
 * Structural checks the RFC 3261 grammar implies and a liberal parser
 * would skip: empty list elements and empty parameters in Via and Contact
 * (§20.42, §20.10, §25.1: `via-parm *(COMMA via-parm)`,
 * `generic-param = token [ EQUAL gen-value ]` — neither `,,` nor `;;` nor
 * `;name=` matches). A request carrying them is answered 400 (§21.4.1)
 * instead of being relayed in a shape the next hop may read differently.
 *
 * One pass per value, no allocation; quoted strings and <...> URIs are
 * skipped (what is inside a URI is the URI parser's business).
 */

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** True when `value` (a whole header line value) has an empty list element or parameter. */
export function hasEmptyElement(value: string): boolean {
  const n = value.length;
  let i = 0;
  // Character that opened the element/param being looked at: 0 = start of the value.
  let expectContent = true;
  let sep = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (isWs(c)) {
      i++;
      continue;
    }
    if (c === 44 /* , */ || c === 59 /* ; */) {
      // A separator right after a separator (or at the very start, or after '='): empty.
      if (expectContent) return true;
      expectContent = true;
      sep = c;
      i++;
      continue;
    }
    if (c === 61 /* = */) {
      if (expectContent) return true;
      expectContent = sep === 59; // a parameter value must follow
      i++;
      continue;
    }
    expectContent = false;
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = value.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 34) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 60 /* < */) {
      const close = value.indexOf('>', i);
      if (close < 0) return false; // unbalanced: the name-addr parser reports it
      i = close + 1;
      continue;
    }
    i++;
  }
  // A trailing separator (or `name=`) leaves an empty element/value.
  return expectContent && n > 0;
}
