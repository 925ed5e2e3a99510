// Security page (docs/console.md, docs/security.md): the IDS deny list with
// reason, rule and remaining time, Unblock for Operators
// (DELETE /api/v1/security/denied/:source), and the IDS and rate-limit
// counters. Both come with the event stream's snapshot (denied, and
// status.security), so the page adds no requests of its own.
import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure, RANK } from './api.js';
import { fmtDuration } from './format.js';

const html = htm.bind(h);

export const sourceOf = (e) => (e.port === null ? e.address : `${e.address}|${e.port}`);

export function SecurityPage({ snap, session }) {
  const [note, setNote] = useState('');
  if (snap === null) return html`<p>Waiting for the first snapshot&hellip;</p>`;
  const canEdit = RANK[session.role] >= RANK.operator;
  const denied = snap.denied ?? [];
  const sec = snap.status?.security ?? null;
  const unblock = async (e) => {
    const source = sourceOf(e);
    const r = await api(session, 'DELETE', `/api/v1/security/denied/${encodeURIComponent(source)}`);
    setNote(r.status === 200 ? `${source} unblocked` : `unblock failed: ${failure(r)}`);
  };
  const now = snap.time ?? Date.now();
  return html`<h1>Security</h1>
  ${note && html`<p role="status">${note}</p>`}
  <section class="card" aria-labelledby="s-deny"><h2 id="s-deny">Blocked sources (${denied.length})</h2>
    ${snap.denied === null ? html`<p class="muted">The IDS is not available.</p>` : html`
    <table data-testid="security-denied"><thead><tr><th>Source</th><th>Reason</th><th>Rule</th><th>Since</th><th>Remaining</th><th>Dropped</th>${canEdit ? html`<th>Action</th>` : null}</tr></thead><tbody>
    ${denied.map((e) => html`<tr data-source=${sourceOf(e)}><td>${e.address}${e.port === null ? '' : `:${e.port}`}</td><td>${e.reason}</td><td>${e.rule}</td>
      <td>${new Date(e.since).toLocaleTimeString()}</td><td data-testid="remaining">${fmtDuration((Date.parse(e.until) - now) / 1000)}</td><td>${e.dropped}</td>
      ${canEdit ? html`<td><button data-edit="unblock" aria-label=${`Unblock ${e.address}`} onClick=${() => unblock(e)}>Unblock</button></td>` : null}</tr>`)}
    ${denied.length === 0 ? html`<tr><td colspan="7" class="muted">none</td></tr>` : null}
    </tbody></table>`}</section>
  <section class="card" aria-labelledby="s-ids"><h2 id="s-ids">IDS counters</h2>
    ${sec === null ? html`<p class="muted">not available</p>` : html`
    <table class="counters" data-testid="ids-counters"><tbody>
      ${Object.entries(sec.ids?.events ?? {}).map(([k, v]) => html`<tr><th scope="row">Malicious events: ${k}</th><td data-counter=${k}>${v}</td></tr>`)}
      <tr><th scope="row">Alarms raised</th><td>${sec.ids?.alarms ?? 0}</td></tr>
      <tr><th scope="row">Sources denied since start</th><td data-counter="denials">${sec.ids?.denials ?? 0}</td></tr>
      <tr><th scope="row">Denied now</th><td>${sec.ids?.deniedNow ?? 0}</td></tr>
      <tr><th scope="row">Packets/connections dropped from denied sources</th><td>${sec.ids?.deniedDropped ?? 0}</td></tr>
      <tr><th scope="row">Requests over the per-source rate</th><td>${sec.rateLimited ?? 0}</td></tr>
      <tr><th scope="row">Requests from unclassified sources dropped silently</th><td>${sec.strangersDropped ?? 0}</td></tr>
    </tbody></table>`}</section>`;
}
