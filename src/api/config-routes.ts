/**
 * REST configuration API: read (secrets masked), validate, replace, edit one
 * table row, history, diff and rollback. Every change goes through
 * ConfigStore: validated first (a refused change alters and records nothing),
 * written back to the ini file atomically, swapped, recorded as a version.
 *
 * Roles (config-roles.ts, after Mediant's user levels): reading needs
 * monitor; validating, row edits of non-security tables and rollbacks that
 * touch only those need operator; the rest (PUT of the whole text,
 * security tables, parameters) admin. The API user's name is recorded as
 * the origin's user (the client address when authentication is off).
 * A row edit may carry `If-Match: "<sha256>"` (the `sha256` of GET
 * /api/v1/config or of a preview): 412 when the configuration changed since,
 * so what is applied is what was previewed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ConfigStore, TABLES, diffConfigs, tableDef, editRow, formatDiagnostic, formatDiff, formatIgnored, loadConfigText, maskIniText, unmaskIniText,
  enumCode, type ConfigOrigin, type ConfigVersion, type Diagnostic, type IgnoredSetting, type ReloadResult, type SbcConfig,
} from '../config/index.js';
import { MASK } from '../config/writer.js';
import { sha256 } from '../config/history.js';
import { changeNeedsAdmin, mayEditTable } from './config-roles.js';

export interface ConfigRoutesOptions {
  readonly store: ConfigStore;
  /** Who is asking (for the history); the API authentication plugs in here. Default: the client address. */
  readonly identify?: (req: FastifyRequest) => string | undefined;
  /** Called after each change attempt (for metrics). */
  readonly onResult?: (ok: boolean) => void;
}

function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return { ...d, text: formatDiagnostic(d) };
}

function resultJson(r: ReloadResult): Record<string, unknown> {
  return {
    ok: r.ok,
    version: r.version?.version ?? null,
    changes: r.changes,
    diagnostics: r.diagnostics.map(diagnosticJson),
    ignored: (r.ignored ?? []).map((i: IgnoredSetting) => ({ ...i, text: formatIgnored(i) })),
  };
}

/** Rows as JSON keyed by Mediant column names, enums by name, secrets masked. */
export function tablesJson(config: SbcConfig): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const def of TABLES) {
    const rows = config[def.configKey] as unknown as ReadonlyArray<Record<string, unknown> & { index: number }>;
    if (rows.length === 0) continue;
    out[def.name] = rows.map((r) => {
      const o: Record<string, unknown> = { Index: r.index };
      for (const c of def.columns) {
        const v = r[c.key];
        o[c.ini] = c.secret && v !== '' ? MASK : v;
        if (c.type.kind === 'enum') o[`${c.ini}Code`] = enumCode(c.type.def, String(v));
      }
      return o;
    });
  }
  return out;
}

function versionJson(v: ConfigVersion): Record<string, unknown> {
  return { version: v.version, time: v.time, origin: v.origin, changes: v.changes, sha256: v.sha256, bytes: v.bytes };
}

/** The ini text of a request body: text/plain, or JSON `{ "ini": "..." }`. */
function bodyText(req: FastifyRequest): string | null {
  const b = req.body as unknown;
  if (typeof b === 'string') return b;
  if (typeof b === 'object' && b !== null && typeof (b as { ini?: unknown }).ini === 'string') return (b as { ini: string }).ini;
  return null;
}

function rowValues(req: FastifyRequest): Record<string, unknown> | null {
  const b = req.body as unknown;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) return null;
  return b as Record<string, unknown>;
}

export function registerConfigRoutes(server: FastifyInstance, opts: ConfigRoutesOptions): void {
  const { store } = opts;
  const identify = opts.identify ?? ((req: FastifyRequest) => req.apiUser?.username ?? req.ip);
  const origin = (req: FastifyRequest, detail: string): ConfigOrigin => {
    const user = identify(req);
    return { kind: 'api', ...(user !== undefined ? { user } : {}), detail };
  };
  const reply422 = (reply: FastifyReply, r: ReloadResult): FastifyReply => {
    opts.onResult?.(r.ok);
    return reply.code(r.ok ? 200 : 422).send(resultJson(r));
  };
  const noHistory = (reply: FastifyReply): FastifyReply => reply.code(503).send({ error: 'the configuration history is not available (see the SBC log)' });

  server.get('/api/v1/config', { config: { role: 'monitor' } }, async () => {
    const config = store.current();
    const scalars: Record<string, string> = {};
    for (const [k, v] of config.scalars) scalars[k] = k.includes('password') && v !== '' ? MASK : v;
    return {
      file: store.file, version: store.history?.latest()?.version ?? null, sha256: sha256(store.text()), ini: maskIniText(store.text()), scalars, tables: tablesJson(config),
    };
  });

  // A full device export can be several hundred KB; Fastify's default body limit is 1 MiB.
  const large = { bodyLimit: 16 * 1024 * 1024 };
  server.post('/api/v1/config/validate', { ...large, config: { role: 'operator' } }, async (req, reply) => {
    const text = bodyText(req);
    if (text === null) return reply.code(400).send({ error: 'send the ini text as text/plain, or JSON {"ini": "..."}' });
    const r = store.validate(unmaskIniText(text, store.current()));
    return resultJson(r);
  });

  server.put('/api/v1/config', large, async (req, reply) => {
    const text = bodyText(req);
    if (text === null) return reply.code(400).send({ error: 'send the ini text as text/plain, or JSON {"ini": "..."}' });
    // A text read back from GET carries "*****" for passwords: those keep their running values.
    const r = await store.apply(unmaskIniText(text, store.current()), origin(req, 'PUT /api/v1/config'));
    return reply422(reply, r);
  });

  const rowRoute = (op: 'add' | 'patch' | 'delete') => async (req: FastifyRequest<{ Params: { table: string; index: string } }>, reply: FastifyReply) => {
    const values = rowValues(req);
    if (values === null) return reply.code(400).send({ error: 'send the row as a JSON object of Mediant column names' });
    const index = /^\d+$/.test(req.params.index) ? Number(req.params.index) : -1;
    const def = tableDef(req.params.table);
    if (def && !mayEditTable(req.apiUser?.role, def)) return reply.code(403).send({ error: `${def.name} is a security table: role admin required` });
    const ifMatch = req.headers['if-match'];
    const r = await store.edit((text, config): { text: string; origin: ConfigOrigin } | { status: 400 | 404 | 409 | 412; error: string } => {
      if (typeof ifMatch === 'string' && ifMatch.replaceAll('"', '').trim() !== sha256(text)) {
        return { status: 412, error: 'the configuration changed since it was read (If-Match): preview the change again' };
      }
      const e = editRow(text, config, op, req.params.table, index, values);
      if ('error' in e) return e;
      return { text: e.text, origin: origin(req, e.detail) };
    });
    if ('status' in r) return reply.code(r.status).send({ error: r.error });
    if (r.ok && op === 'add') {
      opts.onResult?.(true);
      return reply.code(201).send(resultJson(r));
    }
    return reply422(reply, r);
  };
  const operator = { config: { role: 'operator' as const } };
  server.post('/api/v1/config/tables/:table/:index', operator, rowRoute('add'));
  server.patch('/api/v1/config/tables/:table/:index', operator, rowRoute('patch'));
  server.delete('/api/v1/config/tables/:table/:index', operator, rowRoute('delete'));

  server.get('/api/v1/config/history', { config: { role: 'monitor' } }, async (_req, reply) => {
    const h = store.history;
    if (!h) return noHistory(reply);
    return { current: h.latest()?.version ?? null, versions: h.list().map(versionJson) };
  });

  server.get<{ Params: { version: string } }>('/api/v1/config/history/:version', { config: { role: 'monitor' } }, async (req, reply) => {
    const h = store.history;
    if (!h) return noHistory(reply);
    const v = h.get(Number(req.params.version));
    const text = v ? await h.text(v.version) : null;
    if (!v || text === null) return reply.code(404).send({ error: `no version ${req.params.version}` });
    return { ...versionJson(v), ini: maskIniText(text) };
  });

  server.get<{ Querystring: { from?: string; to?: string } }>('/api/v1/config/diff', { config: { role: 'monitor' } }, async (req, reply) => {
    const h = store.history;
    if (!h) return noHistory(reply);
    const from = Number(req.query.from);
    const to = req.query.to === undefined ? h.latest()?.version ?? 0 : Number(req.query.to);
    const [a, b] = await Promise.all([h.text(from), h.text(to)]);
    if (a === null || b === null) return reply.code(404).send({ error: `no version ${a === null ? req.query.from : req.query.to}` });
    const ca = loadConfigText(a, `version ${from}`).config;
    const cb = loadConfigText(b, `version ${to}`).config;
    if (!ca || !cb) return reply.code(422).send({ error: `version ${ca ? to : from} no longer loads (its diagnostics: GET /api/v1/config/history/${ca ? to : from})` });
    const diff = diffConfigs(ca, cb);
    return { from, to, changes: formatDiff(diff), diff };
  });

  server.post<{ Params: { version: string } }>('/api/v1/config/rollback/:version', operator, async (req, reply) => {
    const h = store.history;
    if (!h) return noHistory(reply);
    const version = Number(req.params.version);
    const user = identify(req);
    const role = req.apiUser?.role;
    if (role !== undefined && role !== 'admin') {
      // An operator may roll back only what an operator may change; checked against the configuration running when the rollback runs.
      const text = await h.text(version);
      if (text === null) return reply.code(404).send({ error: `no version ${req.params.version}` });
      const target = loadConfigText(text, store.file).config;
      const detail = `rollback to version ${version}`;
      const r = await store.edit((_text, config): { text: string; origin: ConfigOrigin } | { status: 403; error: string } => {
        const why = target ? changeNeedsAdmin(role, diffConfigs(config, target)) : null;
        if (why !== null) return { status: 403, error: `cannot roll back to version ${version}: ${why}` };
        return { text, origin: { kind: 'rollback', ...(user !== undefined ? { user } : {}), detail } };
      });
      if ('status' in r) return reply.code(r.status).send({ error: r.error });
      return reply422(reply, r);
    }
    const r = await store.rollback(version, { ...(user !== undefined ? { user } : {}), detail: `rollback to version ${version}` });
    if ('notFound' in r) return reply.code(404).send({ error: `no version ${req.params.version}` });
    return reply422(reply, r);
  });
}
