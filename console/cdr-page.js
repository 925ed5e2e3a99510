// CDR page (docs/console.md): search the call detail records by time,
// number, IP Group and result (GET /api/v1/cdrs?view=summary: the ring, then
// the local CDR files), page through them, download the same search as CSV
// (GET /api/v1/cdrs.csv), and open a recent call's ladder.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure } from './api.js';
import { fmtMos, fmtTime, Verdict } from './format.js';

const html = htm.bind(h);
const PAGE = 50;
const RESULTS = ['answered', 'unanswered', 'normal', 'busy', 'no-answer', 'cancelled', 'rejected-by-route', 'failed', 'media-timeout', 'shutdown', 'restart'];
const FIELDS = ['from', 'to', 'caller', 'callee', 'ipGroup', 'result'];

/** The search as query parameters (datetime-local is local time: sent as ISO 8601 UTC). */
function params(f, offset, limit) {
  const p = new URLSearchParams();
  for (const k of FIELDS) {
    const v = (f[k] ?? '').trim();
    if (v === '') continue;
    p.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v);
  }
  if (offset > 0) p.set('offset', String(offset));
  if (limit !== undefined) p.set('limit', String(limit));
  return p;
}

export function CdrPage({ session }) {
  const [form, setForm] = useState({});
  const [search, setSearch] = useState({ f: {}, offset: 0 });
  const [rows, setRows] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const p = params(search.f, search.offset, PAGE + 1);
    p.set('view', 'summary');
    void api(session, 'GET', `/api/v1/cdrs?${p}`).then((r) => {
      if (!live) return;
      if (r.status === 200) { setRows(r.data.records); setError(''); } else { setRows([]); setError(failure(r)); }
    });
    return () => { live = false; };
  }, [search]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => { e.preventDefault(); setSearch({ f: form, offset: 0 }); };
  const shown = (rows ?? []).slice(0, PAGE);
  const more = (rows ?? []).length > PAGE;
  const csv = `/api/v1/cdrs.csv?${params(search.f, 0, 10000)}`;
  return html`<h1>Call detail records</h1>
  <form class="filters cdr-search" role="search" aria-label="Search CDRs" onSubmit=${submit}>
    <span><label for="cdr-from">From</label><input id="cdr-from" type="datetime-local" step="1" value=${form.from ?? ''} onInput=${set('from')} /></span>
    <span><label for="cdr-to">To</label><input id="cdr-to" type="datetime-local" step="1" value=${form.to ?? ''} onInput=${set('to')} /></span>
    <span><label for="cdr-caller">Caller</label><input id="cdr-caller" value=${form.caller ?? ''} onInput=${set('caller')} /></span>
    <span><label for="cdr-callee">Callee</label><input id="cdr-callee" value=${form.callee ?? ''} onInput=${set('callee')} /></span>
    <span><label for="cdr-group">IP Group</label><input id="cdr-group" value=${form.ipGroup ?? ''} onInput=${set('ipGroup')} /></span>
    <span><label for="cdr-result">Result</label><select id="cdr-result" value=${form.result ?? ''} onChange=${set('result')}>
      <option value="">any</option>${RESULTS.map((r) => html`<option value=${r}>${r}</option>`)}</select></span>
    <button type="submit">Search</button>
    <a class="button" href=${csv} download data-testid="cdr-csv">Download CSV</a>
  </form>
  ${error && html`<p class="error" role="alert">${error}</p>`}
  <p class="muted" data-testid="cdr-shown">${rows === null ? 'Loading…' : shown.length === 0 ? 'No records match.' : `Records ${search.offset + 1}–${search.offset + shown.length}, newest first`}
    <button type="button" disabled=${search.offset === 0} onClick=${() => setSearch({ ...search, offset: Math.max(0, search.offset - PAGE) })}>Previous</button>
    <button type="button" disabled=${!more} onClick=${() => setSearch({ ...search, offset: search.offset + PAGE })}>Next</button></p>
  <table data-testid="cdrs"><thead><tr><th>Released</th><th>Caller</th><th>Callee</th><th>IP Groups</th><th>Status</th><th>Reason</th><th>Duration</th><th>MOS</th><th>QoE</th><th>Ladder</th></tr></thead><tbody>
  ${shown.map((r) => html`<tr data-cdr=${r.sessionId}>
    <td>${fmtTime(r.releaseTime ?? r.setupTime)}</td><td>${r.callerUser ?? '-'}</td><td>${r.calleeUser ?? '-'}</td>
    <td>${r.srcIpGroup ?? '-'} → ${r.dstIpGroup ?? '-'}</td><td>${r.sipStatus ?? '-'}</td>
    <td>${r.terminationCategory ?? ''} ${r.terminationReason ? `(${r.terminationReason})` : ''}</td>
    <td>${r.durationMs === null ? '-' : `${(Number(r.durationMs) / 1000).toFixed(1)} s`}</td><td>${fmtMos(r.mos)}</td><td><${Verdict} v=${r.qoeVerdict} /></td>
    <td>${r.sessionId ? html`<a href=${`#/calls/${encodeURIComponent(r.sessionId)}`}>ladder</a>` : '-'}</td></tr>`)}
  </tbody></table>`;
}
