/**
 * `sbc config history | show [V] | diff V1 [V2] | rollback V`: the configuration history
 * of a running SBC, through its REST API (--api URL, or --config FILE to read
 * SbcApiAddress/SbcApiPort from the ini it runs on).
 */
import { loadConfigFile } from '../config/load.js';
import type { CommandIo } from './check-config.js';

const stdio: CommandIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

const USAGE = 'usage: sbc config (history | show [V] | diff V1 [V2] | rollback V) (--api http://HOST:PORT | --config FILE) [--json]';

interface VersionJson {
  version: number;
  time: string;
  origin: { kind: string; user?: string; detail?: string };
  changes: string[];
}

function originText(o: VersionJson['origin']): string {
  return [o.kind, o.user ? `by ${o.user}` : '', o.detail ? `(${o.detail})` : ''].filter((x) => x !== '').join(' ');
}

export async function apiBase(opt: Map<string, string>): Promise<string | { error: string }> {
  const api = opt.get('api');
  if (api) return api.replace(/\/+$/, '');
  const file = opt.get('config');
  if (!file) return { error: 'give --api http://HOST:PORT or --config FILE' };
  const r = await loadConfigFile(file);
  if (!r.config) return { error: `${file} does not load; give --api instead` };
  if (r.config.api.port === 0) return { error: `${file} has no SbcApiPort: the REST API is disabled` };
  const host = r.config.api.address === '0.0.0.0' ? '127.0.0.1' : r.config.api.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${r.config.api.port}`;
}

/**
 * Credentials for the REST API (users and roles, docs/security.md): a bearer
 * token in SBC_API_TOKEN, or SBC_API_USER and SBC_API_PASSWORD (HTTP Basic).
 * From the environment, so that they stay out of the command line and the shell history.
 */
export function authHeaders(): Record<string, string> {
  const token = process.env['SBC_API_TOKEN'];
  if (token) return { authorization: `Bearer ${token}` };
  const user = process.env['SBC_API_USER'];
  const password = process.env['SBC_API_PASSWORD'];
  if (user && password !== undefined) return { authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` };
  return {};
}

async function call(base: string, method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, headers: authHeaders() });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { error: text };
  }
  return { status: res.status, body };
}

/** What the API client commands (`sbc config`, `sbc status`) share on their command line. */
export interface ApiCommandArgs {
  opt: Map<string, string>;
  pos: string[];
  json: boolean;
}

/**
 * Parses `--json`, `--help`, `--api URL`, `--config FILE` and positional words; an exit
 * code when the command is done (help printed) or the line is wrong (message printed).
 */
export function parseApiCommandArgs(cmd: string, args: string[], usage: string, io: CommandIo, positional: boolean): ApiCommandArgs | number {
  const opt = new Map<string, string>();
  const pos: string[] = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') {
      io.out(usage);
      return 0;
    } else if (a === '--api' || a === '--config') {
      const v = args[++i];
      if (v === undefined) {
        io.err(`${cmd}: ${a} needs a value`);
        return 2;
      }
      opt.set(a.slice(2), v);
    } else if (a.startsWith('-') || !positional) {
      io.err(positional ? `${cmd}: unknown option ${a}` : `${cmd}: unexpected ${a}\n${usage}`);
      return 2;
    } else pos.push(a);
  }
  return { opt, pos, json };
}

export async function configCommand(args: string[], io: CommandIo = stdio): Promise<number> {
  const parsed = parseApiCommandArgs('config', args, USAGE, io, true);
  if (typeof parsed === 'number') return parsed;
  const { opt, pos, json } = parsed;
  const [sub, ...rest] = pos;
  const nums = rest.map(Number);
  if (nums.some((n) => !Number.isInteger(n) || n < 1)) {
    io.err('config: versions are positive integers');
    return 2;
  }
  const base = await apiBase(opt);
  if (typeof base !== 'string') {
    io.err(`config: ${base.error}`);
    return 2;
  }
  let r: { status: number; body: Record<string, unknown> };
  try {
    switch (sub) {
      case 'history':
        r = await call(base, 'GET', '/api/v1/config/history');
        break;
      case 'show':
        r = nums.length === 0 ? await call(base, 'GET', '/api/v1/config') : await call(base, 'GET', `/api/v1/config/history/${nums[0]}`);
        break;
      case 'diff':
        if (nums.length < 1 || nums.length > 2) {
          io.err(USAGE);
          return 2;
        }
        r = await call(base, 'GET', `/api/v1/config/diff?from=${nums[0]}${nums.length === 2 ? `&to=${nums[1]}` : ''}`);
        break;
      case 'rollback':
        if (nums.length !== 1) {
          io.err(USAGE);
          return 2;
        }
        r = await call(base, 'POST', `/api/v1/config/rollback/${nums[0]}`);
        break;
      default:
        io.err(USAGE);
        return 2;
    }
  } catch (err) {
    io.err(`config: cannot reach the SBC at ${base}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (r.status >= 400) {
    const diags = (r.body['diagnostics'] as Array<{ severity: string; text: string }> | undefined) ?? [];
    io.err(`config: ${String(r.body['error'] ?? `HTTP ${r.status}`)}`);
    for (const d of diags) if (d.severity === 'error') io.err(d.text);
    return 1;
  }
  if (json) {
    io.out(JSON.stringify(r.body, null, 2));
    return 0;
  }
  switch (sub) {
    case 'history':
      for (const v of r.body['versions'] as VersionJson[]) {
        io.out(`${String(v.version).padStart(4)}  ${v.time}  ${originText(v.origin)}  ${v.changes.length} change${v.changes.length === 1 ? '' : 's'}`);
        for (const c of v.changes) io.out(`        ${c}`);
      }
      break;
    case 'show':
      io.out(String(r.body['ini']));
      break;
    case 'diff': {
      const changes = r.body['changes'] as string[];
      io.out(`version ${String(r.body['from'])} -> ${String(r.body['to'])}:`);
      if (changes.length === 0) io.out('  no differences');
      for (const c of changes) io.out(`  ${c}`);
      break;
    }
    case 'rollback':
      io.out(`rolled back; now version ${String(r.body['version'])}`);
      for (const c of r.body['changes'] as string[]) io.out(`  ${c}`);
      break;
  }
  return 0;
}
