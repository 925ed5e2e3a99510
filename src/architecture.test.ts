/**
 * Structure rules of the code base, checked on every run:
 *  - no import cycles in src/ (type-only imports count: a cycle of types is
 *    still two modules that cannot be understood apart);
 *  - no file of the call engine (src/b2bua) over 400 lines;
 *  - dialog and transaction state is assigned only inside src/dialog and
 *    src/transaction (everyone else calls their methods).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative module specifiers a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gs, /\bimport\s+['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) if (m[1]!.startsWith('.')) out.push(m[1]!);
  return out;
}

function importGraph(): Map<string, string[]> {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const spec of importsOf(readFileSync(f, 'utf8'))) {
      const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
      if (known.has(target)) deps.push(target);
    }
    graph.set(f, deps);
  }
  return graph;
}

/** Every cycle found by a depth-first walk (each reported once, as file -> ... -> file). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const s = state.get(d);
      if (s === 'open') found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return found;
}

describe('architecture', () => {
  it('finds the imports it checks (the graph is not empty)', () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(50);
    const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
    expect(edges).toBeGreaterThan(100);
  });

  it('the cycle finder finds a planted cycle', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c', 'a']]);
  });

  it('has no import cycles in src/', () => {
    const found = cycles(importGraph()).map((c) => c.map((f) => relative(SRC, f)).join(' -> '));
    expect(found).toEqual([]);
  });

  it('keeps every file of src/b2bua under 400 lines', () => {
    const long = sourceFiles(join(SRC, 'b2bua'))
      .map((f) => ({ file: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((x) => x.lines > 400);
    expect(sourceFiles(join(SRC, 'b2bua')).length).toBeGreaterThan(5);
    expect(long).toEqual([]);
  });

  it('assigns dialog and transaction state only inside src/dialog and src/transaction', () => {
    // `x.state = ...` (not ==) on another object (a class's own `this.state` is its business),
    // and the dialog's CSeq/target/route fields.
    const assignment = /(?<!\bthis)\.(state|localSeq|remoteSeq|remoteTarget|routeSet|localCSeq|remoteCSeq)\s*(?:=(?!=)|\+\+|--|\+=|-=)/;
    const offenders: string[] = [];
    for (const f of sourceFiles(SRC)) {
      const rel = relative(SRC, f);
      if (rel.startsWith('dialog/') || rel.startsWith('transaction/')) continue;
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (assignment.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
    // The check itself must be able to fail.
    expect(assignment.test('aDialog.state = \'confirmed\';')).toBe(true);
    expect(assignment.test('d.localSeq = Math.max(d.localSeq, 3);')).toBe(true);
    expect(assignment.test('if (d.state === \'confirmed\') return;')).toBe(false);
    expect(assignment.test('this.state = new Uint8Array(4);')).toBe(false);
  });
});
