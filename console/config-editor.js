// One row's edit / add / delete: a labelled field per Mediant column (its
// schema description as help), checked by the server with the check-config
// validator (POST /api/v1/config/preview) when a field changes and on
// "Preview change"; errors are shown at their column, the diff of running vs
// proposed before "Apply", which sends If-Match with the previewed base.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure } from './api.js';

const html = htm.bind(h);
const MASK = '*****';

/** A cell as the ini writes it (enums by name; the Mediant code beside). */
export function cellText(col, v) {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

/** What the form sends: only the columns that differ from the row (patch) or from the default (add). */
function changedValues(def, edit, form) {
  const out = {};
  for (const c of def.columns) {
    const was = edit.row ? cellText(c, edit.row[c.name]) : cellText(c, c.default);
    const now = form[c.name] ?? was;
    if (now === was) continue;
    if (c.secret && now === MASK) continue;
    out[c.name] = c.type === 'int' && /^-?\d+$/.test(now.trim()) ? Number(now) : now;
  }
  return out;
}

function Field({ col, value, onInput, onChange, errors }) {
  const id = `f-${col.name}`;
  const help = `${id}-help`;
  const err = errors.length > 0 ? `${id}-err` : undefined;
  const common = { id, name: col.name, 'aria-describedby': err ? `${help} ${err}` : help, 'aria-invalid': err ? 'true' : undefined };
  let input;
  if (col.type === 'enum') {
    input = html`<select ...${common} value=${value} onChange=${(e) => { onInput(e.target.value); onChange(e.target.value); }}>
      ${col.values.map((v) => html`<option value=${v.name}>${v.name} (${v.code})</option>`)}</select>`;
  } else if (col.type === 'bool') {
    input = html`<select ...${common} value=${value} onChange=${(e) => { onInput(e.target.value); onChange(e.target.value); }}>
      <option value="0">0 (no)</option><option value="1">1 (yes)</option></select>`;
  } else {
    input = html`<input ...${common} type=${col.secret ? 'password' : 'text'} inputmode=${col.type === 'int' ? 'numeric' : undefined} autocomplete="off"
      value=${value} onInput=${(e) => onInput(e.target.value)} onChange=${(e) => onChange(e.target.value)} />`;
  }
  return html`<div class="field" data-column=${col.name}><label for=${id}>${col.name}</label>${input}
    <small id=${help} class="muted">${col.doc}</small>
    ${errors.map((m, i) => html`<small id=${i === 0 ? err : undefined} class="error" data-field-error=${col.name}>${m}</small>`)}</div>`;
}

export function RowEditor({ session, def, edit, onCancel, onApplied }) {
  const [form, setForm] = useState(() => Object.fromEntries(def.columns.map((c) => [c.name, edit.row ? cellText(c, edit.row[c.name]) : cellText(c, c.default)])));
  const [index, setIndex] = useState(String(edit.index));
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const first = useRef(null);
  useEffect(() => { first.current?.querySelector('input, select, button')?.focus(); }, []);

  const body = (f = form) => ({ op: edit.op, table: def.name, index: Number(index), ...(edit.op === 'delete' ? {} : { values: changedValues(def, edit, f) }) });
  // Previews overlap (a blur's inline check, then the button): only the
  // answer to the latest one is shown, whatever order the answers come in.
  const asked = useRef(0);
  const latest = useRef(form);
  latest.current = form;
  const preview = async (f = latest.current) => {
    const b = body(f);
    const mine = ++asked.current;
    if (!Number.isInteger(b.index) || b.index < 0) { setBusy(false); setResult({ key: '', ok: false, error: 'Index must be a non-negative integer', columnName: 'Index' }); return; }
    setBusy(true);
    const r = await api(session, 'POST', '/api/v1/config/preview', b);
    if (mine !== asked.current) return;
    setBusy(false);
    const key = JSON.stringify(b);
    if (r.status === 200) setResult({ key, ...r.data });
    else setResult({ key, ok: false, error: failure(r), columnName: r.data?.columnName });
  };
  // Inline validation: each committed field change (blur, Enter, a choice) is checked by the server.
  const changed = (name) => (v) => { const f = { ...latest.current, [name]: v }; latest.current = f; setForm(f); void preview(f); };
  const apply = async () => {
    const b = body();
    const method = edit.op === 'add' ? 'POST' : edit.op === 'patch' ? 'PATCH' : 'DELETE';
    setBusy(true);
    const r = await api(session, method, `/api/v1/config/tables/${encodeURIComponent(def.name)}/${b.index}`, edit.op === 'delete' ? undefined : b.values, { 'if-match': `"${result.base}"` });
    setBusy(false);
    if (r.status === 200 || r.status === 201) {
      onApplied(`Applied${r.data.version !== null ? ` as version ${r.data.version}` : ''}: ${r.data.changes.join('; ') || 'nothing changed'}`);
    } else if (r.status === 412) {
      setResult({ key: '', ok: false, error: 'The configuration changed since the preview: preview again.' });
    } else {
      setResult({ key: '', ok: false, error: failure(r), diagnostics: r.data?.diagnostics ?? [] });
    }
  };

  const diagnostics = result?.diagnostics ?? [];
  const errs = diagnostics.filter((d) => d.severity === 'error');
  const atField = (name) => [
    ...errs.filter((d) => d.table === def.name && d.index === Number(index) && d.columnName === name).map((d) => d.message),
    ...(result?.error && result.columnName === name ? [result.error] : []),
  ];
  const current = result !== null && result.key === JSON.stringify(body());
  const canApply = current && result.ok === true && !busy;
  const title = edit.op === 'add' ? `Add ${def.name} row` : edit.op === 'patch' ? `Edit ${def.name} row ${edit.index}` : `Delete ${def.name} row ${edit.index}`;
  return html`<section class="card editor" aria-labelledby="ed-title" ref=${first} onKeyDown=${(e) => { if (e.key === 'Escape') onCancel(); }}>
    <h2 id="ed-title">${title}</h2>
    <form onSubmit=${(e) => { e.preventDefault(); void preview(); }}>
      ${edit.op === 'add' ? html`<div class="field"><label for="f-Index">Index</label><input id="f-Index" inputmode="numeric" value=${index} onInput=${(e) => setIndex(e.target.value)} /></div>` : null}
      ${edit.op === 'delete' ? html`<p>Row ${edit.index} will be removed.</p>` : html`<div class="fields">
        ${def.columns.map((c) => html`<${Field} col=${c} value=${form[c.name]} errors=${atField(c.name)}
          onInput=${(v) => { latest.current = { ...latest.current, [c.name]: v }; setForm(latest.current); }} onChange=${changed(c.name)} />`)}</div>`}
      <p class="buttons"><button type="submit" disabled=${busy}>Preview change</button>
        <button type="button" data-action="apply" disabled=${!canApply} onClick=${apply}>Apply</button>
        <button type="button" onClick=${onCancel}>Cancel</button></p>
    </form>
    <div aria-live="polite">
    ${result && !result.ok && html`<div class="error" role="alert" data-testid="validation">
      ${result.error ? html`<p>${result.error}</p>` : html`<p>Not valid; nothing was changed:</p>`}
      <ul>${errs.map((d) => html`<li>${d.table !== undefined ? `${d.table} row ${d.index}${d.columnName ? `, column ${d.columnName}` : ''}: ` : ''}<code>${d.text}</code></li>`)}</ul></div>`}
    ${result && result.ok && html`<div data-testid="diff" class=${current ? 'diff' : 'diff stale'}>
      <h3>Preview: running → proposed${current ? '' : ' (the form changed since: preview again)'}</h3>
      ${result.changes.length === 0 ? html`<p class="muted">No change.</p>` : html`<ul>${result.changes.map((c) => html`<li><code>${c}</code></li>`)}</ul>`}
      ${(result.diff?.rows ?? []).some((r) => (r.columns ?? []).length > 0) ? html`<table><thead><tr><th>Row</th><th>Column</th><th>Running</th><th>Proposed</th></tr></thead><tbody>
        ${result.diff.rows.flatMap((r) => (r.columns ?? []).map((c) => html`<tr><td>${r.table} ${r.index}</td><td>${c.column}</td><td class="before">${c.before}</td><td class="after">${c.after}</td></tr>`))}
      </tbody></table>` : null}
      ${diagnostics.filter((d) => d.severity === 'warning').map((d) => html`<p class="muted">warning: <code>${d.text}</code></p>`)}
    </div>`}
    </div>
  </section>`;
}
