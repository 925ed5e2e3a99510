/**
 * What the console's Configuration page (docs/console.md) needs beside the
 * configuration API of config-routes.ts:
 *
 *   GET  /api/v1/config/schema   (monitor)  every supported table: Mediant table and column
 *        names, types, defaults, descriptions, and the role that may edit it;
 *   POST /api/v1/config/preview  (operator) one proposed row edit, checked by the same
 *        validator as `sbc check-config` (loadConfigText) and diffed against the running
 *        configuration; nothing is applied. Each diagnostic names its table row and column;
 *   POST /api/v1/routing/explain (monitor)  the `sbc route` explainer on the running
 *        configuration (proxy servers taken as up, as the command does).
 */
import type { FastifyInstance } from 'fastify';
import {
  TABLES, diffConfigs, editRow, enumDescription, findColumn, formatDiagnostic, formatDiff, loadConfigText, parseIni, tableDef,
  type ConfigStore, type Diagnostic, type TableDef,
} from '../config/index.js';
import { cellColumn, convertDocument, convertJsonValue } from '../config/convert.js';
import { sha256 } from '../config/history.js';
import { explainRoute } from '../routing/explain.js';
import { explainRequest } from '../routing/explain-request.js';
import { describeDestination } from '../routing/route.js';
import { mayEditTable, tableEditRole } from './config-roles.js';

export interface ConfigConsoleOptions {
  readonly store: ConfigStore;
}

/** A diagnostic placed on the table row and column it is about (when it is about one). */
export interface PlacedDiagnostic extends Diagnostic {
  readonly text: string;
  readonly table?: string;
  readonly index?: number;
  readonly columnName?: string;
}

function schemaJson(def: TableDef): Record<string, unknown> {
  return {
    name: def.name, doc: def.doc, editRole: tableEditRole(def), nameColumn: def.nameKey ? def.columns.find((c) => c.key === def.nameKey)?.ini ?? null : null,
    columns: def.columns.map((c) => ({
      name: c.ini, type: c.type.kind, default: c.def, doc: c.doc, secret: c.secret === true,
      ...(c.type.kind === 'int' ? { min: c.type.min ?? null, max: c.type.max ?? null } : {}),
      ...(c.type.kind === 'enum' ? { values: c.type.def.values.map((v) => ({ code: v[0], name: v[1] })), codes: enumDescription(c.type.def) } : {}),
    })),
  };
}

/** Maps each diagnostic's file line (and column) to the row (and Mediant column) of `text` it points at. */
export function placeDiagnostics(text: string, diagnostics: readonly Diagnostic[]): PlacedDiagnostic[] {
  const tables = convertDocument(parseIni(text, '').document, '', []);
  const byLine = new Map<number, { def: TableDef; row: Record<string, unknown> & { index: number } }>();
  for (const def of TABLES) {
    for (const row of tables[def.configKey] as unknown as ReadonlyArray<Record<string, unknown> & { index: number; line: number }>) byLine.set(row.line, { def, row });
  }
  return diagnostics.map((d) => {
    const at = byLine.get(d.line);
    if (at === undefined) return { ...d, text: formatDiagnostic(d) };
    const col = d.column === undefined ? undefined : at.def.columns.find((c) => cellColumn(at.row, c.key) === d.column);
    return { ...d, text: formatDiagnostic(d), table: at.def.name, index: at.row.index, ...(col ? { columnName: col.ini } : {}) };
  });
}

interface PreviewBody {
  op?: unknown;
  table?: unknown;
  index?: unknown;
  values?: unknown;
}

export function registerConfigConsoleRoutes(server: FastifyInstance, opts: ConfigConsoleOptions): void {
  const { store } = opts;

  server.get('/api/v1/config/schema', { config: { role: 'monitor' } }, async () => ({ tables: TABLES.map(schemaJson) }));

  server.post<{ Body: PreviewBody }>('/api/v1/config/preview', { config: { role: 'operator' } }, async (req, reply) => {
    const b = req.body ?? {};
    const op = b.op;
    if ((op !== 'add' && op !== 'patch' && op !== 'delete') || typeof b.table !== 'string' || typeof b.index !== 'number') {
      return reply.code(400).send({ error: 'body must be {"op": "add"|"patch"|"delete", "table": "...", "index": N, "values": {...}}' });
    }
    const values = b.values === undefined ? {} : b.values;
    if (typeof values !== 'object' || values === null || Array.isArray(values)) return reply.code(400).send({ error: 'values must be an object of Mediant column names' });
    const def = tableDef(b.table);
    if (!def) return reply.code(404).send({ error: `no table ${b.table}` });
    if (!mayEditTable(req.apiUser?.role, def)) return reply.code(403).send({ error: `${def.name} is a security table: role admin required` });
    // A value that is no value of its column: named with the column, before the row is built.
    for (const [name, v] of Object.entries(values as Record<string, unknown>)) {
      const col = findColumn(def, name);
      if (!col) return reply.code(400).send({ error: `${def.name} has no column ${name}`, table: def.name, index: b.index, columnName: name });
      const c = convertJsonValue(col, v);
      if ('error' in c) return reply.code(400).send({ error: c.error, table: def.name, index: b.index, columnName: col.ini });
    }
    const base = store.text();
    const running = store.current();
    const e = editRow(base, running, op, def.name, b.index, values as Record<string, unknown>);
    if ('error' in e) return reply.code(e.status).send({ error: e.error, table: def.name, index: b.index });
    // The same validation as `sbc check-config` and as the apply itself (ConfigStore).
    const r = loadConfigText(e.text, store.file);
    const diff = r.config ? diffConfigs(running, r.config) : null;
    return {
      ok: r.config !== null, table: def.name, index: b.index, op, base: sha256(base), detail: e.detail,
      diagnostics: placeDiagnostics(e.text, r.diagnostics), changes: diff ? formatDiff(diff) : [], diff,
    };
  });

  server.post<{ Body: Record<string, unknown> }>('/api/v1/routing/explain', { config: { role: 'monitor' } }, async (req, reply) => {
    const b = req.body ?? {};
    const s = (k: string): string | undefined => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
    const from = s('from');
    const to = s('to');
    const srcIp = s('srcIp');
    if (from === undefined || to === undefined || srcIp === undefined) return reply.code(400).send({ error: 'from, to and srcIp are required' });
    const port = b['srcPort'];
    const srcPort = port === undefined || port === '' ? undefined : Number(port);
    const config = store.current();
    const request = explainRequest(config, {
      from, to, srcIp, ...(srcPort !== undefined ? { srcPort } : {}),
      transport: s('transport') ?? 'udp', method: s('method') ?? 'INVITE', sipInterface: s('sipInterface') ?? '', requestUri: s('requestUri') ?? '',
    });
    if ('error' in request) return reply.code(400).send({ error: request.error });
    const ex = explainRoute(config, request);
    const c = ex.classification;
    const d = ex.decision;
    const result = c.rejected ? { outcome: 'rejected', reason: c.reason, response: c.responseCode }
      : d === undefined ? { outcome: 'unknown' }
        : d.kind === 'no-route' ? { outcome: 'no-route', reason: d.reason, response: d.responseCode, srcIpGroup: c.ipGroup.name }
          : {
            outcome: 'route', srcIpGroup: c.ipGroup.name, routeIndex: d.row.index, routeName: d.row.routeName,
            dstIpGroup: d.dstIpGroup?.name ?? null, destination: describeDestination(d.destination),
            ...(ex.outbound ? { srcUser: ex.outbound.srcUser, dstUser: ex.outbound.dstUser } : {}),
          };
    return { request, result, lines: ex.lines };
  });
}
