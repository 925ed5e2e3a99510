/**
 * A structural guard against regular expressions whose backtracking can
 * explode (ReDoS): a quantified group that itself contains an unbounded
 * quantifier (`(a+)+`, `(a*)*`, `(\d+){2,}`), or a quantified alternation
 * whose branches overlap (`(a|a)*`, `(a|ab)+`). It is deliberately simple:
 * it may refuse a pattern that would have been harmless, never the
 * reverse for these shapes. Input length is bounded separately at run time.
 */

interface GroupFrame {
  /** Some quantifier inside the group can repeat without bound. */
  innerUnbounded: boolean;
  /** Text of each alternative at this group's top level. */
  alternatives: string[];
  altStart: number;
}

/** Returns a reason when the pattern looks catastrophic, else null. */
export function catastrophicReason(pattern: string): string | null {
  const stack: GroupFrame[] = [{ innerUnbounded: false, alternatives: [], altStart: 0 }];
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (c === '\\') { i += 2; continue; }
    if (c === '[') {
      // Character class: one atom; skip to the unescaped ']'.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < n && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (c === '(') {
      let j = i + 1;
      if (pattern[j] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        j++;
        if (pattern[j] === '<' && pattern[j + 1] !== '=' && pattern[j + 1] !== '!') {
          const close = pattern.indexOf('>', j);
          j = close < 0 ? n : close + 1;
        } else if (pattern[j] === '<') j += 2;
        else j++;
      }
      stack.push({ innerUnbounded: false, alternatives: [], altStart: j });
      i = j;
      continue;
    }
    if (c === '|') {
      const top = stack[stack.length - 1]!;
      top.alternatives.push(pattern.slice(top.altStart, i));
      top.altStart = i + 1;
      i++;
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) { i++; continue; } // the RegExp constructor reports this
      const g = stack.pop()!;
      g.alternatives.push(pattern.slice(g.altStart, i));
      const q = quantifierAt(pattern, i + 1);
      const parent = stack[stack.length - 1]!;
      if (q.unbounded) {
        if (g.innerUnbounded) return `nested quantifier near column ${i + 1}: a repeated group contains a repeat`;
        if (overlapping(g.alternatives)) return `repeated alternation with overlapping branches near column ${i + 1}`;
      }
      if (q.unbounded || g.innerUnbounded) parent.innerUnbounded = true;
      i = i + 1 + q.length;
      continue;
    }
    if (c === '*' || c === '+' || c === '{') {
      const q = quantifierAt(pattern, i);
      if (q.unbounded) stack[stack.length - 1]!.innerUnbounded = true;
      i += Math.max(q.length, 1);
      continue;
    }
    i++;
  }
  return null;
}

function quantifierAt(p: string, i: number): { unbounded: boolean; length: number } {
  const c = p[i];
  let len = 0;
  let unbounded = false;
  if (c === '*' || c === '+') { len = 1; unbounded = true; }
  else if (c === '?') len = 1;
  else if (c === '{') {
    const close = p.indexOf('}', i);
    if (close < 0) return { unbounded: false, length: 0 };
    const body = p.slice(i + 1, close);
    if (!/^\d+(,\d*)?$/.test(body)) return { unbounded: false, length: 0 };
    const comma = body.indexOf(',');
    // {n,} is unbounded; a large {n,m} behaves the same for backtracking.
    unbounded = comma >= 0 && (comma === body.length - 1 || Number(body.slice(comma + 1)) > 20);
    len = close - i + 1;
  }
  if (len > 0 && p[i + len] === '?') len++; // lazy form
  return { unbounded, length: len };
}

function overlapping(alts: string[]): boolean {
  if (alts.length < 2) return false;
  for (let a = 0; a < alts.length; a++) {
    for (let b = 0; b < alts.length; b++) {
      if (a === b) continue;
      const x = alts[a]!;
      const y = alts[b]!;
      if (x.length === 0 || y.length === 0) return true;
      if (y.startsWith(x)) return true;
      // A branch starting with a wildcard or class can match what another starts with.
      if (x[0] === '.' || (x.startsWith('\\') && /^\\[dDwWsS]/.test(x))) return true;
    }
  }
  return false;
}
