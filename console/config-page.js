// Configuration page (docs/console.md): every supported table with its
// Mediant column names (descriptions from the schema as help), row edit /
// add / delete checked by the server with the check-config validator, a
// diff preview of running vs proposed, apply (If-Match: what was previewed
// is what is applied), and the History and Test route tabs.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure, RANK } from './api.js';
import { cellText, RowEditor } from './config-editor.js';
import { ConfigHistory } from './config-history.js';
import { RouteTest } from './route-test.js';

const html = htm.bind(h);

function TableView({ session, def, rows, onEdit, editing }) {
  const may = RANK[session.role] >= RANK[def.editRole];
  const why = may ? '' : `${session.role} may read ${def.name}; changing it needs role ${def.editRole}`;
  const next = rows.reduce((m, r) => Math.max(m, r.Index + 1), 0);
  return html`<section class="card" aria-labelledby="t-title">
    <h2 id="t-title">${def.name} <span class="muted">(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})</span></h2>
    <p class="muted">${def.doc}</p>
    <p><button data-action="add" disabled=${!may || editing} title=${why || undefined} onClick=${() => onEdit({ op: 'add', index: next, row: null })}>Add row</button>
      ${!may && html` <span class="muted" data-testid="read-only">Read only: ${why}.</span>`}</p>
    <div class="scroll" tabindex="0" role="region" aria-label=${`${def.name} rows`}>
    <table class="config" data-table=${def.name}><thead><tr><th scope="col">Actions</th><th scope="col" title="Row index">Index</th>
      ${def.columns.map((c) => html`<th scope="col" title=${c.doc}><span class="help">${c.name}</span></th>`)}</tr></thead>
    <tbody>
      ${rows.map((r) => html`<tr data-index=${r.Index}>
        <td class="actions"><button disabled=${!may || editing} title=${why || undefined} aria-label=${`Edit ${def.name} row ${r.Index}`} onClick=${() => onEdit({ op: 'patch', index: r.Index, row: r })}>Edit</button>
          <button disabled=${!may || editing} title=${why || undefined} aria-label=${`Delete ${def.name} row ${r.Index}`} onClick=${() => onEdit({ op: 'delete', index: r.Index, row: r })}>Delete</button></td>
        <td>${r.Index}</td>${def.columns.map((c) => html`<td>${cellText(c, r[c.name])}${c.type === 'enum' ? html` <span class="muted">(${r[`${c.name}Code`]})</span>` : null}</td>`)}</tr>`)}
      ${rows.length === 0 ? html`<tr><td colspan=${def.columns.length + 2} class="muted">no rows</td></tr>` : null}
    </tbody></table></div>
    <details><summary>Column help</summary><dl class="colhelp">
      ${def.columns.map((c) => html`<dt>${c.name}</dt><dd>${c.doc} <span class="muted">(${c.type}${c.codes ? `: ${c.codes}` : ''}${c.min !== undefined && c.min !== null ? `, min ${c.min}` : ''}${c.max !== undefined && c.max !== null ? `, max ${c.max}` : ''}; default ${cellText(c, c.default) || "''"})</span></dd>`)}
    </dl></details>
  </section>`;
}

function Tables({ session, tableName }) {
  const [schema, setSchema] = useState(null);
  const [config, setConfig] = useState(null);
  const [error, setError] = useState('');
  const [edit, setEdit] = useState(null);
  const [note, setNote] = useState('');
  const load = async () => {
    const [s, c] = await Promise.all([api(session, 'GET', '/api/v1/config/schema'), api(session, 'GET', '/api/v1/config')]);
    if (s.status !== 200 || c.status !== 200) { setError(failure(s.status !== 200 ? s : c)); return; }
    setSchema(s.data.tables);
    setConfig(c.data);
    setError('');
  };
  useEffect(() => { void load(); }, []);
  useEffect(() => { setEdit(null); }, [tableName]);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (schema === null || config === null) return html`<p>Loading&hellip;</p>`;
  const def = schema.find((t) => t.name === tableName) ?? schema.find((t) => t.name === 'IP2IPRouting') ?? schema[0];
  const rows = config.tables[def.name] ?? [];
  // The note comes with the reloaded table, so what it says is what the table shows.
  const applied = async (text) => {
    await load();
    setEdit(null);
    setNote(text);
  };
  return html`<div class="config-layout">
    <nav aria-label="Tables" class="tables"><ul>
      ${schema.map((t) => html`<li><a href=${`#/config/tables/${t.name}`} aria-current=${t.name === def.name ? 'page' : undefined} title=${t.doc}>${t.name}
        <span class="muted">${(config.tables[t.name] ?? []).length}</span></a></li>`)}
    </ul></nav>
    <div class="config-main">
      <p class="muted">Running configuration ${config.file}${config.version !== null ? `, version ${config.version}` : ''}. Changes are validated as <code>sbc check-config</code> does, previewed as a diff, then applied.</p>
      ${note && html`<p role="status" data-testid="config-note">${note}</p>`}
      <${TableView} session=${session} def=${def} rows=${rows} editing=${edit !== null} onEdit=${(e) => { setNote(''); setEdit(e); }} />
      ${edit && html`<${RowEditor} key=${`${def.name}-${edit.op}-${edit.index}`} session=${session} def=${def} edit=${edit}
        onCancel=${() => setEdit(null)} onApplied=${applied} />`}
    </div>
  </div>`;
}

export function ConfigPage({ session, hash }) {
  const sub = hash.split('/')[2] ?? 'tables';
  const tab = sub === 'history' || sub === 'route' ? sub : 'tables';
  const cur = (t) => (t === tab ? 'page' : undefined);
  return html`<h1>Configuration</h1>
    <nav aria-label="Configuration" class="tabs"><a href="#/config/tables" aria-current=${cur('tables')}>Tables</a>
      <a href="#/config/history" aria-current=${cur('history')}>History</a> <a href="#/config/route" aria-current=${cur('route')}>Test route</a></nav>
    ${tab === 'tables' ? html`<${Tables} session=${session} tableName=${decodeURIComponent(hash.split('/')[3] ?? '')} />`
      : tab === 'history' ? html`<${ConfigHistory} session=${session} />` : html`<${RouteTest} session=${session} />`}`;
}
