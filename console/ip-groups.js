// The dashboard's IP Group table: ASR / NER / ACD / MOS over each group's last calls
// (GET /api/v1/ip-groups, carried by the event stream), and "since when" for states.
import { h } from 'preact';
import htm from 'htm';
import { fmtDuration } from './format.js';

const html = htm.bind(h);
const pct = (v) => (v === null || v === undefined ? '-' : `${Math.round(v * 100)} %`);
const num = (v, d = 1) => (v === null || v === undefined ? '-' : v.toFixed(d));

/** "3m 20s ago" from a millisecond timestamp, with the clock time as a tooltip. */
export function Since({ at }) {
  if (typeof at !== 'number') return html`<span class="muted">-</span>`;
  const ago = Math.max(0, Math.round((Date.now() - at) / 1000));
  return html`<time datetime=${new Date(at).toISOString()} title=${new Date(at).toLocaleString()}>${fmtDuration(ago)} ago</time>`;
}

export function IpGroupTable({ rows }) {
  const list = Array.isArray(rows) ? rows : [];
  return html`<section class="card" aria-labelledby="c-ipg"><h2 id="c-ipg">IP Groups</h2>
    <table data-testid="ip-groups"><caption class="muted">over each group's last calls; in = calls from the group, out = calls to it</caption>
    <thead><tr><th scope="col">IP Group</th><th scope="col">Direction</th><th scope="col">Active</th><th scope="col">Calls</th>
      <th scope="col"><abbr title="answer-seizure ratio">ASR</abbr></th><th scope="col"><abbr title="network effectiveness ratio">NER</abbr></th>
      <th scope="col"><abbr title="average call duration">ACD</abbr></th><th scope="col">MOS</th><th scope="col">Poor</th></tr></thead>
    <tbody>${list.map((r) => html`<tr><td>${r.ipGroup}</td><td>${r.direction}</td><td>${r.activeCalls ?? ''}</td><td>${r.calls}</td>
      <td>${pct(r.asr)}</td><td>${pct(r.ner)}</td><td>${r.acdSec === null ? '-' : fmtDuration(Math.round(r.acdSec))}</td>
      <td>${num(r.avgMos, 2)}</td><td>${pct(r.poorRatio)}</td></tr>`)}
    ${list.length === 0 ? html`<tr><td colspan="9" class="muted">no calls yet</td></tr>` : null}</tbody></table></section>`;
}
