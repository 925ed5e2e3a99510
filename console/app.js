// The SBC's web console (docs/console.md). Preact + htm, no build step:
// every module is served by the SBC itself. Data comes from the REST API
// (the session cookie authenticates; changes carry X-CSRF-Token) and one
// server-sent-events stream (/console/api/events) pushing a snapshot a second.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { ConfigPage } from './config-page.js';

const html = htm.bind(h);
const RANK = { monitor: 1, operator: 2, admin: 3 };

async function api(session, method, url, body) {
  // x-sbc-console: a 401 comes without a Basic challenge (no browser password dialog).
  const headers = { accept: 'application/json', 'x-sbc-console': '1' };
  if (method !== 'GET') headers['x-csrf-token'] = session.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await r.text();
  let data = null;
  try { data = text === '' ? null : JSON.parse(text); } catch { data = text; }
  return { status: r.status, data };
}

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

const fmtDuration = (sec) => {
  const s = Math.max(0, Math.round(sec));
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const userOf = (v) => (v ?? '').match(/<?(?:sips?|tel):([^@;>]+)/)?.[1] ?? (v ?? '');

function Dashboard({ snap, cps, session }) {
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
      <div class="muted">${st.calls?.totalCalls ?? 0} calls since start, ${st.calls?.rejected ?? 0} rejected</div></section>
    <section class="card" aria-labelledby="c-cps"><h2 id="c-cps">Calls per second</h2><div class="big" data-testid="cps">${cps.toFixed(1)}</div>
      <div class="muted">up ${fmtDuration(st.uptimeSec ?? 0)}, relay ${st.relay?.kind ?? '-'} (${st.relay?.sessions ?? 0} sessions)</div></section>
    <section class="card" aria-labelledby="c-reg"><h2 id="c-reg">Registrations</h2>
      ${reg === null || reg === undefined ? html`<p class="muted">not available</p>` : html`
        <p>${Object.values(reg.users ?? {}).reduce((a, b) => a + b, 0)} users registered through the SBC</p>
        <table><thead><tr><th>Account</th><th>State</th></tr></thead><tbody>
        ${(reg.accounts ?? []).map((a) => html`<tr><td>${a.name} (${a.servedIpGroup} → ${a.servingIpGroup})</td><td class=${a.state === 'registered' ? 'up' : 'down'}>${a.state}</td></tr>`)}
        ${(reg.accounts ?? []).length === 0 ? html`<tr><td colspan="2" class="muted">no accounts</td></tr>` : null}
        </tbody></table>`}
    </section>
  </div>
  <section class="card" aria-labelledby="c-ps"><h2 id="c-ps">Proxy sets</h2>
    <table data-testid="proxy-sets"><thead><tr><th>Proxy set</th><th>Server</th><th>Status</th></tr></thead><tbody>
    ${(Array.isArray(snap.proxySets) ? snap.proxySets : []).map((p) => html`<tr><td>${p.proxySetName}</td><td>${p.address}:${p.port}</td><td class=${p.up ? 'up' : 'down'}>${p.up ? 'up' : 'down'}</td></tr>`)}
    </tbody></table></section>
  <section class="card" aria-labelledby="c-deny"><h2 id="c-deny">Blocked sources</h2>
    <table data-testid="denied"><thead><tr><th>Source</th><th>Reason</th><th>Until</th><th>Dropped</th>${canEdit ? html`<th>Action</th>` : null}</tr></thead><tbody>
    ${(snap.denied ?? []).map((e) => html`<tr><td>${e.address}${e.port === null ? '' : `:${e.port}`}</td><td>${e.reason}</td><td>${new Date(e.until).toLocaleTimeString()}</td><td>${e.dropped}</td>
      ${canEdit ? html`<td><button data-edit="unblock" onClick=${() => unblock(e)}>Unblock</button></td>` : null}</tr>`)}
    ${(snap.denied ?? []).length === 0 ? html`<tr><td colspan="5" class="muted">none</td></tr>` : null}
    </tbody></table></section>`;
}

function Qoe({ qoe }) {
  if (qoe === null || qoe === undefined) return html`<span class="qoe qoe-none">no media measured</span>`;
  return (qoe.streams ?? []).map((s) => {
    const rx = [s.A?.rx, s.B?.rx].filter(Boolean);
    const mos = Math.min(...rx.map((d) => d.mos ?? 5));
    const loss = Math.max(...rx.map((d) => d.lossPct ?? 0));
    const jitter = Math.max(...rx.map((d) => d.jitterMs ?? 0));
    const color = s.verdict ?? 'gray';
    return html`<span class=${`qoe qoe-${color}`} data-qoe=${color} title=${`${s.media} ${s.coder ?? ''}: QoE ${color}`}>
      ${s.media} MOS ${mos === 5 ? '-' : mos.toFixed(2)} · loss ${loss.toFixed(1)} % · jitter ${jitter.toFixed(1)} ms</span>`;
  });
}

function Calls({ snap }) {
  const calls = snap?.calls ?? [];
  const now = snap?.time ?? Date.now();
  return html`<h1>Calls (${calls.length})</h1>
  <table data-testid="calls"><thead><tr><th>Caller</th><th>Callee</th><th>IP Groups</th><th>State</th><th>Duration</th><th>Media (QoE)</th></tr></thead><tbody>
  ${calls.map((c) => html`<tr data-call=${c.id}>
    <td><a href=${`#/calls/${encodeURIComponent(c.id)}`}>${userOf(c.from)}</a></td><td>${userOf(c.to)}</td>
    <td>${c.srcIpGroup ?? '-'} → ${c.dstIpGroup ?? '-'}</td><td>${c.state}</td>
    <td>${fmtDuration((now - (c.connectTime ?? c.setupTime ?? now)) / 1000)}</td><td><${Qoe} qoe=${c.qoe} /></td></tr>`)}
  ${calls.length === 0 ? html`<tr><td colspan="6" class="muted">no calls in progress</td></tr>` : null}
  </tbody></table>`;
}

/** The SIP ladder: leg A's party, the SBC, leg B's party; one arrow per message, with its time. */
function Ladder({ id, session }) {
  const [ladder, setLadder] = useState(null);
  const [error, setError] = useState('');
  const load = async () => {
    const r = await api(session, 'GET', `/api/v1/calls/${encodeURIComponent(id)}/ladder`);
    if (r.status === 200) { setLadder(r.data); setError(''); } else setError(r.data?.error ?? `HTTP ${r.status}`);
  };
  useEffect(() => { void load(); }, [id]);
  if (error) return html`<h1>Call ${id}</h1><p class="error" role="alert">${error}</p><p><a href="#/calls">Back to calls</a></p>`;
  if (ladder === null) return html`<p>Loading&hellip;</p>`;
  const x = { A: 200, S: 450, B: 700 };
  const rowH = 28;
  const t0 = ladder.events[0]?.t ?? 0;
  const height = 60 + ladder.events.length * rowH;
  const label = (e) => (e.status !== undefined ? `${e.status} ${e.method ?? ''}` : e.method ?? e.note ?? '');
  return html`<h1>Call ${ladder.id}</h1>
  <p>${userOf(ladder.caller)} → ${userOf(ladder.callee)}; ${ladder.srcIpGroup ?? '-'} → ${ladder.dstIpGroup ?? '-'}.
    <button onClick=${load}>Refresh</button> <a href="#/calls">Back to calls</a></p>
  <svg class="ladder" role="img" aria-label="SIP ladder of the call" width="900" height=${height} viewBox=${`0 0 900 ${height}`}>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#1f3550" /></marker></defs>
    <text x=${x.A} y="20" text-anchor="middle">Leg A (caller side)</text><text x=${x.S} y="20" text-anchor="middle">SBC</text><text x=${x.B} y="20" text-anchor="middle">Leg B (callee side)</text>
    ${[x.A, x.S, x.B].map((lx) => html`<line class="life" x1=${lx} y1="30" x2=${lx} y2=${height - 5} />`)}
    ${ladder.events.map((e, i) => {
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
    ${ladder.events.map((e) => html`<tr><td>${new Date(e.t).toISOString().slice(11, 23)}</td><td>${e.leg}</td><td>${e.dir}</td><td>${label(e)}</td><td>${e.note ?? ''}</td></tr>`)}
  </tbody></table></details>`;
}

function Shell({ session, onLogout }) {
  const hash = useHash();
  const [snap, setSnap] = useState(null);
  const [cps, setCps] = useState(0);
  const last = useRef(null);
  useEffect(() => {
    const es = new EventSource('/console/api/events');
    es.addEventListener('snapshot', (ev) => {
      const s = JSON.parse(ev.data);
      const total = s.status?.calls?.totalCalls;
      if (last.current !== null && typeof total === 'number' && s.time > last.current.time) {
        setCps(Math.max(0, (total - last.current.total) * 1000 / (s.time - last.current.time)));
      }
      if (typeof total === 'number') last.current = { time: s.time, total };
      setSnap(s);
    });
    es.addEventListener('logout', () => { es.close(); onLogout(); });
    return () => es.close();
  }, []);
  const logout = async () => {
    await api(session, 'POST', '/console/api/logout');
    onLogout();
  };
  const page = hash.startsWith('#/config') ? html`<${ConfigPage} session=${session} hash=${hash} />`
    : hash.startsWith('#/calls/') ? html`<${Ladder} id=${decodeURIComponent(hash.slice(8))} session=${session} />`
    : hash.startsWith('#/calls') ? html`<${Calls} snap=${snap} />`
      : html`<${Dashboard} snap=${snap} cps=${cps} session=${session} />`;
  const cur = (p) => (hash.startsWith(p) ? 'page' : undefined);
  return html`<header><strong>SBC</strong>
    <nav aria-label="Main"><a href="#/dashboard" aria-current=${cur('#/dashboard')}>Dashboard</a> <a href="#/calls" aria-current=${cur('#/calls')}>Calls</a>
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
