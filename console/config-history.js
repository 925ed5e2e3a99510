// Configuration history: every accepted version with who/what/when and its
// changes against the version before (GET /api/v1/config/history), the
// server's diff of any version against the running one, and one-click
// rollback (POST /api/v1/config/rollback/:version; Operator for routing and
// other non-security tables, Admin for the rest — the server decides).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure, RANK } from './api.js';

const html = htm.bind(h);

const origin = (o) => `${o.kind}${o.user ? ` by ${o.user}` : ''}${o.detail ? ` (${o.detail})` : ''}`;

export function ConfigHistory({ session }) {
  const [hist, setHist] = useState(null);
  const [error, setError] = useState('');
  const [note, setNote] = useState(null);
  const [diffs, setDiffs] = useState({});
  const [busy, setBusy] = useState(false);
  const load = async () => {
    const r = await api(session, 'GET', '/api/v1/config/history');
    if (r.status === 200) { setHist(r.data); setError(''); } else setError(failure(r));
  };
  useEffect(() => { void load(); }, []);
  const may = RANK[session.role] >= RANK.operator;
  const compare = async (v) => {
    const r = await api(session, 'GET', `/api/v1/config/diff?from=${hist.current}&to=${v}`);
    setDiffs({ ...diffs, [v]: r.status === 200 ? r.data.changes : [failure(r)] });
  };
  const rollback = async (v) => {
    setBusy(true);
    const r = await api(session, 'POST', `/api/v1/config/rollback/${v}`);
    setBusy(false);
    if (r.status === 200) setNote({ ok: true, text: `Rolled back to version ${v}${r.data.version !== null ? ` (now version ${r.data.version})` : ''}: ${r.data.changes.join('; ') || 'nothing changed'}` });
    else setNote({ ok: false, text: `Rollback to version ${v} refused: ${failure(r)}${(r.data?.diagnostics ?? []).map((d) => ` ${d.text}`).join('')}` });
    await load();
  };
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (hist === null) return html`<p>Loading&hellip;</p>`;
  const versions = [...hist.versions].reverse();
  return html`<section class="card" aria-labelledby="h-title"><h2 id="h-title">History (running: version ${hist.current ?? '-'})</h2>
    ${note && html`<p role=${note.ok ? 'status' : 'alert'} class=${note.ok ? '' : 'error'} data-testid="history-note">${note.text}</p>`}
    <table data-testid="history"><thead><tr><th scope="col">Version</th><th scope="col">Time</th><th scope="col">Origin</th><th scope="col">Changes against the version before</th><th scope="col">Actions</th></tr></thead><tbody>
    ${versions.map((v) => html`<tr data-version=${v.version}>
      <td>${v.version}${v.version === hist.current ? html` <strong>(running)</strong>` : null}</td>
      <td>${new Date(v.time).toLocaleString()}</td><td>${origin(v.origin)}</td>
      <td>${v.changes.length === 0 ? html`<span class="muted">none</span>` : html`<ul class="changes">${v.changes.map((c) => html`<li><code>${c}</code></li>`)}</ul>`}
        ${diffs[v.version] && html`<div class="diff" data-testid=${`diff-${v.version}`}><strong>Running → version ${v.version} would change:</strong>
          ${diffs[v.version].length === 0 ? html` <span class="muted">nothing</span>` : html`<ul class="changes">${diffs[v.version].map((c) => html`<li><code>${c}</code></li>`)}</ul>`}</div>`}</td>
      <td class="actions">${v.version === hist.current ? null : html`
        <button onClick=${() => compare(v.version)} aria-label=${`Compare version ${v.version} with the running one`}>Compare</button>
        <button data-action="rollback" disabled=${!may || busy} title=${may ? undefined : 'Monitor: read only'} onClick=${() => rollback(v.version)}
          aria-label=${`Roll back to version ${v.version}`}>Roll back</button>`}</td></tr>`)}
    </tbody></table></section>`;
}
