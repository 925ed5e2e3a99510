/**
 * `sbc status`: what a running SBC is doing, from its REST API — calls,
 * the Account registrations toward trunks, and the users registered
 * through it per IP Group (users = AORs, bindings = contacts). Credentials
 * as for `sbc config`: SBC_API_TOKEN, or SBC_API_USER and SBC_API_PASSWORD
 * (a Monitor is enough).
 */
import type { CommandIo } from './check-config.js';
import { apiBase, authHeaders, parseApiCommandArgs } from './config.js';

const stdio: CommandIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

const USAGE = 'usage: sbc status (--api http://HOST:PORT | --config FILE) [--json]';

interface StatusJson {
  version: string;
  uptimeSec: number;
  activeCalls: number;
  calls?: { dialogs?: number };
}

interface AccountJson {
  name: string;
  servedIpGroup: string;
  servingIpGroup: string;
  aor: string;
  state: string;
  registrar: string | null;
  expiresInSec: number | null;
  lastResponse: number | string | null;
  failures: number;
  nextAttemptInSec: number | null;
}

interface RegistrationsJson {
  accounts: AccountJson[];
  users: Record<string, number>;
  bindings?: Record<string, number>;
  subscriptions: number;
}

async function getJson<T>(base: string, path: string): Promise<{ status: number; body: T | { error?: string } }> {
  const res = await fetch(`${base}${path}`, { headers: authHeaders() });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as T };
  } catch {
    return { status: res.status, body: { error: text } };
  }
}

function duration(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec % 60).padStart(2, '0')}s`;
}

function accountLine(a: AccountJson): string {
  const parts = [a.name, `${a.servedIpGroup} -> ${a.servingIpGroup}`, a.aor, a.state];
  if (a.registrar) parts.push(`at ${a.registrar}`);
  if (a.expiresInSec !== null) parts.push(`expires in ${a.expiresInSec} s`);
  if (a.lastResponse !== null) parts.push(`last ${a.lastResponse}`);
  if (a.failures > 0) parts.push(`${a.failures} failure${a.failures === 1 ? '' : 's'}`);
  if (a.state !== 'registered' && a.nextAttemptInSec !== null) parts.push(`next try in ${a.nextAttemptInSec} s`);
  return `  ${parts.join('  ')}`;
}

export async function statusCommand(args: string[], io: CommandIo = stdio): Promise<number> {
  const parsed = parseApiCommandArgs('status', args, USAGE, io, false);
  if (typeof parsed === 'number') return parsed;
  const { opt, json } = parsed;
  const base = await apiBase(opt);
  if (typeof base !== 'string') {
    io.err(`status: ${base.error}`);
    return 2;
  }
  let status: Awaited<ReturnType<typeof getJson<StatusJson>>>;
  let regs: Awaited<ReturnType<typeof getJson<RegistrationsJson>>>;
  try {
    [status, regs] = await Promise.all([getJson<StatusJson>(base, '/api/v1/status'), getJson<RegistrationsJson>(base, '/api/v1/registrations')]);
  } catch (err) {
    io.err(`status: cannot reach the SBC at ${base}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  for (const r of [status, regs]) {
    if (r.status >= 400) {
      io.err(`status: ${String((r.body as { error?: string }).error ?? `HTTP ${r.status}`)}`);
      return 1;
    }
  }
  const s = status.body as StatusJson;
  const g = regs.body as RegistrationsJson;
  if (json) {
    io.out(JSON.stringify({ status: s, registrations: g }, null, 2));
    return 0;
  }
  io.out(`SBC ${s.version}, up ${duration(s.uptimeSec)}`);
  io.out(`Calls: ${s.activeCalls} active${s.calls?.dialogs !== undefined ? `, ${s.calls.dialogs} dialogs` : ''}`);
  io.out(`Accounts (registrations to trunks): ${g.accounts.length === 0 ? 'none' : `${g.accounts.filter((a) => a.state === 'registered').length} of ${g.accounts.length} registered`}`);
  for (const a of g.accounts) io.out(accountLine(a));
  const groups = [...new Set([...Object.keys(g.users), ...Object.keys(g.bindings ?? {})])].sort();
  const totalUsers = Object.values(g.users).reduce((x, y) => x + y, 0);
  const totalBindings = Object.values(g.bindings ?? {}).reduce((x, y) => x + y, 0);
  io.out(`Registered users: ${totalUsers} users, ${totalBindings} bindings`);
  for (const name of groups) io.out(`  ${name}  ${g.users[name] ?? 0} users  ${g.bindings?.[name] ?? 0} bindings`);
  io.out(`Subscriptions relayed: ${g.subscriptions}`);
  return 0;
}
