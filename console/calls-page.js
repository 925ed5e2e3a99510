// Calls pages (docs/console.md): the live list with a filter (applied by the
// server to the event stream, which carries one page of calls), and a call's
// detail: its SIP ladder on both legs, its media statistics, and "End call"
// for Operators. An ended call's detail comes from the timeline kept with
// its CDR, so CDR and QoE rows link here too.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure, RANK } from './api.js';
import { fmtDuration, fmtMos, Qoe, userOf, Verdict } from './format.js';

const html = htm.bind(h);

export const CALLS_PAGE = 100; // the server's snapshot page (SNAPSHOT_CALLS)

export function Calls({ snap, filter, onFilter, offset, onOffset }) {
  const [text, setText] = useState(filter);
  // The stream is reopened with the new filter after typing stops.
  useEffect(() => {
    const t = setTimeout(() => { if (text !== filter) onFilter(text); }, 300);
    return () => clearTimeout(t);
  }, [text]);
  const calls = snap?.calls ?? [];
  const total = snap?.callsTotal ?? calls.length;
  const now = snap?.time ?? Date.now();
  return html`<h1>Calls (${total})</h1>
  <form class="filters" role="search" onSubmit=${(e) => { e.preventDefault(); onFilter(text); }}>
    <label for="call-filter">Filter</label>
    <input id="call-filter" type="search" value=${text} placeholder="number, IP Group, Call-ID, state" onInput=${(e) => setText(e.target.value)} />
    <span class="muted" data-testid="calls-shown">${total === 0 ? 'no calls' : `${offset + 1}–${offset + calls.length} of ${total}`}</span>
    <button type="button" disabled=${offset === 0} onClick=${() => onOffset(Math.max(0, offset - CALLS_PAGE))}>Previous</button>
    <button type="button" disabled=${offset + calls.length >= total} onClick=${() => onOffset(offset + CALLS_PAGE)}>Next</button>
  </form>
  <table data-testid="calls"><thead><tr><th>Caller</th><th>Callee</th><th>IP Groups</th><th>State</th><th>Duration</th><th>Media (QoE)</th></tr></thead><tbody>
  ${calls.map((c) => html`<tr data-call=${c.id}>
    <td><a href=${`#/calls/${encodeURIComponent(c.id)}`}>${userOf(c.from)}</a></td><td>${userOf(c.to)}</td>
    <td>${c.srcIpGroup ?? '-'} → ${c.dstIpGroup ?? '-'}</td><td>${c.state}</td>
    <td>${fmtDuration((now - (c.connectTime ?? c.setupTime ?? now)) / 1000)}</td><td><${Qoe} qoe=${c.qoe} /></td></tr>`)}
  ${calls.length === 0 ? html`<tr><td colspan="6" class="muted">${filter ? 'no call matches the filter' : 'no calls in progress'}</td></tr>` : null}
  </tbody></table>`;
}

const num = (v, digits = 1) => (v === null || v === undefined ? '-' : Number(v).toFixed(digits));
const ep = (e) => (e ? `${e.address}:${e.port}` : '-');

/** Per stream and leg: what the SBC received (rx) and what the peer reported about our sending (tx, RTCP). */
function MediaStats({ media }) {
  if (!media || media.length === 0) return html`<p class="muted" data-testid="media-none">No media measured (not anchored, or no RTP yet).</p>`;
  const dir = (leg, name, d) => html`<tr data-testid=${`media-${leg}-${name}`}><td>${leg} ${name}</td><td>${d?.packets ?? '-'}</td><td>${num(d?.lossPct)}</td>
    <td>${num(d?.jitterMs)}</td><td>${num(d?.rttMs, 0)}</td><td>${fmtMos(d?.mos)}</td></tr>`;
  return media.map((s) => html`<section class="card" aria-label=${`Media stream ${s.index}`}>
    <h3>${s.media} ${s.coder ?? ''}${s.ptimeMs ? ` ${s.ptimeMs} ms` : ''}${s.srtp ? ' (SRTP)' : ''} <${Verdict} v=${s.verdict} /></h3>
    <p class="muted">Leg A: ${ep(s.A?.remoteRtp)} ↔ ${ep(s.A?.localRtp)}; leg B: ${ep(s.B?.localRtp)} ↔ ${ep(s.B?.remoteRtp)}</p>
    <table data-testid="media-stats"><thead><tr><th>Leg / direction</th><th>Packets</th><th>Loss %</th><th>Jitter ms</th><th>RTT ms</th><th>MOS</th></tr></thead><tbody>
      ${dir('A', 'rx', s.A?.rx)}${dir('A', 'tx', s.A?.tx)}${dir('B', 'rx', s.B?.rx)}${dir('B', 'tx', s.B?.tx)}
    </tbody></table></section>`);
}

function LadderSvg({ events }) {
  const x = { A: 200, S: 450, B: 700 };
  const rowH = 28;
  const t0 = events[0]?.t ?? 0;
  const height = 60 + events.length * rowH;
  const label = (e) => (e.status !== undefined ? `${e.status} ${e.method ?? ''}` : e.method ?? e.note ?? '');
  return html`<svg class="ladder" role="img" aria-label="SIP ladder of the call" width="900" height=${height} viewBox=${`0 0 900 ${height}`}>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#1f3550" /></marker></defs>
    <text x=${x.A} y="20" text-anchor="middle">Leg A (caller side)</text><text x=${x.S} y="20" text-anchor="middle">SBC</text><text x=${x.B} y="20" text-anchor="middle">Leg B (callee side)</text>
    ${[x.A, x.S, x.B].map((lx) => html`<line class="life" x1=${lx} y1="30" x2=${lx} y2=${height - 5} />`)}
    ${events.map((e, i) => {
      const y = 50 + i * rowH;
      const time = `${new Date(e.t).toISOString().slice(11, 23)} +${((e.t - t0) / 1000).toFixed(3)}s`;
      if (e.dir === 'event' || e.leg === '-') {
        return html`<g data-leg=${e.leg} data-dir="event"><text x="5" y=${y}>${time}</text><text x=${x.S + 8} y=${y} class="muted">${e.note ?? label(e)}</text></g>`;
      }
      const peer = e.leg === 'A' ? x.A : x.B;
      const [from, to] = e.dir === 'in' ? [peer, x.S] : [x.S, peer];
      return html`<g data-leg=${e.leg} data-dir=${e.dir} data-msg=${label(e).trim()}>
        <text x="5" y=${y}>${time}</text>
        <line class=${e.status !== undefined ? 'msg resp' : 'msg'} x1=${from} y1=${y} x2=${to} y2=${y} />
        <text x=${(from + to) / 2} y=${y - 4} text-anchor="middle">${label(e)}</text></g>`;
    })}
  </svg>
  <details><summary>As a table</summary><table><thead><tr><th>Time</th><th>Leg</th><th>Direction</th><th>Message</th><th>Note</th></tr></thead><tbody>
    ${events.map((e) => html`<tr><td>${new Date(e.t).toISOString().slice(11, 23)}</td><td>${e.leg}</td><td>${e.dir}</td><td>${label(e)}</td><td>${e.note ?? ''}</td></tr>`)}
  </tbody></table></details>`;
}

/** A call: summary, End call (Operator, live calls), media statistics and the SIP ladder. */
export function CallDetail({ id, session }) {
  const [view, setView] = useState(null);
  const [error, setError] = useState('');
  const [confirm, setConfirm] = useState(false);
  const [note, setNote] = useState('');
  const load = async () => {
    const r = await api(session, 'GET', `/api/v1/calls/${encodeURIComponent(id)}/ladder`);
    if (r.status === 200) { setView(r.data); setError(''); } else setError(r.status === 404 ? 'This call is neither live nor among the recently ended calls whose ladders are kept.' : failure(r));
  };
  useEffect(() => { void load(); }, [id]);
  // A live call's statistics move: reloaded every few seconds while the page is open.
  useEffect(() => {
    if (view === null || view.ended) return undefined;
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, [view === null, view?.ended]);
  if (error) return html`<h1>Call ${id}</h1><p class="error" role="alert">${error}</p><p><a href="#/calls">Back to calls</a></p>`;
  if (view === null) return html`<p>Loading&hellip;</p>`;
  const canEnd = RANK[session.role] >= RANK.operator && !view.ended;
  const end = async () => {
    setConfirm(false);
    const r = await api(session, 'DELETE', `/api/v1/calls/${encodeURIComponent(id)}`);
    setNote(r.status === 200 ? 'Call ended: BYE/CANCEL sent on both legs.' : `End call failed: ${failure(r)}`);
    if (r.status === 200) setTimeout(() => void load(), 500);
  };
  return html`<h1>Call ${view.id}</h1>
  ${note && html`<p role="status">${note}</p>`}
  <p data-testid="call-summary">${userOf(view.caller)} → ${userOf(view.callee)}; ${view.srcIpGroup ?? '-'} → ${view.dstIpGroup ?? '-'};
    <strong data-testid="call-state">${view.state}</strong>${view.ended ? ` (${view.sipStatus ?? ''} ${view.terminationReason ?? ''})` : ''}.
    <button onClick=${load}>Refresh</button>
    ${canEnd && !confirm ? html` <button data-edit="end-call" onClick=${() => setConfirm(true)}>End call</button>` : null}
    ${canEnd && confirm ? html` <button data-edit="end-call-confirm" class="danger" onClick=${end}>Confirm: end this call</button> <button onClick=${() => setConfirm(false)}>Keep it</button>` : null}
    ${' '}<a href="#/calls">Back to calls</a></p>
  <h2>Media statistics</h2>
  <${MediaStats} media=${view.media} />
  <h2>SIP ladder</h2>
  <${LadderSvg} events=${view.events} />`;
}
