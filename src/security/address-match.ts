/**
 * Address and id-list predicates of the IDS tables (Mediant IDSMatch
 * syntax): subnet expressions `10.1.0.0/16 | 10.2.2.2`,
 * `!10.1.0.0/16 & !10.2.2.2`, and id lists `1,3-4`, `!2`. Built once per
 * configuration; matching is a BlockList lookup per atom.
 */
import net from 'node:net';

export type AddressPredicate = (address: string) => boolean;

function family(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}

/** One subnet or address; null when it is not one. */
export function subnetList(text: string): net.BlockList | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const kind = net.isIP(addr);
  if (kind === 0) return null;
  const list = new net.BlockList();
  const fam = kind === 6 ? 'ipv6' : 'ipv4';
  if (slash < 0) {
    list.addAddress(addr, fam);
    return list;
  }
  const prefix = Number(t.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (kind === 6 ? 128 : 32)) return null;
  list.addSubnet(addr, prefix, fam);
  return list;
}

/**
 * `a | b & !c`: OR of AND-terms of (negated) subnets; & binds tighter.
 * Empty text matches everything. Returns an error string on bad syntax.
 */
export function parseSubnetExpression(text: string): AddressPredicate | string {
  if (text.trim() === '' || text.trim() === '*') return () => true;
  const terms: Array<Array<{ list: net.BlockList; negate: boolean }>> = [];
  for (const orPart of text.split('|')) {
    const term: Array<{ list: net.BlockList; negate: boolean }> = [];
    for (const andPart of orPart.split('&')) {
      let s = andPart.trim();
      const negate = s.startsWith('!');
      if (negate) s = s.slice(1);
      const list = subnetList(s);
      if (list === null) return `"${andPart.trim()}" is not an IP address or subnet`;
      term.push({ list, negate });
    }
    terms.push(term);
  }
  return (address: string) => {
    const fam = family(address);
    return terms.some((term) => term.every((a) => a.list.check(address, fam) !== a.negate));
  };
}

/**
 * Id list `1,3-4` or `!1,3` over rows known by index and name. Empty
 * matches all. Returns the set of matching names (lower-case) plus a
 * negation flag, or an error string.
 */
export function parseIdList(
  text: string, rows: ReadonlyArray<{ index: number; name: string }>,
): ((name: string) => boolean) | string {
  let t = text.trim();
  if (t === '' || t === '*' || t.toLowerCase() === 'any') return () => true;
  const negate = t.startsWith('!');
  if (negate) t = t.slice(1);
  const names = new Set<string>();
  for (const part of t.split(',')) {
    const p = part.trim();
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(p);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      for (const r of rows) if (r.index >= a && r.index <= b) names.add(r.name.toLowerCase());
      continue;
    }
    const byIndex = /^\d+$/.test(p) ? rows.find((r) => r.index === Number(p)) : undefined;
    const row = byIndex ?? rows.find((r) => r.name.toLowerCase() === p.toLowerCase());
    if (row === undefined) return `"${p}" names no row`;
    names.add(row.name.toLowerCase());
  }
  return (name: string) => names.has(name.toLowerCase()) !== negate;
}
