// The SBC's web console (docs/console.md). Preact + htm, no build step:
// every module is served by the SBC itself. Data comes from the REST API
// (the session cookie authenticates; changes carry X-CSRF-Token) and one
// server-sent-events stream (/console/api/events) pushing a snapshot a second.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { api, RANK } from './api.js';
import { fmtDuration } from './format.js';
import { CallDetail, Calls } from './calls-page.js';
import { CdrPage } from './cdr-page.js';
import { QoePage } from './qoe-page.js';
import { SecurityPage } from './security-page.js';
import { remember, Sparkline } from './sparkline.js';
import { ConfigPage } from './config-page.js';
import { IpGroupTable, Since } from './ip-groups.js';

const html = htm.bind(h);

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/dashboard');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/dashboard');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Login({ onLogin }) {
  const [error, setError] = useState('');
  const submit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const r = await api({}, 'POST', '/console/api/login', { username: f.get('username'), password: f.get('password') });
    if (r.status === 200) onLogin(r.data);
    else setError(r.data?.error ?? `login failed (${r.status})`);
  };
  return html`<form class="login" onSubmit=${submit} aria-labelledby="login-title">
    <h1 id="login-title">SBC console</h1>
    <label for="username">User name</label>
    <input id="username" name="username" autocomplete="username" required autofocus />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required />
    <button type="submit">Log in</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function Dashboard({ snap, cps, pps, session, history = [] }) {
  const [note, setNote] = useState('');
  if (snap === null) return html`<p>Waiting for the first snapshot&hellip;</p>`;
  const st = snap.status ?? {};
  const reg = snap.registrations;
  const canEdit = RANK[session.role] >= RANK.operator;
  const unblock = async (e) => {
    const source = e.port === null ? e.address : `${e.address}|${e.port}`;
    const r = await api(session, 'DELETE', `/api/v1/security/denied/${encodeURIComponent(source)}`);
    setNote(r.status === 200 ? `${source} unblocked` : `unblock failed: ${r.status} ${r.data?.error ?? ''}`);
  };
  return html`<h1>Dashboard</h1>
  ${note && html`<p role="status">${note}</p>`}
  <div class="cards">
    <section class="card" aria-labelledby="c-calls"><h2 id="c-calls">Active calls</h2><div class="big" data-testid="active-calls">${st.activeCalls ?? '-'}</div>
      <div class="muted">${st.calls?.totalCalls ?? 0} calls since start, ${st.calls?.rejected ?? 0} rejected</div>
      <${Sparkline} points=${history.map((p) => ({ t: p.t, v: p.calls }))} label="Active calls" /></section>
    <section class="card" aria-labelledby="c-cps"><h2 id="c-cps">Calls per second</h2><div class="big" data-testid="cps">${cps.toFixed(1)}</div>
      <div class="muted">up ${fmtDuration(st.uptimeSec ?? 0)}</div>
      <${Sparkline} points=${history.map((p) => ({ t: p.t, v: p.cps }))} label="Calls per second" /></section>
    <section class="card" aria-labelledby="c-pps"><h2 id="c-pps">Media relay</h2><div class="big" data-testid="relay-pps">${Math.round(pps)}</div>
      <div class="muted">packets per second, ${st.relay?.kind ?? '-'} relay, ${st.relay?.sessions ?? 0} sessions</div>
      <${Sparkline} points=${history.map((p) => ({ t: p.t, v: p.pps ?? 0 }))} label="Relayed packets per second" /></section>
    <section class="card" aria-labelledby="c-reg"><h2 id="c-reg">Registrations</h2>
      ${reg === null || reg === undefined ? html`<p class="muted">not available</p>` : html`
        <p>${Object.values(reg.users ?? {}).reduce((a, b) => a + b, 0)} users registered through the SBC</p>
        <table><thead><tr><th>Account</th><th>State</th><th>Since</th></tr></thead><tbody>
        ${(reg.accounts ?? []).map((a) => html`<tr><td>${a.name} (${a.servedIpGroup} → ${a.servingIpGroup})</td><td class=${a.state === 'registered' ? 'up' : 'down'}>${a.state}</td><td><${Since} at=${a.since} /></td></tr>`)}
        ${(reg.accounts ?? []).length === 0 ? html`<tr><td colspan="3" class="muted">no accounts</td></tr>` : null}
        </tbody></table>`}
    </section>
  </div>
  <section class="card" aria-labelledby="c-ps"><h2 id="c-ps">Proxy sets</h2>
    <table data-testid="proxy-sets"><thead><tr><th>Proxy set</th><th>Server</th><th>Status</th><th>Since</th></tr></thead><tbody>
    ${(Array.isArray(snap.proxySets) ? snap.proxySets : []).map((p) => html`<tr><td>${p.proxySetName}</td><td>${p.address}:${p.port}</td><td class=${p.up ? 'up' : 'down'}>${p.up ? 'up' : 'down'}</td><td><${Since} at=${p.since} /></td></tr>`)}
    </tbody></table></section>
  <${IpGroupTable} rows=${snap.ipGroups} />
  <section class="card" aria-labelledby="c-deny"><h2 id="c-deny">Blocked sources</h2>
    <table data-testid="denied"><thead><tr><th>Source</th><th>Reason</th><th>Until</th><th>Dropped</th>${canEdit ? html`<th>Action</th>` : null}</tr></thead><tbody>
    ${(snap.denied ?? []).map((e) => html`<tr><td>${e.address}${e.port === null ? '' : `:${e.port}`}</td><td>${e.reason}</td><td>${new Date(e.until).toLocaleTimeString()}</td><td>${e.dropped}</td>
      ${canEdit ? html`<td><button data-edit="unblock" onClick=${() => unblock(e)}>Unblock</button></td>` : null}</tr>`)}
    ${(snap.denied ?? []).length === 0 ? html`<tr><td colspan="5" class="muted">none</td></tr>` : null}
    </tbody></table></section>`;
}

function Shell({ session, onLogout }) {
  const hash = useHash();
  const [snap, setSnap] = useState(null);
  const [cps, setCps] = useState(0);
  const [pps, setPps] = useState(0);
  // The Calls page's filter and page: the server applies them to the stream's calls (one page a snapshot).
  const [callFilter, setCallFilter] = useState('');
  const [callOffset, setCallOffset] = useState(0);
  const last = useRef(null);
  const history = useRef([]);
  // Only the call list needs the calls in the stream (a page of them); elsewhere the stream leaves them out.
  const listing = hash === '#/calls';
  useEffect(() => {
    const q = new URLSearchParams();
    if (!listing) q.set('calls', '0');
    if (callFilter !== '') q.set('q', callFilter);
    if (callOffset > 0) q.set('offset', String(callOffset));
    const es = new EventSource(`/console/api/events${q.toString() !== '' ? `?${q}` : ''}`);
    es.addEventListener('snapshot', (ev) => {
      const s = JSON.parse(ev.data);
      // The first snapshot brings the server's last hour (10 s points): the charts start from it.
      if (Array.isArray(s.history) && history.current.length === 0) history.current.push(...s.history);
      const total = s.status?.calls?.totalCalls;
      const packets = s.status?.relay?.packetsRelayed ?? 0;
      if (last.current !== null && typeof total === 'number' && s.time > last.current.time) {
        const per = 1000 / (s.time - last.current.time);
        const rate = Math.max(0, (total - last.current.total) * per);
        const pps = Math.max(0, (packets - last.current.packets) * per);
        setCps(rate);
        setPps(pps);
        // The dashboard's charts: kept by the page while it is open (the server keeps no history for them).
        remember(history.current, s.time, { calls: s.status?.activeCalls ?? 0, cps: rate, pps });
      }
      if (typeof total === 'number') last.current = { time: s.time, total, packets };
      setSnap(s);
    });
    es.addEventListener('logout', () => { es.close(); onLogout(); });
    return () => es.close();
  }, [callFilter, callOffset, listing]);
  const logout = async () => {
    await api(session, 'POST', '/console/api/logout');
    onLogout();
  };
  const page = hash.startsWith('#/config') ? html`<${ConfigPage} session=${session} hash=${hash} />`
    : hash.startsWith('#/calls/') ? html`<${CallDetail} id=${decodeURIComponent(hash.slice(8))} session=${session} />`
    : hash.startsWith('#/calls') ? html`<${Calls} snap=${snap} filter=${callFilter} onFilter=${(f) => { setCallFilter(f); setCallOffset(0); }} offset=${callOffset} onOffset=${setCallOffset} />`
      : hash.startsWith('#/cdrs') ? html`<${CdrPage} session=${session} />`
        : hash.startsWith('#/qoe') ? html`<${QoePage} session=${session} />`
          : hash.startsWith('#/security') ? html`<${SecurityPage} snap=${snap} session=${session} />`
            : html`<${Dashboard} snap=${snap} cps=${cps} pps=${pps} session=${session} history=${history.current} />`;
  const cur = (p) => (hash.startsWith(p) ? 'page' : undefined);
  return html`<header><strong>SBC</strong>
    <nav aria-label="Main"><a href="#/dashboard" aria-current=${cur('#/dashboard')}>Dashboard</a> <a href="#/calls" aria-current=${cur('#/calls')}>Calls</a>
      <a href="#/cdrs" aria-current=${cur('#/cdrs')}>CDRs</a> <a href="#/qoe" aria-current=${cur('#/qoe')}>QoE</a> <a href="#/security" aria-current=${cur('#/security')}>Security</a>
      <a href="#/config" aria-current=${cur('#/config')}>Configuration</a></nav>
    <span class="who" data-testid="who">${session.username} (${session.role})</span><button onClick=${logout}>Log out</button></header>
  <main>${page}</main>`;
}

function App() {
  const [session, setSession] = useState(undefined);
  useEffect(() => {
    void api({}, 'GET', '/console/api/session').then((r) => setSession(r.status === 200 ? r.data : null));
  }, []);
  if (session === undefined) return html`<p>Loading&hellip;</p>`;
  if (session === null) return html`<${Login} onLogin=${setSession} />`;
  return html`<${Shell} session=${session} onLogout=${() => setSession(null)} />`;
}

render(html`<${App} />`, document.getElementById('app'));
