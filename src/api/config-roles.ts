/**
 * Who may change which part of the configuration, after Mediant's user
 * levels: an Administrator (our `operator`) has read/write on every page
 * except the security-related ones (users, TLS, intrusion detection), which
 * it may only read; a Security Administrator / Master (our `admin`) may
 * change everything. Parameters (the scalars) are changed by replacing the
 * whole text (PUT, admin), so an operator's rollback may not touch them.
 */
import type { ConfigDiff, TableDef } from '../config/index.js';

export type ConfigRole = 'monitor' | 'operator' | 'admin';

/** Tables only an admin may change (Mediant's security pages). */
export const SECURITY_TABLES: ReadonlySet<string> = new Set(['WebUsers', 'TLSContexts', 'IDSPolicy', 'IDSRule', 'IDSMatch']);

/** The role a row edit of `def` needs. */
export function tableEditRole(def: TableDef): 'operator' | 'admin' {
  return SECURITY_TABLES.has(def.name) ? 'admin' : 'operator';
}

const RANK: Record<ConfigRole, number> = { monitor: 1, operator: 2, admin: 3 };

/** `role` undefined: the API runs without authentication (loopback only) — everything is allowed. */
export function mayEditTable(role: ConfigRole | undefined, def: TableDef): boolean {
  return role === undefined || RANK[role] >= RANK[tableEditRole(def)];
}

/** Why `role` may not make the change `diff` (a rollback), or null when it may. */
export function changeNeedsAdmin(role: ConfigRole | undefined, diff: ConfigDiff): string | null {
  if (role === undefined || role === 'admin') return null;
  if (diff.scalars.length > 0) return `it changes parameters (${diff.scalars.slice(0, 3).map((s) => s.name).join(', ')}${diff.scalars.length > 3 ? ', ...' : ''}): role admin required`;
  const security = [...new Set(diff.rows.filter((r) => SECURITY_TABLES.has(r.table)).map((r) => r.table))];
  if (security.length > 0) return `it changes security tables (${security.join(', ')}): role admin required`;
  return null;
}
